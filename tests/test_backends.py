"""The studio's backends: declared capabilities, lazy local streaming with Stop during G2P, each
backend its own engine, and a RunPod-only studio without torch."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import REPO
from ui.backends import MisconfiguredBackend, RunPodBackend, backend_from_env
from ui.backends.base import Finished, Piece, Status, Stopped
from ui.backends.local import LocalBackend, shared_engine
from worker.model import engine as engine_module
from worker.model.engine import Engine

SENTENCE = "The fox ran."  # short: 40 chunks of G2P and synthesis, little audio
LONG = " ".join([SENTENCE] * 40)  # 40 chunks


@pytest.fixture
def counted_g2p(monkeypatch):
    """Every text the English G2P is asked for, and a delay per call (a slow G2P)."""
    calls: list[str] = []
    delay = {"s": 0.0}
    real = engine_module.g2p.phonemizer

    def phonemizer(code, zh_version=None):
        base = real(code, zh_version)

        def run(text: str) -> str:
            calls.append(text)
            time.sleep(delay["s"])
            return base(text)
        return run

    monkeypatch.setattr(engine_module.g2p, "phonemizer", phonemizer)
    return calls, delay


def test_capabilities_are_declared_not_guessed(engine):
    local = LocalBackend(engine).capabilities
    runpod = RunPodBackend(lambda: None, engine.catalog).capabilities
    assert (local.streams, local.parallel_clips, local.stop_label) == (True, 1, "Stop")
    assert (runpod.streams, runpod.parallel_clips, runpod.stop_label) == (False, 4, "Cancel")
    assert MisconfiguredBackend("x").capabilities.kind == "misconfigured"


def test_the_first_audio_of_a_long_text_needs_only_its_first_sentences_of_g2p(engine, counted_g2p, monkeypatch):
    # The decoder gives noise of its true length (tests/standin.py): what is counted is G2P against
    # the stream's progress; 40 decoder passes of the stand-in only made the wait.
    from tests.standin import decode_as_noise

    decode_as_noise(monkeypatch, engine.model("v1.0"))
    calls, _ = counted_g2p
    events = LocalBackend(engine).run({"text": LONG}, lambda: False)
    first = next(e for e in events if isinstance(e, Piece))
    at_first_audio = len(calls)
    # Bounded, not the whole text: by now the studio's synthesis thread may already be speaking
    # chunk 2, with chunks 3-4 queued and chunk 5 phonemized, waiting for room (depth=2).
    assert first.index == 0 and at_first_audio <= 5, at_first_audio
    rest = list(events)
    finished = rest[-1]
    assert isinstance(finished, Finished) and len(finished.result.chunks) == 40 and len(calls) >= 40
    totals = [e.total for e in rest if isinstance(e, Piece)]
    assert totals[-1] == 40  # "chunk i of n" once G2P has reached the end


@pytest.mark.hostile
def test_stop_acts_during_g2p(engine, counted_g2p):
    calls, delay = counted_g2p
    delay["s"] = 0.5  # 40 sentences: 20 s of G2P in all
    stop = threading.Event()
    started = time.monotonic()
    events = LocalBackend(engine).run({"text": LONG}, stop.is_set)
    assert isinstance(next(events), Status)
    stop.set()  # before any audio: the run is still in its first sentence's G2P
    with pytest.raises(Stopped):
        list(events)
    assert time.monotonic() - started < 8 and len(calls) <= 4  # it did not phonemize on to the end
    time.sleep(1.5)
    assert len(calls) <= 5  # and nothing goes on phonemizing behind the user's back


def test_a_backend_keeps_its_engine_and_the_process_default_stays(engine, catalog):
    from worker.model.engine import Engine

    other = Engine(catalog)
    a, b = LocalBackend(engine), LocalBackend(other)
    assert a.engine is engine and b.engine is other and shared_engine() is not other
    assert isinstance(list(a.run({"text": "Hi.", "voice": "af_heart"}, lambda: False))[-1], Finished)
    assert other._models == {}  # a's job ran on a's engine; b's engine (never used) loaded nothing


@pytest.mark.hostile
def test_missing_runpod_credentials_are_a_page_message_and_bad_values_name_the_variable():
    assert "RUNPOD_API_KEY is not set" in backend_from_env({"RUNPOD_ENDPOINT_ID": "ep"}).describe()
    bad = backend_from_env({"RUNPOD_API_BASE": "ftp://x", "RUNPOD_ENDPOINT_ID": "ep", "RUNPOD_API_KEY": "k"})
    assert "RUNPOD_API_BASE='ftp://x' is not an http(s) URL." in bad.describe()


@pytest.mark.slow
def test_a_runpod_only_studio_builds_its_page_without_torch(tmp_path):
    code = """
import sys
import ui.app as app
from ui.backends import backend_from_env
from ui.tabs.generate import Studio
from worker.core.catalog import default_catalog
backend = backend_from_env()
catalog = default_catalog()
app.build(Studio(backend, catalog, out_dir=sys.argv[1]), catalog, backend.describe(), 16)
heavy = sorted(m for m in ("torch", "kokoro", "worker.model.engine", "misaki", "spaces") if m in sys.modules)
print(backend.capabilities.kind, heavy)
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KOKORO_BACKEND": "runpod",
           "RUNPOD_ENDPOINT_ID": "ep", "RUNPOD_API_KEY": "k", "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "runpod []"


def test_the_page_says_missing_weights_before_generate_with_the_real_folder(engine, catalog, tmp_path):
    # The suite runs with HF_HUB_OFFLINE=1 (tests/conftest.py): the hub counts as unreachable.
    present = LocalBackend(engine).describe()
    assert "Running **locally**" in present and "weights" not in present
    empty = tmp_path / "empty-hub"
    bare = LocalBackend(Engine(catalog, cache_dir=empty, precision="fp32"))
    says = bare.describe()  # before any job: no model loaded, no network call
    assert "The Kokoro v1.0 and Kokoro v1.1-zh weights are not in the Hugging Face cache" in says
    assert str(empty) in says and "$HF_HOME" not in says and "fetch_weights.py" in says
