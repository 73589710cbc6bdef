"""Every setting of the worker and the studio (KOKORO_* and RUNPOD_*), parsed in one place with one
error policy.

A bad value is a SettingsError whose one sentence names the variable, the value and what it
accepts. Both entry points parse them all at start-up (`check_or_exit`) and stop with that line and
exit code 1, no traceback, before serving anything. The accessors below read the environment when
called, so a process (or a test) that changes a variable sees the change; they parse the same way.

| variable | default | accepts |
|---|---|---|
| KOKORO_DEVICE | cuda if available, else cpu | cpu, cuda, cuda:N, mps (where present) |
| KOKORO_MODELS | every catalog model | comma-separated catalog model names |
| KOKORO_LOG_LEVEL | INFO | DEBUG, INFO, WARNING, ERROR, CRITICAL |
| KOKORO_CONCURRENCY | 1 | 1 to 16 |
| KOKORO_MAX_TEXT_CHARS | 10000 | a whole number ≥ 1 |
| KOKORO_CLIP_CACHE_MB, KOKORO_SERVED_MB | 256, 512 | a number ≥ 0 |
| KOKORO_MAX_RESULT_MB | 15 | a number ≥ 0: the largest job output the handler returns (RunPod refuses ~20 MB) |
| KOKORO_PRECISION | auto | auto, fp32, bf16, int8 (worker/model/precision.py) |
| KOKORO_BATCH_JOBS | auto: on for a CUDA device, and on a CPU with KOKORO_CONCURRENCY > 1 | auto, on or off (worker/model/batcher.py) |
| KOKORO_COMPILE | auto: on for bf16 on a CPU, off elsewhere | auto, on or off (worker/model/precision.py) |
| KOKORO_SKIP_WARMUP, KOKORO_STREAM, KOKORO_BATCH_VOICES | off | 1/true/yes/on or 0/false/no/off |
| KOKORO_BACKEND (studio) | runpod if RUNPOD_ENDPOINT_ID is set, else local | runpod, local |
| RUNPOD_ENDPOINT_ID, RUNPOD_API_KEY, RUNPOD_API_BASE (studio) | unset; api.runpod.ai/v2 | text |
| KOKORO_CATALOG | voices.yaml | a catalog file |
| KOKORO_VOTES_DB (studio) | /data/… on a Space with storage, else ~/.local/share/… | a file path |
| KOKORO_SERVE | queue | queue (RunPod queue handler) or http (worker/server.py), for `worker/handler.py` |
| PORT, PORT_HEALTH (HTTP server) | 8880; PORT | 1 to 65535 |
| KOKORO_API_KEY (HTTP server) | unset: no key asked | text without spaces |
| KOKORO_MAX_WAITING (HTTP server) | 16 | 0 to 1000: requests that may wait for a free slot |
| BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY, KOKORO_BUCKET | unset | all four or none |
| KOKORO_URL_EXPIRY_S | 3600 | 60 to 604800 (7 days, S3's longest) |

Read here too, though the platform sets them: RUNPOD_WEBHOOK_POST_OUTPUT (RunPod's job URL, where
progress goes), SPACES_ZERO_GPU and SPACE_ID (a Hugging Face Space).

RUNPOD_API_KEY, KOKORO_API_KEY and BUCKET_SECRET_ACCESS_KEY are secrets: read here and handed to
their one user, never logged or shown, not even in part.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from worker.core.errors import SettingsError, counted

Env = Mapping[str, str]
YES, NO = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PRECISIONS = ("auto", "fp32", "bf16", "int8")  # worker/model/precision.py resolves them
FLAGS = ("KOKORO_SKIP_WARMUP", "KOKORO_STREAM", "KOKORO_BATCH_VOICES")
DEFAULT_MAX_CHARS = 10_000


def _env(env: Env | None) -> Env:
    return os.environ if env is None else env


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:39] + "…")


def env_flag(name: str, env: Env | None = None) -> bool:
    """On for 1/true/yes/on, off for unset/empty/0/false/no/off (any case); anything else is an error."""
    raw = _env(env).get(name, "").strip()
    if raw.lower() in YES:
        return True
    if raw.lower() in NO:
        return False
    raise SettingsError(f"{name}={_shown(raw)} is not a switch: use 1/true/yes/on or 0/false/no/off.")


def whole_number(name: str, default: int, low: int, high: int | None = None, env: Env | None = None) -> int:
    raw = _env(env).get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[+-]?\d+", raw):
        raise SettingsError(f"{name}={_shown(raw)} is not a whole number.")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SettingsError(f"{name}={value} is out of range: it must be {bounds}.")
    return value


def megabytes(name: str, default_mb: float, env: Env | None = None) -> int:
    """A size given in MB, as bytes."""
    raw = _env(env).get(name, "").strip()
    try:
        mb = float(raw) if raw else default_mb
    except ValueError:
        mb = -1.0
    if not 0 <= mb < float("inf"):
        raise SettingsError(f"{name}={_shown(raw)} is not a size in MB (a number, 0 or more).")
    return int(mb * 1024 * 1024)


# RunPod answers "Failed to return job results | 400" for results near 20 MB (its /runsync limit)
# and the job then hangs IN_PROGRESS until its timeout; /run's payload limit is 10 MB. 15 MB of
# JSON is ~4 min of WAV, and leaves room under the 20 MB.
DEFAULT_MAX_RESULT_MB = 15


def max_result_bytes(env: Env | None = None) -> int:
    return megabytes("KOKORO_MAX_RESULT_MB", DEFAULT_MAX_RESULT_MB, env)


def max_text_chars(env: Env | None = None) -> int:
    return whole_number("KOKORO_MAX_TEXT_CHARS", DEFAULT_MAX_CHARS, 1, env=env)


def concurrency(env: Env | None = None) -> int:
    """Jobs one worker runs at once."""
    return whole_number("KOKORO_CONCURRENCY", 1, 1, 16, env=env)


def log_level(env: Env | None = None) -> str:
    raw = _env(env).get("KOKORO_LOG_LEVEL", "").strip().upper() or "INFO"
    if raw not in LOG_LEVELS:
        raise SettingsError(f"KOKORO_LOG_LEVEL={_shown(raw)} is not a log level: use {', '.join(LOG_LEVELS)}.")
    return raw


def device(env: Env | None = None) -> str:
    """Where the model runs: KOKORO_DEVICE, else CUDA when present, else the CPU."""
    import torch

    raw = _env(env).get("KOKORO_DEVICE", "").strip().lower()
    if not raw:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", raw):
        raise SettingsError(f"KOKORO_DEVICE={_shown(raw)} is not a device: use cpu, cuda, cuda:N or mps.")
    if raw.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(raw.partition(":")[2] or 0)
        if index >= count:
            have = counted(count, "CUDA device") if count else "no CUDA GPU usable by torch"
            raise SettingsError(f"KOKORO_DEVICE={raw}, but this machine has {have}: unset it or use cpu.")
    if raw == "mps" and not torch.backends.mps.is_available():
        raise SettingsError("KOKORO_DEVICE=mps, but this machine has no Apple GPU: unset it or use cpu.")
    return raw


def precision(env: Env | None = None) -> str:
    """The model's precision setting (worker/model/precision.py resolves `auto` per device)."""
    raw = _env(env).get("KOKORO_PRECISION", "").strip().lower() or "auto"
    if raw not in PRECISIONS:
        raise SettingsError(f"KOKORO_PRECISION={_shown(raw)} is not a precision: "
                            f"use {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}.")
    return raw


def auto_switch(name: str, env: Env | None = None) -> str:
    """'auto' (unset too), 'on' (any switch-on word) or 'off' (any switch-off word)."""
    raw = _env(env).get(name, "").strip().lower() or "auto"
    if raw == "auto":
        return raw
    if raw not in YES | NO:
        raise SettingsError(f"{name}={_shown(raw)} is not a choice: use auto, on or off.")
    return "on" if raw in YES else "off"


def batch_jobs(env: Env | None = None) -> str:
    """Whether concurrent jobs' chunks share forward passes: 'auto', 'on' or 'off' (the engine
    resolves auto per device)."""
    return auto_switch("KOKORO_BATCH_JOBS", env)


def compile_mode(env: Env | None = None) -> str:
    """Whether the decoder's generator runs through torch.compile: 'auto', 'on' or 'off' (the
    engine resolves auto per device and precision)."""
    return auto_switch("KOKORO_COMPILE", env)


def models(known: list[str], env: Env | None = None) -> list[str]:
    """The models to load at start-up (KOKORO_MODELS), each one the catalog's."""
    raw = _env(env).get("KOKORO_MODELS", "").strip()
    if not raw:
        return list(known)
    names = [m.strip() for m in raw.split(",") if m.strip()]
    unknown = [m for m in names if m not in known]
    if unknown or not names:
        raise SettingsError(f"KOKORO_MODELS={_shown(raw)}: unknown model {', '.join(map(repr, unknown)) or '(none named)'}; "
                            f"the catalog's models are {', '.join(known)}.")
    return names


BACKENDS = ("runpod", "local")
DEFAULT_API_BASE = "https://api.runpod.ai/v2"


def backend(env: Env | None = None) -> str:
    """The studio's backend: KOKORO_BACKEND when set, else runpod if an endpoint is configured."""
    env = _env(env)
    chosen = env.get("KOKORO_BACKEND", "").strip().lower()
    if not chosen:
        return "runpod" if env.get("RUNPOD_ENDPOINT_ID", "").strip() else "local"
    if chosen not in BACKENDS:
        raise SettingsError(f"KOKORO_BACKEND={_shown(chosen)} is not a backend: use runpod or local.")
    return chosen


@dataclass(frozen=True)
class RunPod:
    """Where the studio sends jobs. The key is kept out of repr, so no log line can carry it."""

    endpoint_id: str
    api_key: str = field(repr=False)
    api_base: str = DEFAULT_API_BASE
    stream: bool = True  # follow jobs on /stream (RUNPOD_STREAM; "false": /status only)

    @property
    def missing(self) -> list[str]:
        return [name for name, value in (("RUNPOD_ENDPOINT_ID", self.endpoint_id),
                                         ("RUNPOD_API_KEY", self.api_key)) if not value]


def runpod(env: Env | None = None) -> RunPod:
    env = _env(env)
    base = env.get("RUNPOD_API_BASE", "").strip().rstrip("/") or DEFAULT_API_BASE
    if not re.match(r"https?://\S+$", base):
        raise SettingsError(f"RUNPOD_API_BASE={_shown(base)} is not an http(s) URL.")
    # Unset means on: a worker that does not stream still answers through /stream (README).
    stream = "RUNPOD_STREAM" not in env or env_flag("RUNPOD_STREAM", env)
    endpoint = env.get("RUNPOD_ENDPOINT_ID", "").strip()
    if endpoint and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", endpoint):
        raise SettingsError(f"RUNPOD_ENDPOINT_ID={_shown(endpoint)} is not an endpoint id: copy the id "
                            "(letters, digits, - and _) from the endpoint's page in RunPod's console.")
    return RunPod(endpoint, _secret("RUNPOD_API_KEY", env), base, stream)


def catalog_path(env: Env | None = None) -> str | None:
    """KOKORO_CATALOG, or None for the voices.yaml shipped with the code."""
    return _env(env).get("KOKORO_CATALOG", "").strip() or None


def lexicon_path(env: Env | None = None) -> str | None:
    """KOKORO_LEXICON: a YAML pronunciation lexicon (worker/text/lexicon.py), or None."""
    return _env(env).get("KOKORO_LEXICON", "").strip() or None


def votes_path(env: Env | None = None):
    """Where the studio keeps its votes: KOKORO_VOTES_DB; else a Space's persistent /data; else
    the user's data folder."""
    from pathlib import Path

    env = _env(env)
    if env.get("KOKORO_VOTES_DB", "").strip():
        return Path(env["KOKORO_VOTES_DB"].strip()).expanduser()
    if Path("/data").is_dir() and os.access("/data", os.W_OK) and env.get("SPACE_ID"):
        return Path("/data/kokoro-votes.sqlite3")  # a Space's persistent storage survives rebuilds
    base = Path(env.get("XDG_DATA_HOME", "").strip() or Path.home() / ".local" / "share")
    return base / "kokoro-studio" / "votes.sqlite3"


def on_zero_gpu(env: Env | None = None) -> bool:
    """Running on Hugging Face ZeroGPU (the Space runtime sets SPACES_ZERO_GPU)."""
    return bool(_env(env).get("SPACES_ZERO_GPU", "").strip())


def runpod_reports_progress(env: Env | None = None) -> bool:
    """RunPod gave this job a URL for progress updates (its local API and --test_input give none)."""
    return bool(_env(env).get("RUNPOD_WEBHOOK_POST_OUTPUT", "").strip())


def _secret(name: str, env: Env) -> str:
    value = env.get(name, "").strip()
    if value and not re.fullmatch(r"[\x21-\x7e]+", value):
        # Never shown, not even in part. A pasted line break makes every request fail later.
        raise SettingsError(f"{name} holds a space, a line break or a non-ASCII character: set it to the key alone.")
    return value


def port(name: str = "PORT", env: Env | None = None) -> int:
    """The HTTP server's port (PORT, default 8880 as Kokoro-FastAPI) or its health port (PORT_HEALTH,
    default PORT): RunPod's load-balancing endpoints set both."""
    default = 8880 if name == "PORT" else port("PORT", env)
    return whole_number(name, default, 1, 65535, env=env)


def serve(env: Env | None = None) -> str:
    """What the image's command serves: RunPod's queue (default) or the HTTP server, which a
    load-balancing endpoint needs; one image for both endpoint types."""
    raw = _env(env).get("KOKORO_SERVE", "").strip().lower() or "queue"
    if raw not in ("queue", "http"):
        raise SettingsError(f"KOKORO_SERVE={_shown(raw)} is not a way to serve: use queue or http.")
    return raw


def api_key(env: Env | None = None) -> str | None:
    """KOKORO_API_KEY: the Bearer token the HTTP server asks for; None: no key asked."""
    return _secret("KOKORO_API_KEY", _env(env)) or None


def max_waiting(env: Env | None = None) -> int:
    """Requests the HTTP server lets wait for a free slot; one more is answered 429."""
    return whole_number("KOKORO_MAX_WAITING", 16, 0, 1000, env=env)


BUCKET_VARS = ("BUCKET_ENDPOINT_URL", "BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY", "KOKORO_BUCKET")


@dataclass(frozen=True)
class Bucket:
    """An S3-compatible bucket for results too big to return inline (RunPod's variable names)."""

    endpoint_url: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    name: str
    expiry_s: int = 3600


def bucket(env: Env | None = None) -> Bucket | None:
    env = _env(env)
    values = [_secret(n, env) if "KEY" in n else env.get(n, "").strip() for n in BUCKET_VARS]
    if not any(values):
        return None
    missing = [n for n, v in zip(BUCKET_VARS, values) if not v]
    if missing:
        raise SettingsError(f"A bucket needs {', '.join(BUCKET_VARS)}; {', '.join(missing)} "
                            f"{'is' if len(missing) == 1 else 'are'} not set.")
    url, _, _, name = values
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise SettingsError(f"BUCKET_ENDPOINT_URL={_shown(url)} is not an http(s) URL such as "
                            "https://s3.us-east-1.amazonaws.com.")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name):
        raise SettingsError(f"KOKORO_BUCKET={_shown(name)} is not a bucket name (3-63 lower-case letters, "
                            "digits, dots and hyphens).")
    expiry = whole_number("KOKORO_URL_EXPIRY_S", 3600, 60, 604800, env=env)
    return Bucket(url.rstrip("/"), values[1], values[2], name, expiry)
