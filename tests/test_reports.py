"""A listening test's exports (ui/studio/reports.py) built from real votes: the CSV parses back,
the JSON round-trips, the report names a winner only when the intervals separate, the heatmap has
a cell per voice pair, and a hostile test name gives safe file names and unbroken tables."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from matplotlib import pyplot

from ui.studio import listening, reports
from ui.studio.votes import Vote, VoteStore

SENTENCES = "The boat drifted.\nA quiet lake | said she.\nEvening came early."
VOICES = "af_heart, am_adam, bf_emma"


@pytest.fixture
def store(tmp_path):
    return VoteStore(tmp_path / "votes.db")


def vote_all(store, catalog, test, raters, choose) -> int:
    """Every rater votes their whole sequence with `choose(pair) -> outcome`; the number of votes."""
    count = 0
    for rater in raters:
        for pair in listening.rater_pairs(store, test, rater):
            listening.record(store, catalog, test, rater, pair.index, choose(pair))
            count += 1
    return count


def heart_wins(pair) -> str:
    return "a" if pair.left == "af_heart" else "b" if pair.right == "af_heart" else "tie"


def table_blocks(markdown: str) -> list[list[str]]:
    blocks, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks


def cells(row: str) -> int:
    return len(re.findall(r"(?<!\\)\|", row)) - 1


def test_the_votes_csv_parses_back_to_the_tests_votes_alone(store, catalog):
    test = listening.create(store, catalog, "Product voice", "en-us", SENTENCES, VOICES)
    store.record(Vote("en-us", "Arena text.", "am_adam", "af_heart", "v1.0", "v1.0", 1.0, 1.0, "a", True, "local"))
    count = vote_all(store, catalog, test, ["rater-one", "rater-two"], heart_wins)
    rows = list(csv.DictReader(io.StringIO(reports.votes_csv(store, f"http://x/?test={test.id}"))))
    assert len(rows) == count == 18
    recorded = {(v.rater, v.pair_index): v for v in store.votes(test_id=test.id)}
    for row in rows:
        vote = recorded[(row["rater"], int(row["pair_index"]))]
        assert (row["text"], row["voice_a"], row["voice_b"], row["outcome"], row["created_at"]) == (
            vote.text, vote.voice_a, vote.voice_b, vote.outcome, vote.created_at)
        assert row["test_id"] == test.id and row["text"] in test.sentences
    assert "Arena text." not in {row["text"] for row in rows}


def test_the_json_round_trips(store, catalog):
    test = listening.create(store, catalog, "Voix du produit é", "en-us", SENTENCES, VOICES)
    vote_all(store, catalog, test, ["rater-one"], heart_wins)
    out = listening.results(store, test.id)
    text = reports.results_json(out)
    assert json.loads(text) == out and "é" in text and "\n  " in text


def test_the_report_names_a_clear_winner_only_when_the_intervals_separate(store, catalog):
    test = listening.create(store, catalog, "Clear", "en-us", SENTENCES, VOICES)
    vote_all(store, catalog, test, ["rater-one", "rater-two", "rater-three"], heart_wins)
    out = listening.results(store, test.id)
    assert out["ratings"][0]["low"] > max(r["high"] for r in out["ratings"][1:])
    report = reports.report_markdown(out)
    assert "Clear winner: **af\\_heart**" in report and "Not yet" not in report
    assert report.startswith("# Listening test: Clear\n") and "| 1 | af\\_heart |" in report
    assert len(report.splitlines()) < 60  # about a page


def test_the_report_says_not_yet_while_the_intervals_overlap(store, catalog):
    test = listening.create(store, catalog, "Close", "en-us", SENTENCES, VOICES)
    pairs = listening.rater_pairs(store, test, "rater-one")
    for pair in pairs[:4]:  # a few votes, heart ahead but not by much
        listening.record(store, catalog, test, "rater-one", pair.index, heart_wins(pair))
    out = listening.results(store, test.id)
    first, second = out["ratings"][0], out["ratings"][1]
    assert first["low"] <= second["high"]  # the intervals overlap
    report = reports.report_markdown(out)
    assert "Not yet a clear winner" in report and "Clear winner" not in report
    found = re.search(r"About (\d+) more votes per pair|level so far", report)
    assert found, report
    assert "Raters" in report and "Method" in report and "-23 LUFS" in report


def test_the_figure_has_one_cell_per_voice_pair_and_leaks_nothing(store, catalog):
    test = listening.create(store, catalog, "Figure $x", "en-us", SENTENCES, "af_heart, am_adam, bf_emma, af_bella")
    vote_all(store, catalog, test, ["rater-one"], heart_wins)
    out = listening.results(store, test.id)
    for _ in range(3):
        fig = reports.win_matrix_figure(out)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (4, 4)
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == 4 * 3 and all(re.fullmatch(r"[\d.]+/[\d.]+", label) for label in labels)
    wins = out["win_matrix"]
    assert f"{wins['af_heart']['am_adam']:g}/{wins['af_heart']['am_adam'] + wins['am_adam']['af_heart']:g}" in labels
    fig.savefig(io.BytesIO(), format="png")  # what gr.Plot does with it
    assert pyplot.get_fignums() == []


@pytest.mark.hostile
def test_a_hostile_test_name_gives_safe_file_names_and_unbroken_tables(store, catalog, tmp_path):
    name = "../../etc | a|b\n# heading\n" + "x" * 10_000
    sentences = "Pipes | in | a sentence.\n<script>alert(1)</script> `code` *bold*\nPlain."
    test = listening.create(store, catalog, name, "en-us", sentences, VOICES)
    vote_all(store, catalog, test, ["rater-one"], heart_wins)
    out_dir = tmp_path / "served"
    paths = reports.export_files(store, test.id, out_dir)
    for path, kind in zip(paths, ("votes.csv", "results.json", "report.md")):
        assert path.resolve().is_relative_to(out_dir.resolve()) and path.parent == paths[0].parent
        assert re.fullmatch(rf"[a-z0-9-]+-{re.escape(test.id)}-{re.escape(kind)}", path.name), path.name
        assert len(path.name.encode()) < 120
    assert json.loads(paths[1].read_text(encoding="utf-8"))["test"]["name"] == test.name
    out = listening.results(store, test.id)
    out["test"]["name"] = name  # the report stands even a name that create would have tidied
    for report in (paths[2].read_text(encoding="utf-8"), reports.report_markdown(out)):
        lines = report.splitlines()
        assert lines[0].startswith("# Listening test: ") and lines[1] == ""
        assert not any(line.startswith("# ") for line in lines[1:]) and "<script>" not in report
        blocks = table_blocks(report)
        assert len(blocks) == 3
        for block in blocks:
            assert len({cells(row) for row in block}) == 1, block
            assert re.fullmatch(r"\|(---\|)+", block[1])
        assert len(report) < 6000
