"""Checks that only mean something with the real Kokoro weights (stand-in audio is noise).

Run with KOKORO_REAL_HF_HOME pointing at an HF_HOME whose cache holds hexgrad/Kokoro-82M
(e.g. ~/.cache/huggingface after one online run). Skipped otherwise.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, worker_env

PUBLISHED_SHA256 = "496dba118d1a58f5f3db2efc88dbdc216e0483fc89fe6e47ee1f2c53f18ad1e4"


def _real_weights() -> Path | None:
    home = os.environ.get("KOKORO_REAL_HF_HOME")
    if not home:
        return None
    found = list(Path(home).glob("hub/models--hexgrad--Kokoro-82M/snapshots/*/kokoro-v1_0.pth"))
    if not found or hashlib.sha256(found[0].read_bytes()).hexdigest() != PUBLISHED_SHA256:
        return None
    return Path(home)


pytestmark = [pytest.mark.real_weights,
              pytest.mark.skipif(_real_weights() is None, reason="real Kokoro weights not present")]

SCRIPT = """
import json, numpy as np
from worker.engine import Engine
from worker.request import parse_request
e = Engine()
r = e.synthesize(parse_request({"text": "Hello world, this is Kokoro speaking."}, e.catalog))
spectrum = np.abs(np.fft.rfft(r.audio))[1:] + 1e-9
flatness = float(np.exp(np.mean(np.log(spectrum))) / np.mean(spectrum))
print(json.dumps({"duration": r.duration_s, "flatness": flatness}))
"""


def test_real_voice_is_speech_not_noise():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True,
                          env=worker_env(HF_HOME=str(_real_weights())), timeout=600)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 1.5 < figures["duration"] < 5.0  # a short sentence at a natural pace
    assert figures["flatness"] < 0.3  # speech is far from white noise (flatness ≈ 1)
