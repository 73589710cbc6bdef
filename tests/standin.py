"""Stand-in Kokoro weights for machines that cannot download the real ones.

Builds the real KModel architecture (config from shared/reference: v1.0 sizes and vocab) with
random weights, plus random voice packs of the real shape, and saves them in the Hugging Face cache
layout, so the engine's real loading code (hf_hub_download with HF_HUB_OFFLINE=1) finds them.

The duration head is calibrated (~3 frames, 600 samples, per phoneme) so a sentence lasts about as
long as real speech: long-text tests and benchmarks then do realistic work. It sounds like noise:
listening quality can only be judged on the real weights.

    python -m tests.standin --hf-home /tmp/kokoro-hf      # then HF_HOME=/tmp/kokoro-hf HF_HUB_OFFLINE=1

The tests keep one build per machine, in a folder named by a hash of everything it is made from
(tests/standin_home.py names it, `ensure_cache` fills it): a second run builds nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from tests.standin_home import MARKER, VOCAB_V10
from worker.core.catalog import Catalog, load_catalog

_KEEP_BUILDS = 2  # older builds beside the current one are removed (≈ 0.8 GB each)

CONFIG_V10 = {
    "istftnet": {"upsample_kernel_sizes": [20, 12], "upsample_rates": [10, 6], "gen_istft_hop_size": 5,
                 "gen_istft_n_fft": 20, "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
                 "resblock_kernel_sizes": [3, 7, 11], "upsample_initial_channel": 512},
    "dim_in": 64, "dropout": 0.2, "hidden_dim": 512, "max_conv_dim": 512, "max_dur": 50,
    "multispeaker": True, "n_layer": 3, "n_mels": 80, "n_token": 178, "style_dim": 128,
    "text_encoder_kernel_size": 5,
    "plbert": {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048,
               "max_position_embeddings": 512, "num_hidden_layers": 12, "dropout": 0.1},
}
PACK_SHAPE = (510, 1, 256)


def vocab_v10() -> dict[str, int]:
    return json.loads(VOCAB_V10.read_text(encoding="utf-8"))


def vocab_v11() -> dict[str, int]:
    """v1.0's vocab plus every symbol misaki's v1.1 Chinese G2P can emit (zhuyin-like finals,
    the Chinese characters it uses as tokens, tone digits and the '/' separator)."""
    from misaki.zh_frontend import ZH_MAP

    vocab = dict(vocab_v10())
    free = iter(i for i in range(1, 10_000) if i not in set(vocab.values()))
    for symbol in [*ZH_MAP.values(), *"012345/"]:
        for ch in symbol:
            if ch not in vocab:
                vocab[ch] = next(free)
    return vocab


def build_model(config: dict, seed: int) -> dict:
    """State dicts of a randomly initialised KModel, duration head calibrated to speech rate."""
    from kokoro import KModel

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.pth")
        torch.save({}, empty)  # KModel loads nothing from it and keeps its random init
        model = KModel(repo_id="hexgrad/Kokoro-82M", config=config, model=empty)
    with torch.no_grad():
        proj = model.predictor.duration_proj.linear_layer
        proj.weight.zero_()
        # sigmoid(-2.9) * max_dur 50 = 2.6, rounded to 3 frames (75 ms) per phoneme at speed 1,
        # and to 1 frame at speed 2, which keeps the long-text tests affordable on 2 cores.
        proj.bias.fill_(-2.9)
    return {key: getattr(model, key).state_dict()
            for key in ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")}


def snapshot_dir(hub: Path, repo_id: str, tag: str = "standin") -> Path:
    """A snapshot folder of `repo_id` in the HF cache layout, with refs/main pointing at it. The
    revision is named by `tag`, so caches of different weights in one HF_HOME never share files."""
    revision = hashlib.sha1(f"{tag}:{repo_id}".encode()).hexdigest()
    repo_dir = hub / f"models--{repo_id.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)
    snapshot = repo_dir / "snapshots" / revision
    (snapshot / "voices").mkdir(parents=True, exist_ok=True)
    return snapshot


def build_cache(hf_home: str | os.PathLike, catalog: Catalog | None = None,
                models: tuple[str, ...] = ("v1.0", "v1.1-zh"), voices: list[str] | None = None,
                seed: int = 0) -> Path:
    """Write stand-in weights and voice packs under $HF_HOME/hub; returns the hub folder.
    `voices` limits which voice packs are written (default: every catalog voice of `models`)."""
    catalog = catalog or load_catalog()
    hub = Path(hf_home) / "hub"
    for offset, name in enumerate(models):
        spec = catalog.models[name]
        snapshot = snapshot_dir(hub, spec.repo_id)
        config = dict(CONFIG_V10, vocab=vocab_v10() if name == "v1.0" else vocab_v11())
        config["n_token"] = max(config["n_token"], max(config["vocab"].values()) + 1)
        (snapshot / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        torch.save(build_model(config, seed + offset), snapshot / spec.weights)
        generator = torch.Generator().manual_seed(seed + 100 + offset)
        for voice in catalog.voices:
            if voice.model == name and (voices is None or voice.id in voices):
                pack = torch.randn(PACK_SHAPE, generator=generator) * 0.2
                torch.save(pack, snapshot / "voices" / f"{voice.id}.pt")
    return hub


def decode_as_noise(monkeypatch, *kmodels) -> None:
    """Replace each model's decoder by noise of its true length (600 samples a frame), for tests
    of long texts: G2P, chunking, the predicted durations, pacing, joins and captions stay the
    production path; only the decoder, minutes of CPU for thousands of characters and noise on
    the stand-in anyway, is skipped. A chunk through the real decoder is every other test's."""
    from worker.model import batching

    for kmodel in kmodels:  # kokoro's own forward (speed 1)
        monkeypatch.setattr(kmodel.decoder, "forward",
                            lambda asr, *rest: 0.1 * torch.randn(1, 1, asr.shape[-1] * 600))
    # the engine's exact-speed and batched forward (worker/model/batching.py)
    monkeypatch.setattr(batching, "_decode", lambda dec, asr, f0, noise, s, frames: [
        0.1 * torch.randn(n * 600) for n in frames])


@contextlib.contextmanager
def _locked(path: Path):
    """One builder at a time per folder (two test runs, or a run and a benchmark, may start together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_cache(hf_home: str | os.PathLike, owned: bool = True) -> Path:
    """`hf_home` holding a finished build. In a folder of ours (`owned`, tests/standin_home.py) it is
    made in a temp folder and renamed into place, so an interrupted build is never taken for a
    finished one, and older builds beside it are pruned; a folder the user named is only added to,
    never removed or pruned around. Returns hf_home."""
    home = Path(hf_home)
    if not owned:
        if not (home / MARKER).is_file():
            build_cache(home)
            (home / MARKER).write_text("ok")
        return home
    with _locked(home.parent / f".{home.name}.lock"):
        if (home / MARKER).is_file():
            (home / MARKER).touch()  # "used now": a build in use is never pruned (below)
            return home
        shutil.rmtree(home, ignore_errors=True)  # a folder without the marker is an interrupted build
        staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=f".{home.name}-building-"))
        try:
            build_cache(staging)
            (staging / MARKER).write_text("ok")
            staging.chmod(0o755)  # mkdtemp makes it private; worker subprocesses may run as others
            staging.rename(home)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    _prune(home)
    return home


def _prune(current: Path) -> None:
    """Remove builds beyond the newest few that no run has used for an hour (another checkout's
    run may be using an older build right now)."""
    builds = sorted((p for p in current.parent.iterdir() if (p / MARKER).is_file() and p != current),
                    key=lambda p: (p / MARKER).stat().st_mtime, reverse=True)
    idle = time.time() - 3600
    for old in (p for p in builds[_KEEP_BUILDS - 1:] if (p / MARKER).stat().st_mtime < idle):
        shutil.rmtree(old, ignore_errors=True)
        (old.parent / f".{old.name}.lock").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hf-home", required=True, help="folder to use as HF_HOME")
    parser.add_argument("--models", default="v1.0,v1.1-zh")
    args = parser.parse_args()
    hub = build_cache(args.hf_home, models=tuple(args.models.split(",")))
    print(f"Stand-in weights written under {hub}. Use: HF_HOME={args.hf_home} HF_HUB_OFFLINE=1")


if __name__ == "__main__":
    main()
