"""The one engine of a worker process and its start: the queue handler and the HTTP server load
and warm models the same way. The first of KOKORO_MODELS is warm before the process takes work;
the others warm up in the background (a job for one of them waits for its load)."""

from __future__ import annotations

import logging
import threading

from worker.core import background, settings
from worker.model import precision
from worker.model.engine import Engine

log = logging.getLogger("kokoro.runtime")
_engine: Engine | None = None
_engine_lock = threading.Lock()
ready = threading.Event()  # set once the first model is warm (or warm-up is skipped)


def engine() -> Engine:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine()
    return _engine


def share_cores() -> None:
    """Each of KOKORO_CONCURRENCY jobs its share of the cores, rather than all jobs fighting for all;
    where the engine batches their chunks (KOKORO_BATCH_JOBS), one pass at a time uses them all."""
    jobs = settings.concurrency()
    if jobs > 1 and engine().batcher is None:
        import torch

        torch.set_num_threads(precision.threads_per_job(jobs))


def warm_up(known_models: list[str]) -> None:
    """Every model to load is found in the cache (a missing one stops start-up now, not at its first
    job: ModelUnavailableError), the first is loaded and run once, the rest in a background thread."""
    if settings.env_flag("KOKORO_SKIP_WARMUP"):
        ready.set()
        return
    models = settings.models(known_models)
    for name in models:
        engine().locate(name)
    engine().warm_up(models[:1])
    ready.set()
    if models[1:]:
        background.start(_warm_up_quietly, models[1:], name="kokoro-warm-up")


def _warm_up_quietly(models: list[str]) -> None:
    try:
        engine().warm_up(models)
    except Exception:  # noqa: BLE001 (the model's jobs will report it; the worker keeps serving)
        log.exception("Background warm-up of %s failed", ", ".join(models))
