"""Playback that never stalls: the studio's player starts once the audio made will last while the
rest is made (ui/studio/playback.py). On a simulated clock: many speeds, uneven chunks, jitter; and
through Generate's own callback with a deliberately slow engine."""

import io
import random
import re

import numpy as np
import pytest
import soundfile as sf

from ui.backends.base import Capabilities, Finished, Piece
from ui.studio.playback import MARGIN, Playback
from ui.tabs.generate import OUTPUTS, Studio
from worker.service.result import Result
from worker.sound import audio

NO_PROGRESS = lambda *a, **k: None  # noqa: E731


def _chunks(n: int, seed: int = 0) -> list[tuple[float, int]]:
    """(seconds of audio, characters) of n sentences of uneven length."""
    rnd = random.Random(seed)
    return [(round(rnd.uniform(1.5, 5.0), 2), rnd.randint(30, 90)) for _ in range(n)]


def _gap_and_ideal(released: list[tuple[float, float]], made: list[tuple[float, float]]) -> tuple[float, float]:
    """The longest wait of a player that plays what it was given back to back from the first
    release; and the earliest gap-free start, knowing when every chunk would be made."""
    start, played, gap = released[0][0], 0.0, 0.0
    for when, audio_s in released:
        gap = max(gap, when - (start + played))
        played += audio_s
    ideal, before = 0.0, 0.0
    for when, audio_s in made:
        ideal, before = max(ideal, when - before), before + audio_s
    return gap, ideal


def _schedule(rate: float, chunks, latency_s: float = 0.5, jitter: float = 0.0, total_after: int = 0) -> dict:
    """Chunks made at `rate` seconds of audio per second (± jitter), fed to a Playback on a
    simulated clock (the chunk count known from chunk `total_after` on)."""
    rnd, now = random.Random(1), [0.0]
    plan = Playback(sum(c for _, c in chunks), clock=lambda: now[0])
    now[0] = latency_s
    released, made, held = [], [], 0.0
    for index, (audio_s, chars) in enumerate(chunks):
        now[0] += audio_s / rate * (1 + rnd.uniform(-jitter, jitter))
        made.append((now[0], audio_s))
        held += audio_s
        if plan.add(audio_s, chars, len(chunks) if index >= total_after else None).play:
            released.append((now[0], held))
            held = 0.0
    if held:
        released.append((now[0], held))  # the end: the whole file goes to the player
    gap, ideal = _gap_and_ideal(released, made)
    return {"start": released[0][0], "gap": gap, "ideal": ideal, "end": now[0],
            "chunk_s": max(a for a, _ in chunks) / rate}


@pytest.mark.parametrize("rate", [0.4, 0.7, 0.9, 0.98, 1.1, 1.3])
@pytest.mark.parametrize("jitter", [0.0, 0.1])
@pytest.mark.parametrize("total_after", [0, 3], ids=["count-known", "count-late"])
def test_a_slow_engine_plays_without_a_gap_and_waits_no_longer_than_its_margin(rate, jitter, total_after):
    run = _schedule(rate, _chunks(30), jitter=jitter, total_after=total_after)
    assert run["gap"] == 0.0, run
    # No longer than needed: the earliest gap-free start plus the margin on the making time and
    # three chunks' making (audio comes a chunk at a time, and the next may be long).
    assert run["start"] <= run["ideal"] + (MARGIN - 1) * run["end"] + 3 * run["chunk_s"], run
    assert run["start"] < 0.8 * run["end"]  # not "wait for everything"


def test_starting_at_the_first_chunk_would_have_run_dry():
    """The test above can fail: the old rule (play each chunk as it comes) stalls at these speeds."""
    chunks, now, made = _chunks(30), 0.5, []
    for audio_s, _ in chunks:
        now += audio_s / 0.7
        made.append((now, audio_s))
    gap, _ = _gap_and_ideal(made, made)
    assert gap > 10


@pytest.mark.parametrize("rate", [3.0, 20.0])
def test_fast_hardware_plays_from_the_first_chunk(rate):
    run = _schedule(rate, _chunks(12), latency_s=0.0)
    assert run["gap"] == 0.0 and run["start"] == pytest.approx(_chunks(12)[0][0] / rate)


def test_the_outlook_says_when_audio_starts_and_when_it_is_ready():
    now = [0.0]
    plan = Playback(600, clock=lambda: now[0])
    now[0] = 4.0  # 2 s of audio made in 4 s: half real time
    outlook = plan.add(2.0, 60, 10)
    assert not outlook.play and outlook.ready_in_s == pytest.approx(36.0)  # 18 s of audio at 0.5
    assert 0 < outlook.first_in_s < outlook.ready_in_s


def test_the_expected_total_is_made_plus_the_estimated_rest_and_exact_once_done():
    plan = Playback(600)
    plan.add(2.0, 60, None)  # the chunk count not known yet: by characters, 60 of 600
    assert plan.expected_s() == pytest.approx(20.0)
    plan.add(4.0, 60, 3)  # now by chunks: 6 s in 2 of 3
    assert plan.expected_s() == pytest.approx(9.0)
    plan.add(1.5, 40, 3)
    assert plan.expected_s() == pytest.approx(7.5)


class SlowBackend:
    """An engine that makes 0.75 s of audio per second of a simulated clock, chunk by chunk."""

    capabilities = Capabilities(kind="local", streams=True, parallel_clips=1, batches=False, stop_label="Stop",
                                timing_label="synthesized in", model_time=True, page_jobs=1)

    def __init__(self, now: list[float], chunks: list[tuple[float, int]], rate: float = 0.75):
        self.now, self.chunks, self.rate, self.made = now, chunks, rate, []

    def run(self, payload, should_stop):
        samples = []
        for index, (audio_s, chars) in enumerate(self.chunks):
            self.now[0] += audio_s / self.rate
            self.made.append((self.now[0], audio_s))
            samples.append(np.full(int(round(audio_s * audio.SAMPLE_RATE)), 0.1, np.float32))
            yield Piece(index, len(self.chunks), samples[-1], chars)
        whole = np.concatenate(samples)
        result = Result(model="v1.0", voice="af_heart", language="en-us", duration_s=len(whole) / audio.SAMPLE_RATE)
        yield Finished(audio.encode(whole, "wav"), "wav", result)


def test_generate_with_a_slow_engine_holds_the_first_chunks_then_plays_to_the_end(catalog, tmp_path):
    now, chunks = [0.0], _chunks(20, seed=3)
    backend = SlowBackend(now, chunks)
    studio = Studio(backend, catalog, out_dir=tmp_path, clock=lambda: now[0])
    released, statuses = [], []
    for step in studio.generate("x" * sum(c for _, c in chunks), "en-us", "af_heart", 1.0, True, "wav",
                                progress=NO_PROGRESS):
        sound, status = step[OUTPUTS.index("audio")], step[OUTPUTS.index("status")]
        if isinstance(sound, bytes):
            samples, _ = sf.read(io.BytesIO(sound))
            if len(samples):
                released.append((now[0], len(samples) / audio.SAMPLE_RATE))
        if isinstance(status, str):
            statuses.append(status)
    gap, ideal = _gap_and_ideal(released, backend.made)
    assert gap == 0.0 and len(released) < len(chunks)  # the first chunks were held, then played together
    assert released[0][0] <= ideal + (MARGIN - 1) * now[0] + 3 * max(a for a, _ in chunks) / 0.75
    assert sum(a for _, a in released) == pytest.approx(sum(a for a, _ in chunks), abs=0.01)  # all of it
    assert any("first audio in ~" in s and "ready in ~" in s for s in statuses), statuses
    whole = sum(a for a, _ in chunks)  # the status says the expected total while the player's grows
    said = [float(m) for s in statuses for m in re.findall(r"~(\d+) s in all", s)]
    assert said and all(abs(x - whole) <= 0.25 * whole for x in said[len(said) // 2:]), (said, whole)


def test_a_long_sentence_after_a_short_one_does_not_run_dry_just_above_real_time():
    """Measured on this machine at 1.27× real time: playing from the first chunk ran dry for 0.2 s."""
    chunks = [(1.0, 20), (6.0, 120), (2.0, 40), (5.0, 100), (1.5, 30)]
    run = _schedule(1.27, chunks, latency_s=0.3)
    assert run["gap"] == 0.0, run
    naive = [(0.3 + sum(a for a, _ in chunks[:i + 1]) / 1.27, a) for i, (a, _) in enumerate(chunks)]
    assert _gap_and_ideal(naive, naive)[0] > 0.5  # the first-chunk rule would have stalled here
