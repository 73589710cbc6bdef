"""Where the tests' stand-in weights live: one build per machine, in a folder named by a hash of
everything the build is made from, so a second run (or CI after a session) builds nothing and a
change to the builder, the catalog or a package version builds anew. No torch here: conftest
reads this before anything imports huggingface_hub."""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
# A copy of the published v1.0 phoneme vocab (config.json's "vocab").
VOCAB_V10 = HERE / "data" / "kokoro-v1_0-vocab.json"
# What a build is made from: a change to any of these names a new folder.
_INPUTS = (HERE / "standin.py", VOCAB_V10, HERE.parent / "voices.yaml")
_PACKAGES = ("torch", "kokoro", "misaki")
MARKER = ".standin-complete"


def cache_key() -> str:
    """A hash of this builder, the catalog, the vocab and the versions of the packages that shape
    the saved files (torch's format, kokoro's model, misaki's Chinese symbols)."""
    digest = hashlib.sha256()
    for path in _INPUTS:
        digest.update(path.read_bytes())
    for package in _PACKAGES:
        digest.update(f"{package}=={metadata.version(package)}".encode())
    return digest.hexdigest()[:16]


def cached_home(root: str | os.PathLike | None = None) -> Path:
    """The HF_HOME of the current build under `root` (default ~/.cache/kokoro-standin), made or not."""
    base = Path(root or Path.home() / ".cache" / "kokoro-standin")
    return base / cache_key()
