"""The model's weights and the voices' style packs, each loaded once, through the Hugging Face cache.

Models and voice packs load through huggingface_hub's standard cache (so a baked image or
HF_HUB_OFFLINE=1 works unchanged), each once, whatever the number of threads asking; both models
may be resident. A model is loaded in the form this machine runs fastest (worker/model/precision.py:
weight norm folded; bf16 LSTMs kept fp32; the int8 decoder; the compiled decoder).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import warnings

import torch

from worker.core import settings
from worker.core.catalog import Catalog, default_catalog
from worker.core.errors import ModelUnavailableError
from worker.model import hub, int8
from worker.model import precision as fp
from worker.service.request import SynthesisRequest

log = logging.getLogger("kokoro.engine")
# Kokoro's own modules, built by KModel, warn at every start about choices that are theirs, not the
# user's (an LSTM's dropout with one layer; the older weight-norm API, folded away right after).
warnings.filterwarnings("ignore", "dropout option adds dropout after all but last recurrent layer", UserWarning)
warnings.filterwarnings("ignore", r"`torch\.nn\.utils\.weight_norm` is deprecated", FutureWarning)


class Weights:
    """Loads models and voice packs lazily, once each, thread-safely, on one device in one precision."""

    def __init__(self, catalog: Catalog | None = None, device: str | None = None,
                 cache_dir: str | os.PathLike | None = None, precision: str | None = None,
                 compile: str | None = None):
        self.catalog = catalog or default_catalog()
        self.device = device or settings.device()
        # fp32, bf16 or int8 (KOKORO_PRECISION; `auto` picks by the hardware: worker/model/precision.py).
        self.precision = fp.resolve(precision or settings.precision(), self.device)
        self.cache_dir = cache_dir  # a hub cache folder; None: huggingface_hub's own ($HF_HOME/hub)
        # KOKORO_COMPILE: on (at load), off, or auto (worker/model/precision.py; Engine resolves it)
        self.compile = compile or settings.compile_mode()
        self._compiling: dict[str, threading.Thread] = {}
        self._models: dict[str, torch.nn.Module] = {}
        self._packs: dict[str, torch.Tensor] = {}
        self._load_lock = threading.Lock()
        self._pack_lock = threading.Lock()  # two jobs asking for one new voice load it once

    def _fetch(self, repo_id: str, filename: str, what: str) -> str:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        try:  # the cache first: no network call at all when the file is there
            return hf_hub_download(repo_id=repo_id, filename=filename, cache_dir=self.cache_dir,
                                   local_files_only=True)
        except LocalEntryNotFoundError:
            pass
        missing = (f"{what} ({repo_id}/{filename}) is not in the Hugging Face cache "
                   f"({hub.cache_folder(self.cache_dir)})")
        # Without this check an unreachable hub costs ~25 s of retries before the same answer.
        if (reason := hub.unreachable()) is not None:
            raise ModelUnavailableError(f"{missing}, and {reason}. {hub.HOW_TO_FILL}") from None
        try:
            return hf_hub_download(repo_id=repo_id, filename=filename, cache_dir=self.cache_dir)
        except LocalEntryNotFoundError:
            raise ModelUnavailableError(f"{missing} and could not be downloaded. {hub.HOW_TO_FILL}") from None
        except HfHubHTTPError as exc:
            raise ModelUnavailableError(f"{what} ({repo_id}/{filename}) could not be fetched: "
                                        f"{exc.__class__.__name__}.") from None

    def locate(self, name: str) -> tuple[str, str]:
        """The cached config and weights files of a model; ModelUnavailableError if missing.
        Cheap (no loading): lets start-up fail at once on a missing model it would load later."""
        spec = self.catalog.models[name]
        what = f"Kokoro {name}"
        return (self._fetch(spec.repo_id, "config.json", f"{what} config"),
                self._fetch(spec.repo_id, spec.weights, f"{what} weights"))

    def not_cached(self, names: list[str]) -> list[str]:
        """The models among `names` whose config or weights are not in the cache (no network call):
        what a page can say before anyone presses Generate."""
        from huggingface_hub import try_to_load_from_cache

        def cached(repo_id: str, filename: str) -> bool:
            return isinstance(try_to_load_from_cache(repo_id, filename, cache_dir=self.cache_dir), str)

        return [name for name in names if not (cached(self.catalog.models[name].repo_id, "config.json")
                                               and cached(self.catalog.models[name].repo_id,
                                                          self.catalog.models[name].weights))]

    def model(self, name: str) -> torch.nn.Module:
        """The KModel for a catalog model name, loaded once (on this engine's device)."""
        if name in self._models:
            return self._models[name]
        with self._load_lock:
            if name not in self._models:
                from kokoro import KModel

                spec = self.catalog.models[name]
                what = f"Kokoro {name}"
                config, weights = self.locate(name)
                started = time.perf_counter()
                kmodel = KModel(repo_id=spec.repo_id, config=config, model=weights)
                folded = fp.fold_weight_norm(kmodel)  # the same weights, computed once
                if self.precision == "bf16":
                    fp.lstms_in_fp32(kmodel)  # the durations stay those of fp32
                    fp.bf16_weights(kmodel)  # cast once, not on every forward pass
                # No autograd: inference only. It also keeps autocast's weight-cast cache empty: that cache
                # is one per process, and a thread clearing it (a bf16 job ending) while another traces
                # (torch.compile in the background) deadlocked on its mutex and the GIL.
                kmodel = kmodel.to(self.device).eval().requires_grad_(False)
                if self.precision == "int8":  # the decoder in ONNX Runtime, int8 (worker/model/int8.py)
                    kmodel.decoder = int8.decoder(kmodel, config, weights, self._calibration_packs(name),
                                                  hub.beside_cache("kokoro-int8", self.cache_dir))
                compiled = ""
                if self.compile == "on" and self.precision != "int8":
                    ok = fp.compile_decoder(kmodel, self.device, self.precision, self._first_pack(name)[4])
                    compiled = ", compiled" if ok else ", not compiled"
                elif self.compile == "background":
                    self._compiling[name] = fp.compile_in_background(
                        kmodel, self.device, self.precision, self._first_pack(name)[4], name)
                    compiled = ", compiling in the background"
                self._models[name] = kmodel
                log.info("Loaded %s on %s (%s%s, %d weight-normed layers folded) in %.1f s", what, self.device,
                         self.precision, compiled, folded, time.perf_counter() - started)
        return self._models[name]

    def wait_for_compile(self, timeout: float | None = None) -> None:
        """Returns when the background compiles (KOKORO_COMPILE=auto) are over: for benchmarks and tests."""
        for thread in list(self._compiling.values()):
            thread.join(timeout)

    def _pack(self, voice_id: str) -> torch.Tensor:
        if voice_id in self._packs:
            return self._packs[voice_id]
        with self._pack_lock:
            if voice_id not in self._packs:
                self._packs[voice_id] = self._load_pack(voice_id)
        return self._packs[voice_id]

    def _first_pack(self, model: str) -> torch.Tensor:
        """The pack of the model's first catalog voice (a style for a trial forward)."""
        return self._pack(next(v.id for v in self.catalog.voices if v.model == model))

    def _calibration_packs(self, model: str) -> list[torch.Tensor]:
        """Up to four of the model's first eight catalog voices that are in the cache."""
        packs = []
        for voice in [v for v in self.catalog.voices if v.model == model][:8]:
            with contextlib.suppress(ModelUnavailableError):
                packs.append(self._pack(voice.id))
        return packs[:4] or [self._first_pack(model)]

    def _load_pack(self, voice_id: str) -> torch.Tensor:
        voice = self.catalog.voice(voice_id)
        assert voice is not None, voice_id  # parse_request only lets catalog ids through
        repo = self.catalog.models[voice.model].repo_id
        path = self._fetch(repo, f"voices/{voice_id}.pt", f"Voice {voice_id}")
        return torch.load(path, map_location=self.device, weights_only=True)

    def voice_pack(self, request: SynthesisRequest) -> torch.Tensor:
        """The style pack [510, 1, 256] for the request's voice or weighted blend."""
        if len(request.voices) == 1:
            return self._pack(request.voices[0][0].id)
        # Blends are not cached: any weights are allowed, and mixing is cheap next to inference.
        return torch.stack([self._pack(v.id) * weight for v, weight in request.voices]).sum(dim=0)
