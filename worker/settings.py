"""Reading our on/off settings from the environment, one way everywhere."""

from __future__ import annotations

import os


def env_flag(name: str) -> bool:
    """True for 1/true/yes/on (any case); unset or anything else is False."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def env_megabytes(name: str, default_mb: float) -> int:
    """A size given in MB, as bytes; unset or unreadable gives the default (issue 12 will make a bad
    value an error, for every setting at once)."""
    raw = os.environ.get(name, "").strip()
    try:
        mb = float(raw) if raw else default_mb
    except ValueError:
        mb = default_mb
    return max(0, int(mb * 1024 * 1024))
