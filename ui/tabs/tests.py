"""The Tests tab: a team lead's listening tests. Create one (a name, a language, a script typed or
uploaded, two or more voices) and get the link to hand to raters (`…/?test=<id>`, the page of
ui/tabs/rater.py); read any test's results (ratings with intervals, the win matrix, per-sentence and
per-rater breakdowns, agreement, progress) and export them (votes CSV, results JSON, a one-page
report). The work is ui/studio/listening.py's and ui/studio/reports.py's; `TestDesk` holds the
callbacks, `build` lays the tab out.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from ui.api import page_url
from ui.feedback import as_toast
from ui.studio import choices, listening, reports
from ui.tabs.ab import ABDesk
from worker.core.catalog import Catalog
from worker.core.errors import InputError, counted

MAX_SCRIPT_BYTES = 64 * 1024
RATING_COLUMNS = ["Rank", "Voice", "Rating", "95% interval", "Votes", "W–L–T"]


class TestDesk:
    """Callbacks of the Tests tab, on the A/B desk's vote store."""

    def __init__(self, desk: ABDesk, catalog: Catalog):
        self.desk, self.catalog = desk, catalog

    def on_language(self, language: str):
        """The voices offered are the language's."""
        return gr.Dropdown(choices=choices.voice_choices(self.catalog, language), value=[])

    def from_shortlist(self, language: str | None, voices: list[str] | None):
        """The shortlist's "Test these voices": the Tests tab opens with its language and voices.
        Outputs: tabs, language, voices."""
        if not language or not voices:
            raise gr.Error("The shortlist is empty: star voices in Audition first.", print_exception=False)
        offered = choices.voice_choices(self.catalog, language)
        return (gr.Tabs(selected="tests"), language,
                gr.Dropdown(choices=offered, value=[v for v in voices if v in {vid for _, vid in offered}]))

    def read_script(self, path: str | None) -> str:
        """An uploaded text file's lines become the script."""
        if not path:
            return gr.skip()
        with as_toast("Cannot read this file"):
            data = Path(path).read_bytes()
            if len(data) > MAX_SCRIPT_BYTES:
                raise InputError(f"The script file is {len(data) // 1024} KB; a test's script fits in "
                                 f"{MAX_SCRIPT_BYTES // 1024} KB ({listening.MAX_SENTENCES} sentences).")
            try:
                return data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise InputError("The script file is not UTF-8 text: save it as plain UTF-8 text.") from None

    def tests(self, selected: str | None = None):
        """The tests to read, newest first."""
        found = listening.all_tests(self.desk.store)
        offered = [(f"{t.name} · {t.language} · {t.id}", t.id) for t in found]
        value = selected if selected in {t.id for t in found} else (found[0].id if found else None)
        return gr.Dropdown(choices=offered, value=value)

    def create(self, name: str, language: str, script: str, voices: list[str] | None,
               request: gr.Request | None = None):
        """A new test. Outputs: link, status, the tests list."""
        with as_toast("Cannot make this test"):
            test = listening.create(self.desk.store, self.catalog, name, language, script, ",".join(voices or []))
        link = f"{page_url(request)}?test={test.id}"
        pairs = len(listening.sequence(test, "preview"))
        note = (f"Test **{html.escape(test.name)}** is ready: {len(test.voices)} voices, "
                f"{len(test.sentences)} sentences, {pairs} pairs per rater. Hand this link to your raters: "
                f"[{link}]({link})")
        return link, note, self.tests(test.id)

    def show(self, test_id: str | None):
        """A test's results. Outputs: summary, ratings, win matrix, per sentence, per rater."""
        if not test_id:
            return ("Create a test, or pick one once raters have voted.", *(gr.skip() for _ in range(4)))
        with as_toast("Cannot read this test"):
            found = listening.results(self.desk.store, test_id)
        return (summary(found), ratings_table(found), reports.win_matrix_figure(found),
                pd.DataFrame([[s["sentence"], s["votes"]] for s in found["per_sentence"]],
                             columns=["Sentence", "Votes"]),
                pd.DataFrame([[r["name"] or "(anonymous)", r["votes"], r["pairs"]] for r in found["per_rater"]],
                             columns=["Rater", "Votes", "Pairs"]))

    def export(self, test_id: str | None):
        """The votes CSV, results JSON and report of a test."""
        if not test_id:
            raise gr.Error("Pick a test first.", print_exception=False)
        with as_toast("Cannot export this test"):
            paths = reports.export_files(self.desk.store, test_id, self.desk.out_dir)
        return gr.update(value=[str(p) for p in paths], visible=True)


def ratings_table(found: dict) -> pd.DataFrame:
    rows = [[rank, r["voice"], r["rating"], f"{r['low']}–{r['high']}", r["votes"],
             f"{r['wins']}–{r['losses']}–{r['ties']}"] for rank, r in enumerate(found["ratings"], start=1)]
    return pd.DataFrame(rows, columns=RATING_COLUMNS)


def summary(found: dict) -> str:
    progress, agreement = found["progress"], found["agreement"]
    agreed = "not yet (two raters must judge the same pair)" if agreement is None else f"{agreement:.0%}"
    return (f"**{counted(progress['votes'], 'vote')}** from {counted(progress['raters'], 'rater')}, "
            f"{counted(progress['pairs_left'], 'pair')} still to rate. Rater agreement: {agreed}.\n\n{reports.verdict(found)}")


@dataclass
class TestForm:
    """What other tabs fill in: the shortlist's "Test these voices"."""
    language: gr.Dropdown
    voices: gr.Dropdown


INTRO = """\
A **listening test** gives every rater the same script and voices as blind pairs, in a balanced order
of their own, and adds up the votes of the whole team. Create one, hand out its link; raters need
nothing else. Results below, for any test.
"""


def build(tests: TestDesk, catalog: Catalog, language: str, tab: gr.Tab) -> TestForm:
    gr.Markdown(INTRO, elem_classes=["intro"])
    with gr.Row(elem_classes=["stack-on-phone"]):
        name = gr.Textbox(label="Test name", placeholder="Support line voice, round 1", scale=3, max_length=80)
        lang = gr.Dropdown(choices.language_choices(catalog), value=language, label="Language", scale=2,
                           min_width=260)
    voices = gr.Dropdown(choices.voice_choices(catalog, language), value=[], multiselect=True,
                         label="Voices to compare", info="Two or more; each pair is rated on the script")
    script = gr.Textbox(label="Script", lines=5, max_lines=12, elem_id="test-script",
                        placeholder="One sentence per line, as your product will say them")
    with gr.Row():
        upload = gr.UploadButton("Upload a script (.txt)", file_types=[".txt"], size="sm")
        create_btn = gr.Button("Create test", variant="primary")
    created = gr.Markdown("")
    # Editable only so that it can be selected and copied (a disabled field cannot be, in some
    # browsers); Gradio's copy button would take the field's accessible name away.
    link = gr.Textbox(label="Link for raters", interactive=True, elem_id="test-link",
                      placeholder="Create a test to get the link to hand to your raters")
    gr.Markdown("### Results")
    with gr.Row(elem_classes=["stack-on-phone"]):
        picked = gr.Dropdown([], label="Test", scale=3, elem_id="test-picker")
        show_btn = gr.Button("Show results", scale=1)
        export_btn = gr.Button("Export", scale=1)
    result_summary = gr.Markdown("", elem_id="test-summary")
    ratings = gr.Dataframe(headers=RATING_COLUMNS, interactive=False, label="Ratings", elem_id="test-ratings")
    matrix = gr.Plot(label="Win matrix", elem_id="win-matrix")
    with gr.Row(elem_classes=["stack-on-phone"]):
        per_sentence = gr.Dataframe(headers=["Sentence", "Votes"], interactive=False, label="Per sentence", wrap=True)
        per_rater = gr.Dataframe(headers=["Rater", "Votes", "Pairs"], interactive=False, label="Per rater")
    exported = gr.File(label="Exports", file_count="multiple", visible=False, interactive=False, elem_classes=["handout"],
                       elem_id="test-exports")

    quiet = dict(queue=False, api_visibility="private")
    lang.input(tests.on_language, lang, voices, **quiet)
    upload.upload(tests.read_script, upload, script, **quiet)
    result_outputs = [result_summary, ratings, matrix, per_sentence, per_rater]
    create_btn.click(tests.create, [name, lang, script, voices], [link, created, picked], **quiet).success(
        tests.show, picked, result_outputs, **quiet)
    tab.select(tests.tests, picked, picked, **quiet).then(tests.show, picked, result_outputs, **quiet)
    picked.input(tests.show, picked, result_outputs, **quiet)
    show_btn.click(tests.show, picked, result_outputs, **quiet)
    export_btn.click(tests.export, picked, exported, **quiet)
    return TestForm(lang, voices)
