"""A listening test in a real browser (Debian's chromium via Playwright) against `python ui/app.py`
on the stand-in weights: a lead creates it in the Tests tab, two raters (two browser contexts, so
two local storages) vote through their whole sequence from the keyboard, one of them reloading
half-way, and the lead reads the results and downloads the exports."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.test_ui_studio_browser import pick
from tests.ui_helpers import ARTIFACTS, studio_page, wait_until
from ui.studio.votes import VoteStore

pytestmark = pytest.mark.browser

SYNTH_TIMEOUT_MS = 180_000
SCRIPT = "The boat drifted past the pier.\nA quiet lake at dawn."
VOICES = ["af_heart", "am_adam"]


def create_test(page, name: str) -> str:
    """The lead's steps in the Tests tab; returns the link for raters."""
    page.get_by_role("tab", name="Tests").click()
    tab = page.locator("#tests-tab")
    tab.get_by_role("textbox", name="Test name").fill(name)
    for voice in VOICES:
        pick(tab, page, "Voices to compare", voice)
    tab.get_by_role("textbox", name="Script").fill(SCRIPT)
    tab.get_by_role("button", name="Create test").click()
    link = tab.get_by_role("textbox", name="Link for raters")
    wait_until(lambda: "?test=" in link.input_value(), 30, "the test's link")
    return link.input_value()


def at_pair(page, text: str) -> None:
    page.locator("#rater-progress").get_by_text(text).wait_for(timeout=SYNTH_TIMEOUT_MS)


def listen_and_vote(page, key: str) -> None:
    """Space until the server has seen both clips start (space plays A, then B; a press while a
    clip still plays pauses it, a press before the player is ready does nothing: a rater presses
    again), then the vote's key once each clip has had its 3 s."""
    vote_a = page.locator("#rate-a")
    assert vote_a.is_disabled()  # nothing played yet: no vote
    page.locator("#rater-a").get_by_role("button", name="Play", exact=True).wait_for()
    both = page.locator("#rater-status").get_by_text("which is better")
    for _ in range(6):
        page.keyboard.press(" ")
        with contextlib.suppress(PlaywrightTimeout):
            both.wait_for(timeout=2_500)
            break
    else:
        raise AssertionError("space never started both clips")
    wait_until(vote_a.is_enabled, 10, "the vote buttons after both clips started")
    page.wait_for_timeout(3_200)  # the server's rule: min(3 s, the clip) of each side
    page.keyboard.press(key)
    page.locator("#rater-status").get_by_text("Saved").wait_for()
    assert vote_a.is_disabled()  # one vote per pair


def test_two_raters_vote_by_keyboard_resume_after_a_reload_and_the_lead_reads_and_exports(browser, local_studio,
                                                                                         votes_db):
    lead_context, lead = studio_page(browser, local_studio.url)
    lead.get_by_role("tab", name="Generate").wait_for()
    link = create_test(lead, "Support voice, round 1")
    test_id = link.rsplit("=", 1)[1]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?test=[A-Za-z0-9_-]+", link)

    one_context, one = studio_page(browser, link)
    at_pair(one, "Pair 1 of 2")
    assert not one.get_by_role("tab", name="Generate").is_visible()  # the link shows only the test
    assert one.locator("#rater").get_by_text("Support voice, round 1").is_visible()
    assert not one.get_by_text("af_heart").is_visible() and not one.get_by_text("am_adam").is_visible()
    one.get_by_role("textbox", name="Your name (optional)").fill("Rater One")
    one.get_by_role("textbox", name="Your name (optional)").press("Tab")
    listen_and_vote(one, "a")
    one.keyboard.press("n")
    at_pair(one, "Pair 2 of 2")
    one.screenshot(path=str(ARTIFACTS / "rater-1280.png"), full_page=True)
    one.reload()  # the rater's id stays in this browser: the sequence resumes at its second pair
    at_pair(one, "Pair 2 of 2")
    assert one.get_by_role("textbox", name="Your name (optional)").input_value() == "Rater One"
    listen_and_vote(one, "t")
    one.keyboard.press("n")
    one.locator("#rater-status").get_by_text("All 2 pairs rated").wait_for(timeout=SYNTH_TIMEOUT_MS)

    two_context, two = studio_page(browser, link, width=390)  # a second rater, on a phone: one pair is enough
    at_pair(two, "Pair 1 of 2")
    two.screenshot(path=str(ARTIFACTS / "rater-390.png"), full_page=True)
    listen_and_vote(two, "b")

    stored = VoteStore(votes_db).votes(test_id=test_id)
    assert sorted(v.outcome for v in stored) == ["a", "b", "tie"]
    assert len({v.rater for v in stored}) == 2 and {v.pair_index for v in stored} == {0, 1}

    tab = lead.locator("#tests-tab")
    tab.get_by_role("button", name="Show results").click()
    lead.locator("#test-summary").get_by_text("3 votes").wait_for()
    assert "from 2 raters" in lead.locator("#test-summary").inner_text()
    assert "Rater One" in lead.locator("#tests-tab").inner_text()
    lead.screenshot(path=str(ARTIFACTS / "test-results-1280.png"), full_page=True)
    tab.get_by_role("button", name="Export").click()
    links = lead.locator("#test-exports a[download]")
    wait_until(lambda: links.count() == 3, 30, "three export files")
    # ours to hand out: no "×" to remove them (visible before the `handout` class)
    assert lead.locator("#test-exports").get_by_role("button", name="Remove this file").filter(visible=True).count() == 0
    fetched = {}
    for link in links.all():
        with lead.expect_download() as download:
            link.click()
        fetched[link.get_attribute("download").rsplit(".", 1)[-1]] = open(download.value.path(), encoding="utf-8").read()
    rows = list(csv.DictReader(io.StringIO(fetched["csv"])))
    assert sorted(r["outcome"] for r in rows) == ["a", "b", "tie"]
    assert json.loads(fetched["json"])["progress"] == {"raters": 2, "votes": 3, "pairs_left": 1}
    assert "Support voice, round 1" in fetched["md"]
    for context in (lead_context, one_context, two_context):
        context.close()


def test_a_link_to_no_test_says_so_and_shows_nothing_else(browser, local_studio):
    context, page = studio_page(browser, f"{local_studio.url}?test=abcdefgh")
    page.get_by_text("There is no test abcdefgh").wait_for()
    assert not page.get_by_role("tab", name="Generate").is_visible()
    assert page.locator("#rate-a").is_disabled()
    context.close()
