"""Streaming from RunPod, end to end: the studio's RunPod backend follows a job on /stream, through
the loopback cloud, served by the real worker running KOKORO_STREAM=true. The first chunk plays
while the job is still running; the file, its chunks and its word times arrive whole; Cancel
cancels the job on the cloud."""

from __future__ import annotations

import pytest

from loopback.cloud import LoopbackCloud
from tests.ui_helpers import PLANTED_KEY, running_worker, sound_info, wait_until
from ui.backends import RunPodBackend
from ui.backends.base import Finished, Piece, Stopped
from ui.backends.runpod_client import RunPodClient

pytestmark = pytest.mark.slow  # its cloud fixture starts a streaming worker

ENDPOINT = "ep-stream"
SENTENCES = [f"This is sentence number {n} of the streamed story." for n in range(1, 11)]


@pytest.fixture(scope="module")
def cloud(standin_hf_home):
    with LoopbackCloud(api_key=PLANTED_KEY, endpoint_id=ENDPOINT, poll_hold_s=0.5) as c:
        with running_worker(c, KOKORO_STREAM="true"):
            yield c


def _backend(cloud, catalog) -> RunPodBackend:
    def client() -> RunPodClient:
        return RunPodClient(ENDPOINT, PLANTED_KEY, api_base=cloud.url, timeout_s=300.0, poll_interval_s=0.2)
    return RunPodBackend(client, catalog, stream=True)


def test_the_first_chunk_plays_before_the_job_finishes(cloud, catalog):
    text = " ".join(SENTENCES)
    events = _backend(cloud, catalog).run({"text": text, "voice": "af_heart", "format": "mp3",
                                           "timestamps": True}, lambda: False)
    first = next(e for e in events if isinstance(e, Piece))
    job = cloud.jobs()[-1]
    assert first.index == 0 and len(first.samples) > 0
    assert job["status"] == "IN_PROGRESS", job  # 9 sentences still to speak
    rest = list(events)
    done = rest[-1]
    assert isinstance(done, Finished) and done.format == "mp3"
    assert len([e for e in rest if isinstance(e, Piece)]) == 9 and len(done.result.chunks) == 10
    assert cloud.job(job["id"])["input"]["format"] == "mp3"  # never a bigger format than the user's
    assert sound_info(done.data).format == "MP3"
    words = done.result.words
    assert [w.text for w in words] == text.split()
    assert all(a.start_s <= b.start_s for a, b in zip(words, words[1:])) and words[-1].end_s <= done.result.duration_s


@pytest.mark.hostile
def test_cancel_during_a_streamed_job_cancels_it_on_the_cloud(cloud, catalog):
    stop = {"now": False}
    events = _backend(cloud, catalog).run({"text": " ".join(SENTENCES), "voice": "af_heart"}, lambda: stop["now"])
    next(e for e in events if isinstance(e, Piece))
    job_id = cloud.jobs()[-1]["id"]
    stop["now"] = True
    with pytest.raises(Stopped):
        list(events)
    wait_until(lambda: cloud.job(job_id)["status"] == "CANCELLED", 10, "the job to be cancelled")


@pytest.mark.hostile
def test_bad_markup_is_refused_before_a_job_is_sent(cloud, catalog):
    from worker.core.errors import InputError

    before = len(cloud.jobs())
    with pytest.raises(InputError, match="is not a pause"):
        list(_backend(cloud, catalog).run({"text": "Wait [pause:forever] now."}, lambda: False))
    assert len(cloud.jobs()) == before
