"""ffmpeg and ffprobe for Gradio, on a machine that has neither installed.

Gradio encodes a streamed audio output with the `ffmpeg` it finds on PATH (without one the first
Generate fails with a bare "Error"), and before it serves an audio file it asks `ffprobe` for the
file's codec (without one every A/B, Audition and History player fails). The imageio-ffmpeg wheel
(in requirements) ships a static ffmpeg under another file name, and no ffprobe. So where PATH has
none, a private folder put in front of PATH gets a link named `ffmpeg` to the bundled binary and an
`ffprobe` that answers Gradio's one question (the codec of the audio stream, as JSON) from that
ffmpeg's own reading of the file (`ffmpeg -i`). A system ffmpeg/ffprobe, where there is one, stays.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("kokoro.ui")

_PROBE = f"""#!{sys.executable}
# Written by the Kokoro studio (ui/ffmpeg_path.py): ffprobe's JSON for an audio file, via ffmpeg.
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from ui.ffmpeg_path import probe
sys.exit(probe(sys.argv[1:]))
"""
_STREAM = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)[^,]*,\s*(\d+) Hz,\s*([^,]+)")


def ensure_ffmpeg() -> str | None:
    """The ffmpeg Gradio will run, making the bundled one (and a probe) reachable if need be;
    None if there is neither."""
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        return shutil.which("ffmpeg")
    try:
        import imageio_ffmpeg

        bundled = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        log.warning("No ffmpeg on PATH and none bundled (%s): streamed playback will fail. "
                    "pip install imageio-ffmpeg, or install ffmpeg.", exc)
        return shutil.which("ffmpeg")
    folder = Path(tempfile.gettempdir()) / f"kokoro-studio-bin-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if not shutil.which("ffmpeg"):
        _replace(folder / "ffmpeg", lambda staging: staging.symlink_to(bundled))
        log.info("Using the ffmpeg bundled with imageio-ffmpeg for the streaming player.")
    if not shutil.which("ffprobe"):
        _replace(folder / "ffprobe", _write_probe)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    return shutil.which("ffmpeg")


def _write_probe(path: Path) -> None:
    path.write_text(_PROBE)
    path.chmod(0o700)


def _replace(target: Path, make) -> None:
    # Staged, then renamed over the target: two studios starting at once both end with a good file.
    staging = target.with_name(f".{target.name}-{os.getpid()}")
    staging.unlink(missing_ok=True)
    make(staging)
    staging.replace(target)


def probe(args: list[str]) -> int:
    """ffprobe's `-show_streams -print_format json` for the file named last in `args`, reading the
    audio stream's codec, rate and channels from `ffmpeg -i`. Exit code 1 when it has no audio."""
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"  # the studio put its own first on PATH
    path = next((a for a in reversed(args) if not a.startswith("-")), "")
    done = subprocess.run([ffmpeg, "-hide_banner", "-i", path], capture_output=True, text=True)
    m = _STREAM.search(done.stderr)
    if not path or m is None:
        print(f"{path}: no audio stream found", file=sys.stderr)
        return 1
    codec, rate, layout = m.groups()
    channels = {"mono": 1, "stereo": 2}.get(layout.strip(), 1)
    stream = {"index": 0, "codec_type": "audio", "codec_name": codec, "sample_rate": rate, "channels": channels}
    print(json.dumps({"streams": [stream], "format": {"filename": path}}))
    return 0
