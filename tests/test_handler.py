"""The RunPod handler: called directly, through `--test_input`, and through the SDK's local API."""

import base64
import io
import json
import sys
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import REPO, worker_env
from tests.helpers_worker import local_api as start_local_api
from tests.helpers_worker import HANDLER, runsync
from worker import handler as worker_handler
from worker.service import runtime

DOC_EXAMPLE = {"text": "你好，世界！这是一个语音合成测试。", "voice": "af_heart", "language": "zh",
               "speed": 1.0, "split_sentences": True}


@pytest.fixture
def direct(engine, monkeypatch):
    """The handler module using the session's engine, as on RunPod (a job URL to report progress
    to); progress updates recorded."""
    monkeypatch.setattr(runtime, "_engine", engine)
    monkeypatch.setenv("RUNPOD_WEBHOOK_POST_OUTPUT", "https://api.runpod.ai/v2/job-done/$ID")
    updates = []
    monkeypatch.setattr(worker_handler.runpod.serverless, "progress_update",
                        lambda job, message: updates.append(message))
    return updates


def _decode(output: dict):
    return sf.read(io.BytesIO(base64.b64decode(output["audio_base64"])), dtype="float32")


def test_success_output_keeps_the_documented_names(direct):
    out = worker_handler.handler({"id": "j1", "input": dict(DOC_EXAMPLE, text="Hello there. General Kenobi.",
                                                            language="en-us")})
    assert set(out) >= {"audio_base64", "message"}
    assert set(out) - {"audio_base64", "message"} == {"notes", "sample_rate", "duration_s", "format", "model",
                                                       "voice", "language", "chunks"}
    assert out["notes"] == []
    audio, rate = _decode(out)
    assert rate == 24_000 and out["sample_rate"] == 24_000 and out["format"] == "wav"
    assert abs(len(audio) / rate - out["duration_s"]) < 0.01
    assert [c["text"] for c in out["chunks"]] == ["Hello there.", "General Kenobi."]
    assert all(c["phonemes"] for c in out["chunks"])
    # G2P runs ahead of the model; until it reaches the end the count is not claimed.
    assert direct[-1] == "chunk 2 of 2" and direct[0] in ("chunk 1", "chunk 1 of 2") and len(direct) == 2


def test_no_progress_is_sent_where_runpod_gave_no_job_url(direct, monkeypatch):
    monkeypatch.delenv("RUNPOD_WEBHOOK_POST_OUTPUT")  # the SDK's local API, --test_input
    out = worker_handler.handler({"id": "j0", "input": {"text": "One. Two."}})
    assert "audio_base64" in out and direct == []


def test_other_language_note_in_message(direct):
    out = worker_handler.handler({"id": "j2", "input": DOC_EXAMPLE})
    assert out["model"] == "v1.0" and out["language"] == "zh"
    assert "af_heart (en-us voice) reads zh text" in out["message"]
    assert len(out["notes"]) == 1 and out["notes"][0] in out["message"]  # the same note, in both


@pytest.mark.parametrize("fmt, container", [("flac", "FLAC"), ("mp3", "MP3"), ("ogg", "OGG")])
def test_formats(direct, fmt, container):
    out = worker_handler.handler({"id": "f", "input": {"text": "Format test.", "format": fmt}})
    assert sf.info(io.BytesIO(base64.b64decode(out["audio_base64"]))).format == container


@pytest.mark.hostile
def test_bad_input_is_an_error_and_the_next_job_still_works(direct):
    assert worker_handler.handler({"id": "b", "input": {"text": ""}}) == {"error": "'text' is empty; give some text to speak."}
    assert "Unknown voice" in worker_handler.handler({"id": "b", "input": {"text": "x", "voice": "zz_nobody"}})["error"]
    assert "audio_base64" in worker_handler.handler({"id": "ok", "input": {"text": "Still here."}})


@pytest.mark.hostile
def test_unexpected_failure_is_contained(direct, monkeypatch, engine):
    def boom(*a, **k):
        raise RuntimeError("CUDA exploded with secret details")

    monkeypatch.setattr(engine, "synthesize", boom)
    out = worker_handler.handler({"id": "x", "input": {"text": "Hi."}})
    assert out == {"error": "Synthesis failed inside the worker; see the worker log."}


def test_stream_handler_yields_each_chunk(direct):
    chunks = list(worker_handler.stream_handler({"id": "s", "input": {"text": "One. Two. Three.", "format": "flac"}}))
    assert [c["chunk"] for c in chunks] == [0, 1, 2] and [c["text"] for c in chunks] == ["One.", "Two.", "Three."]
    for c in chunks:
        assert sf.info(io.BytesIO(base64.b64decode(c["audio_base64"]))).format == "FLAC"
    assert list(worker_handler.stream_handler({"id": "s", "input": {"text": 5}})) == \
        [{"error": "'text' must be a string, not a number."}]


# --- through the real SDK ------------------------------------------------------------------

@pytest.mark.slow
def test_test_input_runs_the_document_example(standin_hf_home, tmp_path):
    # The two one-job runs side by side (run_together), each in its own folder: each is mostly one
    # single-threaded start-up, and one after the other they were ~23 s.
    from tests.helpers_process import run_together

    env = worker_env(KOKORO_MODELS="v1.0")
    payloads = {"ok": json.loads((REPO / "test_input.json").read_text())["input"],
                "bad": {"text": "hi", "voice": "af_maple", "language": "ja"}}
    runs = {}
    for name, payload in payloads.items():
        (tmp_path / name).mkdir()
        runs[name] = [sys.executable, HANDLER, "--test_input", json.dumps({"input": payload})], env, tmp_path / name
    ok, bad = run_together(runs, timeout_s=300).values()
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert "completed successfully" in ok.stdout + ok.stderr
    assert bad.returncode == 1
    assert "it cannot read 'ja'" in bad.stdout + bad.stderr


@pytest.fixture(scope="module")
def local_api(standin_hf_home, tmp_path_factory):
    """`python worker/handler.py --rp_serve_api`: the SDK's own local server, warm-up included."""
    with start_local_api(tmp_path_factory.mktemp("api"), worker_env()) as url:
        yield url


# Every message is tested in-process (tests/test_request.py); over HTTP two show the path: a
# parse error and the size limit (a 10,001-character body through the SDK's server).
@pytest.mark.parametrize("payload, message", [
    ({"text": "hi", "voice": "af_hart"}, "Did you mean af_heart"),
    ({"text": "x" * 10_001}, "the limit is 10,000"),
])
@pytest.mark.hostile
def test_local_api_bad_input_fails_the_job_with_a_message(local_api, payload, message):
    job = runsync(local_api, payload)
    assert job["status"] == "FAILED"
    assert message in job["error"] and "Traceback" not in job["error"]


# Every language is spoken in-process (tests/test_engine.py); over HTTP, Japanese and the v1.1-zh
# model's Chinese (the two G2Ps with the most moving parts) show the path.
@pytest.mark.parametrize("language, voice", [("ja", "jm_kumo"), ("zh", "zm_010")])
def test_local_api_speaks(local_api, catalog, language, voice):
    job = runsync(local_api, {"text": catalog.languages[language].sample, "voice": voice, "language": language})
    assert job["status"] == "COMPLETED", job
    audio, _ = _decode(job["output"])
    assert len(audio) > 24_000 * 0.5 and job["output"]["voice"] == voice


LONG = {
    "ja": "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
    "zh": "今天天气很好，我们一起去公园散步吧！春天来了，花都开了，小鸟在树上唱歌。你听见了吗？",
}


# In-process (the HTTP path is test_local_api_speaks's), with the decoder giving noise of its true
# length (tests/standin.py): what a long text can break is G2P, chunking and the durations, not a
# chunk's decoding. Over HTTP with the full decoder this took 95 s a language on a 2-core VM.
@pytest.mark.long
@pytest.mark.parametrize("language, voice", [("ja", "jf_alpha"), ("zh", "zf_001")])
@pytest.mark.hostile
def test_3000_characters_all_spoken(direct, engine, monkeypatch, language, voice):
    from tests.standin import decode_as_noise

    decode_as_noise(monkeypatch, *(engine.model(name) for name in engine.catalog.models))
    text = (LONG[language] * 60)[:3000]
    out = worker_handler.handler({"id": "long", "input": {
        "text": text, "voice": voice, "language": language, "speed": 2.0, "split_sentences": False,
        "format": "ogg"}})
    assert "error" not in out, out
    assert "".join(c["text"] for c in out["chunks"]).replace(" ", "") == text
    assert all(len(c["phonemes"]) <= 510 for c in out["chunks"])
    audio, rate = _decode(out)
    for chunk in out["chunks"]:  # every phoneme got at least one 25 ms frame: nothing was dropped
        assert chunk["duration_s"] >= 0.9 * 0.025 * len(chunk["phonemes"]), chunk
    assert abs(len(audio) / rate - out["duration_s"]) < 0.1


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:  # a zombie (state Z) is dead: it only waits to be reaped
        return "\tZ" not in (Path("/proc") / str(pid) / "status").read_text().split("State:", 1)[1][:4]
    except (OSError, IndexError):
        return False


@pytest.mark.slow
def test_a_killed_worker_takes_its_heartbeat_process_with_it(standin_hf_home):
    import os
    import signal

    from loopback.cloud import LoopbackCloud
    from tests.helpers_loopback import wait_until
    from tests.ui_helpers import running_worker

    with LoopbackCloud(api_key="k" * 24) as cloud, running_worker(cloud, KOKORO_SKIP_WARMUP="1") as worker:
        children = wait_until(lambda: _children(worker.proc.pid), 30, "the SDK's heartbeat process")
        os.kill(worker.proc.pid, signal.SIGKILL)  # the worker alone, as an OOM kill would
        worker.proc.wait(10)
        wait_until(lambda: not any(_alive(c) for c in children), 10, "its children to end with it")


@pytest.mark.hostile
def test_a_result_runpod_would_refuse_is_an_error_that_names_the_way_out(direct, monkeypatch):
    """RunPod cannot return results near 20 MB: the job would hang IN_PROGRESS until its timeout.
    The handler answers with a sentence instead (KOKORO_MAX_RESULT_MB, 15 by default; small here)."""
    monkeypatch.setenv("KOKORO_MAX_RESULT_MB", "0.1")
    job = {"text": "Hello there. General Kenobi, you are a bold one.", "format": "wav"}
    out = worker_handler.handler({"id": "big", "input": job})
    assert set(out) == {"error"}, out.keys()
    assert out["error"].startswith("The result is 0.") and "more than the 0.1 MB a RunPod job can return" in out["error"]
    assert 'ask for "format": "ogg" or "mp3"' in out["error"] and "split the text" in out["error"]
    small = worker_handler.handler({"id": "small", "input": dict(job, format="ogg")})
    assert "audio_base64" in small and len(json.dumps(small)) <= 0.1 * 2**20


@pytest.mark.hostile
def test_a_wav_result_too_big_to_return_is_refused_before_synthesis(direct, engine, monkeypatch):
    """10,000 characters of English as WAV is at least ~17 MB: refused at once, not after minutes
    of synthesis; as ogg it goes on to synthesis (which the spy stops)."""
    from worker.core.errors import InputError

    calls = []

    def spy(request, **kw):
        calls.append(request.format)
        raise InputError("stopped by the test")
    monkeypatch.setattr(engine, "synthesize", spy)
    text = ("The quick brown fox jumps over the lazy dog. " * 230)[:10_000]
    out = worker_handler.handler({"id": "wav", "input": {"text": text, "format": "wav"}})
    assert out["error"].startswith("The result would be at least ") and "split the text" in out["error"]
    assert calls == []
    assert worker_handler.handler({"id": "ogg", "input": {"text": text, "format": "ogg"}}) == {
        "error": "stopped by the test"} and calls == ["ogg"]
