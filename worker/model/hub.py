"""Whether the Hugging Face hub can be reached, answered in seconds rather than after retries.

huggingface_hub retries a failed request five times with back-off (~25 s offline) before it says
the file is missing; a visitor pressing Generate on a machine without the weights deserves the
answer, and how to fix it, at once. One TCP connection to the hub's host, with a short timeout,
tells; HF_HUB_OFFLINE=1 answers without any.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 3.0
HOW_TO_FILL = ("Fill the cache on a machine with internet access (python worker/fetch_weights.py) and copy "
               "it here, or point HF_HOME at one that has it (README, 'Weights').")


def cache_folder(cache_dir=None) -> str:
    """The folder the weights are looked up in, as a path the user can open (not "$HF_HOME/hub")."""
    from huggingface_hub import constants

    return str(cache_dir or constants.HF_HUB_CACHE)


def beside_cache(name: str, cache_dir=None) -> Path:
    """A folder of ours next to the hub cache: <HF_HOME>/<name> (or beside an explicit hub folder)."""
    from huggingface_hub import constants

    return Path(cache_dir).parent / name if cache_dir else Path(constants.HF_HOME) / name


def unreachable(timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the hub cannot be reached (a phrase), or None when it answers."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    url = urlsplit(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        detail = exc.strerror or exc.__class__.__name__
        return f"{host} cannot be reached from here ({detail})"
