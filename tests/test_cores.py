"""The CPU's cores (worker.model.cores) and how a batch's rows use them: one row after another on
every core, by the decoder a compile tried them on."""

from __future__ import annotations

import os

import pytest
import torch

from worker.model import batching, cores
from worker.model import precision as fp
from worker.service.request import parse_request


def test_a_batch_on_a_cpu_decodes_each_row_alone_on_its_own_frames(engine, monkeypatch):
    kmodel = engine.model("v1.0")
    request = parse_request({"text": "x", "voice": "af_heart"}, engine.catalog)
    pack = engine.voice_pack(request)
    styles = torch.cat([pack[4], pack[9]])
    calls = []
    forward = kmodel.decoder.forward

    def recording(asr, f0, noise, style):
        calls.append((asr.shape[0], asr.shape[-1], f0.shape[-1], torch.get_num_threads()))
        return forward(asr, f0, noise, style)

    monkeypatch.setattr(kmodel.decoder, "forward", recording)
    with fp.forward_pass(engine.precision, "cpu"):
        waves = batching.forward_batch(kmodel, ["hˈɛlO", "ðə kwˈɪk bɹˈWn fˈɑks."], styles, [1.0, 1.0],
                                       durations=True, rows_alone=True)
    frames = [int(f.sum()) for _, f in waves]
    assert frames[0] < frames[1]
    # one row per call, each on its own frames (no padding), on every core this thread has
    assert calls == [(1, n, 2 * n, torch.get_num_threads()) for n in frames]


@pytest.mark.parametrize("background", [True, False], ids=["background", "at-load"])
def test_a_compile_on_a_cpu_tries_both_paths_its_decoder_will_run(engine, monkeypatch, background):
    """A compiled decoder meeting inputs its trials did not show it compiles again, in a job: it
    must have seen kokoro's own forward and a batch's row (voices, speeds, concurrent jobs)."""
    from worker.model import precision

    kmodel, trials = engine.model("v1.0"), []
    eager = kmodel.decoder
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module, **kw: compiled.append(module) or module)
    monkeypatch.setattr(precision, "_trial", lambda kmodel, device, prec, style, decoder, batch=False: trials.append(
        (batch, decoder is compiled[-1])))
    style = engine.voice_pack(parse_request({"text": "x", "voice": "af_heart"}, engine.catalog))[4]
    try:
        if background:
            precision.compile_in_background(kmodel, "cpu", "fp32", style, "v1.0").join()
        else:
            monkeypatch.setattr(engine, "compile", "on")
            monkeypatch.setattr(engine, "_first_pack", lambda name: [style] * 5)
            engine._models.pop("v1.0")
            engine.model("v1.0")
        assert sorted(trials) == [(False, True), (True, True)]  # each path, by the compiled decoder
    finally:
        engine._models["v1.0"] = kmodel
        kmodel.decoder = eager


@pytest.mark.skipif(cores._openmp_pause() is None or torch.get_num_threads() < 2,
                    reason="GNU OpenMP and two torch threads are what make a team")
def test_a_thread_that_ran_a_pass_leaves_no_openmp_team_behind(engine):
    """Idle OpenMP teams of other threads slowed every pass (cores.release_openmp says how much): a
    request's thread (a studio visitor's, the batcher's) ends its team when its passes are done."""
    from concurrent.futures import ThreadPoolExecutor

    from worker.model.engine import Engine

    def os_threads() -> int:
        return len(os.listdir("/proc/self/task"))

    quiet = Engine(engine.catalog, cache_dir=engine.cache_dir, compile="off", batch_jobs="off")  # no compile thread
    quiet.model("v1.0")
    request = parse_request({"text": "Hello there.", "voice": "af_heart"}, engine.catalog)
    chunk = list(quiet.plan(request))[0]  # G2P's look-ahead thread done
    item = (chunk.phonemes, quiet._style(request, chunk), 1.0)
    matmul = torch.randn(512, 512)
    with ThreadPoolExecutor(1) as thread:  # a thread that outlives its work, as a server's do
        thread.submit(lambda: None).result()
        before = os_threads()
        thread.submit(lambda: matmul @ matmul).result()  # a parallel op: this thread's team exists now
        assert os_threads() > before  # (what the test would not see if teams were not kept)
        thread.submit(cores.release_openmp).result()
        assert os_threads() == before
        (wave, _), = thread.submit(quiet._speak_together, "v1.0", [item]).result()
        assert wave.numel() > 1000 and os_threads() == before
