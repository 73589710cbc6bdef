"""The HF_HOME a benchmark runs on, built where the tests keep it (once per machine): the real
Kokoro v1.0 weights and voices of the real-speech tier, or the stand-in weights (speed only)."""

from __future__ import annotations

from pathlib import Path


def hf_home(standin: bool = False) -> Path:
    if standin:
        from tests.standin import ensure_cache
        from tests.standin_home import cached_home

        return ensure_cache(cached_home())
    from tests.realspeech.weights import (
        VOICE_COPIES,
        build_real_cache,
        default_cache_dir,
    )

    home = default_cache_dir() / "hf"
    build_real_cache(home, extra_voices=VOICE_COPIES)
    return home
