"""Issue 24, the service, studio and start-up rows: what a hostile user or client does to the studio's
RunPod backend and API, the worker's cancel, the loopback cloud's limits and the programs' start-up.
Each test goes through the real entry point (the studio's callbacks or `main`, the client, the worker
process, the HTTP face)."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from gradio.audio_stream_encoder import _read_wav_pcm

from loopback.cloud import LoopbackCloud
from tests.conftest import REPO, worker_env
from tests.helpers_loopback import PLANTED_KEY
from tests.helpers_process import run_together
from ui.backends import RunPodBackend
from ui.backends.runpod_client import RunPodClient, RunPodError
from ui.tabs.generate import OUTPUTS, Studio
from worker.sound import audio

pytestmark = pytest.mark.hostile

WORKER, STUDIO = REPO / "worker" / "handler.py", REPO / "ui" / "app.py"


def _one_line(done: subprocess.CompletedProcess, program: str) -> str:
    """The one stderr line a refused start-up prints (exit 1, no traceback)."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(f"kokoro {program} cannot start: ") and "Traceback" not in done.stdout
    return lines[0]


# --- the studio's RunPod backend ------------------------------------------------------------------

class _WholeFileClient:
    """A RunPod worker that does not stream: the whole file, in the format asked for, at the end."""

    def __init__(self, fmt: str):
        data = audio.encode(np.sin(np.arange(24000, dtype=np.float32) / 20) * 0.3, fmt)
        self.output = {"audio_base64": base64.b64encode(data).decode(), "format": fmt, "sample_rate": 24000,
                       "duration_s": 1.0, "model": "v1.0", "voice": "af_heart", "language": "en-us",
                       "message": "Synthesized 1.00 s.", "chunks": [{"text": "Hi.", "phonemes": "hˈI.",
                                                                      "duration_s": 1.0}]}

    def run(self, input, on_update=None, should_cancel=None, on_item=None):  # noqa: A002
        on_update("COMPLETED", 1.0, None)
        return self.output

    def close(self) -> None:
        pass


@pytest.mark.parametrize("fmt", ["mp3", "ogg", "flac"])
def test_a_runpod_worker_that_does_not_stream_plays_in_every_format(catalog, tmp_path, fmt):
    """Gradio's streaming player decodes anything but WAV with pydub, which needs a system ffmpeg
    (`KeyError: 0` without one): the player gets WAV, the download the format chosen."""
    studio = Studio(RunPodBackend(lambda: _WholeFileClient(fmt), catalog, stream=False), catalog, out_dir=tmp_path)
    steps = list(studio.generate("Hi.", "en-us", "af_heart", 1.0, True, fmt))
    player = steps[-1][OUTPUTS.index("audio")]
    assert isinstance(player, bytes) and _read_wav_pcm(player) is not None  # read with no subprocess
    assert _read_wav_pcm(player)[0] == 24000 and len(_read_wav_pcm(player)[2]) == 2 * 24000
    download = steps[-1][OUTPUTS.index("file")]["value"]
    assert download.endswith(f".{fmt}")


def test_a_key_late_in_a_refusal_is_scrubbed_before_the_message_is_cut():
    """Both messages that quote the server (a 4xx body cut to 300 characters, a worker's error cut
    to 500) hold the key just before their cut: not even its first characters may show."""
    with LoopbackCloud(api_key=PLANTED_KEY, endpoint_id="ep", poll_hold_s=0.1) as cloud:
        client = RunPodClient("ep", PLANTED_KEY, api_base=cloud.url, max_retries=0, poll_interval_s=0.1)
        cloud.add_fault("status", code=400, on="run", error="x" * 290 + PLANTED_KEY)
        with pytest.raises(RunPodError) as refused:
            client.submit({"text": "Hi."})
        cloud.add_fault("outcome", status="FAILED", error="y" * 490 + PLANTED_KEY, after_s=0.1)
        with pytest.raises(RunPodError) as failed:
            client.run({"text": "Hi."})
    for message, shown in ((str(refused.value), "HTTP 400"), (str(failed.value), "worker failed")):
        assert shown in message and "***" in message, message
        assert PLANTED_KEY[:6] not in message, message  # not even the key's first characters


# --- the loopback cloud ---------------------------------------------------------------------------

def _first_line(cloud: LoopbackCloud, request: bytes) -> bytes:
    port = int(cloud.url.split(":")[2].split("/")[0])
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # a hang fails the test
        s.sendall(request)
        return s.recv(4096).split(b"\r\n", 1)[0]


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_the_loopback_cloud_refuses_hostile_bodies_as_runpod_does(depth):
    with LoopbackCloud(api_key=PLANTED_KEY, endpoint_id="ep") as cloud:
        head = b"POST /v2/ep/run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + PLANTED_KEY.encode() + b"\r\n"
        assert _first_line(cloud, head + b"Content-Length: -1\r\n\r\n").endswith(b" 400 Bad Request")
        deep = b"[" * depth + b"]" * depth
        assert _first_line(cloud, head + b"Content-Length: %d\r\n\r\n" % len(deep) + deep).endswith(b" 400 Bad Request")
        url, auth = f"{cloud.url}/ep/run", {"Authorization": f"Bearer {PLANTED_KEY}"}
        for mb in (11, 15):  # RunPod's /run limit is 10 MB
            body = {"input": {"text": "x" * (mb * 1024 * 1024)}}
            assert requests.post(url, json=body, headers=auth, timeout=60).status_code == 413
        assert cloud.jobs() == [] and requests.post(url, json={"input": {"text": "Hi."}}, headers=auth,
                                                     timeout=10).status_code == 200


# --- the worker: cancel ---------------------------------------------------------------------------

@pytest.mark.slow
def test_cancelling_a_running_job_stops_its_synthesis(standin_hf_home):
    """The SDK cancels the job's task; the worker's thread then drops the job's remaining chunks
    (checked between chunks), so the next job does not wait for a synthesis nobody reads."""
    from tests.helpers_process import wait_until
    from tests.ui_helpers import running_worker

    long_text = " ".join(f"Sentence number {i} keeps the worker busy." for i in range(30))
    with LoopbackCloud(api_key=PLANTED_KEY, endpoint_id="local", poll_hold_s=0.3) as cloud, \
            running_worker(cloud, KOKORO_SKIP_WARMUP="true", KOKORO_PRECISION="fp32") as worker:
        client = RunPodClient("local", PLANTED_KEY, api_base=cloud.url, poll_interval_s=0.2)
        job = client.submit({"text": long_text})

        def at_chunk(n: int):
            return lambda: f"chunk {n} of" in str(client.status(job).get("output")) and time.monotonic()

        first = wait_until(at_chunk(1), 180, "the long job's first chunk", interval_s=0.1)
        per_chunk_s = wait_until(at_chunk(2), 120, "its second chunk", interval_s=0.1) - first
        client.cancel(job)
        cancelled = time.monotonic()
        assert client.run({"text": "Hi."})["audio_base64"]
        took = time.monotonic() - cancelled
        # 28 chunks were left: a worker still speaking them would answer after ~28 x per_chunk_s.
        assert took < 8 * per_chunk_s + 10, (took, per_chunk_s, worker.log()[-3000:])
        assert cloud.job(job)["status"] == "CANCELLED"
        # The thread ends after the chunk it was speaking, its remaining ones dropped.
        wait_until(lambda: "cancelled: stopped after chunk" in worker.log(), 60, "the cancelled job's stop")


# --- the studio's public API ----------------------------------------------------------------------

@pytest.mark.slow
def test_the_api_answers_bad_arguments_with_its_own_sentence(local_studio):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(local_studio.url, verbose=False)
    for speed in ("abc", None):
        with pytest.raises(AppError, match="'speed' must be a number"):
            client.predict("Hi.", "af_heart", "en-us", speed, True, "wav", api_name="/generate")
    # Plain HTTP with too few values: the SSE stream's error event carries a sentence, not null.
    base = local_studio.url + "gradio_api/call/generate"
    event = requests.post(base, json={"data": ["Hi."]}, timeout=30).json()["event_id"]
    answer = requests.get(f"{base}/{event}", timeout=60).text
    assert "event: error" in answer and "null" not in answer.split("event: error", 1)[1], answer
    assert "values" in answer and "6" in answer, answer
    path, *_ = client.predict("Still here.", api_name="/generate")  # and it keeps serving
    assert path.endswith(".wav")


# --- start-up -------------------------------------------------------------------------------------

def _malformed_yaml_start(cwd: Path, what: str) -> tuple:
    path = cwd / "broken.yaml"
    path.write_text("models:\n  v1.0: {repo_id: [unclosed\n" if what == "KOKORO_CATALOG" else
                    "en-us:\n  Kokoro: [unclosed\n")
    return path, ([sys.executable, str(WORKER)], worker_env(**{what: str(path)}), cwd)


def _lexicon_start(cwd: Path, program: str, env: dict[str, str]) -> tuple:
    lexicon = cwd / "lexicon.yaml"
    lexicon.write_text("en-us:\n  Kokoro: kˈOkəɹO\n  Zorg: ʘʘzɔɹg\n", encoding="utf-8")
    return lexicon, ([sys.executable, str(WORKER if program == "worker" else STUDIO)], worker_env(
        KOKORO_LEXICON=str(lexicon), KOKORO_MODELS="v1.0", KOKORO_VOTES_DB=str(cwd / "votes.sqlite3"),
        GRADIO_SERVER_PORT="1", **env), cwd)


@pytest.fixture(scope="module")
def refused_starts(request, tmp_path_factory) -> dict[tuple[str, str], tuple[Path, subprocess.CompletedProcess]]:
    """The start-ups the tests below run (those this run selected: refused ones, and the RunPod-only
    studio's main), all started at once (tests/helpers_process.py run_together), each its own
    process in its own folder: one after the other they were ~37 s.
    {(test, param id): (the file it names or None, the finished run)}."""
    files, runs = {}, {}
    for item in request.session.items:
        params = getattr(item, "callspec", None) and item.callspec.params
        if item.originalname == "test_a_malformed_yaml_file_is_one_line_naming_file_line_and_problem":
            key = "yaml", item.callspec.id
            files[key], runs[key] = _malformed_yaml_start(tmp_path_factory.mktemp("start"), params["what"])
        elif item.originalname == "test_a_lexicon_with_phonemes_the_model_lacks_stops_start_up":
            key = "lexicon", item.callspec.id
            files[key], runs[key] = _lexicon_start(tmp_path_factory.mktemp("start"), params["program"],
                                                   params["env"])
        elif item.originalname == "test_a_runpod_only_studio_imports_no_torch_through_main":
            key = "studio", "runpod-only"
            files[key], runs[key] = _runpod_only_studio(tmp_path_factory.mktemp("start"))
        elif item.originalname == "test_a_runpod_key_with_a_line_break_stops_the_studio_at_start_up":
            key = "studio", "line-break-key"
            files[key], runs[key] = _line_break_key_studio(tmp_path_factory.mktemp("start"))
    if any(kind == "lexicon" for kind, _ in runs):
        request.getfixturevalue("standin_hf_home")  # the stand-in weights, there before they start
    done = run_together(runs)
    return {key: (files[key], done[key]) for key in runs}


@pytest.mark.slow
@pytest.mark.parametrize("what", ["KOKORO_CATALOG", "KOKORO_LEXICON"])
def test_a_malformed_yaml_file_is_one_line_naming_file_line_and_problem(refused_starts, what):
    path, done = refused_starts["yaml", what]
    line = _one_line(done, "worker")
    assert str(path) in line and "line 3, column 1" in line and "expected ',' or ']'" in line, line


@pytest.mark.slow
@pytest.mark.parametrize("program, env", [
    ("worker", {"KOKORO_SKIP_WARMUP": "true"}),
    ("worker", {}),
    ("studio", {"KOKORO_SKIP_WARMUP": "true", "KOKORO_BACKEND": "local"}),
], ids=["worker-skip-warmup", "worker", "studio"])
def test_a_lexicon_with_phonemes_the_model_lacks_stops_start_up(refused_starts, request, program, env):
    lexicon, done = refused_starts["lexicon", request.node.callspec.id]
    line = _one_line(done, program)
    assert str(lexicon) in line and "Zorg" in line and "'ʘ'" in line and "v1.0" in line, line


_RUNPOD_ONLY_MAIN = """
import sys
import gradio as gr
gr.Blocks.launch = lambda self, *a, **k: print("launched")
sys.argv = ["ui/app.py"]
import ui.app as app
app.main()
print(sorted(m for m in ("torch", "kokoro", "misaki", "worker.model.engine") if m in sys.modules))
"""


def _runpod_only_studio(cwd: Path) -> tuple:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "KOKORO_BACKEND": "runpod",
           "RUNPOD_ENDPOINT_ID": "ep", "RUNPOD_API_KEY": "rpa_0123456789", "GRADIO_ANALYTICS_ENABLED": "False",
           "KOKORO_VOTES_DB": str(cwd / "votes.sqlite3"), "PYTHONPATH": str(REPO)}
    return None, ([sys.executable, "-c", _RUNPOD_ONLY_MAIN], env, cwd)


def _line_break_key_studio(cwd: Path) -> tuple:
    return None, ([sys.executable, str(STUDIO)], worker_env(
        KOKORO_BACKEND="runpod", RUNPOD_ENDPOINT_ID="ep", RUNPOD_API_KEY=f"{PLANTED_KEY}\n{PLANTED_KEY}",
        KOKORO_VOTES_DB=str(cwd / "votes.sqlite3")), cwd)


@pytest.mark.slow
def test_a_runpod_only_studio_imports_no_torch_through_main(refused_starts):
    _, done = refused_starts["studio", "runpod-only"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-2:] == ["launched", "[]"], done.stdout[-2000:]


@pytest.mark.slow
def test_a_runpod_key_with_a_line_break_stops_the_studio_at_start_up(refused_starts):
    _, done = refused_starts["studio", "line-break-key"]
    line = _one_line(done, "studio")
    assert "RUNPOD_API_KEY" in line and PLANTED_KEY[:6] not in done.stdout + done.stderr, line
