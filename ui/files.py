"""Files the page serves (downloads, players): one shared folder, each file in its own subfolder.

Gradio copies every file it serves into its own cache, so ours only need to outlive that copy:
each save sweeps out subfolders older than FILE_TTL_S. One folder for the process's lifetime
(not one per run) means a restart leaves nothing behind for long.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

FILE_TTL_S = 3600.0


def default_dir() -> Path:
    return Path(tempfile.gettempdir()) / "kokoro-studio"


def save(out_dir: Path, name: str, data: bytes) -> Path:
    """Writes `data` as `name` in a fresh subfolder (two saves of one name never collide)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _sweep(out_dir)
    path = Path(tempfile.mkdtemp(dir=out_dir)) / name
    path.write_bytes(data)
    return path


def _sweep(out_dir: Path) -> None:
    cutoff = time.time() - FILE_TTL_S
    for folder in out_dir.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue
