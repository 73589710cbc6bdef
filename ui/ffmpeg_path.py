"""ffmpeg for Gradio's streaming player, on a machine that has none installed.

Gradio encodes a streamed audio output with the `ffmpeg` it finds on PATH; without one the first
Generate fails with a bare "Error". The imageio-ffmpeg wheel (in requirements.txt) ships a static
ffmpeg under another file name, so where PATH has no ffmpeg, a link named `ffmpeg` to it goes in a
private folder put in front of PATH. A system ffmpeg, where there is one, is left in charge.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("kokoro.ui")


def ensure_ffmpeg() -> str | None:
    """The ffmpeg Gradio will run, making the bundled one reachable if need be; None if neither."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        bundled = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        log.warning("No ffmpeg on PATH and none bundled (%s): streamed playback will fail. "
                    "pip install imageio-ffmpeg, or install ffmpeg.", exc)
        return None
    folder = Path(tempfile.gettempdir()) / f"kokoro-studio-bin-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    link = folder / "ffmpeg"
    if not (link.is_symlink() and os.readlink(link) == bundled):
        staging = folder / f".ffmpeg-{os.getpid()}"
        staging.unlink(missing_ok=True)
        staging.symlink_to(bundled)
        staging.replace(link)  # atomic: two studios starting at once both end with a good link
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    log.info("Using the ffmpeg bundled with imageio-ffmpeg for the streaming player.")
    return shutil.which("ffmpeg")
