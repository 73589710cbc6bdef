"""The worker as its users start it, for tests: `--test_input` and the SDK's local API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import REPO
from tests.helpers_process import free_port, running

HANDLER = str(REPO / "worker" / "handler.py")


def run_test_input(payload: dict, cwd: Path, env: dict[str, str], script: str = HANDLER,
                   timeout: int = 300) -> subprocess.CompletedProcess:
    """`python worker/handler.py --test_input '{"input": ...}'`: one job, then exit."""
    return subprocess.run([sys.executable, script, "--test_input", json.dumps({"input": payload})],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextmanager
def local_api(cwd: Path, env: dict[str, str], warm_text: str = "warm") -> Iterator[str]:
    """`python worker/handler.py --rp_serve_api`: the SDK's own local server, warm-up included;
    yields its base URL once a first job has gone through."""
    port = free_port()
    args = [sys.executable, HANDLER, "--rp_serve_api", "--rp_api_port", str(port), "--rp_api_host", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}"
    with running(args, env, "worker", cwd) as worker:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                requests.post(f"{url}/runsync", json={"input": {"text": warm_text}}, timeout=300)
                break
            except requests.ConnectionError:
                assert worker.proc.poll() is None, worker.log()[-3000:]
                time.sleep(1)
        yield url


def runsync(url: str, payload) -> dict:
    response = requests.post(f"{url}/runsync", json={"input": payload}, timeout=900)
    assert response.status_code == 200, response.text
    return response.json()
