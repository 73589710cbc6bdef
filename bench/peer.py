"""This engine against its CPU peer, kokoro-onnx, on real weights: same text, voice and phonemes.

    python bench/peer.py              # 2 interleaved rounds of every route
    python bench/peer.py --rounds 3

Routes, each fed the engine's own phoneme chunks (so G2P differences cannot blur the comparison):
  engine            Engine.stream (G2P included, folded weights, pacing, joins), as `auto` serves once
                    settled (on a bf16 CPU: its background compile waited for)
  engine eager      the same with KOKORO_COMPILE=off (what the compile saves)
  engine unfolded   the same, eager, with weight norm left on (what the fold saves)
  engine fp32       the same, KOKORO_PRECISION=fp32
  engine int8       the same, KOKORO_PRECISION=int8 (`auto` on a CPU without bf16)
  KModel            bare kokoro KModel per chunk (folded), no G2P, no pacing
  kokoro-onnx       kokoro-onnx 0.6.1 with kokoro-onnx's published int8 model, per chunk
  kokoro-onnx whole one call for the whole text (no audio before the end)

Wall time for the text, time to first audio, real-time factor, and the WER Whisper hears, with the
CPU's model and flags, are printed and written to bench/results/peer-<host>-<time>.json. The
ratio the issue asks about is engine wall time ÷ kokoro-onnx per-chunk wall time (targets: ≤ 0.6 for
bf16 where native, ≤ 0.8 for the route `auto` takes elsewhere, int8).
Not part of CI: timings flake on shared machines; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VOICE = "jf_alpha"  # a real voice both runtimes have (the real packs are Japanese; it reads English)
SAMPLE_RATE = 24_000


def _text(chars: int) -> str:
    """About `chars` characters of the long English test text, whole sentences."""
    from tests.realspeech.texts import EN_LONG

    out = ""
    for sentence in EN_LONG.replace("\n", " ").split(". "):
        if len(out) >= chars:
            break
        out += sentence.strip().rstrip(".") + ". "
    return out.strip()


def cpu_line() -> str:
    """The CPU's model name and the flags that decide its speed (named with every CPU figure)."""
    from worker.model.precision import cpu_flags

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")
    return f"{model}; flags: {' '.join(f for f in wanted if f in cpu_flags()) or 'none of ' + '/'.join(wanted)}"


class Routes:
    """The routes, built once; each call returns (audio, seconds to first audio, wall seconds)."""

    def __init__(self, hub: Path, cache: Path):
        import torch
        from kokoro_onnx import Kokoro

        from tests.realspeech.weights import ja_voices_file, onnx_model_file
        from worker.model import precision
        from worker.model.engine import Engine
        from worker.service.request import parse_request

        torch.manual_seed(0)
        self.engine = Engine(cache_dir=hub)
        self.engine.model("v1.0")
        self.engine.wait_for_compile()  # `auto` settled: compiled where it compiles
        self.request = None
        self._parse = parse_request
        real_fold = precision.fold_weight_norm
        precision.fold_weight_norm = lambda model: 0  # this engine keeps weight norm
        try:
            self.unfolded = Engine(cache_dir=hub, compile="off")
            self.unfolded.model("v1.0")
        finally:
            precision.fold_weight_norm = real_fold
        self.eager = Engine(cache_dir=hub, compile="off")
        self.fp32 = Engine(cache_dir=hub, precision="fp32")
        self.int8 = Engine(cache_dir=hub, precision="int8")
        self.int8.model("v1.0")  # its int8 decoder built (once per machine) here, not in a timed route
        self.onnx = Kokoro(str(onnx_model_file(cache)), str(ja_voices_file()))

    def prepare(self, text: str) -> list:
        self.request = self._parse({"text": text, "voice": VOICE, "language": "en-us"}, self.engine.catalog)
        self.chunks = list(self.engine.plan(self.request))
        self.style = [self.engine._style(self.request, c) for c in self.chunks]
        return self.chunks

    def _engine(self, engine):
        started, first, pieces = time.perf_counter(), None, []
        for piece in engine.stream(self.request):
            first = first or time.perf_counter() - started
            pieces.append(piece.audio)
        return np.concatenate(pieces), first, time.perf_counter() - started

    def engine_route(self):
        return self._engine(self.engine)

    def unfolded_route(self):
        return self._engine(self.unfolded)

    def eager_route(self):
        return self._engine(self.eager)

    def fp32_route(self):
        return self._engine(self.fp32)

    def int8_route(self):
        return self._engine(self.int8)

    def kmodel_route(self):
        import torch

        kmodel = self.fp32.model("v1.0")  # eager fp32: what kokoro's own KModel does
        started, first, pieces = time.perf_counter(), None, []
        with torch.inference_mode():
            for chunk, style in zip(self.chunks, self.style):
                pieces.append(kmodel(chunk.phonemes, style, 1.0).numpy())
                first = first or time.perf_counter() - started
        return np.concatenate(pieces), first, time.perf_counter() - started

    def onnx_route(self):
        started, first, pieces = time.perf_counter(), None, []
        for chunk in self.chunks:
            audio, _ = self.onnx.create(chunk.phonemes, VOICE, speed=1.0, lang="en-us", is_phonemes=True)
            pieces.append(audio)
            first = first or time.perf_counter() - started
        return np.concatenate(pieces), first, time.perf_counter() - started

    def onnx_whole_route(self):
        started = time.perf_counter()
        phonemes = " ".join(c.phonemes for c in self.chunks)
        audio, _ = self.onnx.create(phonemes, VOICE, speed=1.0, lang="en-us", is_phonemes=True)
        wall = time.perf_counter() - started
        return audio, wall, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chars", type=int, default=530)
    args = parser.parse_args()

    import torch

    from bench.homes import hf_home
    from tests.realspeech.listen import Recogniser, error_rate
    from tests.realspeech.weights import default_cache_dir, whisper_model_dir

    cache = default_cache_dir()
    routes = Routes(hf_home() / "hub", cache)
    text = _text(args.chars)
    chunks = routes.prepare(text)
    names = {"engine": routes.engine_route, "engine, weight norm unfolded": routes.unfolded_route,
             "engine, eager (KOKORO_COMPILE=off)": routes.eager_route,
             "engine, fp32": routes.fp32_route, "engine, int8 decoder": routes.int8_route,
             "bare KModel (folded)": routes.kmodel_route, "kokoro-onnx int8, per chunk": routes.onnx_route,
             "kokoro-onnx int8, whole text": routes.onnx_whole_route}
    for fn in names.values():  # warm every route once (first calls allocate)
        fn()
    runs: dict[str, list] = {name: [] for name in names}
    for _ in range(args.rounds):  # interleaved: a slow moment of the machine hits every route
        for name, fn in names.items():
            runs[name].append(fn())
    recogniser = Recogniser(whisper_model_dir(cache))
    rows = []
    for name, results in runs.items():
        audio = results[-1][0]
        wall = float(np.median([r[2] for r in results]))
        first = float(np.median([r[1] for r in results]))
        seconds = len(audio) / SAMPLE_RATE
        heard = recogniser.hear(audio, "en").text
        rows.append({"route": name, "wall_s": round(wall, 2), "first_audio_s": round(first, 2),
                     "audio_s": round(seconds, 2), "rtf": round(wall / seconds, 3),
                     "wer": round(error_rate(text, heard, "en"), 3)})
    onnx = next(r for r in rows if r["route"] == "kokoro-onnx int8, per chunk")
    for row in rows:
        row["vs_onnx_per_chunk"] = round(row["wall_s"] / onnx["wall_s"], 3)
    info = {"cpu": cpu_line(), "torch_threads": torch.get_num_threads(),
            "precision": routes.engine.precision + (", compiled" if routes.engine.compile == "background" else ""),
            "text_chars": len(text), "chunks": len(chunks), "rounds": args.rounds, "voice": VOICE}
    print(f"{info['cpu']}; torch threads {info['torch_threads']}; engine precision {info['precision']}")
    print(f"{len(text)} characters of English, {len(chunks)} chunks, voice {VOICE}, "
          f"median of {args.rounds} interleaved rounds\n")
    print(f"| {'route':32} | wall s | first audio s | audio s | RTF | WER | ÷ kokoro-onnx per chunk |")
    print(f"|{'-' * 34}|--------|---------------|---------|-----|-----|------------------------|")
    for r in rows:
        print(f"| {r['route']:32} | {r['wall_s']:6.2f} | {r['first_audio_s']:13.2f} | {r['audio_s']:7.2f} | "
              f"{r['rtf']:.3f} | {r['wer']:.3f} | {r['vs_onnx_per_chunk']:.3f} |")
    out = REPO / "bench" / "results" / f"peer-{platform.node()}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    print(f"\nwritten to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
