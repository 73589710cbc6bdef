"""The first Japanese job imports ONNX Runtime (pyopenjtalk-plus, under misaki's Japanese G2P,
loads its small 何-reading model with it). On a machine whose /sys/class/drm lists a card without
PCI details (WSL2, cloud vGPUs, a Raspberry Pi, a VM's framebuffer), ONNX Runtime's GPU discovery
then logs a warning on import that is for ONNX Runtime's developers, not ours: we run it on the CPU.

The test builds such a /sys/class in a private mount namespace (root and `unshare`; skipped
elsewhere), checks that a bare import there does warn, then that a first Japanese synthesis in a
fresh process logs no such warning."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, worker_env

FAKE_DRM = ("mount -t tmpfs none /sys/class && mkdir -p /sys/class/drm/card0/device && "
            "echo 0x10de > /sys/class/drm/card0/device/vendor && exec \"$0\" -c \"$1\"")
FIRST_JAPANESE_JOB = """
from worker.core.catalog import default_catalog
from worker.model.engine import Engine
from worker.service.request import parse_request
request = parse_request({"text": "何を食べますか。今日はいい天気ですね。", "voice": "jf_alpha", "language": "ja"},
                        default_catalog())
print("samples", len(Engine().synthesize(request).audio))
"""
WARNING = "onnxruntime"


def in_fake_drm(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-m", "sh", "-c", FAKE_DRM, sys.executable, code], cwd=REPO,
                          env=worker_env(), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def fake_drm():
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to fake /sys/class/drm")
    probe = in_fake_drm("import onnxruntime")
    if probe.returncode != 0:
        pytest.skip(f"cannot fake /sys/class/drm here (needs root in a private mount namespace): {probe.stderr[-200:]}")
    # the setting is live: ONNX Runtime does warn there on a bare import
    assert "device_discovery" in probe.stderr and "[W:onnxruntime" in probe.stderr, probe.stderr


@pytest.mark.slow
def test_the_first_japanese_job_logs_no_onnx_runtime_gpu_discovery_warning(standin_hf_home, fake_drm):
    done = in_fake_drm(FIRST_JAPANESE_JOB)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "samples" in done.stdout
    assert "device_discovery" not in done.stderr and "[W:onnxruntime" not in done.stderr, done.stderr[-2000:]


def test_only_the_discovery_lines_are_dropped():
    from worker.core import onnx_runtime

    kept = onnx_runtime.without_discovery_noise(
        "\x1b[0;93m2026-12-05 20:24:12.37 [W:onnxruntime:Default, device_discovery.cc:322 GetGpuDevices] "
        "Failed to detect devices under \"/sys/class/drm/card0\": ...\x1b[m\n"
        "2026-12-05 [W:onnxruntime:Default, device_discovery.cc:164 DiscoverDevicesForPlatform] GPU device "
        "discovery failed: ReadFileContents Failed to open file: \"/sys/class/drm/card0/device/vendor\"\n"
        "something else went wrong\n")
    assert kept == "something else went wrong\n"
