"""The studio's local backend on real speech: Generate (streamed pieces and the download), an A/B
round, an audition of the five real Japanese voices, one by one and batched
(KOKORO_BATCH_VOICES=true). Each clip is heard by the recogniser."""

import numpy as np
import pytest
import soundfile as sf

from tests.realspeech.hearing import assert_heard
from tests.realspeech.texts import EN_SHORT, JA_SHORT
from ui.backends import LocalBackend
from ui.backends.base import Finished, Piece
from ui.studio.clips import ClipCache, ClipMaker
from ui.tabs.ab import ABDesk
from ui.tabs.audition import Auditioner
from ui.tabs.generate import Studio

pytestmark = pytest.mark.real_weights

NO_PROGRESS = lambda *a, **k: None  # noqa: E731
JA_VOICES = ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
JA_TWO = "今日はとてもいい天気ですね。明日は雨が降るそうです。"


def _read(path: str) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32")
    assert rate == 24_000
    return audio


def test_generate_streams_pieces_that_add_up_to_the_download(real_engine, recogniser, tmp_path):
    backend = LocalBackend(real_engine)
    events = list(backend.run({"text": JA_TWO, "voice": "jf_tebukuro", "language": "ja"}, lambda: False))
    pieces = [e.samples for e in events if isinstance(e, Piece)]
    finished = next(e for e in events if isinstance(e, Finished))
    assert len(pieces) == 2
    streamed = np.concatenate(pieces)
    assert abs(len(streamed) / 24_000 - finished.result.duration_s) < 0.01  # what plays is what downloads
    assert_heard(recogniser, streamed, JA_TWO, "ja")  # measured CER 0.0
    # The Generate tab's own callback: its download is the same speech.
    studio = Studio(backend, real_engine.catalog, out_dir=tmp_path)
    outputs = list(studio.generate(EN_SHORT, "en-us", "jf_alpha", 1.0, True, "flac", progress=NO_PROGRESS))
    download = outputs[-1][1]["value"]
    assert download.endswith(".flac")
    assert_heard(recogniser, _read(download), EN_SHORT, "en")  # measured WER 0.0


def _ab_round(engine, tmp_path, blind: bool) -> tuple[np.ndarray, np.ndarray]:
    """The two players' audio of a jf_alpha (1.0×) vs jm_kumo (1.2×) round on JA_SHORT."""
    clips = ClipMaker(LocalBackend(engine), engine.catalog, ClipCache(max_bytes=64 << 20))
    desk = ABDesk(clips, engine.catalog, votes_path=tmp_path / "votes.sqlite3", out_dir=tmp_path)
    _, _, a, b, *_ = desk.compare("ja", JA_SHORT, "jf_alpha", 1.0, "jm_kumo", 1.2, blind, [],
                                  progress=NO_PROGRESS)
    return _read(a["value"]), _read(b["value"])


def test_an_ab_round_plays_both_voices_saying_the_text(real_engine, recogniser, tmp_path):
    first, second = _ab_round(real_engine, tmp_path, blind=False)
    assert_heard(recogniser, first, JA_SHORT, "ja")
    assert_heard(recogniser, second, JA_SHORT, "ja")
    assert len(second) < len(first)  # side B reads at 1.2x


def test_a_blind_round_still_says_the_text_after_disguise(real_engine, recogniser, tmp_path):
    # Blind clips are padded to one length and dithered; neither may cost a word.
    first, second = _ab_round(real_engine, tmp_path, blind=True)
    assert len(first) == len(second)  # lengths give no side away
    assert_heard(recogniser, first, JA_SHORT, "ja")
    assert_heard(recogniser, second, JA_SHORT, "ja")


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])
def test_an_audition_of_the_five_japanese_voices(real_engine, recogniser, tmp_path, monkeypatch, batched):
    if batched:
        monkeypatch.setenv("KOKORO_BATCH_VOICES", "true")
    clips = ClipMaker(LocalBackend(real_engine), real_engine.catalog, ClipCache(max_bytes=64 << 20))
    auditioner = Auditioner(clips, real_engine.catalog, out_dir=tmp_path)
    results, status, _ = list(auditioner.audition(JA_SHORT, JA_VOICES, "ja", 1.0, [], progress=NO_PROGRESS))[-1]
    assert "Done: 5 voices" in status and [r["voice"] for r in results] == JA_VOICES
    durations = []
    for item in results:
        audio = _read(item["path"])
        durations.append(len(audio))
        assert_heard(recogniser, audio, JA_SHORT, "ja")  # measured CER 0.0 for all five, both ways
    assert len(set(durations)) > 1  # five voices, five different readings
