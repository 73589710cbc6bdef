"""How the model's forward pass runs on this machine: weight norm folded, fp32, bf16 or int8, the threads.

- Kokoro's decoder wraps ~90 convolutions in weight norm, which recomputes every weight from its
  direction and magnitude on every forward pass. Folding it once after loading gives the very
  same weights, so the very same samples, for less work (`fold_weight_norm`).
- KOKORO_PRECISION=auto|fp32|bf16|int8. `auto` runs the model under bf16 autocast where the
  hardware does bf16 natively (a CPU with AVX512_BF16 or AMX, a CUDA GPU that supports it); on other
  CPUs it takes int8 (the decoder in ONNX Runtime with int8 convolutions, worker/model/int8.py) and
  elsewhere fp32. An explicit bf16 where it would be emulated is refused: measured on a 2-core AVX2
  CPU, emulated bf16 took 20-25x as long as fp32. Under bf16 the LSTMs stay in fp32 (`lstms_in_fp32`):
  they carry the duration predictor, so timing stays that of fp32, and oneDNN has no bf16 LSTM on
  CPUs without native bf16 (the path can then still be tested there, slowly). The weights autocast
  runs in bf16 are stored in bf16 once at load (`bf16_weights`), not cast on every forward pass.
- KOKORO_COMPILE=auto|on|off: the decoder through torch.compile (`compile_decoder`). `auto`
  compiles where it pays (bf16 on a CPU), in the background: the model serves eager until the
  compiled decoder is ready. `on` compiles at load, before the first job, on any precision
  but int8.
- Threads: torch's intra-op pool defaults to the physical cores; with KOKORO_CONCURRENCY jobs at
  once the worker gives each its share (`threads_per_job`), so jobs do not fight over cores.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import logging
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from worker.core import background
from worker.core.errors import SettingsError
from worker.model import cores

log = logging.getLogger("kokoro.precision")

_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def fold_weight_norm(model: torch.nn.Module) -> int:
    """Replaces each weight-normed layer's (g, v) by the weight they make; returns how many."""
    folded = 0
    for module in model.modules():
        if hasattr(module, "weight_g") and hasattr(module, "weight_v"):
            torch.nn.utils.remove_weight_norm(module)
            folded += 1
    return folded


class _FP32(torch.nn.Module):
    """Runs the wrapped module in fp32 inside a bf16 autocast region."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def flatten_parameters(self) -> None:  # kokoro calls it on its LSTMs
        self.inner.flatten_parameters()

    def forward(self, x, *args, **kwargs):
        device = (x.data if isinstance(x, torch.nn.utils.rnn.PackedSequence) else x).device.type
        with torch.autocast(device_type=device, enabled=False):
            return self.inner(x.float(), *args, **kwargs)


def lstms_in_fp32(model: torch.nn.Module) -> int:
    """Wraps every LSTM of the model so that it computes in fp32 under autocast; returns how many."""
    found = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, torch.nn.LSTM)]
    for parent, name, child in found:
        setattr(parent, name, _FP32(child))
    return len(found)


def bf16_weights(model: torch.nn.Module) -> int:
    """Stores the weights of the layers autocast runs in bf16 (convolutions, linear layers) in bf16,
    once; returns how many layers. Autocast would cast each one on every forward pass: its cast cache
    only keeps weights that need a gradient, and ours need none (worker/model/weights.py says why).
    The same rounding, so the very same samples, for 0.95x the time of a chunk (eager and compiled,
    2-core AMX VM) and half those weights' memory. Norms, embeddings and the LSTMs (`lstms_in_fp32`)
    keep fp32: autocast runs them in fp32, and a bf16 copy would round their weights."""
    kinds = (torch.nn.Conv1d, torch.nn.ConvTranspose1d, torch.nn.Linear)  # kokoro's; ALBERT's are Linear
    layers = [m for m in model.modules() if isinstance(m, kinds)]
    for layer in layers:
        layer.to(torch.bfloat16)
    return len(layers)


@functools.lru_cache(maxsize=None)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where they cannot be read."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(device: str, flags: frozenset[str] | None = None) -> bool:
    """Whether `device` computes bf16 in hardware (not emulated)."""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device == "cpu":
        return bool((cpu_flags() if flags is None else flags) & _NATIVE_BF16_FLAGS)
    return False


def resolve(setting: str, device: str, flags: frozenset[str] | None = None, onnx: bool | None = None) -> str:
    """'fp32', 'bf16' or 'int8' for this device from a KOKORO_PRECISION value; SettingsError for bf16
    where the device would only emulate it, and for int8 off the CPU or without ONNX Runtime.
    `auto`: bf16 where native; on other CPUs int8 (worker/model/int8.py) when ONNX Runtime is there."""
    native = native_bf16(device, flags)
    if onnx is None:
        onnx = importlib.util.find_spec("onnxruntime") is not None
    if setting == "auto":
        return "bf16" if native else "int8" if device == "cpu" and onnx else "fp32"
    if setting == "int8" and (device != "cpu" or not onnx):
        why = f"runs on the CPU only, not on {device}" if device != "cpu" else "needs onnxruntime, not installed here"
        raise SettingsError(f"KOKORO_PRECISION=int8 {why}: use auto, fp32 or bf16.")
    if setting == "bf16" and not native:
        what = "this CPU (no AVX512_BF16 or AMX)" if device == "cpu" else f"device {device}"
        raise SettingsError(f"KOKORO_PRECISION=bf16, but {what} only emulates bf16, many times slower "
                            "than fp32: use auto or fp32.")
    return setting


@contextlib.contextmanager
def forward_pass(precision: str, device: str) -> Iterator[None]:
    """Where the engine runs the model: inference mode, `autocast`, and this thread's OpenMP team
    ended afterwards (cores.release_openmp says why)."""
    try:
        with torch.inference_mode(), autocast(precision, device):
            yield
    finally:
        cores.release_openmp()


@contextlib.contextmanager
def autocast(precision: str, device: str) -> Iterator[None]:
    """The forward pass's numeric context: bf16 autocast for bf16, nothing otherwise (int8's torch
    part is fp32)."""
    if precision != "bf16":
        yield
        return
    with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16):
        yield


def compile_pays(precision: str, device: str) -> bool:
    """What KOKORO_COMPILE=auto means: on for bf16 on a CPU, where compiling took the whole engine
    from 0.75x to 0.61x kokoro-onnx's time (bench/peer.py, 2-core avx512_bf16 VM, 4 rounds); off for
    fp32 (0.93x eager, not worth a compile), int8 (its decoder is ONNX Runtime's) and GPUs (not
    measured)."""
    return precision == "bf16" and device == "cpu"


def _trial(kmodel: torch.nn.Module, device: str, precision: str, style: torch.Tensor, decoder: torch.nn.Module,
           batch: bool = False) -> None:
    """Forward passes of two lengths with `decoder`, on a shallow copy of the model that shares every
    other weight and module, so jobs on `kmodel` run on meanwhile. Two lengths: a dynamic-shape graph
    is then settled before any job meets it. batch: through a batch's path (batching.forward_batch,
    one row each), whose decoder inputs a compiled decoder must also have seen (its guards tell them
    from kokoro's own forward's)."""
    from worker.model import batching

    trial = copy.copy(kmodel)
    trial._modules = {**trial._modules, "decoder": decoder}
    for phonemes in _TRIAL_PHONEMES:  # a pass each: between them this thread traces and compiles
        with forward_pass(precision, device):
            if batch:
                batching.forward_batch(trial, [phonemes], style, [1.0], rows_alone=True)
            else:
                trial(phonemes, style.clone(), 1.0)  # an inference tensor, as in Engine._speak_together


_TRIAL_PHONEMES = ("hˈɛlO", "ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps ˌOvəɹ ðə lˈAzi dˈɔɡ.")


def compile_decoder(kmodel: torch.nn.Module, device: str, precision: str, style: torch.Tensor) -> bool:
    """KOKORO_COMPILE: the decoder (everything after the durations, ~90 % of a chunk's time) through
    torch.compile, whose fused kernels skip most of the elementwise passes (snake activations,
    AdaIN, bf16 casts) between its convolutions; the convolutions (oneDNN's) are then ~80 % of its
    time. Compiled for every length (dynamic shapes) by trial forwards, then swapped in (one
    attribute: a job mid-chunk finishes on the eager one); where that fails (no C++ compiler, an
    unsupported device) the decoder stays as it was. The durations are not touched (the predictor is
    not compiled). Measured on a 2-core avx512_bf16 VM: the decoder 0.69x its eager time in bf16;
    inductor's freezing was slower (0.8x). The first compile takes 1-2 minutes; inductor caches it on
    disk (its default folder, /tmp/torchinductor_<user>), and a cached one takes ~30 s. On a CPU
    the rows of a batch (concurrent jobs, voices) run it by the batch's path,
    so the trial takes that path too."""
    # inductor's note that it leaves the STFT's complex ops to eager: for its developers, not our logs
    warnings.filterwarnings("ignore", "Torchinductor does not support code generation for complex", UserWarning)
    compiled = torch.compile(kmodel.decoder, dynamic=True)
    try:
        _trial(kmodel, device, precision, style, compiled)
        if device == "cpu":
            _trial(kmodel, device, precision, style, compiled, batch=True)
    except Exception:  # noqa: BLE001 (inductor's errors have no common base; eager is always right)
        log.info("The decoder stays eager: torch.compile failed here", exc_info=log.isEnabledFor(logging.DEBUG))
        return False
    kmodel.decoder = compiled
    return True


def compile_in_background(kmodel: torch.nn.Module, device: str, precision: str, style: torch.Tensor,
                          name: str) -> threading.Thread:
    """compile_decoder on a background thread: the model serves eager at once and compiled from the
    moment the compile is done, so a start-up (the studio's, the worker's) does not wait for it. A
    process that ends mid-compile stops it (worker.core.background: it aborted in C++ before, and
    waiting for it cost a one-job `--test_input` run 30-120 s)."""
    def run() -> None:
        started = time.perf_counter()
        try:
            if compile_decoder(kmodel, device, precision, style):
                log.info("Kokoro %s: the compiled decoder took over after %.0f s (KOKORO_COMPILE)", name,
                         time.perf_counter() - started)
        except background.Stopped:
            log.info("Kokoro %s: the compile was stopped: the process is ending", name)

    return background.start(run, name=f"kokoro-compile-{name}")


def threads_per_job(concurrency: int, available: int | None = None) -> int:
    """Each of `concurrency` simultaneous jobs gets an equal share of the `available` cores (this
    machine's by default), at least one."""
    return max(1, (available or cores.cpu_cores()) // max(1, concurrency))
