"""KOKORO_CONCURRENCY: the real worker under RunPod's worker loop runs jobs side by side.

The loopback cloud hands jobs out as the SDK asks for them (its concurrency_modifier decides how
many); each job's delayTime and executionTime tell whether two ran at the same time."""

from __future__ import annotations

import base64
import contextlib
import re

import pytest
import requests

from loopback.cloud import LoopbackCloud
from tests.helpers_process import terminate_together, wait_for_worker
from tests.ui_helpers import running_worker, sound_info, wait_until
from worker.core.errors import SettingsError
from worker.core.settings import concurrency as concurrency_from_env

KEY = "rp_concurrency_test_key"


@pytest.mark.hostile
def test_the_setting_is_checked(monkeypatch):
    assert concurrency_from_env() == 1
    monkeypatch.setenv("KOKORO_CONCURRENCY", "3")
    assert concurrency_from_env() == 3
    for bad in ("two", "0", "99"):
        monkeypatch.setenv("KOKORO_CONCURRENCY", bad)
        with pytest.raises(SettingsError, match="KOKORO_CONCURRENCY"):
            concurrency_from_env()


def spans(jobs: list[dict]) -> list[tuple[float, float]]:
    """(start, end) of each job in seconds after its submission (all were submitted together)."""
    return [(j["delayTime"] / 1000, (j["delayTime"] + j["executionTime"]) / 1000) for j in jobs]


# Each test's worker: its own loopback cloud (endpoint) and settings.
WORKERS = {
    # unbatched, each job on its share of the cores (KOKORO_BATCH_JOBS=off)
    "test_two_jobs_run_at_once_and_all_complete": (
        "ep-conc", {"KOKORO_CONCURRENCY": "2", "KOKORO_BATCH_JOBS": "off"}),
    "test_with_batching_on_concurrent_jobs_share_passes_and_all_complete": (
        "ep-batch", {"KOKORO_CONCURRENCY": "4", "KOKORO_BATCH_JOBS": "on", "KOKORO_LOG_LEVEL": "DEBUG"}),
}


@pytest.fixture(scope="module")
def workers(request, standin_hf_home):
    """{test name: (cloud, worker)} for the tests this run selected, the workers started together
    (each start-up, an import and a model load, is mostly one core: one after the other they took
    ~2 start-ups' time) and each awaited until it polls its own cloud; no job is sent before."""
    wanted = [name for name in WORKERS if any(item.originalname == name for item in request.session.items)]
    with contextlib.ExitStack() as stack:
        started = {}
        for name in wanted:
            endpoint, env = WORKERS[name]
            cloud = stack.enter_context(LoopbackCloud(api_key=KEY, endpoint_id=endpoint, poll_hold_s=0.2))
            started[name] = cloud, stack.enter_context(running_worker(cloud, wait=False, **env))
        for cloud, worker in started.values():
            wait_for_worker(cloud, worker, 240)
        yield started
        terminate_together(worker for _, worker in started.values())


@pytest.mark.slow
def test_two_jobs_run_at_once_and_all_complete(workers):
    cloud, _ = workers["test_two_jobs_run_at_once_and_all_complete"]
    headers = {"Authorization": f"Bearer {KEY}"}
    base = f"{cloud.url}/ep-conc"
    texts = [f"Job number {i} has a sentence of moderate length to speak." for i in range(4)]
    ids = [requests.post(f"{base}/run", json={"input": {"text": t, "voice": "af_heart"}}, headers=headers,
                         timeout=10).json()["id"] for t in texts]

    def finished():
        views = [requests.get(f"{base}/status/{i}", headers=headers, timeout=10).json() for i in ids]
        return views if all(v["status"] == "COMPLETED" for v in views) else None

    views = wait_until(finished, 240, "four jobs to complete", interval_s=0.5)
    for view in views:
        info = sound_info(base64.b64decode(view["output"]["audio_base64"]))
        assert info.samplerate == 24000 and info.duration > 1.0
    (s0, e0), (s1, e1), *_ = spans(views)
    assert s1 < e0 - 0.2, "the second job started only after the first ended"


@pytest.mark.slow
def test_with_batching_on_concurrent_jobs_share_passes_and_all_complete(workers):
    """KOKORO_BATCH_JOBS=on (`auto` on a GPU, and on a CPU running jobs at once through torch) under
    RunPod's worker loop: the four jobs' chunks meet in shared passes (the worker's DEBUG log says how
    many chunks each pass held) and every job completes with its own audio. That batching leaves each
    job's samples unchanged is tested in test_batcher."""
    cloud, worker = workers["test_with_batching_on_concurrent_jobs_share_passes_and_all_complete"]
    headers = {"Authorization": f"Bearer {KEY}"}
    base = f"{cloud.url}/ep-batch"
    texts = ["A short one.", "The second job is a little longer than the first.", "Third job, third voice.",
             "The fourth and last job of the batch."]
    ids = [requests.post(f"{base}/run", json={"input": {"text": t, "voice": v}}, headers=headers,
                         timeout=10).json()["id"]
           for t, v in zip(texts, ["af_heart", "am_michael", "bf_emma", "af_bella"])]

    def finished():
        views = [requests.get(f"{base}/status/{i}", headers=headers, timeout=10).json() for i in ids]
        return views if all(v["status"] == "COMPLETED" for v in views) else None

    views = wait_until(finished, 240, "four jobs to complete", interval_s=0.5)
    durations = [sound_info(base64.b64decode(v["output"]["audio_base64"])).duration for v in views]
    assert durations[0] < durations[1]  # each job got its own text's audio
    serving = worker.log().partition("Starting Serverless Worker")[2]  # after warm-up's own pass
    passes = [int(m) for m in re.findall(r"(\d+) chunk\(s\) of v1.0 in one pass", serving)]
    assert passes and max(passes) >= 2 and sum(passes) == 4, worker.log()[-6000:]
