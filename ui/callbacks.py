"""The studio's event handlers: plain methods of `Studio`, unit-tested by calling them directly.

ui/app.py wires them to components; nothing here builds a layout. `generate` is a generator:
each spoken chunk goes to the streaming player at once (long text starts playing early), the
progress bar says "chunk i of n" (local) or the RunPod job's state and elapsed time, and the last
step delivers the file `{language}_{voice}_{timestamp}.{ext}` and the details. A bad request
becomes `gr.Error` (a toast) carrying the worker's own sentence, never a traceback.

Language changes replace the text with the new language's sample only while the box holds no
text of the user's own (see `choices.text_after_language_change`).
"""

from __future__ import annotations

import html
import logging
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import gradio as gr
import numpy as np

from worker import audio
from worker.catalog import Catalog, default_catalog
from worker import result
from worker.errors import KokoroError

from ui import choices, feedback, files, history
from ui.feedback import UNEXPECTED
from ui.files import FILE_TTL_S  # noqa: F401 (re-exported for tests)
from ui.backends import Finished, Piece, Status, Stopped, Tick
from ui.events import StopFlags, session_of

log = logging.getLogger("kokoro.ui")

# generate() yields values for these outputs, in this order (ui/app.py wires them the same way).
OUTPUTS = ("audio", "file", "status", "details", "phonemes")
# Gradio's streaming player encodes to AAC in one ffmpeg process that has emitted only part of a
# chunk when that chunk's yield returns; the rest would ride on the next chunk's yield, so a
# listener would always be one chunk behind synthesis. Empty audio yielded on the next ticks
# (while the model works on the next chunk) collects those frames.
PUMPS = 3
_EMPTY_WAV = audio.encode(np.zeros(0, dtype=np.float32), "wav")


def output_name(language: str, voice: str, fmt: str, when: datetime | None = None) -> str:
    """`{language}_{voice}_{timestamp}.{ext}`; a blend's ':' and ',' become '-' for file systems."""
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"{language}_{files.safe_voice(voice)}_{stamp}.{fmt}"


def details_markdown(result: Finished, backend: str) -> str:
    """Duration, how long synthesis took, chunks, model and voice, as one short line (plus notes)."""
    n = len(result.chunks)
    speed = (f" ({result.duration_s / result.synthesis_s:.1f}× real time)"
             if result.synthesis_s > 0 and backend == "local" else "")
    took = ("synthesized in" if backend == "local" else "RunPod job took")
    line = (f"**{result.duration_s:.2f} s** of audio · {took} **{result.synthesis_s:.2f} s**{speed} · "
            f"{n} chunk{'s' if n != 1 else ''} · Kokoro {result.model} · `{result.voice}`")
    notes = "".join(f"\n\n{html.escape(note, quote=False)}" for note in result.notes)
    return line + notes


def _payload(text: str | None, voice: str | None, language: str | None, speed: float, split_sentences: bool,
             fmt: str) -> dict:
    """A worker job input from the form's (or the API's) values."""
    return {"text": text or "", "voice": voice or "", "language": language or "", "speed": float(speed),
            "split_sentences": bool(split_sentences), "format": fmt}


def _phoneme_lines(result: Finished) -> str:
    return "\n".join(c.get("phonemes", "") for c in result.chunks)


class Studio:
    """The callbacks, bound to one backend (local engine or RunPod) and the catalog."""

    def __init__(self, backend, catalog: Catalog | None = None, out_dir: str | Path | None = None):
        self.backend = backend
        self.catalog = catalog or default_catalog()
        self.out_dir = Path(out_dir or files.default_dir())
        self._stops = StopFlags()
        # session → what was submitted for its last finished job: History labels a clip with the
        # request that made it, not with the form as it is when the job ends.
        self._made: OrderedDict[str, dict] = OrderedDict()

    # --- the form ---------------------------------------------------------------------------

    def on_language(self, language: str, text: str | None):
        """New language: its models, its voices (best first, preselected) and maybe its sample."""
        models = choices.model_choices(self.catalog, language)
        return (
            gr.Radio(choices=models, value=choices.ALL_MODELS, visible=len(models) > 2),
            gr.Dropdown(choices=choices.voice_choices(self.catalog, language),
                        value=choices.default_voice(self.catalog, language)),
            choices.text_after_language_change(self.catalog, language, text),
        )

    def on_model(self, language: str, model: str | None, voice: str | None):
        """Model filter: that model's voices of the language; the chosen voice stays if it is there."""
        offered = choices.voice_choices(self.catalog, language, model)
        ids = [vid for _, vid in offered]
        keep = voice if voice in ids else choices.default_voice(self.catalog, language, model)
        return gr.Dropdown(choices=offered, value=keep)

    # --- synthesis --------------------------------------------------------------------------

    def stop(self, request: gr.Request | None = None) -> None:
        """Stop / Cancel: the running job of this browser session ends after its current step."""
        self._stops.stop(request)

    def generate(self, text: str | None, language: str, voice: str | None, speed: float,
                 split_sentences: bool, fmt: str, request: gr.Request | None = None,
                 progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:
        payload = _payload(text, voice, language, speed, split_sentences, fmt)
        with self._stops.running(request) as flag:
            yield from self._generate(payload, flag.is_set, progress, session_of(request))

    def _generate(self, payload: dict, should_stop, progress, session: str = "") -> Iterator[tuple]:
        skip = gr.skip()
        try:
            events = self.backend.run(payload, should_stop)
            started = False
            pumps = 0
            for event in events:
                if not started:  # a fresh run: clear the previous run's file and details
                    started = True
                    yield skip, gr.update(value=None, visible=False), skip, "", ""
                if isinstance(event, Status):
                    progress(event.fraction, desc=event.text)
                    yield skip, skip, feedback.status(event.text), skip, skip
                elif isinstance(event, Piece):
                    label = f"Speaking · chunk {event.index + 1} of {event.total}"
                    progress((event.index + 1, event.total), desc=label, unit="chunks")
                    yield audio.encode(event.samples, "wav"), skip, feedback.status(label), skip, skip
                    pumps = PUMPS
                elif isinstance(event, Tick) and pumps > 0:
                    pumps -= 1
                    yield _EMPTY_WAV, skip, skip, skip, skip  # see PUMPS
                elif isinstance(event, Finished):
                    path = self._save(event)
                    self._made[session] = payload
                    self._made.move_to_end(session)
                    while len(self._made) > 1000:
                        self._made.popitem(last=False)
                    # RunPod sends the whole file at the end; locally the player already has it all.
                    player = event.data if self.backend.name != "local" else skip
                    yield (player, gr.update(value=str(path), visible=True), feedback.status("Done", "done"),
                           details_markdown(event, self.backend.name), _phoneme_lines(event))
        except Stopped as exc:
            yield skip, skip, feedback.status(str(exc), "stopped"), skip, skip
        except KokoroError as exc:
            yield skip, skip, feedback.status(str(exc), "error"), skip, skip
            raise gr.Error(feedback.message(exc), title="Cannot synthesize", print_exception=False) from None
        except Exception:
            log.exception("Synthesis failed in the studio")  # the traceback stays in the server log
            yield skip, skip, feedback.status(UNEXPECTED, "error"), skip, skip
            raise gr.Error(UNEXPECTED, print_exception=False) from None

    def api_generate(self, text: str, voice: str = "af_heart", language: str = "en-us", speed: float = 1.0,
                     split_sentences: bool = True, format: str = "wav") -> tuple[str, float, str, str]:
        """The public `/generate` endpoint (ui/api.py): (audio file, duration in s, phonemes one line
        per chunk, message). A bad request is an error carrying the worker's own sentence."""
        payload = _payload(text, voice, language, speed, split_sentences, format or "wav")
        finished = None
        try:
            for event in self.backend.run(payload, lambda: False):
                if isinstance(event, Finished):
                    finished = event
        except KokoroError as exc:
            raise gr.Error(feedback.message(exc), print_exception=False) from None
        except Exception:
            log.exception("Synthesis failed in the studio's API")
            raise gr.Error(UNEXPECTED, print_exception=False) from None
        if finished is None:
            raise gr.Error(UNEXPECTED, print_exception=False)
        return (str(self._save(finished)), round(finished.duration_s, 3), _phoneme_lines(finished),
                result.message(finished))

    def remember(self, file: str | None, past: list | None, request: gr.Request | None = None) -> list:
        """After Generate: the finished download joins the session history, labelled with what was
        submitted for it (nothing, if it failed)."""
        payload = self._made.pop(session_of(request), None)
        if not file or payload is None:
            return past or []
        return history.add_many(past, [history.entry("Generate", payload["voice"], payload["language"],
                                                     payload["text"], payload["speed"], file)])

    def _save(self, result: Finished) -> Path:
        return files.save(self.out_dir, output_name(result.language, result.voice, result.format),
                          result.data)
