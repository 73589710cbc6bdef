"""Concurrent jobs' chunks in one forward pass (worker.model.batcher): who waits for whom, and
that a job's audio is what it would be alone.

The scheduling tests run the Batcher on a recording function (no model); the engine tests run real
concurrent jobs through the stand-in model with KOKORO_BATCH_JOBS on and compare every job's audio
with the same job spoken by an engine that does not batch.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from worker.model import batcher
from worker.model.batcher import Batcher
from worker.model.engine import Engine
from worker.service.request import parse_request


def _recording(calls: list, fail_on: str | None = None):
    def run(key, items, ready):
        calls.append((key, list(items)))
        if fail_on in items:
            raise RuntimeError(f"cannot speak {fail_on}")
        return [f"{key}:{item}" for item in items]
    return run


def _in_threads(*targets) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)


def _together(shared: Batcher, names: str, then=None) -> dict:
    """Each name a job in its own thread, all in progress before any hands in its chunk; the results
    by name (`then(name)` as each job gets its own)."""
    results, arrived = {}, threading.Barrier(len(names))

    def job(name):
        with shared.job():
            arrived.wait()
            results[name] = shared.speak("v1.0", name)
            if then is not None:
                then(name)

    _in_threads(*(lambda n=n: job(n) for n in names))
    return results


def test_a_lone_job_does_not_wait_for_the_window():
    calls = []
    lone = Batcher(_recording(calls), window_s=30)
    started = time.monotonic()
    with lone.job():
        assert lone.speak("v1.0", "a") == "v1.0:a"
    assert time.monotonic() - started < 10  # the window (30 s) was not waited out
    assert calls == [("v1.0", ["a"])]


def test_jobs_in_progress_share_a_pass():
    calls, results = [], {}
    shared = Batcher(_recording(calls), window_s=30)
    arrived = threading.Barrier(3)

    def job(name):
        with shared.job():
            arrived.wait()  # all three are in progress before any hands in a chunk
            results[name] = shared.speak("v1.0", name)

    _in_threads(*(lambda n=n: job(n) for n in "abc"))
    assert results == {n: f"v1.0:{n}" for n in "abc"}
    assert [sorted(items) for _, items in calls] == [["a", "b", "c"]]  # one pass, and well before 30 s


def test_the_window_bounds_the_wait_for_a_job_that_hands_in_nothing():
    calls = []
    shared = Batcher(_recording(calls), window_s=0.2)
    with shared.job(), shared.job():  # two jobs in progress; the second is busy elsewhere
        started = time.monotonic()
        assert shared.speak("v1.0", "a") == "v1.0:a"
        waited = time.monotonic() - started
    assert 0.15 < waited < 10 and calls == [("v1.0", ["a"])]


def test_chunks_of_other_models_wait_for_their_own_pass():
    calls, results = [], {}
    shared = Batcher(_recording(calls), window_s=30)
    arrived = threading.Barrier(3)

    def job(model, name):
        with shared.job():
            arrived.wait()
            results[name] = shared.speak(model, name)

    _in_threads(lambda: job("v1.0", "a"), lambda: job("v1.1-zh", "z"), lambda: job("v1.0", "b"))
    assert results == {"a": "v1.0:a", "z": "v1.1-zh:z", "b": "v1.0:b"}
    assert sorted((key, sorted(items)) for key, items in calls) == [("v1.0", ["a", "b"]), ("v1.1-zh", ["z"])]


def test_one_bad_chunk_fails_its_own_job_only():
    calls, results = [], {}
    shared = Batcher(_recording(calls, fail_on="bad"), window_s=30)
    arrived = threading.Barrier(2)

    def job(name):
        with shared.job():
            arrived.wait()
            try:
                results[name] = shared.speak("v1.0", name)
            except RuntimeError as exc:
                results[name] = str(exc)

    _in_threads(lambda: job("good"), lambda: job("bad"))
    assert results == {"good": "v1.0:good", "bad": "cannot speak bad"}
    assert len(calls[0][1]) == 2  # tried together, then one by one
    assert sorted(items[0] for _, items in calls[1:]) == ["bad", "good"]


def test_a_row_made_first_goes_to_its_job_before_the_batch_ends():
    """On a CPU the batch's rows are decoded one after another: the job of the first row goes on
    (plays its chunk, hands in its next) while the others are still decoded."""
    rest_may_finish, order = threading.Event(), []

    def rows_in_turn(key, items, ready):
        ready(0, f"{key}:{items[0]}")  # the first row is made...
        assert rest_may_finish.wait(30)  # ...and the rest take long
        return [f"{key}:{item}" for item in items]

    def done(name):
        order.append(name)
        if len(order) == 1:
            rest_may_finish.set()  # only the early job can let the batch finish

    results = _together(Batcher(rows_in_turn, window_s=30), "ab", then=done)
    assert rest_may_finish.is_set() and len(order) == 2
    first = results[order[0]]
    assert results == {"a": "v1.0:a", "b": "v1.0:b"} and first == f"v1.0:{order[0]}"


def test_a_batch_that_fails_after_a_row_was_delivered_retries_only_the_others():
    calls = []

    def first_then_fail(key, items, ready):
        calls.append(list(items))
        if len(items) == 1:
            return [f"{key}:{items[0]}"]
        ready(0, f"{key}:{items[0]}")
        raise RuntimeError("out of memory on the second row")

    results = _together(Batcher(first_then_fail, window_s=30), "ab")
    assert results == {"a": "v1.0:a", "b": "v1.0:b"}
    assert len(calls) == 2 and len(calls[0]) == 2 and calls[1] == [calls[0][1]]  # only the undelivered


def _wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize("setting, device, jobs, batches", [
    ("auto", "cuda", 1, True), ("auto", "cuda:1", 4, True),
    ("auto", "cpu", 1, False),  # one job at a time: nothing to batch
    ("auto", "cpu", 4, True), ("auto", "cpu", 2, True), ("auto", "mps", 4, False),
    ("on", "cpu", 1, True), ("off", "cuda", 8, False), ("off", "cpu", 4, False),
])
def test_the_setting_per_device_and_jobs(setting, device, jobs, batches):
    assert batcher.wanted(setting, device, jobs) is batches


def test_an_engine_reads_the_jobs_at_once_for_auto(standin_hf_home, catalog, monkeypatch):
    monkeypatch.setenv("KOKORO_CONCURRENCY", "3")
    assert Engine(catalog, precision="fp32").batcher is not None  # KOKORO_BATCH_JOBS=auto on this CPU
    monkeypatch.setenv("KOKORO_CONCURRENCY", "1")
    assert Engine(catalog, precision="fp32").batcher is None


# --- real jobs through the stand-in model ------------------------------------------------------

JOBS = [("A first sentence for the first job. And its second sentence, a little longer.", "af_heart", 1.0),
        ("The second job speaks faster.", "am_michael", 1.3),
        ("Hi.", "bf_emma", 1.0),
        ("A fourth job, slower, in a blend. It also has two sentences.", "af_bella:0.6,af_heart:0.4", 0.8)]


def test_concurrent_jobs_are_batched_and_each_sounds_as_alone(standin_hf_home, catalog, fixed_source):
    """fp32 (see test_batching: bf16's rounding depends on the batch's shape)."""
    together = Engine(catalog, precision="fp32", batch_jobs="on")
    alone = Engine(catalog, precision="fp32", batch_jobs="off")
    assert alone.batcher is None
    requests = [parse_request({"text": t, "voice": v, "speed": s, "timestamps": True}, catalog)
                for t, v, s in JOBS]
    together.synthesize(requests[2])  # loads the model and voices before the jobs race
    together.batcher.sizes.clear()
    results = {}
    _in_threads(*(lambda i=i: results.__setitem__(i, together.synthesize(requests[i])) for i in range(len(JOBS))))
    assert max(together.batcher.sizes) >= 2  # jobs really shared passes
    for i, request in enumerate(requests):
        expected = alone.synthesize(request)
        got = results[i]
        assert [c.phonemes for c in got.result.chunks] == [c.phonemes for c in expected.result.chunks]
        assert got.audio.shape == expected.audio.shape  # the same durations
        assert np.abs(got.audio - expected.audio).max() < 1e-4 * np.abs(expected.audio).max()
        assert got.result.words and got.result.words == expected.result.words  # word timings too


def test_a_streamed_job_counts_as_in_progress_until_it_ends(standin_hf_home, catalog):
    engine = Engine(catalog, precision="fp32", batch_jobs="on")
    request = parse_request({"text": "One. Two.", "voice": "af_heart"}, catalog)
    stream = engine.stream(request)
    next(stream)
    assert engine.batcher._jobs == 1
    list(stream)
    assert engine.batcher._jobs == 0
