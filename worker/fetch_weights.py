"""Put every model and voice of the catalog into the Hugging Face cache (image build step).

    python worker/fetch_weights.py            # download what is missing (needs network)
    python worker/fetch_weights.py --check    # offline: verify the cache holds everything

Reads voices.yaml, so a voice added to the catalog is baked into the next image without touching
this script. Exits non-zero naming every missing file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python worker/fetch_weights.py`

from worker.core.catalog import Catalog, load_catalog  # noqa: E402
from worker.core.errors import KokoroError  # noqa: E402


def required_files(catalog: Catalog, models: list[str] | None = None) -> list[tuple[str, str]]:
    """(repo_id, filename) for each model's config and weights and each of its voices."""
    files = []
    for name, model in catalog.models.items():
        if models and name not in models:
            continue
        files += [(model.repo_id, "config.json"), (model.repo_id, model.weights)]
        files += [(model.repo_id, f"voices/{v.id}.pt") for v in catalog.voices if v.model == name]
    return files


def fetch(catalog: Catalog, models: list[str] | None = None, check_only: bool = False) -> list[str]:
    """Fetch (or, with check_only, only look up) every required file; returns the missing ones."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    missing = []
    for repo_id, filename in required_files(catalog, models):
        try:
            hf_hub_download(repo_id=repo_id, filename=filename, local_files_only=check_only)
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError):
            missing.append(f"{repo_id}/{filename}")
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="do not download; verify the cache only")
    parser.add_argument("--models", default="", help="comma-separated catalog model names (default all)")
    args = parser.parse_args(argv)
    try:
        catalog = load_catalog()
    except KokoroError as exc:
        print(exc, file=sys.stderr)
        return 2
    models = [m for m in args.models.split(",") if m] or None
    missing = fetch(catalog, models, check_only=args.check)
    total = len(required_files(catalog, models))
    cache = os.environ.get("HF_HOME", "~/.cache/huggingface")
    if missing:
        print(f"{len(missing)} of {total} files missing from the Hugging Face cache ({cache}):",
              file=sys.stderr)
        for name in missing:
            print(f"  {name}", file=sys.stderr)
        return 1
    print(f"All {total} files of the catalog are in the Hugging Face cache ({cache}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
