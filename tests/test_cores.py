"""The row pool (worker.model.cores): a batch's rows on every core at once, one torch thread each."""

from __future__ import annotations

import threading

import torch

from worker.model.cores import RowPool


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


def test_a_batch_decodes_its_rows_on_the_pool_in_turn_when_compiled_and_padded_on_a_gpu(engine, monkeypatch):
    from worker.model import batching

    kmodel = engine.model("v1.0")
    rows = engine._decode_rows(kmodel)
    assert rows.__self__ is engine._row_pool and rows.__name__ == "map"
    assert engine._decode_rows(kmodel, wait=False).__name__ == "submit"  # the batcher's: futures
    monkeypatch.setattr(kmodel, "decoder", torch.nn.Module())
    kmodel.decoder._orig_mod = torch.nn.Identity()  # what torch.compile's wrapper holds
    assert engine._decode_rows(kmodel) is batching.in_turn
    monkeypatch.setattr(engine, "device", "cuda")
    assert engine._decode_rows(kmodel) is None
