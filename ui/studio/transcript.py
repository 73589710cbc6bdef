"""A finished clip's captions on the page and as files: the cues (worker/sound/captions.py, the same cues
the worker's `captions` output has) as a timed transcript, and SRT and WebVTT files saved beside the
audio. Gradio's player has no event for its playback position, so the current word is not
highlighted: the transcript gives each cue its start and end instead (README, "Captions")."""

from __future__ import annotations

import html
from pathlib import Path

from worker.service.result import Result
from worker.sound import captions


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def html_of(result: Result) -> str:
    """The cues as a small table: start – end, then the cue's lines. Empty when there are no words."""
    if not result.words:
        return ""
    rows = "".join(
        f"<tr><td class='cue-time'>{_clock(c.start_s)} – {_clock(c.end_s)}</td>"
        f"<td class='cue-text'>{'<br>'.join(html.escape(line) for line in c.lines)}</td></tr>"
        for c in captions.cues(list(result.words), result.duration_s))
    return f"<table class='captions' aria-label='Captions'>{rows}</table>"


def save(audio_path: Path, result: Result) -> list[Path]:
    """SRT and WebVTT files next to the audio file, named like it; none without word timings."""
    if not result.words:
        return []
    out = []
    for fmt in ("srt", "vtt"):
        path = audio_path.with_suffix(f".{fmt}")
        path.write_text(captions.render(fmt, list(result.words), result.duration_s), encoding="utf-8")
        out.append(path)
    return out
