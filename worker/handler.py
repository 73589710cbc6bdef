"""RunPod Serverless worker for Kokoro-82M text-to-speech.

Input (job["input"]):
    {
      "text": "Hello world!",            # required, at most KOKORO_MAX_TEXT_CHARS characters
      "voice": "af_heart",              # default af_heart; a blend: "af_heart:0.7,af_bella:0.3"
      "language": "en-us",              # en-us en-gb es fr hi it ja pt-br zh (default en-us)
      "speed": 1.0,                     # 0.5 - 2.0
      "split_sentences": true,          # one chunk per sentence; false packs sentences together
      "format": "wav",                  # wav (16-bit PCM), flac, mp3, ogg (opus)
      "timestamps": false,              # true adds "words": each word's start and end
      "captions": null                  # "srt" or "vtt" adds "captions": the subtitle file's text
    }
Output (worker/service/result.py, the result contract, builds it):
    {"audio_base64": "<base64 of the audio file>", "message": "...", "notes": [],
     "sample_rate": 24000, "duration_s": 1.9, "format": "wav", "model": "v1.0", "voice": "af_heart",
     "language": "en-us", "chunks": [{"text": "...", "phonemes": "...", "duration_s": 1.9}],
     "words": [{"text": "Hello", "start_s": 0.04, "end_s": 0.38}, ...],   # with timestamps
     "captions": "1\n00:00:00,000 --> 00:00:01,900\nHello world!\n\n"}       # with captions
or, for bad input or a failure, {"error": "<one clear sentence>"} (RunPod marks the job FAILED);
also for a result over KOKORO_MAX_RESULT_MB (15): RunPod would refuse to return it.

The text may carry markup in any language: `[Kokoro](/kˈOkəɹO/)` says a word with the phonemes
written, `[pause:1.5s]` (or `[pause:500ms]`, at most 10 s) adds that much silence. KOKORO_LEXICON
names a YAML file of such pronunciations per language (worker/text/lexicon.py). Word times come from the
model's own predicted durations (worker/sound/timing.py), over the final audio, pauses included; a word is
the reader's own ("$5", not "five dollars").

Each chunk is trimmed of the model's edge silence and starts with the pause its text asks for
(sentence 0.33 s, clause 0.15 s, paragraph 0.7 s, divided by the speed). `notes` lists what the
user should know (characters left out, a chunk whose phonemes look too few for its text, then also
in that chunk's "note"); `message` is one line that ends with the same notes.

With KOKORO_STREAM=true the handler is a generator: each chunk is yielded as it is spoken, as
{"chunk": i, "text", "phonemes", "audio_base64", "format", "sample_rate", "duration_s"} (plus
"note" when that chunk was flagged, "words" with timestamps, timed from the start of the whole job),
and the job's final output is the list of those chunks (return_aggregate_stream).

Models load and warm up once at start, never per job: the first of KOKORO_MODELS before the
worker takes jobs, the others in the background. KOKORO_CONCURRENCY=n runs n jobs at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python worker/handler.py`

import runpod  # noqa: E402
import torch  # noqa: E402

from worker.core import settings, startup  # noqa: E402
from worker.core.catalog import default_catalog  # noqa: E402
from worker.core.errors import KokoroError  # noqa: E402
from worker.model import precision  # noqa: E402
from worker.model.engine import Engine  # noqa: E402
from worker.service.request import parse_request  # noqa: E402
from worker.service.result import chunk_output  # noqa: E402
from worker.sound.audio import encode  # noqa: E402

log = logging.getLogger("kokoro.worker")
_engine: Engine | None = None


def engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = Engine(default_catalog())
    return _engine


def _reports_progress() -> bool:
    # Progress goes to RunPod's job URL; the SDK's local API and --test_input have none, and the SDK
    # would log "ERROR Failed to return job results" for every update sent there.
    return settings.runpod_reports_progress()


def _children_die_with_the_worker() -> None:
    """The SDK forks a heartbeat process; if the worker is killed (OOM, kill -9) that child would
    go on pinging and the endpoint would count a dead worker as alive. Linux ends such children
    with their parent (PR_SET_PDEATHSIG), set in every child this process forks."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def die_with_parent() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent was already gone before the call took effect
            os._exit(0)

    os.register_at_fork(after_in_child=die_with_parent)


# The SDK's logger knows only NOTSET, TRACE, DEBUG, INFO, WARN and ERROR (runpod 1.10): Python's
# names are spelt its way, DEBUG stays INFO (below it the SDK logs every job's text).
_SDK_LEVELS = {"DEBUG": "INFO", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR", "CRITICAL": "ERROR"}


def _quiet_sdk() -> None:
    """The SDK logs each job's input and output at DEBUG, its default level: it gets ours, never
    below INFO, so no text a user sent ends up in a log."""
    from runpod.serverless.modules.rp_logger import RunPodLogger

    RunPodLogger().set_level(_SDK_LEVELS[settings.log_level()])


def handler(job: dict) -> dict:
    """One job in, one audio file (or one error sentence) out."""
    try:
        request = parse_request(job.get("input"), engine().catalog)

        def progress(done: int, total: int | None) -> None:
            if not _reports_progress():
                return
            if total is None:  # G2P is still ahead of the model: the count is not known yet
                runpod.serverless.progress_update(job, f"chunk {done}")
            elif total > 1:
                runpod.serverless.progress_update(job, f"chunk {done} of {total}")

        if foreseen := _foreseen_too_big(request):  # before minutes of synthesis, not after
            return {"error": foreseen}
        synthesis = engine().synthesize(request, on_progress=progress)
        return _deliverable(synthesis.result.output(synthesis.encode(request.format), request.format))
    except KokoroError as exc:
        return {"error": str(exc)}
    except Exception:  # never take the worker down; the log keeps the traceback
        log.exception("Synthesis failed")
        return {"error": "Synthesis failed inside the worker; see the worker log."}


# The least a WAV result can weigh: base64 of 16-bit 24 kHz PCM is 64,000 bytes a second, and no
# language speaks more than 30 letters or digits a second at speed 1 (measured: English 17 a second
# on the real weights; Chinese and Japanese far fewer), and no letter or digit is dropped.
_WAV_BASE64_PER_S = 64_000
_MAX_ALNUM_PER_S = 30
_WAY_OUT = 'ask for "format": "ogg" or "mp3" (about 10× smaller than wav or flac), or '
_SPLIT = "split the text into several jobs."


def _foreseen_too_big(request) -> str | None:
    """The error of `_deliverable`, known before synthesis where even the shortest speech the text
    can make would not fit (WAV only: compressed sizes cannot be bounded from the text)."""
    if request.format != "wav":
        return None
    least_s = sum(ch.isalnum() for ch in request.text) / _MAX_ALNUM_PER_S / request.speed
    least = least_s * _WAV_BASE64_PER_S
    limit = settings.max_result_bytes()
    if least <= limit:
        return None
    return (f"The result would be at least {least / 2**20:.1f} MB, more than the {limit / 2**20:.3g} MB a "
            f"RunPod job can return (at least {least_s:.0f} s of wav audio): {_WAY_OUT}{_SPLIT}")


def _deliverable(output: dict) -> dict:
    """The output, or an error sentence where RunPod would refuse it: a result it cannot return
    leaves the job IN_PROGRESS until its timeout, and the user never learns why."""
    size, limit = len(json.dumps(output)), settings.max_result_bytes()
    if size <= limit:
        return output
    smaller = "" if output.get("format") in ("mp3", "ogg") else _WAY_OUT
    return {"error": f"The result is {size / 2**20:.1f} MB, more than the {limit / 2**20:.3g} MB a RunPod job can "
                     f"return ({output.get('duration_s', 0):.0f} s of {output.get('format')} audio): {smaller}{_SPLIT}"}


def stream_handler(job: dict):
    """Generator variant: yields each chunk's audio as soon as it is spoken."""
    try:
        request = parse_request(job.get("input"), engine().catalog)
        start_s = 0.0  # where the chunk starts in the whole job's audio: its words are timed from there
        for chunk in engine().stream(request):
            yield chunk_output(chunk.index, chunk.info, encode(chunk.audio, request.format), request.format,
                               start_s)
            start_s += chunk.duration_s
    except KokoroError as exc:
        yield {"error": str(exc)}
    except Exception:
        log.exception("Synthesis failed")
        yield {"error": "Synthesis failed inside the worker; see the worker log."}


async def concurrent_handler(job: dict) -> dict:
    """`handler` in a thread, so the SDK can run KOKORO_CONCURRENCY jobs at once (it awaits async
    handlers concurrently; a plain one would block its event loop). G2P of one job then overlaps
    the model work of another."""
    return await asyncio.to_thread(handler, job)


def _warm_up_quietly(models: list[str]) -> None:
    try:
        engine().warm_up(models)
    except Exception:  # noqa: BLE001 (the model's jobs will report it; the worker keeps serving)
        log.exception("Background warm-up of %s failed", ", ".join(models))


def main() -> None:
    catalog = startup.start_up("kokoro worker")  # exit 1, one line, on a bad catalog or setting
    _quiet_sdk()
    _children_die_with_the_worker()
    concurrency = settings.concurrency()
    if concurrency > 1:  # each job its share of the cores, rather than all jobs fighting for all
        torch.set_num_threads(precision.threads_per_job(concurrency))
    try:
        if not settings.env_flag("KOKORO_SKIP_WARMUP"):
            models = settings.models(list(catalog.models))
            for name in models:
                engine().locate(name)  # a missing model stops start-up now, not at its first job
            # The first model serves jobs as soon as it is warm; the others warm up meanwhile
            # (a job for one of them waits for its load).
            engine().warm_up(models[:1])
            if models[1:]:
                threading.Thread(target=_warm_up_quietly, args=(models[1:],), name="kokoro-warm-up",
                                 daemon=True).start()
    except KokoroError as exc:
        sys.exit(f"kokoro worker cannot start: {exc}")
    if settings.env_flag("KOKORO_STREAM"):
        runpod.serverless.start({"handler": stream_handler, "return_aggregate_stream": True})
    elif concurrency > 1:
        runpod.serverless.start({"handler": concurrent_handler, "concurrency_modifier": lambda _: concurrency})
    else:
        runpod.serverless.start({"handler": handler})


if __name__ == "__main__":
    main()
