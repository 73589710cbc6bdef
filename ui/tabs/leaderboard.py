"""The Leaderboard tab: ratings per language from the stored votes, as a table and a bar chart, and
the raw votes as CSV. `standings` and `export_csv` compute; `build` lays the tab out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import pandas as pd

from ui.studio import choices, files
from ui.studio.ratings import BASE, VOTE_FLOOR, rate
from ui.studio.votes import VoteStore
from worker.core.catalog import Catalog
from worker.core.errors import counted

if TYPE_CHECKING:
    from ui.tabs.ab import ABDesk

# Eight columns, wins, losses and ties in one: the table fits a phone with a little scrolling.
TABLE_COLUMNS = ["Rank", "Voice", "Model", "Rating", "95% interval", "Votes", "W–L–T", "Note"]


def standings(store: VoteStore, language: str, catalog: Catalog) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(table, chart data: points above or below average, one-line summary) for one language."""
    votes = store.votes(language)
    ratings = rate((v.voice_a, v.voice_b, v.outcome) for v in votes)
    rows = []
    for rank, r in enumerate(ratings, start=1):
        voice = catalog.voice(r.voice)
        model = voice.model if voice else "blend"
        rows.append([rank, r.voice, model, round(r.rating), f"{round(r.low)}–{round(r.high)}", r.votes,
                     f"{r.wins}–{r.losses}–{r.ties}", "preliminary" if r.preliminary else ""])
    board = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    chart = pd.DataFrame({"Voice": [r.voice for r in ratings],
                          "vs average": [round(r.rating - BASE) for r in ratings]})
    lang = catalog.languages.get(language)
    name = lang.name if lang else language
    if not votes:
        summary = f"No votes for {name} yet: run an A/B round in this language."
    else:
        voters = len({v.session for v in votes if v.session})
        by = f" from {counted(voters, 'voter')}" if voters else ""
        summary = (f"**{counted(len(votes), 'vote')}** for {name} over "
                   f"{len(ratings)} voices{by}. "
                   "Ratings are Bradley-Terry estimates (1000 = average, +100 ≈ 64 % to win) with "
                   "95 % posterior intervals (wide while votes are few); voices rank by the interval's lower bound, and a voice with "
                   f"fewer than {VOTE_FLOOR} votes is marked preliminary.")
    return board, chart, summary


def export_csv(store: VoteStore, out_dir: Path | None = None) -> Path:
    """Every raw vote (all languages) as a CSV file, for a spreadsheet or a notebook."""
    name = f"kokoro-votes-{datetime.now().strftime('%Y%m%d-%H%M%S')}.csv"
    return files.save(Path(out_dir or files.default_dir()), name, store.to_csv().encode("utf-8"))


def build(desk: ABDesk, catalog: Catalog, language: str, tab: gr.Tab, votes: list,
                      ab_language: gr.Dropdown) -> None:
    with gr.Row(elem_classes=["stack-on-phone"]):
        lang = gr.Dropdown(choices.language_choices(catalog), value=language, label="Language", scale=3)
        refresh_btn = gr.Button("Refresh", scale=1)
        export_btn = gr.Button("Export votes (CSV)", scale=1)
    summary = gr.Markdown("", elem_id="board-summary")
    # The table gets the page's width (beside the chart it hid its Note column at 1280 px and showed
    # three columns on a phone); the chart goes under it.
    board = gr.Dataframe(headers=TABLE_COLUMNS, interactive=False, label="Ratings", elem_id="board",
                         max_height=480)
    chart = gr.BarPlot(x="Voice", y="vs average", sort="-y", label="Points above or below average",
                       x_label_angle=-45, elem_id="board-chart")
    export_file = gr.File(label="Votes CSV", visible=False, interactive=False, elem_id="votes-csv",
                          elem_classes=["handout"])

    def show(code: str):
        return standings(desk.store, code, catalog)

    def export():
        return gr.update(value=str(export_csv(desk.store, desk.out_dir)), visible=True)

    outputs = [board, chart, summary]
    quiet = dict(queue=False, api_visibility="private")
    lang.change(show, lang, outputs, **quiet)
    refresh_btn.click(show, lang, outputs, **quiet)
    tab.select(show, lang, outputs, **quiet)
    def follow(code: str):  # after a vote: the board of the language just voted on
        return code, *show(code)

    for event in votes:
        event.success(follow, ab_language, [lang, *outputs], **quiet)
    export_btn.click(export, None, export_file, **quiet)
