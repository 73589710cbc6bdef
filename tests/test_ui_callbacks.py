"""The studio's callbacks, called directly: choices, file naming, synthesis, errors, backends, secrets."""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from loopback.cloud import LoopbackCloud
from tests.ui_helpers import PLANTED_KEY, sound_info
from ui.backends import (
    LocalBackend,
    MisconfiguredBackend,
    RunPodBackend,
    backend_from_env,
    runpod_status,
)
from ui.backends.runpod_client import RunPodClient
from ui.studio import choices, files, history
from ui.studio.files import FILE_TTL_S
from ui.tabs.generate import OUTPUTS, Studio, output_name
from worker.core import settings
from worker.sound import audio

NAME = re.compile(r"^(?P<lang>[a-z-]+)_(?P<voice>[a-z0-9_]+)_(?P<stamp>\d{8}-\d{6})\.(?P<ext>wav|flac|mp3|ogg)$")
SF_FORMAT = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3", "ogg": "OGG"}


def out(values: tuple, name: str):
    return values[OUTPUTS.index(name)]


def is_skip(value) -> bool:
    return isinstance(value, dict) and value == {"__type__": "update"}


def run_all(studio: Studio, text: str = "Hello there.", language: str = "en-us", voice: str = "af_heart",
            fmt: str = "wav", speed: float = 1.0, split: bool = True) -> list[tuple]:
    return list(studio.generate(text, language, voice, speed, split, fmt))


def final_file(steps: list[tuple]) -> Path:
    updates = [out(s, "file") for s in steps if isinstance(out(s, "file"), dict) and out(s, "file").get("value")]
    assert updates, "no download was produced"
    assert updates[-1]["visible"] is True
    return Path(updates[-1]["value"])


@pytest.fixture
def studio(engine, catalog, tmp_path):
    # A clock that never moves: the engine looks infinitely fast, so every chunk plays as it comes
    # (when a slow engine's chunks are held back is tests/test_playback.py's subject).
    return Studio(LocalBackend(engine), catalog, out_dir=tmp_path / "out", clock=lambda: 0.0)


# --- choices ---------------------------------------------------------------------------------------

def test_language_choices_show_native_and_english_names(catalog):
    offered = dict((code, label) for label, code in choices.language_choices(catalog))
    assert list(offered) == list(catalog.languages) and len(offered) == 9
    assert offered["ja"] == "日本語 — Japanese"
    for code, lang in catalog.languages.items():
        assert lang.native_name in offered[code] and lang.name in offered[code]


@pytest.mark.parametrize("language", ["ja", "fr", "hi", "en-gb", "zh"])
def test_voice_choices_are_only_that_languages_voices_best_first(catalog, language):
    ids = [vid for _, vid in choices.voice_choices(catalog, language)]
    expected = [v.id for v in catalog.voices if v.language == language]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    assert ids[0] == catalog.best_voice(language).id == choices.default_voice(catalog, language)
    ranks = [catalog.voice(v).grade_rank for v in ids]
    assert ranks == sorted(ranks)


def test_chinese_offers_both_models_and_the_filter_narrows(catalog):
    models = {catalog.voice(vid).model for _, vid in choices.voice_choices(catalog, "zh")}
    assert models == {"v1.0", "v1.1-zh"}
    assert choices.model_choices(catalog, "zh") == ["All", "v1.0", "v1.1-zh"]
    v11 = [vid for _, vid in choices.voice_choices(catalog, "zh", "v1.1-zh")]
    v10 = [vid for _, vid in choices.voice_choices(catalog, "zh", "v1.0")]
    assert len(v11) == 100 and all(catalog.voice(v).model == "v1.1-zh" for v in v11)
    assert len(v10) == 8 and all(catalog.voice(v).model == "v1.0" for v in v10)
    assert choices.default_voice(catalog, "zh", "v1.1-zh") == v11[0]
    assert choices.model_choices(catalog, "ja") == ["All", "v1.0"]


def test_voice_labels_show_id_gender_grade_and_model(catalog):
    labels = dict((vid, label) for label, vid in choices.voice_choices(catalog, "zh"))
    assert labels["zf_xiaobei"] == "zf_xiaobei — female · grade D · v1.0"
    assert labels["zm_010"].startswith("zm_010 — male · ungraded · v1.1-zh")
    heart = dict((vid, label) for label, vid in choices.voice_choices(catalog, "en-us"))["af_heart"]
    assert heart == "af_heart — female · grade A · v1.0"


def test_language_change_updates_voices_model_filter_and_sample(studio, catalog):
    radio, voices, text = studio.on_language("ja", catalog.languages["en-us"].sample)
    assert [vid for _, vid in voices.choices] == [v.id for v in catalog.voices_for("ja")]
    assert voices.value == catalog.best_voice("ja").id
    assert radio.visible is False and radio.value == "All"
    assert text == catalog.languages["ja"].sample
    radio, voices, text = studio.on_language("zh", "")
    assert radio.visible is True and radio.choices == [("All", "All"), ("v1.0", "v1.0"), ("v1.1-zh", "v1.1-zh")]
    assert len(voices.choices) == 108 and text == catalog.languages["zh"].sample


def test_language_change_keeps_text_the_user_wrote(studio):
    _, _, text = studio.on_language("fr", "My own words, please keep them.")
    assert text == "My own words, please keep them."


def test_model_filter_keeps_the_voice_when_it_is_still_offered(studio, catalog):
    dd = studio.on_model("zh", "v1.1-zh", "zf_xiaobei")
    assert dd.value == choices.default_voice(catalog, "zh", "v1.1-zh")
    assert {catalog.voice(vid).model for _, vid in dd.choices} == {"v1.1-zh"}
    dd = studio.on_model("zh", "All", "zf_001")
    assert dd.value == "zf_001" and len(dd.choices) == 108


# --- files -----------------------------------------------------------------------------------------

def test_output_name_pattern():
    when = datetime(2026, 1, 2, 3, 4, 5)
    assert output_name("ja", "jf_alpha", "mp3", when) == "ja_jf_alpha_20260102-030405.mp3"
    assert output_name("en-us", "af_heart:0.7,af_bella:0.3", "ogg", when) == \
        "en-us_af_heart-0.7-af_bella-0.3_20260102-030405.ogg"
    assert NAME.match(output_name("zh", "zf_001", "wav"))


def test_generate_streams_each_chunk_then_delivers_the_file(studio):
    steps = run_all(studio, "Hi. Bye.", fmt="wav")
    played = [out(s, "audio") for s in steps if isinstance(out(s, "audio"), bytes)]
    chunks = [p for p in played if sound_info(p).frames > 0]
    assert len(chunks) == 2  # one streamed piece per sentence, as WAV for the player
    assert out(steps[0], "file") == {"__type__": "update", "value": None, "visible": False}
    path = final_file(steps)
    m = NAME.match(path.name)
    assert m and m["lang"] == "en-us" and m["voice"] == "af_heart" and m["ext"] == "wav"
    info = sound_info(path.read_bytes())
    streamed = sum(sound_info(p).frames for p in chunks)
    assert abs(info.duration - streamed / 24000) < 0.01  # the file holds exactly what was played
    statuses = [out(s, "status") for s in steps if not is_skip(out(s, "status"))]
    assert any("chunk 1 of 2" in s for s in statuses) and any("chunk 2 of 2" in s for s in statuses)
    last = steps[-1]
    assert "Done" in out(last, "status")
    assert re.search(r"\*\*\d+\.\d\d s\*\* of audio · synthesized in \*\*\d+\.\d\d s\*\*", out(last, "details"))
    assert "2 chunks" in out(last, "details") and "Kokoro v1.0" in out(last, "details")
    assert len(out(last, "phonemes").splitlines()) == 2 and out(last, "phonemes").strip()


@pytest.mark.parametrize("fmt", ["flac", "mp3", "ogg"])
def test_download_is_a_valid_file_of_the_chosen_format(studio, fmt):
    path = final_file(run_all(studio, "Hi.", fmt=fmt, speed=1.5))
    assert NAME.match(path.name)["ext"] == fmt
    info = sound_info(path.read_bytes())
    assert info.format == SF_FORMAT[fmt] and info.samplerate == 24000
    assert info.channels == 1 and info.duration > 0.1


@pytest.mark.parametrize("fmt, within", [("wav", 0.5), ("flac", 0.5), ("mp3", 1.0)])
def test_the_download_keeps_the_models_level_unless_a_loudness_is_picked(studio, fmt, within):
    """mp3: the stand-in's broadband noise through a lossy codec measures up to 0.8 LU off."""
    from ui.studio import loudness

    def level(path: Path) -> tuple[float, float]:
        samples, rate = sf.read(str(path), dtype="float32")
        return loudness.loudness(samples, rate), loudness.true_peak_db(samples)

    text = "Hello there, this is a longer sentence to measure."
    own = level(final_file(run_all(studio, text, fmt=fmt)))
    for label, target in loudness.DOWNLOAD_LEVELS.items():
        steps = list(studio.generate(text, "en-us", "af_heart", 1.0, True, fmt, None, None, label))
        got = level(final_file(steps))
        if target is None:  # as the model made it (the stand-in's noise differs a little run to run)
            assert abs(got[0] - own[0]) < 1.0 and got[1] > -1.0, (got, own)
        else:
            assert abs(got[0] - target) < within or got[1] > -1.5, (label, got)  # the target, or the peak ceiling
            assert got[1] <= -0.9 and abs(own[0] - target) > 1.0, (label, got, own)


def test_old_downloads_are_swept_on_the_next_save(studio):
    old = studio.out_dir / "old-run"
    old.mkdir(parents=True)
    (old / "en-us_af_heart_20200101-000000.wav").write_bytes(b"x")
    os.utime(old, (time.time() - 2 * FILE_TTL_S,) * 2)
    path = final_file(run_all(studio, "Hi."))
    assert path.exists() and not old.exists()


def test_the_served_folder_stays_under_its_size_bound_oldest_first(tmp_path):
    out = tmp_path / "served"
    saved = []
    for n in range(6):
        saved.append(files.save(out, f"{n}.wav", bytes(1000)))
        os.utime(saved[-1].parent, (time.time() - 100 + n,) * 2)
    files.sweep(out, max_bytes=3500)
    assert [p.exists() for p in saved] == [False, False, False, True, True, True]
    assert files.served_bytes(out) == 3000
    clip = files.serve_clip(out, "d1", "en-us_af_heart.wav", b"abc")
    assert files.serve_clip(out, "d1", "other-name.wav", b"abc") == clip  # one file per clip
    assert clip.read_bytes() == b"abc" and len(list((out / files.CLIPS).iterdir())) == 1


def test_history_labels_a_clip_with_what_was_submitted_not_the_form_after(studio):
    class Session:
        session_hash = "tab-1"

    steps = list(studio.generate("Hi.", "en-us", "af_bella", 1.25, True, "wav", Session(), progress=lambda *a, **k: None))
    path = str(final_file(steps))
    # The form changed while the job ran: remember() gets only the file and the history.
    [item] = studio.remember(path, [], Session())
    assert (item["voice"], item["language"], item["text"], item["speed"]) == ("af_bella", "en-us", "Hi.", 1.25)
    assert history.playable(item)
    Path(path).unlink()  # swept
    assert not history.playable(item)
    assert studio.remember(None, [item], Session()) == [item]  # a failed job adds nothing


def test_history_shows_the_text_as_typed_not_as_rewritten_by_pronunciations(studio):
    class Session:
        session_hash = "tab-2"

    words = {"en-us": {"Kokoro": "kˈOkəɹO"}}
    steps = list(studio.generate("Kokoro speaks.", "en-us", "af_bella", 1.0, True, "wav", Session(),
                                 pronunciations=words, progress=lambda *a, **k: None))
    [item] = studio.remember(str(final_file(steps)), [], Session())
    assert item["text"] == "Kokoro speaks."  # it showed "[Kokoro](/kˈOkəɹO/) speaks."


@pytest.mark.parametrize("text, voice, message", [
    ("", "af_heart", "'text' is empty; give some text to speak."),
    ("   ", "af_heart", "'text' is empty; give some text to speak."),
    ("x" * 41, "af_heart", "'text' has 41 characters; the limit is 40 (KOKORO_MAX_TEXT_CHARS)."),
    ("Hello.", "af_nobody", "Unknown voice 'af_nobody'."),
    ("Hello.", "zf_009", "Unknown voice 'zf_009'."),
])
@pytest.mark.hostile
def test_bad_input_is_a_toast_with_the_workers_sentence(studio, monkeypatch, text, voice, message):
    monkeypatch.setenv("KOKORO_MAX_TEXT_CHARS", "40")
    steps = []
    with pytest.raises(gr.Error) as err:
        for step in studio.generate(text, "en-us", voice, 1.0, True, "wav"):
            steps.append(step)
    assert err.value.message.startswith(message)
    assert "Traceback" not in err.value.message
    assert err.value.print_exception is False  # an input mistake is not a server problem
    assert steps and "status-error" in out(steps[-1], "status")


@pytest.mark.hostile
def test_the_studio_keeps_working_after_a_bad_request(studio):
    with pytest.raises(gr.Error):
        list(studio.generate("", "en-us", "af_heart", 1.0, True, "wav"))
    assert NAME.match(final_file(run_all(studio, "Hi.")).name)


@pytest.mark.hostile
def test_toast_escapes_html_from_user_input(studio):
    with pytest.raises(gr.Error) as err:
        list(studio.generate("Hi.", "en-us", "<img src=x>", 1.0, True, "wav"))
    assert "<img" not in err.value.message


@pytest.mark.hostile
def test_stop_ends_a_local_run_between_chunks(studio):
    text = "One. Two. Three. Four. Five. Six. Seven. Eight."
    steps = []
    for step in studio.generate(text, "en-us", "af_heart", 1.0, True, "wav"):
        steps.append(step)
        if isinstance(out(step, "audio"), bytes) and sound_info(out(step, "audio")).frames:
            studio.stop()  # no gr.Request in a direct call: the session is "no-session" both times
    assert "Stopped" in out(steps[-1], "status")
    pieces = [s for s in steps if isinstance(out(s, "audio"), bytes) and sound_info(out(s, "audio")).frames]
    assert 1 <= len(pieces) < 8
    assert not any(isinstance(out(s, "file"), dict) and out(s, "file").get("value") for s in steps)


# --- backends --------------------------------------------------------------------------------------

def test_backend_selection_from_env():
    assert settings.backend({}) == "local"
    assert settings.backend({"RUNPOD_ENDPOINT_ID": "ep"}) == "runpod"
    assert settings.backend({"RUNPOD_ENDPOINT_ID": "ep", "KOKORO_BACKEND": "LOCAL"}) == "local"
    assert settings.backend({"KOKORO_BACKEND": "runpod"}) == "runpod"
    assert isinstance(backend_from_env({}), LocalBackend)
    assert "no RunPod endpoint is configured" in backend_from_env({}).describe()
    both = {"RUNPOD_ENDPOINT_ID": "ep", "RUNPOD_API_KEY": PLANTED_KEY}
    assert isinstance(backend_from_env(both), RunPodBackend)
    assert isinstance(backend_from_env({**both, "KOKORO_BACKEND": "local"}), LocalBackend)


@pytest.mark.parametrize("env, problem", [
    ({"KOKORO_BACKEND": "cloud"}, "KOKORO_BACKEND='cloud' is not a backend: use runpod or local."),
    ({"KOKORO_BACKEND": "runpod"}, "RUNPOD_ENDPOINT_ID and RUNPOD_API_KEY are not set"),
    ({"RUNPOD_ENDPOINT_ID": "ep"}, "RUNPOD_API_KEY is not set"),
])
@pytest.mark.hostile
def test_misconfigured_backend_explains_on_the_page_and_on_generate(catalog, tmp_path, env, problem):
    backend = backend_from_env(env)
    assert isinstance(backend, MisconfiguredBackend) and problem in backend.describe()
    with pytest.raises(gr.Error, match=re.escape(problem)):
        list(Studio(backend, catalog, out_dir=tmp_path).generate("Hi.", "en-us", "af_heart", 1.0, True, "wav"))


def test_runpod_status_words():
    assert runpod_status("IN_QUEUE", 3.2).text == "In queue · 3 s"
    s = runpod_status("IN_PROGRESS", 7.0, "chunk 2 of 5")
    assert s.text == "In progress · chunk 2 of 5 · 7 s" and s.fraction == pytest.approx(0.4)
    assert runpod_status("COMPLETED", 9.0).fraction == 1.0


class FakeClient:
    """RunPodClient's run() contract, scripted: updates, then an output."""

    def __init__(self, output: dict, updates: list[tuple]):
        self.output, self.updates, self.inputs = output, updates, []

    def run(self, input, on_update=None, should_cancel=None):  # noqa: A002
        self.inputs.append(input)
        for update in self.updates:
            on_update(*update)
        return self.output

    def close(self) -> None:
        pass


def test_runpod_backend_shows_states_and_delivers_the_file(catalog, tmp_path):
    wav = audio.encode(np.zeros(24000, dtype=np.float32), "mp3")
    output = {"audio_base64": base64.b64encode(wav).decode(), "message": "Synthesized 1.00 s.",
              "sample_rate": 24000, "duration_s": 1.0, "format": "mp3", "model": "v1.0",
              "voice": "ff_siwis", "language": "fr",
              "chunks": [{"text": "Bonjour.", "phonemes": "bɔ̃ʒuʁ.", "duration_s": 1.0}]}
    client = FakeClient(output, [("IN_QUEUE", 0.5, None), ("IN_PROGRESS", 1.5, "chunk 1 of 1"),
                                 ("COMPLETED", 2.0, None)])
    studio = Studio(RunPodBackend(lambda: client, catalog), catalog, out_dir=tmp_path)
    steps = list(studio.generate("Bonjour.", "fr", "ff_siwis", 1.25, False, "mp3"))
    assert client.inputs == [{"text": "Bonjour.", "voice": "ff_siwis", "language": "fr", "speed": 1.25,
                              "split_sentences": False, "format": "mp3", "timestamps": True}]  # the worker's contract
    statuses = [out(s, "status") for s in steps if not is_skip(out(s, "status"))]
    assert any("In queue" in s for s in statuses) and any("chunk 1 of 1" in s for s in statuses)
    player = sound_info(out(steps[-1], "audio"))  # the whole file at the end, as WAV: the player's format
    assert player.format == "WAV" and abs(player.duration - sound_info(wav).duration) < 0.1
    path = final_file(steps)
    assert path.read_bytes() == wav and NAME.match(path.name)["voice"] == "ff_siwis"
    assert "RunPod job took" in out(steps[-1], "details") and out(steps[-1], "phonemes") == "bɔ̃ʒuʁ."


@pytest.mark.hostile
def test_runpod_backend_checks_input_before_submitting(catalog, tmp_path):
    client = FakeClient({}, [])
    studio = Studio(RunPodBackend(lambda: client, catalog), catalog, out_dir=tmp_path)
    with pytest.raises(gr.Error, match="'speed' must be from 0.5 to 2.0"):
        list(studio.generate("Hi.", "en-us", "af_heart", 3.0, True, "wav"))
    assert client.inputs == []  # nothing billed


@pytest.fixture
def cloud():
    with LoopbackCloud(api_key=PLANTED_KEY, endpoint_id="ep-ui", poll_hold_s=0.3) as c:
        yield c


def loopback_studio(cloud: LoopbackCloud, catalog, tmp_path) -> Studio:
    def client() -> RunPodClient:
        return RunPodClient("ep-ui", PLANTED_KEY, api_base=cloud.url, timeout_s=30.0,
                            poll_interval_s=0.1, backoff_s=0.05, max_retries=2)
    return Studio(RunPodBackend(client, catalog), catalog, out_dir=tmp_path)


@pytest.mark.hostile
def test_api_key_never_reaches_outputs_errors_or_logs(cloud, catalog, tmp_path, caplog):
    # A worker failure and a proxy error page that both echo the key back at us.
    faults = [dict(kind="outcome", status="FAILED", error=f"boom, Authorization: Bearer {PLANTED_KEY}",
                   after_s=0.2),
              dict(kind="status", code=418, on="status", error=f"teapot saw {PLANTED_KEY}")]
    studio = loopback_studio(cloud, catalog, tmp_path)
    seen: list[str] = []
    caplog.set_level(logging.DEBUG)
    for fault in faults:
        cloud.add_fault(**fault)
        with pytest.raises(gr.Error) as err:
            for step in studio.generate("Hello.", "en-us", "af_heart", 1.0, True, "wav"):
                seen.append(repr(step))
        seen.append(err.value.message)
    assert any("RunPod" in s for s in seen)
    assert not [s for s in seen if PLANTED_KEY in s]
    assert PLANTED_KEY not in caplog.text
    assert PLANTED_KEY not in repr(studio.backend.__dict__)


@pytest.mark.hostile
def test_cancel_stops_a_queued_runpod_job(cloud, catalog, tmp_path):
    studio = loopback_studio(cloud, catalog, tmp_path)  # no worker: the job waits in the queue
    steps = []
    timer = None
    for step in studio.generate("Hello.", "en-us", "af_heart", 1.0, True, "wav"):
        steps.append(step)
        if "In queue" in str(out(step, "status")) and timer is None:
            timer = threading.Timer(0.3, studio.stop)
            timer.start()
    assert "Cancelled" in out(steps[-1], "status")
    jobs = cloud.jobs()
    assert len(jobs) == 1 and jobs[0]["status"] == "CANCELLED"
