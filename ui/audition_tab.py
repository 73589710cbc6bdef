"""Layout of the Audition and History tabs (the handlers live in ui/audition.py)."""

from __future__ import annotations

import gradio as gr

from worker.catalog import Catalog
from worker.request import SPEED_MAX, SPEED_MIN

from ui import choices, feedback, history
from ui.ab import ABDesk
from ui.ab_tab import ABForm
from ui.audition import ANY, GRADE_FILTERS, SORTS, Auditioner, filtered, language_filter_choices, table


def build_audition(auditioner: Auditioner, desk: ABDesk, catalog: Catalog, language: str, past: gr.State,
                   tabs: gr.Tabs, form: ABForm, concurrency: int) -> None:
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
    status = gr.HTML(feedback.status("Pick voices and press Audition.", "idle"), elem_id="audition-status")
    results = gr.State([])

    @gr.render(inputs=results)
    def players(items: list[dict]):
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
                    with gr.Row():
                        for side, letter in ((0, "A"), (1, "B")):
                            other = form.voice_b if side == 0 else form.voice_a
                            gr.Button(f"Use as {letter}", size="sm", key=f"use-{letter}-{item['voice']}").click(
                                lambda other_voice, item=item, side=side: desk.receive(item, side, other_voice),
                                other, [tabs, form.language, form.text, form.voice_a, form.voice_b,
                                        form.speed_a, form.speed_b], queue=False, api_visibility="private")

    filters = [lang, gender, model, grade, sort]
    quiet = dict(queue=False, api_visibility="private")
    for control in filters:
        control.input(auditioner.on_filter, filters, [catalog_table, selected, count], **quiet)
    lang.input(auditioner.on_language, [lang, sentence], sentence, **quiet)
    run_btn.click(auditioner.audition, [sentence, selected, lang, speed, past], [results, status, past],
                  concurrency_limit=concurrency, concurrency_id="synthesis", api_visibility="private",
                  show_progress_on=[status])
    stop_btn.click(auditioner.stop, None, None, **quiet)


def build_history(past: gr.State) -> None:
    gr.Markdown("Everything generated in this browser session, newest first: play it again or download it. "
                f"The newest {history.HISTORY_MAX} are kept.")

    @gr.render(inputs=past)
    def entries(items: list[dict]):
        if not items:
            gr.Markdown("Nothing yet.", elem_id="history-empty")
        for item in items:
            if not history.playable(item):
                gr.Markdown(f"{history.label(item)} · {history.EXPIRED}", elem_classes=["expired"])
                continue
            gr.Audio(item["path"], label=history.label(item), type="filepath", interactive=False,
                     buttons=["download"])
