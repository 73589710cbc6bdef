"""The HTTP server against the queue handler, on the same text, weights and machine, in one run:
time to the first audio byte, time to the whole answer, and throughput (seconds of audio made per
second) for 1 and 4 concurrent requests.

    python bench/server.py             # real Kokoro v1.0 weights (built as tests/realspeech does)
    python bench/server.py --standin   # the stand-in weights (random: speed only)

The server streams pcm (its first bytes follow the first sentence); the queue handler runs under
RunPod's real worker loop against the loopback cloud and answers /runsync with the whole file (the
first audio a queue client can play). Both: KOKORO_MODELS=v1.0, KOKORO_CONCURRENCY=1, warm.
Not part of CI (timings flake on shared machines).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TEXT = ("The little boat drifted slowly across the quiet lake. Then the sun went down behind the hills. "
        "A cold wind came over the water. We rowed home before it was dark.")
BODY = {"model": "kokoro", "voice": "af_heart", "input": TEXT, "response_format": "pcm"}
JOB = {"text": TEXT, "voice": "af_heart", "format": "wav"}


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, cwd=tempfile.mkdtemp(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)
    proc.wait(30)


def _server_request(url: str) -> tuple[float, float, float]:
    """(first byte s, whole s, audio s) of one streamed request."""
    started, first, size = time.perf_counter(), None, 0
    with requests.post(f"{url}/v1/audio/speech", json=BODY, stream=True, timeout=600) as answer:
        answer.raise_for_status()
        for piece in answer.iter_content(None):
            first = first if first is not None else time.perf_counter() - started
            size += len(piece)
    return first, time.perf_counter() - started, size / 2 / 24_000


def _queue_request(base: str, headers: dict) -> tuple[float, float, float]:
    started = time.perf_counter()
    answer = requests.post(f"{base}/runsync", headers=headers, json={"input": JOB}, timeout=600).json()
    took = time.perf_counter() - started
    audio, rate = sf.read(io.BytesIO(base64.b64decode(answer["output"]["audio_base64"])))
    return took, took, len(audio) / rate


def _concurrent(ask, n: int) -> dict:
    results: list[tuple[float, float, float]] = []
    started = time.perf_counter()
    threads = [threading.Thread(target=lambda: results.append(ask())) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {"first_s": statistics.median(r[0] for r in results), "whole_s": statistics.median(r[1] for r in results),
            "audio_per_s": sum(r[2] for r in results) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standin", action="store_true", help="stand-in weights instead of the real ones")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from bench.homes import hf_home

    home = hf_home(args.standin)
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "KOKORO_MODELS": "v1.0",
           "KOKORO_CONCURRENCY": "1"}
    from tests.helpers_process import free_port

    rows: dict[str, dict] = {}
    port = free_port()
    server = _start([sys.executable, str(REPO / "worker" / "server.py")], {**env, "PORT": str(port)})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server)
        _server_request(url)  # warm
        for n in (1, 4):
            runs = [_concurrent(lambda: _server_request(url), n) for _ in range(args.repeat)]
            rows[f"server, {n} at once"] = _median_rows(runs)
    finally:
        _stop(server)

    from loopback.cloud import LoopbackCloud

    with LoopbackCloud(api_key="bench", endpoint_id="bench", poll_hold_s=0.1) as cloud:
        worker_env = {**env, **cloud.worker_env()}
        worker_env.pop("RUNPOD_REALTIME_PORT", None)
        worker = _start([sys.executable, str(REPO / "worker" / "handler.py")], worker_env)
        try:
            if not cloud.wait_for_worker(300):
                raise RuntimeError("the queue worker did not start")
            base, headers = f"{cloud.url}/bench", {"Authorization": "Bearer bench"}
            _queue_request(base, headers)  # warm
            for n in (1, 4):
                runs = [_concurrent(lambda: _queue_request(base, headers), n) for _ in range(args.repeat)]
                rows[f"queue handler, {n} at once"] = _median_rows(runs)
        finally:
            _stop(worker)

    from bench.peer import cpu_line

    print(f"\nHTTP server vs queue handler · {'stand-in' if args.standin else 'real v1.0'} weights · "
          f"{os.cpu_count()} cores · {cpu_line()}\n{len(TEXT)} characters, 4 sentences · median of {args.repeat}")
    print(f"{'path':28} {'first audio byte s':>19} {'whole answer s':>15} {'audio s per s':>14}")
    for name, row in rows.items():
        print(f"{name:28} {row['first_s']:19.2f} {row['whole_s']:15.2f} {row['audio_per_s']:14.2f}")


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the HTTP server did not become ready")


def _median_rows(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


if __name__ == "__main__":
    main()
