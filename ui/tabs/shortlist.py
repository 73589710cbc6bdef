"""The Audition tab's Shortlist panel: the voices a team starred, with a note and tags each, their
export as CSV or YAML, and "Test these voices". `ShortlistDesk` holds the callbacks; `build` lays the
panel out and returns a `ShortlistView` for the page to wire "Test these voices" to the Tests tab.

The shortlist is kept in the studio's votes database (the A/B desk's store), so one file holds
votes, tests and the shortlist, and the shortlist is shared by everyone using the studio.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import gradio as gr
import pandas as pd

from ui.feedback import as_toast
from ui.studio import files
from ui.studio.shortlist import Shortlist
from ui.tabs.ab import ABDesk
from worker.core.catalog import Catalog

TABLE_COLUMNS = ["Voice", "Language", "Note", "Tags"]
STAR_OFF, STAR_ON = "☆ Shortlist", "★ Shortlisted"
TITLE = "Shortlist problem"


@dataclass
class ShortlistView:
    """What the page wires "Test these voices" with: the button, and states that always hold the
    shortlisted voice ids (`voices`) and their most common language (`language`, "" when empty)."""
    desk: ShortlistDesk
    test_button: gr.Button
    voices: gr.State
    language: gr.State
    table: gr.Dataframe
    refreshed: list  # what ShortlistDesk.refresh updates: table, picker, voices, language


class ShortlistDesk:
    """Callbacks of the Shortlist panel and of the players' star toggles."""

    def __init__(self, desk: ABDesk, catalog: Catalog, out_dir: Path | None = None):
        self.desk = desk
        self.catalog = catalog
        self.out_dir = Path(out_dir or desk.out_dir)

    @property
    def shortlist(self) -> Shortlist:
        return Shortlist(self.desk.store, self.catalog)  # the store opens on first use

    def table(self) -> pd.DataFrame:
        rows = [[e.voice, self.catalog.languages[e.language].name if e.language in self.catalog.languages
                 else e.language, e.note, ", ".join(e.tags)] for e in self.shortlist.entries()]
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)

    def ids(self) -> list[str]:
        return self.shortlist.ids()

    def language(self) -> str:
        ids = self.ids()
        return self.shortlist.for_test()[0] if ids else ""

    def refresh(self, picked: str | None = None):
        """(table, picker, voices, language) after any change; the picker keeps `picked` if still listed."""
        ids = self.ids()
        keep = picked if picked in ids else None
        return self.table(), gr.Dropdown(choices=ids, value=keep), ids, self.language()

    def star_label(self, voice: str, starred: list[str] | None) -> str:
        return STAR_ON if voice in (starred or []) else STAR_OFF

    def toggle(self, voice: str, shown: list[str] | None = None, picked: str | None = None):
        """A player's star: shortlists the voice if the page showed it unstarred (`shown`: the ids the
        page had starred when clicked), else takes it off; then `refresh`. Decided by what the page
        showed, not by the database: a double click, or a click delivered twice, then does the same
        thing twice instead of undoing itself."""
        with as_toast(TITLE):
            if voice in (shown or []):
                self.shortlist.unstar(voice)
            else:
                self.shortlist.star(voice)
        return self.refresh(picked)

    def on_pick(self, voice: str | None) -> tuple[str, str]:
        """The note and tags of the voice picked for editing."""
        entry = self.shortlist.get(voice) if voice else None
        return (entry.note, ", ".join(entry.tags)) if entry else ("", "")

    def save(self, voice: str | None, note: str | None, tags: str | None):
        with as_toast(TITLE):
            self.shortlist.annotate(voice, note, tags)
        gr.Info(f"Saved the note and tags of {voice}.")
        return self.refresh(voice)

    def remove(self, voice: str | None):
        if not voice:
            raise gr.Error("Pick a shortlisted voice to remove.", print_exception=False)
        self.shortlist.unstar(voice)
        return (*self.refresh(), "", "")

    def export(self, kind: str) -> str:
        """The shortlist as a CSV or YAML download (a file under the studio's out_dir)."""
        shortlist = self.shortlist
        if not shortlist.ids():
            raise gr.Error("The shortlist is empty: star voices in Audition first.", print_exception=False)
        text = shortlist.to_csv() if kind == "csv" else shortlist.to_yaml()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        return str(files.save(self.out_dir, f"kokoro-shortlist-{stamp}.{kind}", text.encode("utf-8")))

    def shortlist_for_test(self, voices: list[str] | None = None) -> tuple[str, list[str]]:
        """(language, voice ids) for a new listening test: the shortlist's most common language and
        its voices (only those of `voices` when given)."""
        with as_toast(TITLE):
            return self.shortlist.for_test(voices)


def build(desk: ShortlistDesk, voices: gr.State | None = None) -> ShortlistView:
    """The Shortlist panel (inside the Audition tab); `voices` is kept holding the shortlisted ids."""
    # Queued (not queue=False): only a queued event's change of `voices` re-runs the players' render.
    quiet = dict(api_visibility="private")
    voices = voices if voices is not None else gr.State([])  # set at each page load, with the table
    language = gr.State("")
    with gr.Accordion("Shortlist", open=True, elem_id="shortlist"):
        table = gr.Dataframe(pd.DataFrame(columns=TABLE_COLUMNS), interactive=False, label="Shortlisted voices", elem_id="shortlist-table",
                             wrap=True, max_height=260)
        with gr.Row(elem_classes=["stack-on-phone"]):
            picked = gr.Dropdown([], value=None, label="Shortlisted voice", scale=1, elem_id="shortlist-pick")
            note = gr.Textbox(label="Note", scale=2, max_lines=3)
            tags = gr.Textbox(label="Tags", info="comma-separated", scale=1)
        with gr.Row():
            save = gr.Button("Save note and tags", size="sm")
            remove = gr.Button("Remove from shortlist", size="sm", variant="stop")
            csv_btn = gr.Button("Export CSV", size="sm")
            yaml_btn = gr.Button("Export YAML", size="sm")
            test_button = gr.Button("Test these voices", size="sm", variant="primary", elem_id="shortlist-test")
        download = gr.File(label="Shortlist export", interactive=False, elem_id="shortlist-file", visible=False,
                           elem_classes=["handout"])
    refreshed = [table, picked, voices, language]
    picked.input(desk.on_pick, picked, [note, tags], **quiet)
    save.click(desk.save, [picked, note, tags], refreshed, **quiet)
    remove.click(desk.remove, picked, [*refreshed, note, tags], **quiet)
    for button, kind in ((csv_btn, "csv"), (yaml_btn, "yaml")):
        button.click(lambda kind=kind: gr.File(desk.export(kind), visible=True), None, download, **quiet)
    # The list is shared: a teammate's stars show here at the next page load.
    gr.context.Context.root_block.load(desk.refresh, None, refreshed, **quiet)
    return ShortlistView(desk, test_button, voices, language, table, refreshed)
