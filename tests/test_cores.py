"""The row pool (worker.model.cores): a batch's rows on every core at once, one torch thread each."""

from __future__ import annotations

import os
import threading

import pytest
import torch

from worker.model import cores
from worker.model import precision as fp
from worker.model.cores import RowPool
from worker.service.request import parse_request


def test_rows_run_at_once_each_on_one_torch_thread_and_come_back_in_order():
    pool = RowPool(workers=2)
    both_running = threading.Barrier(2, timeout=30)  # broken (an error) if the rows ran in turn

    def row(i: int) -> tuple[int, int, str]:
        both_running.wait()
        return i, torch.get_num_threads(), threading.current_thread().name

    results = pool.map(row, [0, 1])
    assert [i for i, _, _ in results] == [0, 1]
    assert [threads for _, threads, _ in results] == [1, 1]
    assert len({name for _, _, name in results}) == 2


def test_the_callers_thread_count_is_kept_and_a_lone_row_runs_in_the_caller():
    threads = torch.get_num_threads()
    pool = RowPool(workers=2)
    assert torch.get_num_threads() == threads
    seen = []
    threading.Thread(target=lambda: seen.append(torch.get_num_threads())).start()  # a thread made later
    assert pool.map(lambda i: (threading.current_thread(), torch.get_num_threads()), [0]) == [
        (threading.current_thread(), threads)]
    assert seen == [threads]


def test_the_longest_rows_start_first():
    pool = RowPool(workers=1)
    started = []
    results = pool.map(lambda n: started.append(n) or n * 10, [1, 5, 3, 4], size=lambda n: n)
    assert started == [5, 4, 3, 1] and results == [10, 50, 30, 40]


def test_rows_run_under_the_callers_inference_mode_and_autocast():
    pool = RowPool(workers=2)
    a, b = torch.ones(4, 4), torch.ones(4, 4)

    def row(_):
        return torch.is_inference_mode_enabled(), (a @ b).dtype

    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        inside = pool.map(row, [0, 1])
    outside = pool.map(row, [0, 1])
    assert inside == [(True, torch.bfloat16)] * 2
    assert outside == [(False, torch.float32)] * 2


def test_a_batch_decodes_its_rows_on_the_pool_in_turn_on_one_core_and_padded_on_a_gpu(engine, monkeypatch):
    from worker.model import batching

    kmodel = engine.model("v1.0")
    rows = engine._decode_rows(kmodel)
    assert rows.__self__ is cores.shared() and rows.__name__ == "map"
    assert engine._decode_rows(kmodel, wait=False).__name__ == "submit"  # the batcher's: futures
    monkeypatch.setattr(cores, "cpu_cores", lambda: 1)
    assert engine._decode_rows(kmodel) is batching.in_turn
    monkeypatch.setattr(engine, "device", "cuda")
    assert engine._decode_rows(kmodel) is None


def test_rows_on_the_workers_run_their_own_decoder_and_a_lone_row_the_callers(engine, monkeypatch):
    """A compiled decoder's kernels keep the thread count they were compiled for: the workers must
    run the one compiled for one thread (kmodel.row_decoder), the caller with every core the other."""
    from worker.model import batching

    kmodel, seen = engine.model("v1.0"), []
    eager = kmodel.decoder

    class Recorder(torch.nn.Module):  # kmodel.decoder must stay a module
        def __init__(self, name):
            super().__init__()
            self.name = name

        def forward(self, *a):
            seen.append((self.name, cores.on_worker()))
            return eager(*a)

    def recorder(name):
        return Recorder(name)

    monkeypatch.setattr(kmodel, "decoder", recorder("every core"), raising=False)
    monkeypatch.setattr(kmodel, "row_decoder", recorder("one thread"), raising=False)
    pack = engine.voice_pack(parse_request({"text": "x", "voice": "af_heart"}, engine.catalog))
    texts = ["hˈɛlO", "ðə kwˈɪk bɹˈWn fˈɑks."]
    styles = torch.cat([pack[len(p) - 1] for p in texts])
    with torch.inference_mode(), fp.autocast(engine.precision, engine.device):  # a bf16 model's weights are bf16
        batching.forward_batch(kmodel, texts, styles, [1.0, 1.0], decode_rows=cores.shared().map)
        assert sorted(seen) == [("one thread", True)] * 2
        seen.clear()
        batching.forward_batch(kmodel, texts[:1], styles[:1], [1.0], decode_rows=cores.shared().map)
        assert seen == [("every core", False)]  # nothing else in flight: the caller's thread, every core


def test_the_rows_decoder_is_compiled_for_one_thread_on_a_worker_and_stays_eager_if_that_fails(engine, monkeypatch):
    from worker.model import precision

    kmodel = engine.model("v1.0")
    eager, compiled = kmodel.decoder, []

    def fake_compile(module, **kwargs):  # what torch.compile is asked for, and where its trial runs
        def run(*a):
            compiled.append((kwargs, cores.on_worker()))
            return eager(*a)
        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    style = engine.voice_pack(parse_request({"text": "x", "voice": "af_heart"}, engine.catalog))[4]
    assert not hasattr(kmodel, "row_decoder")
    try:
        assert precision.compile_rows(kmodel, "cpu", engine.precision, style)
        assert compiled and all(c == ({"dynamic": True, "options": {"cpp.threads": 1}}, True) for c in compiled)
        assert kmodel.row_decoder is not eager
    finally:
        del kmodel.row_decoder  # the session's engine keeps its eager rows

    def failing(module, **kwargs):
        def run(*a):
            raise RuntimeError("no C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", failing)
    assert not precision.compile_rows(kmodel, "cpu", engine.precision, style)
    assert not hasattr(kmodel, "row_decoder")  # the workers run the eager decoder


@pytest.mark.parametrize("background", [True, False], ids=["background", "at-load"])
def test_a_batching_engines_compile_tries_every_path_its_decoders_will_run(engine, monkeypatch, background):
    """A compiled decoder meeting inputs its trials did not show it compiles again, in a job: the
    every-core one must have seen kokoro's own forward and a batch's lone row, the workers' one a
    batch's row on a worker."""
    from worker.model import precision

    kmodel, trials = engine.model("v1.0"), []
    eager = kmodel.decoder
    monkeypatch.setattr(torch, "compile", lambda module, **kw: module)
    monkeypatch.setattr(precision, "_trial", lambda kmodel, device, prec, style, batch=False, **swap: trials.append(
        (batch, *swap, cores.on_worker())))
    style = engine.voice_pack(parse_request({"text": "x", "voice": "af_heart"}, engine.catalog))[4]
    try:
        if background:
            precision.compile_in_background(kmodel, "cpu", "fp32", style, "v1.0", rows=True).join()
        else:
            monkeypatch.setattr(engine, "compile", "on")
            monkeypatch.setattr(engine, "compile_rows", True)
            monkeypatch.setattr(engine, "_first_pack", lambda name: [style] * 5)
            engine._models.pop("v1.0")
            engine.model("v1.0")
        assert sorted(trials) == [(False, "decoder", False), (True, "decoder", False), (True, "row_decoder", True)]
    finally:
        engine._models["v1.0"] = kmodel
        kmodel.decoder = eager
        kmodel.__dict__.pop("row_decoder", None)
        kmodel._modules.pop("row_decoder", None)


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
