"""Throughput of concurrent jobs, batched (KOKORO_BATCH_JOBS) and not, in one run.

    python bench/throughput.py                 # stand-in weights: the real architecture's cost
    python bench/throughput.py --real          # the real v1.0 weights of the real-speech tier
    python bench/throughput.py --device cuda   # on a GPU: add the precision, e.g. --precision bf16

For 1, 4 and 8 jobs (each its own two-sentence English text and voice, as different visitors'
requests are), these ways to run them:
  one at a time   the jobs in turn, each with every core (KOKORO_CONCURRENCY=1)
  at once         the jobs in threads, each with its share of the cores (KOKORO_CONCURRENCY=N)
  batched         the jobs in threads, their chunks in shared passes (KOKORO_BATCH_JOBS=on; on a
                  CPU a pass's decoders then run row by row on every core, worker/model/batching.py)
  compiled        where KOKORO_COMPILE=auto compiles (bf16 on a CPU): one at a time, at once (each
                  job's share of the cores, the decoder compiled for that share) and batched
The first three run the same eager model, so their ratio is batching's alone; the last two share
the compiled model, so theirs is batching's against the fastest ways to run jobs without it. Prints seconds of
audio made per second of wall time, with the CPU's flags (or the GPU's name). Median of the rounds;
each timed run follows an untimed one of the same way. Then, for the same jobs started together and
batched: the seconds until each job's first chunk, with each row handed to its job as soon as it is
decoded (what the engine does) and with every row held until the whole batch is done.
Not part of CI: timings flake on shared machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SENTENCES = ["The river was quiet in the early morning light.", "She opened the letter and read it twice.",
             "Nobody expected the train to arrive on time.", "A small boat drifted past the old stone bridge.",
             "He counted the coins and put them back in the jar.", "The garden smelled of rain and cut grass.",
             "Our meeting starts at nine, so please be early.", "The children laughed at the clumsy puppy.",
             "Every lamp in the street went out at midnight.", "They painted the kitchen a pale shade of green.",
             "The old clock in the hall had stopped at four.", "Fresh bread was cooling on the windowsill.",
             "A storm was coming from the west, slow and dark.", "The museum closes early on Sundays.",
             "He forgot his umbrella on the bus again.", "The band played one last song before dawn."]
VOICES = ["af_heart", "am_michael", "bf_emma", "af_bella", "am_adam", "bm_george", "af_nicole", "bf_isabella"]


def _jobs(n: int, catalog) -> list:
    from worker.service.request import parse_request

    return [parse_request({"text": f"{SENTENCES[2 * i % 16]} {SENTENCES[(2 * i + 1) % 16]}",
                           "voice": VOICES[i % len(VOICES)]}, catalog) for i in range(n)]


def _in_threads(engine, requests) -> float:
    results = []
    threads = [threading.Thread(target=lambda r=r: results.append(engine.synthesize(r))) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(len(s.audio) for s in results) / 24_000


def _first_chunks(engine, requests) -> list[float]:
    """Seconds from a common start until each job's first chunk (every job spoken to the end)."""
    started, firsts = time.perf_counter(), []

    def job(request) -> None:
        for i, _ in enumerate(engine.stream(request)):
            if i == 0:
                firsts.append(time.perf_counter() - started)

    threads = [threading.Thread(target=job, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(firsts)


def _one_at_a_time(engine, requests) -> float:
    return sum(len(engine.synthesize(r).audio) for r in requests) / 24_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", action="store_true", help="the real v1.0 weights (default: stand-in)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--precision", default=None, help="auto, fp32 or bf16 (KOKORO_PRECISION)")
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from bench.homes import hf_home

    os.environ["HF_HOME"], os.environ["HF_HUB_OFFLINE"] = str(hf_home(standin=not args.real)), "1"
    import torch

    from bench.peer import cpu_line
    from worker.core.catalog import default_catalog
    from worker.model import precision as fp
    from worker.model.engine import Engine

    catalog = default_catalog()
    levels = [int(x) for x in args.levels.split(",")]
    plain = Engine(catalog, device=args.device, precision=args.precision, batch_jobs="off", compile="off")
    batched = Engine(catalog, device=args.device, precision=args.precision, batch_jobs="on", compile="off")
    batched._models = plain._models  # one copy of the weights: the same model either way
    held = Engine(catalog, device=args.device, precision=args.precision, batch_jobs="on", compile="off")
    held._models = plain._models
    held.batcher._run = lambda key, items, ready: held._speak_together(key, items)  # rows at the batch's end
    compiled = compiled_batched = None
    if fp.compile_pays(plain.precision, plain.device):
        compiled_batched = Engine(catalog, device=args.device, precision=args.precision, batch_jobs="on",
                                  compile="on")
        compiled = Engine(catalog, device=args.device, precision=args.precision, batch_jobs="off", compile="off")
        compiled._models = compiled_batched._models  # its compiled decoders, loaded (and compiled) on first use
    threads = torch.get_num_threads()
    for engine in (plain, batched, compiled_batched, compiled):
        if engine is not None:
            _one_at_a_time(engine, _jobs(2, catalog))  # loads the voices, warms the kernels
    if compiled is not None:  # and the decoder's compile for each thread count a job gets at once
        for n in sorted({fp.threads_per_job(level) for level in levels} - {threads}):
            torch.set_num_threads(n)
            _one_at_a_time(compiled, _jobs(1, catalog))
        torch.set_num_threads(threads)

    where = torch.cuda.get_device_name() if plain.device.startswith("cuda") else cpu_line()
    print(f"{where}; device {plain.device}, precision {plain.precision}, torch threads {threads}, "
          f"{'real' if args.real else 'stand-in'} weights, median of {args.rounds} rounds\n")
    print("Audio seconds made per second. Eager: one at a time | at once | batched | batched ÷ one at a "
          "time; compiled: one at a time | at once | batched | batched ÷ one at a time | batched ÷ at once.\n")
    print("| jobs | audio s | one at a time | at once | batched | ÷ | largest batch "
          "| compiled, one at a time | compiled, at once | compiled, batched | ÷ | ÷ at once |")
    print("|------|---------|---------------|---------|---------|---|---------------"
          "|-------------------------|-------------------|-------------------|---|-----------|")
    firsts: dict[int, tuple] = {}
    for n in levels:
        requests = _jobs(n, catalog)
        rates: dict[str, list[float]] = {"seq": [], "at_once": [], "batched": [], "compiled": [],
                                         "compiled_at_once": [], "compiled_batched": []}
        ways = [("seq", lambda jobs: _one_at_a_time(plain, jobs)),
                ("at_once", lambda jobs: _in_threads(plain, jobs)),
                ("batched", lambda jobs: _in_threads(batched, jobs))]
        if compiled is not None:
            ways += [("compiled", lambda jobs: _one_at_a_time(compiled, jobs)),
                     ("compiled_at_once", lambda jobs: _in_threads(compiled, jobs)),
                     ("compiled_batched", lambda jobs: _in_threads(compiled_batched, jobs))]
        audio, largest = 0.0, 0
        for _ in range(args.rounds):  # interleaved: a slow moment of the machine hits every way
            for way, run in ways:
                torch.set_num_threads(fp.threads_per_job(n) if way.endswith("at_once") else threads)
                # Untimed, the same way first: a run right after another way was up to 20 % slower
                # (its allocations' pages), which would make the order of the ways part of the figures.
                run(requests[:4])
                batched.batcher.sizes.clear()
                started = time.perf_counter()
                audio = run(requests)
                rates[way].append(audio / (time.perf_counter() - started))
                if way == "batched":
                    largest = max(batched.batcher.sizes, default=0)
        torch.set_num_threads(threads)
        if n > 1:
            firsts[n] = _first_chunk_rounds(batched, held, requests, args.rounds)
        med = {way: statistics.median(r) if r else float("nan") for way, r in rates.items()}
        print(f"| {n:4} | {audio:7.1f} | {med['seq']:13.2f} | {med['at_once']:7.2f} | {med['batched']:7.2f} "
              f"| {med['batched'] / med['seq']:.2f} | {largest:13} | {med['compiled']:23.2f} "
              f"| {med['compiled_at_once']:17.2f} | {med['compiled_batched']:17.2f} "
              f"| {med['compiled_batched'] / med['compiled']:.2f} "
              f"| {med['compiled_batched'] / med['compiled_at_once']:.2f} |", flush=True)

    if firsts:
        print("\nBatched, all jobs started together: seconds until each job's first chunk (median of the "
              "rounds), each row handed over when decoded | every row held to the batch's end.\n")
        print("| jobs | mean, when decoded | mean, held | last job, when decoded | last job, held |")
        print("|------|--------------------|------------|------------------------|----------------|")
        for n, (early, late) in firsts.items():
            print(f"| {n:4} | {statistics.mean(early):18.2f} | {statistics.mean(late):10.2f} "
                  f"| {early[-1]:22.2f} | {late[-1]:14.2f} |")


def _first_chunk_rounds(early_engine, late_engine, requests, rounds: int) -> tuple[list[float], list[float]]:
    """Per job rank (first served, second, ...), the median over rounds, for both engines (interleaved)."""
    early, late = [], []
    for _ in range(rounds):
        for engine, into in ((early_engine, early), (late_engine, late)):
            _first_chunks(engine, requests[:2])  # untimed, the same way first
            into.append(_first_chunks(engine, requests))
    return ([statistics.median(r[i] for r in early) for i in range(len(requests))],
            [statistics.median(r[i] for r in late) for i in range(len(requests))])


if __name__ == "__main__":
    main()
