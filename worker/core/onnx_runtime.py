"""ONNX Runtime, imported once without its GPU-discovery warning.

On import, ONNX Runtime (1.23 and later) looks for GPUs under /sys/class/drm and logs a warning
from C++ straight to stderr where a card there lacks PCI details ("GPU device discovery failed",
"Failed to detect devices under /sys/class/drm/card0"): WSL2, cloud vGPUs, a Raspberry Pi, a VM's
framebuffer. We only run it on the CPU (pyopenjtalk-plus's small model under misaki's Japanese
G2P; the int8 decoder), so the warning only misleads whoever reads our logs. It is written before
any Python API could lower the log level, so `load` captures stderr (the file descriptor) around
the import alone and writes back everything but those lines.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from types import ModuleType

_DISCOVERY = re.compile(r"\[W:onnxruntime[^\]]*device_discovery\.cc")
_lock = threading.Lock()


def without_discovery_noise(text: str) -> str:
    """`text` less ONNX Runtime's device-discovery warnings (whole lines)."""
    return "".join(line for line in text.splitlines(keepends=True) if not _DISCOVERY.search(line))


def load() -> ModuleType:
    """`import onnxruntime`, quietly the first time (callers import it as usual afterwards)."""
    with _lock:
        if "onnxruntime" in sys.modules:
            return sys.modules["onnxruntime"]
        sys.stderr.flush()
        with tempfile.TemporaryFile(mode="w+b") as captured:
            saved = os.dup(2)
            os.dup2(captured.fileno(), 2)
            try:
                import onnxruntime
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                rest = without_discovery_noise(captured.read().decode("utf-8", "replace"))
                if rest:  # anything else written meanwhile (another thread, another warning) is kept
                    sys.stderr.write(rest)
                    sys.stderr.flush()
        return onnxruntime
