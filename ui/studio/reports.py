"""A listening test's results as things a team keeps: the votes as CSV, the results as JSON, a
one-page Markdown report for a decision doc, and the win matrix as a heatmap (for gr.Plot).

Pure functions over ui/studio/listening.py's `results` dict; `export_files` writes the three files
into the studio's served folder (ui/studio/files.py). Everything from users (the test's name, its
sentences, rater names) is made inert before it reaches Markdown or a file name.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ui.studio import files, listening
from ui.studio.ratings import VOTE_FLOOR
from ui.studio.votes import VoteStore

SENTENCES_SHOWN = 12  # the per-sentence table's rows: the report stays about a page
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def votes_csv(store: VoteStore, test_id: str) -> str:
    """The test's votes (rater, pair index, sentence, voices, outcome, time...) as CSV: the vote
    store's own export, filtered to the test. InputError for an unknown test."""
    return store.to_csv(test_id=listening.load(store, test_id).id)


def results_json(results: dict) -> str:
    return json.dumps(results, indent=2, ensure_ascii=False)


def _md(text: object, limit: int = 80) -> str:
    """User text as inert Markdown on one line: whitespace (newlines too) collapsed, cut to
    `limit` characters, every character Markdown or a table would act on escaped."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[:limit - 1].rstrip() + "…"
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _overlaps(a: dict, b: dict) -> bool:
    return a["low"] <= b["high"] and b["low"] <= a["high"]


def verdict(results: dict) -> str:
    """One honest sentence or two on who won: a clear winner only when the leader's interval is
    clear of every other voice's; otherwise "not yet", with a rough count of the votes that would tell."""
    ratings = results["ratings"]
    if not ratings:
        return "No votes yet: share the test's link with the raters."
    top, others = ratings[0], ratings[1:]
    if not others:
        return f"Only **{_md(top['voice'])}** has votes so far."
    name = f"**{_md(top['voice'])}**"
    if others and all(top["low"] > r["high"] for r in others):
        few = " (few votes so far, but the gap is large)" if top["votes"] < VOTE_FLOOR else ""
        return (f"Clear winner: {name}. Its 95 % interval's lower bound ({top['low']}) is above every other "
                f"voice's upper bound{few}.")
    rivals = [r for r in others if _overlaps(top, r)]
    rival = max(rivals, key=lambda r: r["rating"])
    names = [_md(r["voice"]) for r in rivals]
    whose = f"{names[0]}'s" if len(names) == 1 else f"those of {', '.join(names[:-1])} and {names[-1]}"
    start = f"Not yet a clear winner: {name} ranks first, but its interval overlaps {whose}."
    gap = top["rating"] - rival["rating"]
    half_widths = (top["high"] - top["low"] + rival["high"] - rival["low"]) / 2
    # Intervals narrow about as 1/√votes: separating them needs (sum of half-widths / gap)² times the votes.
    factor = (half_widths / gap) ** 2 if gap > 0 else math.inf
    pairs = max(1, len(results["test"]["voices"]) * (len(results["test"]["voices"]) - 1) // 2)
    per_pair = results["progress"]["votes"] / pairs
    more = math.ceil(per_pair * (factor - 1)) if factor < 50 else None
    if more is None:
        return (f"{start} It and {_md(rival['voice'])} are level so far ({abs(round(gap))} points apart): even "
                "many more votes may show no real difference between them.")
    return (f"{start} About {max(more, 1)} more votes per pair of voices would tell, if the present gap "
            f"of {round(gap)} points holds (a rough estimate).")


def _agreement_sentence(agreement: float | None) -> str:
    if agreement is None:
        return "No two raters have judged the same pair on the same sentence yet."
    share = round(100 * agreement)
    reading = ("the raters largely agree" if share >= 75 else "they agree more than chance would"
               if share > 55 else "little agreement, so the voices may sound alike to these raters")
    return (f"When two raters judged the same pair of voices on the same sentence, they chose the same "
            f"way {share} % of the time (about 50 % is what coin flips give, 100 % full agreement): {reading}.")


def report_markdown(results: dict) -> str:
    """A one-page report: what was tested, the ranking with a verdict, the win matrix, agreement,
    per-sentence votes and how the numbers were made."""
    test, progress = results["test"], results["progress"]
    voices = list(test["voices"])
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = [f"# Listening test: {_md(test['name'])}", "",
             f"Created {_md(str(test.get('created_at', ''))[:10], 10)}, report of {made}. Language "
             f"{_md(test['language'], 12)}; voices {', '.join(_md(v, 40) for v in voices)}; "
             f"{len(test['sentences'])} sentences; {progress['raters']} raters, {progress['votes']} votes "
             f"({progress['pairs_left']} pairs still to rate).", "", "## Ranking", ""]
    rated = {r["voice"] for r in results["ratings"]}
    rows = [[rank, _md(r["voice"], 40), r["rating"], f"{r['low']}–{r['high']}", f"{r['wins']}–{r['losses']}–{r['ties']}"]
            for rank, r in enumerate(results["ratings"], start=1)]
    rows += [["–", _md(v, 40), "no votes", "–", "0–0–0"] for v in voices if v not in rated]
    lines += _table(["Rank", "Voice", "Rating", "95 % interval", "W–L–T"], rows)
    lines += ["", verdict(results), "", "## Win matrix", "",
              "Wins of the row's voice over the column's (a tie or \"both bad\" counts half to each).", ""]
    matrix = results["win_matrix"]
    lines += _table(["", *(_md(v, 40) for v in voices)],
                    [[_md(a, 40), *("–" if a == b else f"{matrix[a][b]:g}" for b in voices)] for a in voices])
    lines += ["", "## Raters", "", _agreement_sentence(results["agreement"]), "",
              "Votes per rater: " + (", ".join(f"{_md(r['name'] or r['rater'], 30)} {r['votes']}/{r['pairs']}"
                                               for r in results["per_rater"]) or "none yet") + ".",
              "", "## Votes per sentence", ""]
    shown = results["per_sentence"][:SENTENCES_SHOWN]
    lines += _table(["#", "Sentence", "Votes"], [[i, _md(s["sentence"], 70), s["votes"]]
                                                for i, s in enumerate(shown, start=1)])
    if len(results["per_sentence"]) > len(shown):
        lines += ["", f"…and {len(results['per_sentence']) - len(shown)} more sentences (all in the JSON export)."]
    lines += ["", "## Method", "",
              "Raters heard blind pairs (voice names hidden, sides counter-balanced) in a balanced, randomised "
              "sequence per rater: every pair of voices on a rotation of the sentences. Every clip was "
              "loudness-matched to -23 LUFS (ITU-R BS.1770) with a -1 dBTP true-peak ceiling, so level does not "
              "decide. Ratings are a Bradley-Terry model with a Gaussian prior (1000 = average, +100 points ≈ "
              "64 % to win); intervals are 95 % posterior intervals, wide while votes are few, and voices rank "
              "by the interval's lower bound.", ""]
    return "\n".join(lines)


def win_matrix_figure(results: dict) -> Figure:
    """A heatmap of the win matrix: colour = the row voice's share of its games against the column
    voice, text = its wins / games. A Figure outside pyplot: nothing to close, nothing leaks."""
    voices = list(results["test"]["voices"])
    matrix = results["win_matrix"]
    n = len(voices)
    share = [[math.nan] * n for _ in range(n)]
    side = min(9.0, 2.4 + 0.75 * n)  # inches; gr.Plot scales the image to the page's width
    fig = Figure(figsize=(side, side * 0.9), dpi=144, layout="constrained")  # sharp on 2x screens
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, a in enumerate(voices):
        for j, b in enumerate(voices):
            games = matrix[a][b] + matrix[b][a]
            if i != j:
                share[i][j] = matrix[a][b] / games if games else math.nan
                ax.text(j, i, f"{matrix[a][b]:g}/{games:g}" if games else "–", ha="center", va="center",
                        fontsize=13, color="black")
    # blue wins, red losses (readable with red-green colour blindness); white: the diagonal, unplayed pairs
    image = ax.imshow(share, cmap=colormaps["coolwarm_r"].with_extremes(bad="white"), vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), voices, rotation=40, ha="right", fontsize=12)
    ax.set_yticks(range(n), voices, fontsize=12)
    ax.set_xlabel("against", fontsize=12)
    ax.set_ylabel("wins of", fontsize=12)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of wins")
    # No title: the page labels the plot and names the test above it; a title ran into the colour
    # bar at 1280 px and was cut at 390 px.
    return fig


def _slug(name: str) -> str:
    """The test's name as a file-name part: letters and digits only (any script), '-' between."""
    return re.sub(r"[\W_]+", "-", name.lower()).strip("-")[:40].strip("-") or "test"


def export_files(store: VoteStore, id_or_link: str, out_dir: Path) -> tuple[Path, Path, Path]:
    """The test's votes CSV, results JSON and report (.md), side by side in one fresh folder of the
    served files, named `<test name>-<id>-votes.csv` and so on."""
    out = listening.results(store, id_or_link)
    stem = f"{_slug(out['test']['name'])}-{out['test']['id']}"
    csv_path = files.save(Path(out_dir), f"{stem}-votes.csv", votes_csv(store, out["test"]["id"]).encode("utf-8"))
    json_path = csv_path.with_name(f"{stem}-results.json")
    json_path.write_text(results_json(out), encoding="utf-8")
    md_path = csv_path.with_name(f"{stem}-report.md")
    md_path.write_text(report_markdown(out), encoding="utf-8")
    return csv_path, json_path, md_path
