"""Start-up of the worker, the HTTP server and the studio: every setting parsed and every file a
setting names read before the first request, so a mistake is one line and exit 1, not a traceback
at the first job. Kept apart from settings.py, which the catalog and the lexicon read: this module
reads all three, and settings.py then imports none of them (no cycle)."""

from __future__ import annotations

import logging
import sys

from worker.core import settings
from worker.core.catalog import default_catalog
from worker.core.errors import KokoroError
from worker.core.settings import Env
from worker.text import lexicon


def check_all(known_models: list[str], env: Env | None = None, engine: bool = True) -> None:
    """Parses every setting; the first bad one raises its SettingsError. `engine`: the program runs
    the model itself, so its device and precision are checked too; a RunPod-only studio does not
    (and so never imports torch)."""
    settings.log_level(env)
    if engine:
        from worker.model import precision as fp

        fp.resolve(settings.precision(env), settings.device(env))  # bf16 only where the device has it
    settings.models(known_models, env)
    settings.concurrency(env)
    settings.batch_jobs(env)
    settings.compile_mode(env)
    settings.max_text_chars(env)
    settings.megabytes("KOKORO_CLIP_CACHE_MB", 256, env)
    settings.megabytes("KOKORO_SERVED_MB", 512, env)
    settings.max_result_bytes(env)
    for name in settings.FLAGS:
        settings.env_flag(name, env)
    settings.backend(env)
    settings.runpod(env)
    settings.serve(env)
    settings.port("PORT", env)
    settings.port("PORT_HEALTH", env)
    settings.api_key(env)
    settings.max_waiting(env)
    settings.bucket(env)


def start_up(program: str, *checks, engine: bool = True):
    """Start-up of the worker, the HTTP server and the studio: the catalog loaded, every setting parsed, then each of
    the program's own `checks` called (the studio opens its votes database), logging configured; a
    broken catalog, a bad setting or a failed check ends the process with one line on stderr and
    exit code 1. Returns the catalog."""
    try:
        catalog = default_catalog()
        check_all(list(catalog.models), engine=engine)
        lexicon.configured()  # a broken KOKORO_LEXICON stops start-up, not the first job
        for check in checks:
            check()
    except KokoroError as exc:  # catalog errors and SettingsError alike
        print(f"{program} cannot start: {exc}", file=sys.stderr)
        sys.exit(1)
    logging.basicConfig(level=settings.log_level(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Importing runpod configures the root logger first (INFO), which makes basicConfig a no-op:
    # our own loggers ("kokoro.*") take the level themselves.
    logging.getLogger("kokoro").setLevel(settings.log_level())
    return catalog
