"""The studio's Generate on a long text: when playback starts, when the text is ready, and whether
the player would run dry, with the playback rule of ui/studio/playback.py against playing each
chunk as it comes. In one run, at full speed and on a machine made slow (one thread, fp32: a busy
shared CPU such as a free Hugging Face Space).

    python bench/playback.py            # real Kokoro v1.0 weights (built as tests/realspeech does)
    python bench/playback.py --standin  # stand-in weights (speed only)

Not part of CI (timings flake on shared machines).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _text(chars: int) -> str:
    from tests.realspeech.texts import EN_LONG

    text = ""
    while len(text) < chars:
        text += EN_LONG + " "
    return text[:chars].rsplit(". ", 1)[0] + "."


def _made(backend, text: str) -> tuple[list[tuple[float, float, int, int | None]], float]:
    """(arrival s, audio s, characters, total) of each chunk the studio's backend yields."""
    from ui.backends.base import Piece

    started, made = time.monotonic(), []
    for event in backend.run({"text": text, "voice": "af_heart", "language": "en-us"}, lambda: False):
        if isinstance(event, Piece):
            made.append((time.monotonic() - started, len(event.samples) / 24_000, event.chars, event.total))
    return made, time.monotonic() - started


def _stall(released: list[tuple[float, float]]) -> float:
    """Seconds the player would wait, in all, playing what it got back to back from its start."""
    start, played, waited = released[0][0], 0.0, 0.0
    for when, audio_s in released:
        due = start + played + waited
        waited += max(0.0, when - due)
        played += audio_s
    return waited


def _replay(made, chars: int) -> list[tuple[float, float]]:
    """When the studio releases audio to the player, by the playback rule, on these arrivals."""
    from ui.studio.playback import Playback

    now = [0.0]
    plan, released, held = Playback(chars, clock=lambda: now[0]), [], 0.0
    for when, audio_s, piece_chars, total in made:
        now[0] = when
        held += audio_s
        if plan.add(audio_s, piece_chars, total).play:
            released.append((when, held))
            held = 0.0
    if held:
        released.append((made[-1][0], held))
    return released


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standin", action="store_true")
    parser.add_argument("--chars", type=int, default=2000)
    args = parser.parse_args()
    from bench.homes import hf_home

    os.environ["HF_HOME"] = str(hf_home(args.standin))
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch

    from bench.peer import cpu_line
    from ui.backends.local import LocalBackend
    from worker.model.engine import Engine

    text = _text(args.chars)
    rows = {}
    for name, threads, precision in (("full speed", torch.get_num_threads(), None), ("slowed: 1 thread, fp32", 1, "fp32")):
        torch.set_num_threads(threads)
        engine = Engine(precision=precision)
        backend = LocalBackend(engine)
        _made(backend, "Warm up.")
        made, total_s = _made(backend, text)
        audio_s = sum(m[1] for m in made)
        each = [(m[0], m[1]) for m in made]
        planned = _replay(made, len(text))
        rows[name] = {"audio_s": audio_s, "ready_s": total_s, "speed": audio_s / total_s,
                      "first_each": each[0][0], "stall_each": _stall(each),
                      "first_plan": planned[0][0], "stall_plan": _stall(planned)}
    print(f"\nGenerate, {len(text)} characters of English, {'stand-in' if args.standin else 'real v1.0'} weights · "
          f"{os.cpu_count()} cores · {cpu_line()}")
    print(f"{'machine':24} {'audio s':>8} {'ready s':>8} {'× real time':>11} {'each chunk: first / stall s':>28} "
          f"{'playback rule: first / stall s':>31}")
    for name, r in rows.items():
        print(f"{name:24} {r['audio_s']:8.1f} {r['ready_s']:8.1f} {r['speed']:11.2f} "
              f"{r['first_each']:14.1f} / {r['stall_each']:5.1f}      {r['first_plan']:14.1f} / {r['stall_plan']:5.1f}")


if __name__ == "__main__":
    main()
