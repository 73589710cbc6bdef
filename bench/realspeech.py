"""Real-speech figures: speed and what a recogniser hears, per path, on the real Kokoro weights.

    python bench/realspeech.py              # builds the real cache (tests/realspeech) if needed
    python bench/realspeech.py --quick      # short texts only (no 1,500-character texts)

Real Kokoro v1.0 (int8 export, dequantised) and the five real Japanese voices; English is read by
jf_alpha. Prints a table (RTF, WER/CER, durations, pauses) and writes
bench/results/realspeech-<host>-<time>.json. Not part of CI: timings flake on shared machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _prepare() -> tuple[Path, Path]:
    """The real weights' hub folder and the Whisper folder, built where the tests keep them."""
    from bench.homes import hf_home
    from tests.realspeech.weights import default_cache_dir, whisper_model_dir

    return hf_home() / "hub", whisper_model_dir(default_cache_dir())


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def bench_rtf(engine) -> dict:
    """Wall time ÷ audio duration, the engine against bare KModel on the same chunks."""
    import torch

    from tests.realspeech.texts import EN_LONG
    from worker.model import precision as fp
    from worker.service.request import parse_request

    request = parse_request({"text": EN_LONG, "voice": "jf_alpha"}, engine.catalog)
    engine.synthesize(parse_request({"text": "Warm up.", "voice": "jf_alpha"}, engine.catalog))
    result, worker_s = _timed(lambda: engine.synthesize(request))
    kmodel, pack = engine.model("v1.0"), engine.voice_pack(request)
    chunks = list(engine.plan(request))

    def bare():  # at the engine's precision (a bf16 model's weights are bf16: autocast's)
        with torch.inference_mode(), fp.autocast(engine.precision, engine.device):
            return sum(len(kmodel(c.phonemes, pack[len(c.phonemes) - 1], 1.0)) for c in chunks)

    samples, bare_s = _timed(bare)
    return {"chars": len(EN_LONG), "audio_s": result.result.duration_s, "engine_s": worker_s,
            "engine_rtf": worker_s / result.result.duration_s, "bare_s": bare_s, "bare_rtf": bare_s / (samples / 24000),
            "torch_threads": torch.get_num_threads()}


def bench_paths(engine, recogniser) -> dict:
    """Error rate of each path that makes audio (short texts)."""
    import io

    import numpy as np
    import soundfile as sf

    from tests.realspeech.hearing import decode
    from tests.realspeech.listen import error_rate
    from tests.realspeech.texts import EN_SHORT, JA_SHORT
    from ui.backends import LocalBackend
    from ui.backends.base import Piece
    from ui.studio.clips import ClipCache, ClipMaker
    from worker import handler
    from worker.service import runtime

    runtime._engine = engine
    handler.runpod.serverless.progress_update = lambda job, message: None
    out: dict[str, float] = {}

    def heard(name: str, audio, text: str, lang: str, rate: int = 24000) -> None:
        out[name] = round(error_rate(text, recogniser.hear(audio, lang, rate).text, lang), 4)

    for fmt in ("wav", "flac", "mp3", "ogg"):
        result = handler.handler({"id": fmt, "input": {"text": EN_SHORT, "voice": "jf_alpha", "format": fmt}})
        audio, rate = decode(result)
        heard(f"handler {fmt} (en, WER)", audio, EN_SHORT, "en", rate)
    streamed = [decode(c)[0] for c in handler.stream_handler(
        {"id": "s", "input": {"text": f"{EN_SHORT} {EN_SHORT}", "voice": "jf_alpha"}})]
    heard("streaming handler (en, WER)", np.concatenate(streamed), f"{EN_SHORT} {EN_SHORT}", "en")
    for voice in ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"):
        result = handler.handler({"id": voice, "input": {"text": JA_SHORT, "voice": voice, "language": "ja"}})
        heard(f"handler {voice} (ja, CER)", decode(result)[0], JA_SHORT, "ja")
    result = handler.handler({"id": "b", "input": {"text": EN_SHORT, "voice": "jf_alpha:0.6,jm_kumo:0.4"}})
    heard("blend jf_alpha:0.6,jm_kumo:0.4 (en, WER)", decode(result)[0], EN_SHORT, "en")
    events = LocalBackend(engine).run({"text": JA_SHORT, "voice": "jf_alpha", "language": "ja"}, lambda: False)
    heard("studio Generate, streamed pieces (ja, CER)",
          np.concatenate([e.samples for e in events if isinstance(e, Piece)]), JA_SHORT, "ja")
    for batched in (False, True):
        os.environ["KOKORO_BATCH_VOICES"] = "true" if batched else ""
        maker = ClipMaker(LocalBackend(engine), engine.catalog, ClipCache(max_bytes=64 << 20))
        payloads = [{"text": JA_SHORT, "voice": v, "language": "ja", "format": "wav"}
                    for v in ("jf_alpha", "jf_nezumi", "jm_kumo")]
        rates = []
        for _, clip in maker.make_many(payloads):
            audio, _ = sf.read(io.BytesIO(clip.data), dtype="float32")
            rates.append(error_rate(JA_SHORT, recogniser.hear(audio, "ja").text, "ja"))
        out[f"studio audition, 3 voices, {'batched' if batched else 'one by one'} (ja, worst CER)"] = max(rates)
    os.environ.pop("KOKORO_BATCH_VOICES", None)
    return out


def bench_speed(engine) -> dict:
    from tests.realspeech.texts import EN_LONG, sentences_of
    from worker.service.request import parse_request

    text = " ".join(sentences_of(EN_LONG)[:4])
    durations = {s: engine.synthesize(parse_request({"text": text, "voice": "jf_alpha", "speed": s},
                                                    engine.catalog)).duration_s for s in (0.8, 1.0, 1.25)}
    return {f"{s}": round(durations[s] / durations[1.0], 3) for s in (0.8, 1.25)}


def bench_long(engine, recogniser) -> dict:
    """~1,500 characters each of English (jf_alpha) and Japanese: split vs packed."""
    from tests.realspeech.hearing import join_silences
    from tests.realspeech.listen import error_rate, per_sentence
    from tests.realspeech.texts import EN_LONG, JA_LONG, sentences_of
    from worker.service.request import parse_request

    out = {}
    for lang, text, code in (("en", EN_LONG, "en-us"), ("ja", JA_LONG, "ja")):
        row = {}
        for split in (True, False):
            request = parse_request({"text": text, "voice": "jf_alpha", "language": code,
                                     "split_sentences": split}, engine.catalog)
            result, seconds = _timed(lambda: engine.synthesize(request))
            heard = recogniser.hear(result.audio, lang).text
            rates = per_sentence(sentences_of(text), heard, lang)
            row["split" if split else "packed"] = {
                "chars": len(text), "chunks": len(result.result.chunks), "audio_s": round(result.result.duration_s, 1),
                "rtf": round(seconds / result.result.duration_s, 3), "error": round(error_rate(text, heard, lang), 4),
                "worst_sentence": round(max(rates), 3),
                "sentences_heard_clean": sum(r == 0 for r in rates), "sentences": len(rates)}
            if split:
                pauses = join_silences(result)
                row["split"]["join_silence_s"] = [min(pauses), round(sum(pauses) / len(pauses), 3), max(pauses)]
        row["split_over_packed"] = round(row["split"]["audio_s"] / row["packed"]["audio_s"], 3)
        out[lang] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1,500-character texts")
    args = parser.parse_args()
    hub, whisper = _prepare()

    from tests.realspeech.listen import Recogniser
    from worker.model.engine import Engine

    engine, recogniser = Engine(cache_dir=hub), Recogniser(whisper)
    results = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "device": engine.device},
               "rtf": bench_rtf(engine), "paths": bench_paths(engine, recogniser), "speed": bench_speed(engine)}
    if not args.quick:
        results["long"] = bench_long(engine, recogniser)

    rtf = results["rtf"]
    print(f"\nRTF, {rtf['chars']} chars of English ({rtf['audio_s']:.1f} s): engine {rtf['engine_rtf']:.3f}, "
          f"bare KModel on the same chunks {rtf['bare_rtf']:.3f} ({rtf['torch_threads']} torch threads)")
    print(f"\n{'path':62} error")
    for name, rate in results["paths"].items():
        print(f"{name:62} {rate:.3f}")
    print(f"duration at speed 0.8 and 1.25 ÷ 1.0: {results['speed']['0.8']} and {results['speed']['1.25']} "
          "(1/speed: 1.25 and 0.8)")
    for lang, row in results.get("long", {}).items():
        for mode in ("split", "packed"):
            r = row[mode]
            print(f"{lang} {mode:6} {r['chars']} chars, {r['chunks']} chunks, {r['audio_s']} s, RTF {r['rtf']}, "
                  f"error {r['error']}, worst sentence {r['worst_sentence']}, "
                  f"{r['sentences_heard_clean']}/{r['sentences']} sentences heard without an error")
        print(f"{lang} duration split ÷ packed: {row['split_over_packed']}; silence at the joins "
              "min/mean/max: {} s".format(" / ".join(str(x) for x in row["split"]["join_silence_s"])))
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"realspeech-{platform.node()}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
