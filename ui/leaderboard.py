"""The leaderboard: ratings per language from the stored votes, as a table and a bar chart, and
the raw votes as CSV."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from worker.catalog import Catalog

from ui import files
from ui.ratings import BASE, VOTE_FLOOR, rate
from ui.votes import VoteStore

TABLE_COLUMNS = ["Rank", "Voice", "Model", "Rating", "95% interval", "Votes", "Wins", "Losses", "Ties", "Note"]


def standings(store: VoteStore, language: str, catalog: Catalog) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(table, chart data: points above or below average, one-line summary) for one language."""
    votes = store.votes(language)
    ratings = rate((v.voice_a, v.voice_b, v.outcome) for v in votes)
    rows = []
    for rank, r in enumerate(ratings, start=1):
        voice = catalog.voice(r.voice)
        model = voice.model if voice else "blend"
        rows.append([rank, r.voice, model, round(r.rating), f"{round(r.low)}–{round(r.high)}", r.votes, r.wins,
                     r.losses, r.ties, "preliminary" if r.preliminary else ""])
    board = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    chart = pd.DataFrame({"Voice": [r.voice for r in ratings],
                          "vs average": [round(r.rating - BASE) for r in ratings]})
    lang = catalog.languages.get(language)
    name = lang.name if lang else language
    if not votes:
        summary = f"No votes for {name} yet: run an A/B round in this language."
    else:
        voters = len({v.session for v in votes if v.session})
        by = f" from {voters} voter{'s' if voters != 1 else ''}" if voters else ""
        summary = (f"**{len(votes)} vote{'s' if len(votes) != 1 else ''}** for {name} over "
                   f"{len(ratings)} voices{by}. "
                   "Ratings are Bradley-Terry estimates (1000 = average, +100 ≈ 64 % to win) with "
                   "bootstrap 95 % intervals; voices rank by the interval's lower bound, and a voice with "
                   f"fewer than {VOTE_FLOOR} votes is marked preliminary.")
    return board, chart, summary


def export_csv(store: VoteStore, out_dir: Path | None = None) -> Path:
    """Every raw vote (all languages) as a CSV file, for a spreadsheet or a notebook."""
    name = f"kokoro-votes-{datetime.now().strftime('%Y%m%d-%H%M%S')}.csv"
    return files.save(Path(out_dir or files.default_dir()), name, store.to_csv().encode("utf-8"))
