"""Results of any length: a real S3 server (SeaweedFS) takes what RunPod cannot return inline, and
the worker's outputs always fit RunPod's limits (whole results, streamed items, their aggregate)."""

import base64
import io
import json
import sys
from contextlib import ExitStack, contextmanager

import pytest
import requests
import soundfile as sf
import srt

from loopback.cloud import LoopbackCloud
from tests.conftest import REPO, worker_env
from tests.helpers_process import polling_worker, terminate_together, wait_for_worker, wait_until
from tests.helpers_s3 import ACCESS_KEY, SECRET_KEY, download, seaweed
from tests.standin import decode_as_noise
from ui.backends import streamed
from worker import handler as worker_handler
from worker.service import delivery, runtime

NOISE_HANDLER = str(REPO / "tests" / "fixtures" / "noise_handler.py")
TEXT = "Hello there. General Kenobi, you are a bold one. Kill him!"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with seaweed(tmp_path_factory.mktemp("seaweedfs")) as env:
        yield env


@pytest.fixture
def bucketed(s3, engine, monkeypatch):
    """The handler in this process on the session's engine, with the bucket configured."""
    monkeypatch.setattr(runtime, "_engine", engine)
    for name, value in s3.items():
        monkeypatch.setenv(name, value)
    delivery._storage.cache_clear()
    return s3


def _decoded(data: bytes) -> float:
    audio, rate = sf.read(io.BytesIO(data))
    return len(audio) / rate


def test_a_result_too_big_to_return_comes_back_as_a_link_with_everything_else_unchanged(bucketed, monkeypatch):
    monkeypatch.setenv("KOKORO_MAX_RESULT_MB", "0.05")
    job = {"text": TEXT, "format": "wav", "captions": "srt"}
    out = worker_handler.handler({"id": "big", "input": job})
    assert "audio_base64" not in out and out["audio_url"].startswith(bucketed["BUCKET_ENDPOINT_URL"])
    assert out["audio_url_expires_at"].endswith("+00:00")
    assert list(out)[:3] == ["audio_url", "audio_url_expires_at", "captions_url"]  # in audio_base64's place
    assert abs(_decoded(download(out["audio_url"])) - out["duration_s"]) < 0.01  # the whole audio
    assert download(out["captions_url"]).decode() == out["captions"]
    assert list(srt.parse(out["captions"]))[-1].content.endswith("Kill him!")
    assert out["message"].startswith("Synthesized") and len(json.dumps(out)) < 0.05 * 2**20
    monkeypatch.delenv("KOKORO_MAX_RESULT_MB")
    inline = worker_handler.handler({"id": "small", "input": job})  # fits: exactly as before
    assert "audio_url" not in inline and base64.b64decode(inline["audio_base64"])[:4] == b"RIFF"


def test_a_job_may_ask_for_a_link_and_inline_is_never_linked(bucketed, monkeypatch):
    out = worker_handler.handler({"id": "url", "input": {"text": "Short.", "format": "mp3", "delivery": "url"}})
    assert _decoded(download(out["audio_url"])) > 0.3 and "audio_base64" not in out
    monkeypatch.setenv("KOKORO_MAX_RESULT_MB", "0.01")
    out = worker_handler.handler({"id": "inline", "input": {"text": TEXT, "format": "wav", "delivery": "inline"}})
    assert out["error"].startswith("The result would be at least ") and "audio_url" not in out  # foreseen


@pytest.mark.hostile
def test_without_a_bucket_a_link_or_an_oversized_wav_is_refused_before_synthesis(direct_engine, monkeypatch):
    calls = []
    monkeypatch.setattr(direct_engine, "synthesize", lambda request, **kw: calls.append(request))
    out = worker_handler.handler({"id": "u", "input": {"text": "Hi.", "delivery": "url"}})
    assert out["error"].startswith('"delivery": "url" needs a bucket: set BUCKET_ENDPOINT_URL')
    text = ("The quick brown fox jumps over the lazy dog. " * 230)[:10_000]
    out = worker_handler.handler({"id": "w", "input": {"text": text, "format": "wav"}})
    assert out["error"].startswith("The result would be at least ") and "KOKORO_BUCKET" in out["error"]
    assert calls == []


@pytest.mark.hostile
def test_wrong_bucket_keys_are_one_sentence_without_the_keys(bucketed, monkeypatch):
    monkeypatch.setenv("BUCKET_SECRET_ACCESS_KEY", "not-the-secret-key-42")
    delivery._storage.cache_clear()
    out = worker_handler.handler({"id": "k", "input": {"text": "Hi.", "delivery": "url"}})
    assert out["error"].startswith(f"The bucket {bucketed['KOKORO_BUCKET']} at ") and "refused the upload" in out["error"]
    assert "not-the-secret" not in out["error"] and ACCESS_KEY not in out["error"] and SECRET_KEY not in out["error"]


def test_streamed_items_stay_under_1_mb_and_their_aggregate_within_the_budget(bucketed, engine, monkeypatch):
    decode_as_noise(monkeypatch, engine.model("v1.0"))
    monkeypatch.setenv("KOKORO_MAX_RESULT_MB", "2")
    # One 500-phoneme chunk (~30 s of wav, ~2 MB of base64) and more: parts, then links.
    text = " ".join(["the quick brown fox jumps over the lazy dog and runs far away"] * 14)
    items = list(worker_handler.stream_handler({"id": "s", "input": {
        "text": text + ". " + text + ".", "format": "wav", "split_sentences": False, "timestamps": True}}))
    assert not any("error" in item for item in items)
    assert all(len(json.dumps(item)) < delivery.ITEM_MAX_BYTES for item in items)
    assert len(json.dumps(items)) < 2 * 2**20  # what RunPod gathers as the job's output
    parts = [item for item in items if "parts" in item]
    assert parts and all(bool(p["text"]) == (p["part"] == 0) for p in parts)  # the text once per chunk
    linked = [item for item in items if "audio_url" in item]
    assert linked and all("audio_base64" not in item for item in linked)
    total = sum(item["duration_s"] for item in items)
    heard = sum(_decoded(download(i["audio_url"]) if "audio_url" in i else base64.b64decode(i["audio_base64"]))
                for i in items)
    assert abs(total - heard) < 0.05
    chunks = []  # as the studio's RunPod backend reads them: parts joined, links fetched
    for item in items:
        streamed.add(chunks, streamed.spoken_chunk(item, sum(c.duration_s for c in chunks)), item)
    assert [c.index for c in chunks] == sorted({item["chunk"] for item in items})
    assert abs(sum(c.duration_s for c in chunks) - total) < 0.01


def test_without_a_bucket_a_stream_past_the_budget_ends_with_the_way_out(direct_engine, monkeypatch):
    decode_as_noise(monkeypatch, direct_engine.model("v1.0"))
    monkeypatch.setenv("KOKORO_MAX_RESULT_MB", "0.3")
    items = list(worker_handler.stream_handler({"id": "s", "input": {"text": TEXT * 4, "format": "flac"}}))
    assert "audio_base64" in items[0] and "KOKORO_BUCKET" in items[-1]["error"]
    assert len(json.dumps(items)) < 0.3 * 2**20


@pytest.fixture
def direct_engine(engine, monkeypatch):
    monkeypatch.setattr(runtime, "_engine", engine)
    delivery._storage.cache_clear()
    return engine


# The two worker processes of the tests below, each polling its own loopback cloud (endpoint):
# the noise worker for the 10,000-character job, and the real worker with a 0.02 MB result limit.
CLOUD_WORKERS = {
    "bucket": ("test_a_10000_character_wav_job_through_the_cloud_returns_a_link_to_the_whole_audio",
               [sys.executable, NOISE_HANDLER], {}, "noise-worker"),
    "linked": ("test_the_studios_runpod_backend_plays_a_linked_result_in_the_format_chosen",
               [sys.executable, str(REPO / "worker" / "handler.py")], {"KOKORO_MAX_RESULT_MB": "0.02"}, "worker"),
}


@pytest.fixture(scope="module")
def cloud_workers(request, s3, standin_hf_home):
    """{endpoint: (cloud, worker)} for the tests this run selected: the workers start together (each
    start-up, an import and a model load, is mostly one core; one after the other they took two
    start-ups' time), and the fixture returns once each polls its own cloud."""
    selected = {item.originalname for item in request.session.items}
    with ExitStack() as stack:
        started = {}
        for endpoint, (test, args, env, name) in CLOUD_WORKERS.items():
            if test in selected:
                cloud = stack.enter_context(LoopbackCloud(api_key="rp_bucket_test_key", endpoint_id=endpoint,
                                                          poll_hold_s=0.5))
                env = worker_env(KOKORO_MODELS="v1.0", **env, **s3)
                started[endpoint] = cloud, stack.enter_context(
                    contextmanager(polling_worker)(cloud, args, env, name, 180, wait=False))
        for cloud, worker in started.values():
            wait_for_worker(cloud, worker, 240)
        yield started
        terminate_together(worker for _, worker in started.values())


@pytest.mark.slow
def test_a_10000_character_wav_job_through_the_cloud_returns_a_link_to_the_whole_audio(cloud_workers):
    """The issue's case end to end: RunPod refuses 37 MB of JSON; with a bucket the job completes
    and its link downloads every second of the audio (decoder noise, the rest production). Packed
    into ~25 chunks of up to 510 phonemes rather than 223 sentences: the same 10,000 characters and
    ~43 MB of WAV, a quarter of the front-end passes."""
    text = ("The quick brown fox jumps over the lazy dog. " * 230)[:10_000]
    cloud, _ = cloud_workers["bucket"]
    api = f"{cloud.url}/bucket"
    headers = {"Authorization": "Bearer rp_bucket_test_key"}
    job = requests.post(f"{api}/run", json={"input": {"text": text, "format": "wav", "split_sentences": False}},
                        headers=headers).json()
    done = wait_until(lambda: (s := requests.get(f"{api}/status/{job['id']}", headers=headers).json())[
        "status"] in ("COMPLETED", "FAILED") and s, 600, "the 10,000-character job", interval_s=1.0)
    assert done["status"] == "COMPLETED", done
    out = done["output"]
    data = download(out["audio_url"])
    assert len(data) > 20 * 2**20 and abs(_decoded(data) - out["duration_s"]) < 0.01
    assert out["duration_s"] > 10_000 / 30 and len(json.dumps(out)) < 2**20


@pytest.mark.slow
def test_the_studios_runpod_backend_plays_a_linked_result_in_the_format_chosen(cloud_workers, catalog):
    from ui.backends import RunPodBackend
    from ui.backends.base import Finished
    from ui.backends.runpod_client import RunPodClient

    cloud, _ = cloud_workers["linked"]

    def client() -> RunPodClient:
        return RunPodClient("linked", "rp_bucket_test_key", api_base=cloud.url, timeout_s=120.0,
                            poll_interval_s=0.2)

    events = list(RunPodBackend(client, catalog, stream=True).run(
        {"text": TEXT, "voice": "af_heart", "format": "flac"}, lambda: False))
    job = cloud.job(cloud.jobs()[-1]["id"])
    sent, output = job["input"], job["output"]
    done = events[-1]
    assert isinstance(done, Finished) and done.format == "flac" and sent["format"] == "flac"
    assert "audio_url" in output and "audio_base64" not in output  # 0.02 MB: it went by the bucket
    assert abs(_decoded(done.data) - done.result.duration_s) < 0.01 and done.result.duration_s > 1
