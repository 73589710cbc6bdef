"""The A/B, Leaderboard, Audition and History tabs in a real browser (Debian's chromium via
Playwright), against `python ui/app.py` on the stand-in weights with its own vote database."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.ui_helpers import ARTIFACTS, ResponseLog, close, sound_info, studio_page, wait_until
from ui.studio.votes import VoteStore

pytestmark = pytest.mark.browser

SYNTH_TIMEOUT_MS = 180_000
POOL = ["af_heart", "af_bella", "am_adam"]


@pytest.fixture(scope="module")
def app(local_studio):
    return local_studio  # conftest: the run's one local studio (its votes in `votes_db`)


@pytest.fixture
def page(browser, app):
    context, page = studio_page(browser, app.url)
    page.get_by_role("tab", name="Generate").wait_for()
    yield page
    context.close()


def pick(scope, page, label: str, option: str) -> None:
    """Choose an option of a dropdown (or add one to a multiselect) by typing, as a person would."""
    box = scope.get_by_role("combobox", name=label)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=False).first.click()
    close(page, box)


def table_rows(page, table_id: str) -> list[list[str]]:
    """The body rows of a Gradio dataframe (a virtualised grid: rows and gridcells by role)."""
    rows = page.locator(f"#{table_id} [role=row].virtual-row").all()
    return [[c.strip() for c in r.get_by_role("gridcell").all_inner_texts()] for r in rows]


def test_blind_ab_hides_the_names_until_the_vote_which_lands_in_the_database_and_the_board(page, votes_db):
    page.get_by_role("tab", name="Leaderboard").click()
    wait_until(lambda: "No votes" in page.locator("#board-summary").inner_text(), 15, "the empty board")
    page.get_by_role("tab", name="A/B test").click()
    ab = page.locator("#ab-tab")
    assert ab.get_by_role("checkbox", name=re.compile("Blind test")).is_checked()
    for voice in POOL:
        pick(ab, page, "Pool for the next pair", voice)
    responses = ResponseLog(page)  # from here on, what the page receives must not name the pair
    ab.get_by_role("button", name="Next pair").click()
    page.locator("#player-b audio[src]").wait_for(state="attached", timeout=SYNTH_TIMEOUT_MS)
    shown = " ".join(page.locator(sel).inner_text() for sel in ("#player-a", "#player-b", "#ab-status", "#reveal"))
    assert not any(v in shown for v in POOL), shown
    assert responses.bodies and not any(responses.containing(v) for v in POOL)
    assert page.locator("#player-a a[data-testid=download-link]").get_attribute("download") == "A.wav"
    # The pickers are hidden, and the two files cannot be told apart without listening.
    assert not ab.get_by_role("combobox", name="Voice A").is_visible()
    fetched = [page.request.get(page.locator(f"#player-{x} a[data-testid=download-link]").get_attribute("href"))
               for x in "ab"]
    assert len(fetched[0].body()) == len(fetched[1].body()) and fetched[0].body() != fetched[1].body()
    assert sound_info(fetched[0].body()).frames == sound_info(fetched[1].body()).frames
    vote_a = ab.get_by_role("button", name="A is better")
    assert vote_a.is_disabled()
    page.locator("#player-a").get_by_role("button", name="Play", exact=True).click()
    wait_until(lambda: "Now play B" in page.locator("#ab-status").inner_text(), 15, "A to count as played")
    assert vote_a.is_disabled()
    page.locator("#player-b").get_by_role("button", name="Play", exact=True).click()
    wait_until(vote_a.is_enabled, 15, "the vote to unlock")
    vote_a.click()  # at once: the server has not heard enough listening yet
    page.get_by_text("Listen a little longer").first.wait_for(timeout=15_000)
    assert VoteStore(votes_db).votes() == []  # the arena's (a listening test's votes may share the file)
    page.wait_for_timeout(3200)
    vote_a.click()
    wait_until(lambda: "A was" in page.locator("#reveal").inner_text(), 15, "the reveal")
    assert ab.get_by_role("combobox", name="Voice A").is_visible()
    reveal = page.locator("#reveal").inner_text()
    named = re.search(r"A was (\w+) .* B was (\w+) ", reveal)
    assert named and {named[1], named[2]} <= set(POOL) and named[1] != named[2], reveal
    assert named[1] in page.locator("#player-a [data-testid=block-label]").inner_text()
    assert ab.get_by_role("combobox", name="Voice A").input_value().startswith(named[1])
    [vote] = VoteStore(votes_db).votes()
    assert (vote.voice_a, vote.voice_b, vote.outcome, vote.blind, vote.language) == (
        named[1], named[2], "a", True, "en-us")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ab.png"), full_page=True)
    page.get_by_role("tab", name="Leaderboard").click()
    wait_until(lambda: len(table_rows(page, 'board')) == 2, 15, "two voices on the board")
    rows = table_rows(page, 'board')
    assert [r[1] for r in rows] == [named[1], named[2]]  # the winner first
    assert int(rows[0][3]) > 1000 > int(rows[1][3]) and rows[0][5] == "1" and rows[0][6] == "1–0–0" and rows[0][7] == "preliminary"
    assert "1 vote" in page.locator("#board-summary").inner_text()
    page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)


def test_export_gives_a_csv_of_the_votes(page, votes_db):
    page.get_by_role("tab", name="Leaderboard").click()
    page.get_by_role("button", name="Export votes (CSV)").click()
    link = page.locator("#votes-csv a[download]").first
    link.wait_for(timeout=15_000)
    assert re.match(r"kokoro-votes-\d{8}-\d{6}\.csv", link.get_attribute("download"))
    with page.expect_download() as download:
        link.click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    stored = VoteStore(votes_db).votes(include_tests=True)  # the export holds the listening tests' votes too
    assert stored and len(rows) == len(stored)
    assert [(r["voice_a"], r["voice_b"], r["outcome"]) for r in rows] == [
        (v.voice_a, v.voice_b, v.outcome) for v in stored]


def test_an_audition_gives_one_player_per_voice_and_a_clip_goes_to_ab_and_history(page):
    page.get_by_role("tab", name="Audition").click()
    tab = page.locator("#audition-tab")
    pick(tab, page, "Language", "हिन्दी")
    wait_until(lambda: "4 voices" in tab.locator("#audition-count").inner_text(), 15, "the Hindi voices")
    assert sorted(r[0] for r in table_rows(page, "catalog-table")) == ["hf_alpha", "hf_beta", "hm_omega", "hm_psi"]
    tab.get_by_role("button", name="Audition").click()
    page.get_by_text("Done: 4 voices").wait_for(timeout=SYNTH_TIMEOUT_MS)
    results = tab.locator("#audition-results")
    # The players are re-rendered as each clip arrives; the last may land just after "Done".
    wait_until(lambda: results.locator("audio[src]").count() == 4, 15, "four players")
    labels = results.locator("[data-testid=block-label]").all_inner_texts()
    assert sorted(label.split(" · ")[0].strip() for label in labels) == ["hf_alpha", "hf_beta", "hm_omega", "hm_psi"]
    assert results.locator("audio[src]").count() == 4
    href = results.locator("a[data-testid=download-link]").first.get_attribute("href")
    assert sound_info(page.request.get(href).body()).duration > 0.3
    page.screenshot(path=str(ARTIFACTS / "audition.png"), full_page=True)
    results.get_by_role("button", name="Use as B").nth(1).click()
    ab = page.locator("#ab-tab")
    wait_until(ab.is_visible, 15, "the A/B tab")
    second = labels[1].split(" · ")[0].strip()
    assert ab.get_by_role("combobox", name="Voice B").input_value().startswith(second)
    ab.get_by_role("checkbox", name=re.compile("Blind test")).uncheck()
    ab.get_by_role("button", name="Generate A/B").click()
    wait_until(lambda: second in page.locator("#player-b [data-testid=block-label]").inner_text(), 30,
               "side B from the cache")
    page.get_by_role("tab", name="History").click()
    history = page.locator("#history-tab")
    wait_until(lambda: history.locator("audio[src]").count() >= 6, 15, "4 auditions and 2 A/B clips")
    texts = history.locator("[data-testid=block-label]").all_inner_texts()
    assert sum("Audition" in t for t in texts) == 4 and sum("A/B" in t for t in texts) == 2
