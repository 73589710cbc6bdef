"""`python worker/server.py` as its users start it, for tests: a free port, the /ping answers seen
while it starts, a bounded wait until it is ready."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.conftest import REPO
from tests.helpers_process import Process, free_port, running

SERVER = str(REPO / "worker" / "server.py")


@dataclass
class Server:
    url: str
    process: Process
    pings: list[int] = field(default_factory=list)  # /ping's status codes until the first 200

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


@contextmanager
def http_server(env: dict[str, str], cwd: Path | None = None, timeout_s: float = 240,
                script: str = SERVER) -> Iterator[Server]:
    port = free_port()
    env = {**env, "PORT": str(port)}
    with running([sys.executable, script], env, "server", cwd) as process:
        server = Server(f"http://127.0.0.1:{port}", process)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert process.proc.poll() is None, process.log()[-3000:]
            try:
                server.pings.append(requests.get(f"{server.url}/ping", timeout=5).status_code)
                if server.pings[-1] == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("the server was not ready in time:\n" + process.log()[-3000:])
        yield server
