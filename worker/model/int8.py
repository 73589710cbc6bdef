"""KOKORO_PRECISION=int8: the decoder in ONNX Runtime with int8 convolutions, for CPUs without bf16.

The decoder (everything after the durations, about 90 % of a chunk's time) is exported to ONNX once
per weights file and its convolutions quantised to int8 with activation scales calibrated on a few
sentences (static quantisation: ONNX Runtime's QLinearConv, which has u8×s8 kernels for AVX2 and
VNNI; torch's own int8 convolutions are deprecated). What stays as it was, and why:
- ALBERT, the text encoder and the duration predictor run in torch fp32, so every duration (the
  length of each word, the word timings, the captions) is fp32's exactly;
- the forward STFT of the harmonic source, `conv_post` (log-magnitude and phase) and the inverse
  STFT stay fp32: errors there are heard first;
- the transposed (upsampling) convolutions stay fp32 (ONNX Runtime has no int8 kernel for them).
The quantised decoder is kept beside the hub cache (`<HF_HOME>/kokoro-int8/`, or the temp folder
where that is read-only): built once in about a minute on 2 cores, then loaded in about a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import torch

from worker.core import onnx_runtime

log = logging.getLogger("kokoro.int8")

FORMAT = 1  # bump when the export or the quantisation changes: older files are rebuilt
INPUTS = ("asr", "f0", "n", "s")
# Calibration: the activations' ranges over a few utterances of different lengths and voices.
CALIBRATION = ("hˈɛlO, ðɪs ɪz ɐ tˈɛst ʌv ðə vˈɔɪs.", "ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps ˌOvəɹ ðə lˈAzi dˈɔɡ.",
               "wˌʌn, tˈu, θɹˈi; wˈʌt ɐ lˈɔŋ ənd kwˈaɪət dˈA ɪt wʌz!", "jˈɛs.",
               "kˌɑnʃəntʃˈʌsnəs ɪz ðə hˈɑɹdəst pɹˈɑbləm ɪn ðə sˈIəns ʌv ðə mˈInd, sˈʌm sˈA.")


class OnnxDecoder(torch.nn.Module):
    """Stands in for kokoro's Decoder: forward(asr, F0_curve, N, s) -> audio [1, 1, samples],
    one utterance per call (batching.forward_batch calls it row by row)."""

    one_row = True

    def __init__(self, path: Path, threads: int):
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, asr, f0_curve, noise, s):
        feed = {name: t.detach().float().cpu().numpy() for name, t in zip(INPUTS, (asr, f0_curve, noise, s))}
        return torch.from_numpy(self.session.run(None, feed)[0])


def decoder(kmodel, config: str, weights: str, packs: list[torch.Tensor], home: Path) -> OnnxDecoder:
    """The int8 decoder for these weights: loaded from `home`, or built there first (from the
    loaded fp32 `kmodel`, whose decoder inputs on CALIBRATION read by the voice `packs` calibrate it)."""
    onnx_runtime.load()  # the first import, without ONNX Runtime's GPU-discovery warning
    for folder in (home, Path(tempfile.gettempdir()) / "kokoro-int8"):  # the temp folder: a read-only cache
        path = _path(weights, folder)
        if path.exists():
            break
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _build(kmodel, config, weights, packs, path)
            break
        except OSError:
            if folder != home:
                raise
    return OnnxDecoder(path, torch.get_num_threads())


def _path(weights: str, home: Path) -> Path:
    """One file per weights file (by its resolved path and size: the hub names blobs by content),
    export format and ONNX Runtime version."""
    import onnxruntime

    real = os.path.realpath(weights)
    key = f"{real}|{os.path.getsize(real)}|{FORMAT}|{onnxruntime.__version__}|{torch.__version__}"
    return home / f"decoder-{hashlib.sha256(key.encode()).hexdigest()[:16]}.int8.onnx"


def _build(kmodel, config: str, weights: str, packs: list[torch.Tensor], path: Path) -> None:
    from kokoro import KModel
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from worker.model.precision import fold_weight_norm

    class Reader(CalibrationDataReader):
        def __init__(self, rows: list[list[torch.Tensor]]):
            self.rows = iter(rows)

        def get_next(self):
            row = next(self.rows, None)
            return None if row is None else {n: t.numpy() for n, t in zip(INPUTS, row)}

    started = time.perf_counter()
    # The scratch folder first: a read-only folder fails here, before any work.
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch, _quiet():
        samples = _decoder_inputs(kmodel, packs)
        # The STFT as convolutions (kokoro's export option): the same numbers, and ONNX has no iSTFT.
        exportable = KModel(repo_id=kmodel.repo_id, config=config, model=weights, disable_complex=True).eval()
        fold_weight_norm(exportable)
        fp32 = Path(scratch) / "decoder.onnx"
        with torch.no_grad():
            torch.onnx.export(exportable.decoder, tuple(samples[0]), str(fp32), opset_version=17, dynamo=False,
                              input_names=list(INPUTS), output_names=["audio"],
                              dynamic_axes={"asr": {2: "frames"}, "f0": {1: "frames2"}, "n": {1: "frames2"},
                                            "audio": {2: "samples"}})
        int8 = Path(scratch) / "decoder.int8.onnx"
        quantize_static(str(fp32), str(int8), Reader(samples), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                        per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        nodes_to_exclude=["/generator/Conv", "/generator/Conv_1", "/generator/conv_post/Conv"])
        os.replace(int8, path)  # whole or not at all: a concurrent builder's file is as good
    log.info("Built the int8 decoder %s in %.0f s", path, time.perf_counter() - started)


@contextlib.contextmanager
def _quiet():
    """The exporter's tracer warnings and the quantiser's advice (logged on the root logger) are
    meant for whoever writes the export, not for the user waiting for the first start."""
    root = logging.getLogger()
    advice = logging.Filter("kokoro")  # passes only kokoro's own records while building
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root.addFilter(advice)
        try:
            yield
        finally:
            root.removeFilter(advice)


def _decoder_inputs(kmodel, packs: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """What kokoro's decoder is called with when `kmodel` reads CALIBRATION in the voices of `packs`."""
    seen: list[list[torch.Tensor]] = []
    hook = kmodel.decoder.register_forward_pre_hook(
        lambda module, args: seen.append([a.detach().float().cpu() for a in args]))
    try:
        with torch.inference_mode():
            for i, phonemes in enumerate(CALIBRATION):
                pack = packs[i % len(packs)]
                kmodel(phonemes, pack[min(len(phonemes), len(pack)) - 1], 1.0)
    finally:
        hook.remove()
    return [[torch.tensor(a.numpy()) for a in row] for row in seen]  # plain tensors (export traces them)
