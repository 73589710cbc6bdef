"""KOKORO_CONCURRENCY: the real worker under RunPod's worker loop runs jobs side by side.

The loopback cloud hands jobs out as the SDK asks for them (its concurrency_modifier decides how
many); each job's delayTime and executionTime tell whether two ran at the same time."""

from __future__ import annotations

import base64

import pytest
import requests

from loopback.cloud import LoopbackCloud
from tests.ui_helpers import running_worker, sound_info, wait_until
from worker.core.errors import SettingsError
from worker.core.settings import concurrency as concurrency_from_env

KEY = "rp_concurrency_test_key"


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


@pytest.mark.slow
def test_two_jobs_run_at_once_and_all_complete(standin_hf_home):
    with LoopbackCloud(api_key=KEY, endpoint_id="ep-conc", poll_hold_s=0.2) as cloud, \
            running_worker(cloud, KOKORO_CONCURRENCY="2"):
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
