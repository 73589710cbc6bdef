"""Reading our on/off settings from the environment, one way everywhere."""

from __future__ import annotations

import os


def env_flag(name: str) -> bool:
    """True for 1/true/yes/on (any case); unset or anything else is False."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
