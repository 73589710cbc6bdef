"""KOKORO_COMPILE: auto compiles where it pays, in the background, without changing what is heard;
a failing compile leaves the eager model serving. (Real speech through the compiled model:
tests/test_real_weights.py.)"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from worker.core import settings
from worker.core.errors import SettingsError
from worker.model import precision as fp
from worker.model.engine import Engine
from worker.service.request import parse_request


def _compiled(decoder: torch.nn.Module) -> bool:
    return type(decoder).__name__ == "OptimizedModule"


@pytest.mark.parametrize("precision, device, batch_jobs, expected", [
    ("bf16", "cpu", "off", "background"), ("fp32", "cpu", "off", "off"), ("int8", "cpu", "off", "off"),
    ("bf16", "cpu", "on", "background"),  # a batch's rows are decoded one by one: no batch-size shapes
])
def test_auto_compiles_only_where_it_pays(catalog, monkeypatch, precision, device, batch_jobs, expected):
    monkeypatch.setattr(fp, "resolve", lambda setting, device, flags=None, onnx=None: precision)
    engine = Engine(catalog, device=device, compile="auto", batch_jobs=batch_jobs)
    assert engine.compile == expected
    assert not fp.compile_pays("bf16", "cuda") and fp.compile_pays("bf16", "cpu")


def test_the_setting_takes_auto_on_off_and_refuses_the_rest():
    assert [settings.compile_mode({"KOKORO_COMPILE": v}) for v in ("", "AUTO", "true", "1", "no", "off")] == \
        ["auto", "auto", "on", "on", "off", "off"]
    with pytest.raises(SettingsError, match=r"^KOKORO_COMPILE='fast' is not a choice: use auto, on or off\.$"):
        settings.compile_mode({"KOKORO_COMPILE": "fast"})


class OptimizedModule(torch.nn.Module):
    """torch.compile's stand-in here (the real compile costs the suite a minute or two on 2 cores;
    tests/test_real_weights.py hears the real one): the module it wraps, after a compile's pause."""

    def __init__(self, inner: torch.nn.Module, started, go):
        super().__init__()
        self.inner, self.started, self.go = inner, started, go

    def forward(self, *args, **kwargs):
        self.started.set()
        self.go.wait(30)  # the "compile" lasts until the test has served a job meanwhile
        return self.inner(*args, **kwargs)


def test_auto_serves_at_once_and_the_compiled_decoder_takes_over(engine, catalog, monkeypatch, caplog,
                                                                  fixed_source):
    # fp32 here (bf16 is only native on some CI CPUs): what is tested is the background swap.
    import threading

    started, go = threading.Event(), threading.Event()
    monkeypatch.setattr(fp, "compile_pays", lambda precision, device: True)
    monkeypatch.setattr(torch, "compile", lambda module, **kw: OptimizedModule(module, started, go))
    eager = Engine(catalog, cache_dir=engine.cache_dir, precision="fp32", compile="off")
    auto = Engine(catalog, cache_dir=engine.cache_dir, precision="fp32", compile="auto")
    request = parse_request({"text": "Hello there, this is a test of the compiled model.", "voice": "af_heart",
                             "language": "en-us"}, catalog)
    with caplog.at_level(logging.INFO, logger="kokoro"):
        kmodel = auto.model("v1.0")
        assert started.wait(30) and not _compiled(kmodel.decoder)  # compiling, and no wait for it
        while_compiling = auto.synthesize(request)  # served eager meanwhile, on the same weights
        go.set()
        auto.wait_for_compile(timeout=60)
    assert _compiled(kmodel.decoder) and kmodel.decoder.inner is not None
    assert "the compiled decoder took over" in caplog.text
    alone, compiled = eager.synthesize(request), auto.synthesize(request)
    np.testing.assert_array_equal(while_compiling.audio, alone.audio)
    np.testing.assert_array_equal(compiled.audio, alone.audio)  # the stand-in compiles to the same module
    assert [c.duration_s for c in compiled.result.chunks] == [c.duration_s for c in alone.result.chunks]


def test_a_failing_compile_leaves_the_eager_model_serving(engine, catalog, monkeypatch):
    def broken(module, **kwargs):
        def fail(*args, **kw):
            raise RuntimeError("no C++ compiler")
        return fail

    monkeypatch.setattr(torch, "compile", broken)
    on = Engine(catalog, cache_dir=engine.cache_dir, precision="fp32", compile="on")
    decoder = on.model("v1.0").decoder
    assert isinstance(decoder, torch.nn.Module) and not _compiled(decoder)
    request = parse_request({"text": "Still speaking.", "voice": "af_heart"}, catalog)
    assert on.synthesize(request).result.duration_s > 0.3


def test_models_load_without_autograd(engine):
    # Inference only, and autocast's process-wide weight cache stays empty: a bf16 job clearing it
    # while torch.compile traced in another thread deadlocked (both threads idle, the lock and the GIL).
    assert not any(p.requires_grad for p in engine.model("v1.0").parameters())


@pytest.mark.slow  # a real compile in a subprocess: up to a minute on 2 cores
def test_a_process_that_ends_while_compiling_stops_the_compile_and_exits_cleanly(standin_hf_home):
    # A one-job run (`--test_input`) ended mid-compile and aborted in C++ (exit 134); then it waited
    # for the compile (30-120 s). Now the compile is stopped at exit. Without either, the abort came
    # 1 s into the compile as well as 15 s.
    import subprocess
    import sys

    from tests.conftest import REPO, worker_env

    code = ("import logging; logging.basicConfig(level=logging.INFO); "
            "from worker.model.engine import Engine; e = Engine(precision='fp32', compile='background'); "
            "e.model('v1.0'); import time; time.sleep(5); print('loaded')")  # into the compile
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=worker_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr[-2000:]
    assert "terminate called" not in done.stderr and "Torchinductor does not support" not in done.stderr
    assert "the compile was stopped: the process is ending" in done.stderr  # not waited for
    assert "took over" not in done.stderr and "Traceback" not in done.stderr
