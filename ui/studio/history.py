"""The session history: every clip this browser session made, newest first, to replay or download.

Kept in the session's `gr.State` (entries are small dicts; the audio stays in its file), bounded
to HISTORY_MAX entries so a long session cannot grow without limit.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

HISTORY_MAX = 100


def entry(kind: str, voice: str, language: str, text: str, speed: float, path: str) -> dict:
    return {"kind": kind, "voice": voice, "language": language, "text": text, "speed": float(speed),
            "path": str(path), "time": datetime.now().strftime("%H:%M:%S")}


def add_many(past: list | None, new: list[dict]) -> list[dict]:
    """The history with `new` in front (in their order), oldest dropped past HISTORY_MAX."""
    return (list(new) + list(past or []))[:HISTORY_MAX]


def playable(item: dict) -> bool:
    """Whether the clip's file is still there (served files expire; see ui/studio/files.py)."""
    return Path(item["path"]).is_file()


EXPIRED = "expired: served files are kept for an hour (fewer when space runs short); make it again."


def label(item: dict) -> str:
    """'14:02:11 · A/B · af_heart · 1×: "Kokoro is an open…"'."""
    text = item["text"] if len(item["text"]) <= 40 else item["text"][:39] + "…"
    return f'{item["time"]} · {item["kind"]} · {item["voice"]} · {item["speed"]:g}×: "{text}"'
