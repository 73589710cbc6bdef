"""The Generate tab: one text, one voice, streamed playback and a download.

`Studio` holds the tab's handlers, plain methods unit-tested by calling them directly; `build`
lays the tab out and wires them. `generate` is a generator:
each spoken chunk goes to the streaming player at once (long text starts playing early), the
progress bar says "chunk i" and, once G2P has reached the end of the text, "chunk i of n" (local), or
the RunPod job's state and elapsed time, and the last
step delivers the file `{language}_{voice}_{timestamp}.{ext}` and the details. A bad request
becomes `gr.Error` (a toast) carrying the worker's own sentence, never a traceback.

Language changes replace the text with the new language's sample only while the box holds no
text of the user's own (see `choices.text_after_language_change`).
"""

from __future__ import annotations

import html
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import gradio as gr
import numpy as np

from ui import feedback
from ui.backends import streamed
from ui.backends.base import Backend, Finished, Piece, Status, Stopped, Tick
from ui.feedback import UNEXPECTED
from ui.studio import choices, files, history, loudness, transcript
from ui.studio.playback import Playback
from ui.studio.stops import StopFlags, session_of
from ui.tabs import pronunciations as pronunciations_panel
from ui.tabs.pronunciations import Pronouncer
from worker.core.catalog import Catalog, default_catalog
from worker.core.errors import KokoroError, counted
from worker.core.settings import max_text_chars
from worker.service.request import FILE_FORMATS, SPEED_MAX, SPEED_MIN
from worker.service.result import Result
from worker.sound import audio

log = logging.getLogger("kokoro.ui")

# generate() yields values for these outputs, in this order (`build` wires them the same way).
OUTPUTS = ("audio", "file", "status", "details", "phonemes", "captions", "caption_files")
# Gradio's streaming player encodes to AAC in one ffmpeg process that has emitted only part of a
# chunk when that chunk's yield returns; the rest would ride on the next chunk's yield, so a
# listener would always be one chunk behind synthesis. Empty audio yielded on the next ticks
# (while the model works on the next chunk) collects those frames.
PUMPS = 3
_EMPTY_WAV = audio.encode(np.zeros(0, dtype=np.float32), "wav")
# The streaming player is a native <audio> fed chunk by chunk: its total ("0:02 / 0:06") is the audio
# received so far, and grows as chunks arrive (the last one lands after "Done"). Gradio 6.31 cannot
# set it, so WebKit-style controls (Chromium) hide it on this player; the status line says the
# expected total while it streams, the details the exact one.
HIDE_PARTIAL_TOTAL = "<style>#player audio::-webkit-media-controls-time-remaining-display { display: none; }</style>"


def output_name(language: str, voice: str, fmt: str, when: datetime | None = None) -> str:
    """`{language}_{voice}_{timestamp}.{ext}`; a blend's ':' and ',' become '-' for file systems."""
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"{language}_{files.safe_voice(voice)}_{stamp}.{fmt}"


def details_markdown(result: Result, took: str = "synthesized in", realtime: bool = True) -> str:
    """Duration, how long synthesis took, chunks, model and voice, as one short line (plus notes).
    `took` names the time (the backend's timing label); `realtime` adds the real-time multiple,
    which means something only where the time is model time."""
    n = len(result.chunks)
    speed = (f" ({result.duration_s / result.elapsed_s:.1f}× real time)"
             if result.elapsed_s > 0 and realtime else "")
    line = (f"**{result.duration_s:.2f} s** of audio · {took} **{result.elapsed_s:.2f} s**{speed} · "
            f"{counted(n, 'chunk')} · Kokoro {result.model} · `{result.voice}`")
    notes = "".join(f"\n\n{html.escape(note, quote=False)}" for note in result.notes)
    return line + notes


def _payload(text: str | None, voice: str | None, language: str | None, speed: float, split_sentences: bool,
             fmt: str, pronunciations: dict | None = None) -> dict:
    """A worker job input from the form's (or the API's) values. The session's pronunciations travel
    as markup in the text (worker/text/markup.py), so the local engine and a RunPod worker both apply them;
    word times are always asked for: the page shows them as captions."""
    # speed and split_sentences as given: the API passes a caller's raw values, which the worker's
    # own parse_request words ("'speed' must be a number ..."), as it would for a RunPod job.
    return {"text": pronunciations_panel.applied(text, language, pronunciations), "voice": voice or "",
            "language": language or "", "speed": speed, "split_sentences": split_sentences,
            "format": fmt, "timestamps": True}


def _ready_in(seconds: float | None) -> str:
    return f" · ready in ~{seconds:.0f} s" if seconds and seconds >= 1 else ""


def _step(**values) -> tuple:
    """One update of the outputs, in OUTPUTS order; an output not named is left as it is."""
    unknown = set(values) - set(OUTPUTS)
    assert not unknown, unknown
    return tuple(values.get(name, gr.skip()) for name in OUTPUTS)


def _phoneme_lines(result: Result) -> str:
    return "\n".join(c.phonemes for c in result.chunks)


class Studio:
    """The callbacks, bound to one backend (local engine or RunPod) and the catalog."""

    def __init__(self, backend: Backend, catalog: Catalog | None = None, out_dir: str | Path | None = None,
                 clock=None):
        self.backend = backend
        self._clock = clock or time.monotonic  # for Playback (a test gives a simulated one)
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
                 pronunciations: dict | None = None, level: str | None = None,
                 progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:
        """`level`: a label of loudness.DOWNLOAD_LEVELS for the download (the player plays the
        model's own level as it streams)."""
        payload = _payload(text, voice, language, speed, split_sentences, fmt, pronunciations)
        target = loudness.DOWNLOAD_LEVELS.get(level or "")
        with self._stops.running(request) as flag:
            yield from self._generate(payload, flag.is_set, progress, session_of(request), typed=text or "",
                                      target_lufs=target)

    def _generate(self, payload: dict, should_stop, progress, session: str = "",
                  typed: str | None = None, target_lufs: float | None = None) -> Iterator[tuple]:
        """`typed`: the text as the user wrote it, for the history (the payload's has the session's
        pronunciations written in as markup); `target_lufs`: the download's loudness (None: the
        model's own)."""
        try:
            events = self.backend.run(payload, should_stop)
            started = played = False
            pumps = 0
            # The player starts once the audio made will last while the rest is made (at the speed
            # measured so far); until then chunks are held, then played together.
            plan = Playback(len(payload.get("text") or ""), clock=self._clock)
            held: list[np.ndarray] = []
            for event in events:
                if not started:  # a fresh run: clear the previous run's file and details
                    started = True
                    yield _step(file=gr.update(value=None, visible=False), details="", phonemes="",
                                captions="", caption_files=gr.update(value=None, visible=False))
                if isinstance(event, Status):
                    progress(event.fraction, desc=event.text)
                    yield _step(status=feedback.status(event.text))
                elif isinstance(event, Piece):
                    outlook = plan.add(len(event.samples) / audio.SAMPLE_RATE, event.chars, event.total)
                    of = f" of {event.total}" if event.total else ""
                    whole = f" · ~{plan.expected_s():.0f} s in all"  # the player's own total is partial (see build)
                    label = f"Speaking · chunk {event.index + 1}{of}{whole}" + _ready_in(outlook.ready_in_s)
                    progress((event.index + 1, event.total) if event.total else None, desc=label, unit="chunks")
                    held.append(event.samples)
                    if not outlook.play:
                        yield _step(status=feedback.status(f"Making audio · chunk {event.index + 1}{of}{whole} · first "
                                                           f"audio in ~{outlook.first_in_s:.0f} s"
                                                           + _ready_in(outlook.ready_in_s)))
                        continue
                    yield _step(audio=audio.encode(np.concatenate(held), "wav"), status=feedback.status(label))
                    held.clear()
                    pumps, played = PUMPS, True
                elif isinstance(event, Tick) and pumps > 0:
                    pumps -= 1
                    yield _step(audio=_EMPTY_WAV)  # see PUMPS
                elif isinstance(event, Finished):
                    if target_lufs is not None:
                        event = Finished(loudness.leveled_file(event.data, event.format, target_lufs), event.format,
                                         event.result)
                    path = self._save(event)
                    self._made[session] = {**payload, "text": payload["text"] if typed is None else typed}
                    self._made.move_to_end(session)
                    while len(self._made) > 1000:
                        self._made.popitem(last=False)
                    # A player fed chunk by chunk already has it all; otherwise the file comes now, as
                    # WAV: Gradio's streaming player decodes any other format with a system ffmpeg.
                    caps = self.backend.capabilities
                    player = gr.skip() if played else streamed.in_format(event, "wav").data
                    subtitles = transcript.save(path, event.result)
                    yield _step(audio=player, file=gr.update(value=str(path), visible=True),
                                status=feedback.status("Done", "done"),
                                details=details_markdown(event.result, caps.timing_label, caps.model_time),
                                phonemes=_phoneme_lines(event.result), captions=transcript.html_of(event.result),
                                caption_files=gr.update(value=[str(p) for p in subtitles] or None,
                                                        visible=bool(subtitles)))
        except Stopped as exc:
            yield _step(status=feedback.status(str(exc), "stopped"))
        except KokoroError as exc:
            yield _step(status=feedback.status(str(exc), "error"))
            raise gr.Error(feedback.message(exc), title="Cannot synthesize", print_exception=False) from None
        except Exception:
            log.exception("Synthesis failed in the studio")  # the traceback stays in the server log
            yield _step(status=feedback.status(UNEXPECTED, "error"))
            raise gr.Error(UNEXPECTED, print_exception=False) from None

    def api_generate(self, text: str, voice: str = "af_heart", language: str = "en-us", speed: float = 1.0,
                     split_sentences: bool = True, format: str = "wav") -> tuple[str, float, str, str]:
        """The public `/generate` endpoint (ui/api.py): (audio file, duration in s, phonemes one line
        per chunk, message). A bad request is an error carrying the worker's own sentence; the values
        arrive as the caller sent them (no Gradio preprocessing), any type."""
        finished = None
        try:
            payload = _payload(text, voice, language, speed, split_sentences, format or "wav")
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
        return (str(self._save(finished)), round(finished.result.duration_s, 3),
                _phoneme_lines(finished.result), finished.result.message())

    def remember(self, file: str | None, past: list | None, request: gr.Request | None = None) -> list:
        """After Generate: the finished download joins the session history, labelled with what was
        submitted for it (nothing, if it failed)."""
        payload = self._made.pop(session_of(request), None)
        if not file or payload is None:
            return past or []
        return history.add_many(past, [history.entry("Generate", payload["voice"], payload["language"],
                                                     payload["text"], payload["speed"], file)])

    def _save(self, finished: Finished) -> Path:
        result = finished.result
        return files.save(self.out_dir, output_name(result.language, result.voice, finished.format),
                          finished.data)


def build(studio: Studio, catalog: Catalog, language: str, past: gr.State, concurrency: int,
          pronunciations: gr.State, pronouncer: Pronouncer) -> None:
    """One text, one voice: streamed playback, a download in the chosen format, captions."""
    models = choices.model_choices(catalog, language)
    with gr.Row(equal_height=False, elem_id="studio"):
        with gr.Column(scale=7, elem_id="inputs"):
            with gr.Row():
                # min_width: on a phone the Model choice wraps below instead of squeezing Language.
                language_dd = gr.Dropdown(choices.language_choices(catalog), value=language,
                                          label="Language", scale=1, min_width=260)
                model_radio = gr.Radio(models, value=choices.ALL_MODELS, label="Model", scale=1,
                                       visible=len(models) > 2, elem_id="model")
            voice_dd = gr.Dropdown(choices.voice_choices(catalog, language),
                                   value=choices.default_voice(catalog, language), label="Voice",
                                   info="Best graded first; type to search")
            text_box = gr.Textbox(choices.sample_text(catalog, language), label="Text", lines=7,
                                  max_lines=18, info=f"Up to {max_text_chars():,} characters; "
                                  "long text starts playing as soon as it can play through")
            with gr.Row():
                speed = gr.Slider(SPEED_MIN, SPEED_MAX, value=1.0, step=0.05, label="Speed", scale=3)
                fmt = gr.Dropdown(list(FILE_FORMATS), value="wav", label="Output format", scale=2,
                                  filterable=False)
            with gr.Row(elem_classes=["stack-on-phone"]):
                split = gr.Checkbox(True, label="Split sentences (one chunk per sentence)", scale=3)
                level = gr.Dropdown(list(loudness.DOWNLOAD_LEVELS), value=next(iter(loudness.DOWNLOAD_LEVELS)),
                                    label="Download loudness", scale=2, filterable=False, elem_id="level",
                                    info="True peak at most -1 dBTP when levelled")
            with gr.Accordion("Pronunciations", open=False, elem_id="pronunciations-panel"):
                pronunciations_panel.build(pronouncer, pronunciations, language_dd)
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", size="lg", scale=3,
                                         elem_id="generate")
                stop_btn = gr.Button(studio.backend.capabilities.stop_label,
                                     variant="stop", size="lg", scale=1)
        with gr.Column(scale=5, elem_id="outputs"):
            player = gr.Audio(label="Listen", streaming=True, autoplay=True, interactive=False,
                              sources=["microphone"],  # required by Gradio for a streaming output
                              buttons=[], elem_id="player")
            status = gr.HTML("<div class='status status-idle'>Pick a voice and press Generate.</div>",
                             elem_id="status", head=HIDE_PARTIAL_TOTAL)
            details = gr.Markdown("", elem_id="details")
            download = gr.File(label="Download", interactive=False, visible=False, elem_id="download",
                               elem_classes=["handout"])
            caption_files = gr.File(label="Captions (SRT, WebVTT)", file_count="multiple", interactive=False,
                                    elem_classes=["handout"],
                                    visible=False, elem_id="caption-files")
            with gr.Accordion("Captions", open=True):
                captions = gr.HTML("", elem_id="captions")
            with gr.Accordion("Phonemes", open=False):
                phonemes = gr.Textbox(label="Phonemes used (one line per chunk)", lines=4,
                                      max_lines=12, interactive=False, buttons=["copy"],
                                      elem_id="phonemes")

    # Catalog look-ups only: answered at once, never queued behind a synthesis.
    language_dd.input(studio.on_language, [language_dd, text_box], [model_radio, voice_dd, text_box],
                      api_visibility="private", queue=False)
    model_radio.input(studio.on_model, [language_dd, model_radio, voice_dd], voice_dd,
                      api_visibility="private", queue=False)
    generate_btn.click(
        studio.generate, [text_box, language_dd, voice_dd, speed, split, fmt, pronunciations, level],
        [player, download, status, details, phonemes, captions, caption_files], api_name="generate_page",
        api_visibility="private",
        concurrency_limit=concurrency, concurrency_id="synthesis", show_progress_on=[status],
    ).then(studio.remember, [download, past], past,
           queue=False, api_visibility="private")
    # No `cancels=`: the run sees the flag within a tick, says "Stopped" and ends its stream
    # cleanly (RunPod: cancels the job); a Gradio cancel would leave a stale status behind.
    stop_btn.click(studio.stop, None, None, api_visibility="private", queue=False)
