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
      "captions": null,                 # "srt" or "vtt" adds "captions": the subtitle file's text
      "delivery": "auto"                # auto: inline when it fits, else a bucket link; inline; url
    }
Output (worker/service/result.py, the result contract, builds it):
    {"audio_base64": "<base64 of the audio file>", "message": "...", "notes": [],
     "sample_rate": 24000, "duration_s": 1.9, "format": "wav", "model": "v1.0", "voice": "af_heart",
     "language": "en-us", "chunks": [{"text": "...", "phonemes": "...", "duration_s": 1.9}],
     "words": [{"text": "Hello", "start_s": 0.04, "end_s": 0.38}, ...],   # with timestamps
     "captions": "1\n00:00:00,000 --> 00:00:01,900\nHello world!\n\n"}       # with captions
or, for bad input or a failure, {"error": "<one clear sentence>"} (RunPod marks the job FAILED).
A result over KOKORO_MAX_RESULT_MB (15; RunPod refuses ~20) goes to the bucket when one is set
(BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY, KOKORO_BUCKET): the output
then has "audio_url" and "audio_url_expires_at" (a presigned link) in place of "audio_base64",
every other field unchanged; without a bucket it is an error naming the way out, given before
synthesis where the text alone shows it (worker/service/delivery.py).

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
and the job's final output is the list of those chunks (return_aggregate_stream). An item stays
under RunPod's 1 MB (a long chunk comes as several items with "part" and "parts"), and items past
the result budget carry "audio_url" instead of audio.

Models load and warm up once at start, never per job: the first of KOKORO_MODELS before the
worker takes jobs, the others in the background. KOKORO_CONCURRENCY=n runs n jobs at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python worker/handler.py`

import runpod  # noqa: E402

from worker.core import settings, startup  # noqa: E402
from worker.core.errors import KokoroError  # noqa: E402
from worker.service import delivery, runtime  # noqa: E402
from worker.service.request import parse_request  # noqa: E402
from worker.text import lexicon  # noqa: E402

log = logging.getLogger("kokoro.worker")
FAILED = "Synthesis failed inside the worker; see the worker log."


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


class JobCancelled(KokoroError):
    """RunPod cancelled the job while it was being spoken: its remaining chunks are dropped."""


def handler(job: dict, cancelled: threading.Event | None = None) -> dict:
    """One job in, one audio file (or one error sentence) out. `cancelled`: set when RunPod cancels
    the job; checked between chunks, so the rest of the text is not spoken for nobody."""
    try:
        request = parse_request(job.get("input"), runtime.engine().catalog)

        def progress(done: int, total: int | None) -> None:
            if cancelled is not None and cancelled.is_set():
                log.info("Job %s cancelled: stopped after chunk %d", job.get("id"), done)
                raise JobCancelled("The job was cancelled.")
            if not _reports_progress():
                return
            if total is None:  # G2P is still ahead of the model: the count is not known yet
                runpod.serverless.progress_update(job, f"chunk {done}")
            elif total > 1:
                runpod.serverless.progress_update(job, f"chunk {done} of {total}")

        if refused := delivery.refusal(request):  # before minutes of synthesis, not after
            return {"error": refused}
        synthesis = runtime.engine().synthesize(request, on_progress=progress)
        return delivery.whole(synthesis, request)
    except KokoroError as exc:
        return {"error": str(exc)}
    except Exception:  # never take the worker down; the log keeps the traceback
        log.exception("Synthesis failed")
        return {"error": FAILED}


def stream_handler(job: dict):
    """Generator variant: yields each chunk's audio as soon as it is spoken."""
    try:
        request = parse_request(job.get("input"), runtime.engine().catalog)
        if refused := delivery.refusal(request):
            yield {"error": refused}
            return
        items = delivery.Stream(request)
        start_s = 0.0  # where the chunk starts in the whole job's audio: its words are timed from there
        for chunk in runtime.engine().stream(request):
            yield from items.items(chunk.index, chunk.info, chunk.audio, start_s)
            start_s += chunk.duration_s
    except KokoroError as exc:
        yield {"error": str(exc)}
    except Exception:
        log.exception("Synthesis failed")
        yield {"error": FAILED}


async def concurrent_handler(job: dict) -> dict:
    """`handler` in a thread, so the SDK's event loop stays free while a job is spoken: it then runs
    KOKORO_CONCURRENCY jobs at once (G2P of one overlaps the model work of another) and hears a
    cancel. A cancel (the SDK cancels the job's task) cannot stop a thread, so it raises a flag
    the thread reads between chunks; a plain handler would block the loop, and a cancelled job
    would be spoken to its end while the next one waits."""
    cancelled = threading.Event()
    try:
        return await asyncio.to_thread(handler, job, cancelled)
    except asyncio.CancelledError:
        cancelled.set()
        raise


def main() -> None:
    # exit 1, one line, on a bad catalog or setting, or a lexicon the models cannot speak
    catalog = startup.start_up("kokoro worker", lexicon.check_sounds)
    if settings.serve() == "http":  # KOKORO_SERVE=http: the image's one command, a load-balancing endpoint
        from worker import server

        return server.serve(catalog)
    _quiet_sdk()
    _children_die_with_the_worker()
    runtime.share_cores()
    concurrency = settings.concurrency()
    try:
        runtime.warm_up(list(catalog.models))
    except KokoroError as exc:
        sys.exit(f"kokoro worker cannot start: {exc}")
    if settings.env_flag("KOKORO_STREAM"):
        runpod.serverless.start({"handler": stream_handler, "return_aggregate_stream": True})
    else:
        runpod.serverless.start({"handler": concurrent_handler, "concurrency_modifier": lambda _: concurrency})


if __name__ == "__main__":
    main()
