"""The Audition tab: the catalog as a filterable table, and one sentence spoken by every selected
voice, each clip arriving as a labelled player that can be sent to the A/B tab. `Auditioner` holds
the handlers; `build` lays the tab out.

Clips go through the shared `ClipMaker`, so a second audition of the same sentence, or an A/B
round with an auditioned clip, comes from the cache at once.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from ui import feedback
from ui.feedback import as_toast, message
from ui.studio import choices, files, history, loudness
from ui.studio.clips import ClipMaker, worker_count
from ui.studio.stops import StopFlags
from ui.tabs import shortlist
from ui.tabs.ab import ABDesk, ABForm
from ui.tabs.pronunciations import applied
from worker.core.catalog import Catalog, Voice
from worker.core.errors import KokoroError, counted
from worker.service.request import SPEED_MAX, SPEED_MIN

ANY = "Any"
GRADE_FILTERS = {"Any grade": None, "A range": "A", "B or better": "B", "C or better": "C",
                 "D or better": "D", "Ungraded": "-"}
SORTS = ("Grade, best first", "Voice id")
TABLE_COLUMNS = ["Voice", "Language", "Gender", "Model", "Grade", "Target", "Data", "Traits"]


def matches(voice: Voice, language: str, gender: str, model: str, grade: str) -> bool:
    floor = GRADE_FILTERS.get(grade)
    if floor == "-":
        grade_ok = voice.grade is None
    else:
        grade_ok = floor is None or (voice.grade is not None and voice.grade[0] <= floor)
    return (language in (ANY, voice.language) and gender in (ANY, voice.gender)
            and model in (ANY, voice.model) and grade_ok)


def filtered(catalog: Catalog, language: str = ANY, gender: str = ANY, model: str = ANY,
             grade: str = "Any grade", sort: str = SORTS[0]) -> list[Voice]:
    found = [v for v in catalog.voices if matches(v, language, gender, model, grade)]
    if sort == SORTS[0]:
        return sorted(found, key=lambda v: (v.grade_rank, v.model, v.id))
    return sorted(found, key=lambda v: v.id)


def table(catalog: Catalog, voices: list[Voice]) -> pd.DataFrame:
    """One row per voice; Target and Data are the published grades of the training target's
    quality and of the amount of training audio (HH hours … M minutes)."""
    rows = [[v.id, catalog.languages[v.language].name, v.gender, v.model, v.grade or "–",
             v.target or "–", v.duration or "–", v.traits] for v in voices]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def language_filter_choices(catalog: Catalog) -> list[tuple[str, str]]:
    return [("All languages", ANY), *choices.language_choices(catalog)]


class Auditioner:
    """Callbacks of the Audition tab."""

    def __init__(self, clips: ClipMaker, catalog: Catalog, out_dir: Path | None = None):
        self.clips = clips
        self.catalog = catalog
        self.out_dir = Path(out_dir or files.default_dir())
        self._stops = StopFlags()

    def on_filter(self, language: str, gender: str, model: str, grade: str, sort: str):
        """The table and the selection follow the filters: every voice shown is selected."""
        voices = filtered(self.catalog, language, gender, model, grade, sort)
        ids = [v.id for v in voices]
        return table(self.catalog, voices), gr.Dropdown(choices=ids, value=ids), _count(len(ids))

    def on_language(self, language: str, text: str | None) -> str:
        """The sentence becomes the language's sample, unless it is the user's own."""
        if language == ANY:
            return text or ""
        return choices.text_after_language_change(self.catalog, language, text)

    def audition(self, text: str | None, voices: list[str] | None, language: str, speed: float,
                 past: list | None, request: gr.Request | None = None, pronunciations: dict | None = None,
                 progress: gr.Progress = gr.Progress()):
        """One clip per selected voice, in the selection's order as they arrive.

        Yields (results, status, history); `results` is a list of dicts the page renders as players:
        {voice, language, speed, path, error, cached}."""
        voices = list(dict.fromkeys(voices or []))
        if not voices:
            raise gr.Error("Select at least one voice to audition.", print_exception=False)
        with self._stops.running(request) as flag:
            yield from self._audition(text or "", voices, language, float(speed), past, flag.is_set, progress,
                                      pronunciations)

    def _audition(self, text: str, voices: list[str], language: str, speed: float, past: list | None,
                  should_stop, progress, pronunciations: dict | None = None):
        payloads = []
        for vid in voices:
            voice = self.catalog.voice(vid)
            lang = language if language != ANY else (voice.language if voice else "en-us")
            payloads.append({"text": applied(text, lang, pronunciations), "voice": vid, "language": lang,
                             "speed": float(speed), "format": "wav"})
        results: list[dict | None] = [None] * len(voices)
        done = 0
        progress(0.0, desc=f"0 of {len(voices)} voices")
        yield [], feedback.status(f"Auditioning {len(voices)} voices…"), past or []
        with as_toast():
            for i, result in self.clips.make_many(payloads, should_stop, worker_count(self.clips.backend)):
                done += 1
                item = {"voice": voices[i], "language": payloads[i]["language"], "speed": float(speed),
                        "text": text or "", "path": None, "error": None, "cached": False}
                if isinstance(result, KokoroError):
                    item["error"] = message(result)
                else:
                    # One file per cached clip: auditioning it again writes nothing new.
                    item["path"] = str(files.serve_clip(self.out_dir, result.key.digest, result.key.file_name,
                                                        loudness.leveled_wav(result.data)))
                    item["cached"] = result.cached
                    if not result.cached:  # a replay from the cache is already in the history
                        past = history.add_many(past, [history.entry("Audition", voices[i], item["language"],
                                                                     item["text"], speed, item["path"])])
                results[i] = item
                progress((done, len(voices)), desc=f"{done} of {len(voices)} voices", unit="voices")
                yield [r for r in results if r], feedback.status(f"{done} of {len(voices)} voices ready"), past
        failed = sum(1 for r in results if r and r["error"])
        stopped = done < len(voices)
        summary = (f"Stopped after {done} of {counted(len(voices), 'voice')}." if stopped else
                   f"Done: {counted(len(voices), 'voice')}" + (f", {failed} failed" if failed else "") + ".")
        yield [r for r in results if r], feedback.status(summary), past

    def stop(self, request: gr.Request | None = None) -> None:
        self._stops.stop(request)


def _count(n: int) -> str:
    return f"{counted(n, 'voice')} shown and selected"


def build(auditioner: Auditioner, desk: ABDesk, catalog: Catalog, language: str, past: gr.State,
          tabs: gr.Tabs, form: ABForm, concurrency: int, pronunciations: gr.State) -> shortlist.ShortlistView:
    """The tab; returns its Shortlist panel's view, for the page to wire "Test these voices"."""
    voices = filtered(catalog, language)
    ids = [v.id for v in voices]
    with gr.Row():
        lang = gr.Dropdown(language_filter_choices(catalog), value=language, label="Language", scale=2,
                           min_width=260)  # a phone: the other filters wrap below
        gender = gr.Dropdown([ANY, "female", "male"], value=ANY, label="Gender", scale=1, filterable=False)
        model = gr.Dropdown([ANY, *catalog.models], value=ANY, label="Model", scale=1, filterable=False)
        grade = gr.Dropdown(list(GRADE_FILTERS), value="Any grade", label="Grade", scale=1, filterable=False)
        sort = gr.Dropdown(list(SORTS), value=SORTS[0], label="Sort by", scale=1, filterable=False)
    catalog_table = gr.Dataframe(table(catalog, voices), interactive=False, label="Voices", max_height=300,
                                 elem_id="catalog-table", wrap=True)
    selected = gr.Dropdown(ids, value=ids, multiselect=True, label="Voices to audition",
                           info="Every voice the filters show; remove any you want to skip")
    count = gr.Markdown(f"{len(ids)} voices shown and selected", elem_id="audition-count")
    sentence = gr.Textbox(choices.sample_text(catalog, language), label="Sentence", lines=2, max_lines=4)
    with gr.Row():
        speed = gr.Slider(SPEED_MIN, SPEED_MAX, value=1.0, step=0.05, label="Speed", scale=3)
        run_btn = gr.Button("Audition", variant="primary", scale=1)
        stop_btn = gr.Button("Stop", variant="stop", scale=1)
    # The status line is drawn by the render with the players: a status set directly would reach
    # the page (saying "Done") before the render of the last player, a round trip later.
    progress_host = gr.HTML("", elem_id="audition-progress")
    status = gr.State(feedback.status("Pick voices and press Audition.", "idle"))
    results = gr.State([])
    starred = gr.State([])  # the shortlist's voice ids: the players' stars follow it
    quiet = dict(queue=False, api_visibility="private")

    @gr.render(inputs=[results, status, starred])
    def players(items: list[dict], status_html: str, starred_ids: list[str]):
        gr.HTML(status_html, elem_id="audition-status")
        with gr.Row(elem_id="audition-results", equal_height=False):
            for item in items:
                with gr.Column(min_width=280, elem_classes=["clip"]):
                    if item["error"]:
                        gr.Markdown(f"**{item['voice']}**: {item['error']}")
                        continue
                    voice = catalog.voice(item["voice"])
                    grade = f" · grade {voice.grade}" if voice and voice.grade else ""
                    gr.Audio(item["path"], label=f"{item['voice']}{grade}", type="filepath", interactive=False,
                             buttons=["download"], key=f"clip-{item['voice']}")
                    # Keyed: the last render (the "Done" status) lands just after a player's first,
                    # and a click on the replaced, unkeyed button was lost (seen in a fresh-clone run).
                    # Nothing preserved: the label follows the shortlist on every render.
                    star = gr.Button(listed.desk.star_label(item["voice"], starred_ids), size="sm",
                                     key=f"star-{item['voice']}", preserved_by_key=None)
                    star.click(lambda picked, shown, vid=item["voice"]: listed.desk.toggle(vid, shown, picked),
                               [listed.refreshed[1], starred], listed.refreshed, api_visibility="private")
                    with gr.Row():
                        for side, letter in ((0, "A"), (1, "B")):
                            other = form.voice_b if side == 0 else form.voice_a
                            gr.Button(f"Use as {letter}", size="sm", key=f"use-{letter}-{item['voice']}").click(
                                lambda other_voice, item=item, side=side: desk.receive(item, side, other_voice),
                                other, [tabs, form.language, form.text, form.voice_a, form.voice_b,
                                        form.speed_a, form.speed_b, *form.round_view], queue=False,
                                api_visibility="private")

    listed = shortlist.build(shortlist.ShortlistDesk(desk, catalog, auditioner.out_dir), starred)
    filters = [lang, gender, model, grade, sort]
    for control in filters:
        control.input(auditioner.on_filter, filters, [catalog_table, selected, count], **quiet)
    lang.input(auditioner.on_language, [lang, sentence], sentence, **quiet)
    run_btn.click(auditioner.audition, [sentence, selected, lang, speed, past, pronunciations], [results, status, past],
                  concurrency_limit=concurrency, concurrency_id="synthesis", api_visibility="private",
                  show_progress_on=[progress_host])
    stop_btn.click(auditioner.stop, None, None, **quiet)
    return listed
