"""Files the page serves (downloads, players): one shared folder, bounded in age and in size.

A finished download or a blind round's clip gets a fresh subfolder (two saves of one name never
collide). A cached clip gets one file for as long as it is cached (`serve_clip`): replaying it, or
an A/B round of cached clips, writes nothing new. Each save sweeps out what is older than
FILE_TTL_S, then the oldest until the folder holds at most KOKORO_SERVED_MB (default 512).
Gradio copies what it serves into its own cache, so a swept file only ends History's replay of it,
which then says the clip expired. One folder for the process's lifetime (not one per run) means
a restart leaves nothing behind for long.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from worker.core.settings import megabytes

FILE_TTL_S = 3600.0
DEFAULT_SERVED_MB = 512.0
CLIPS = "clips"


def default_dir() -> Path:
    return Path(tempfile.gettempdir()) / "kokoro-studio"


def safe_voice(voice: str) -> str:
    """A voice id or blend spec as a file-name part: a blend's ':' and ',' become '-'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", voice).strip("-") or "voice"


def max_bytes_from_env() -> int:
    return megabytes("KOKORO_SERVED_MB", DEFAULT_SERVED_MB)


def save(out_dir: Path, name: str, data: bytes) -> Path:
    """Writes `data` as `name` in a fresh subfolder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep(out_dir)
    path = Path(tempfile.mkdtemp(dir=out_dir)) / name
    path.write_bytes(data)
    return path


def serve_clip(out_dir: Path, digest: str, name: str, data: bytes) -> Path:
    """The one served file of a cached clip (`digest` names the clip): written on first use,
    found again afterwards under the name it was first given."""
    folder = out_dir / CLIPS / digest
    existing = next(folder.iterdir(), None) if folder.is_dir() else None
    if existing is not None:
        os.utime(folder)  # in use again: the sweep takes the oldest first
        return existing
    (out_dir / CLIPS).mkdir(parents=True, exist_ok=True)
    sweep(out_dir)
    staging = Path(tempfile.mkdtemp(dir=out_dir / CLIPS))
    (staging / name).write_bytes(data)
    try:
        staging.rename(folder)
    except OSError:  # another request served the same clip first: use its file
        shutil.rmtree(staging, ignore_errors=True)
    return next(folder.iterdir())


def _folders(out_dir: Path) -> list[tuple[float, int, Path]]:
    found = []
    for parent in (out_dir, out_dir / CLIPS):
        if not parent.is_dir():
            continue
        for folder in parent.iterdir():
            if folder.name == CLIPS and parent == out_dir:
                continue
            try:
                size = sum(f.stat().st_size for f in folder.iterdir()) if folder.is_dir() else folder.stat().st_size
                found.append((folder.stat().st_mtime, size, folder))
            except OSError:
                continue
    return sorted(found)


def sweep(out_dir: Path, max_bytes: int | None = None) -> None:
    """Deletes subfolders older than FILE_TTL_S, then the oldest until the rest fit in `max_bytes`."""
    limit = max_bytes_from_env() if max_bytes is None else max_bytes
    cutoff = time.time() - FILE_TTL_S
    folders = _folders(out_dir)
    total = sum(size for _, size, _ in folders)
    for mtime, size, folder in folders:
        if mtime >= cutoff and total <= limit:
            break
        shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)
        total -= size


def served_bytes(out_dir: Path) -> int:
    return sum(size for _, size, _ in _folders(out_dir))
