"""The worker as its users start it, for tests: `--test_input` and the SDK's local API."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import REPO

HANDLER = str(REPO / "worker" / "handler.py")


def run_test_input(payload: dict, cwd: Path, env: dict[str, str], script: str = HANDLER,
                   timeout: int = 300) -> subprocess.CompletedProcess:
    """`python worker/handler.py --test_input '{"input": ...}'`: one job, then exit."""
    return subprocess.run([sys.executable, script, "--test_input", json.dumps({"input": payload})],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_api(cwd: Path, env: dict[str, str], warm_text: str = "warm") -> Iterator[str]:
    """`python worker/handler.py --rp_serve_api`: the SDK's own local server, warm-up included;
    yields its base URL once a first job has gone through."""
    port = free_port()
    log = open(cwd / "worker.log", "w")
    proc = subprocess.Popen([sys.executable, HANDLER, "--rp_serve_api", "--rp_api_port", str(port),
                             "--rp_api_host", "127.0.0.1"], env=env, cwd=cwd, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            try:
                requests.post(f"{url}/runsync", json={"input": {"text": warm_text}}, timeout=300)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, (cwd / "worker.log").read_text()[-3000:]
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # busy in a long job: never leave it running (it was seen
            proc.kill()                    # spinning a core for an hour after a failed test)
            proc.wait(timeout=30)
        log.close()


def runsync(url: str, payload) -> dict:
    response = requests.post(f"{url}/runsync", json={"input": payload}, timeout=900)
    assert response.status_code == 200, response.text
    return response.json()
