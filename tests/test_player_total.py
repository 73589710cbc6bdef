"""Generate's streaming player and the total it shows, in a real browser (issue 23, part 6).

Gradio's streaming player is a native <audio> fed chunk by chunk, so its duration (the "0:00 / 0:06"
of Chromium's controls) is the audio received so far: 6 s into a 25 s text it says 0:06, and it
grows as chunks arrive (measured: 16.3, 30.8, 37.1, then 49.8 s for a 49.8 s text; still 37.1 when
the status already said Done). The page hides that total on this player and says the expected
one itself, in the status line while it streams and in the details once done."""

from __future__ import annotations

import re

import pytest

from tests.ui_helpers import ARTIFACTS, studio_page, wait_until

pytestmark = pytest.mark.browser

SYNTH_TIMEOUT_MS = 180_000
TEXT = " ".join(f"This is sentence number {n} of a text that streams in several chunks." for n in range(1, 7))
HIDDEN_TOTAL = """() => [...document.styleSheets].some(sheet => {
    try { return [...sheet.cssRules].some(rule => rule.selectorText &&
        rule.selectorText.includes('#player audio::-webkit-media-controls-time-remaining-display') &&
        rule.style.display === 'none'); } catch (e) { return false; } })"""


@pytest.fixture
def page(browser, local_studio):
    context, page = studio_page(browser, local_studio.url, width=390, height=900)
    page.get_by_role("button", name="Generate").wait_for()
    yield page
    context.close()


def test_while_streaming_the_page_says_the_expected_total_and_hides_the_players_partial_one(page):
    page.get_by_label("Text").fill(TEXT)
    page.get_by_role("button", name="Generate").click()
    wait_until(lambda: page.locator("#player audio[src]").count() or "Done" in page.locator("#status").inner_text(),
               SYNTH_TIMEOUT_MS / 1000, "the player's first audio")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "player-first-audio.png"))
    assert page.locator("#player audio[src]").count(), page.locator("#status").inner_text()
    wait_until(lambda: page.locator("#player audio").evaluate("a => a.duration > 0"), 60, "the first audio")
    partial = page.locator("#player audio").evaluate("a => a.duration")
    said = page.locator("#status").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#outputs").screenshot(path=str(ARTIFACTS / "player-streaming.png"))
    assert page.evaluate(HIDDEN_TOTAL), "the player's own (partial) total is still shown"
    page.locator("#details").get_by_text(re.compile(r"s of audio")).wait_for(timeout=SYNTH_TIMEOUT_MS)
    final = float(re.search(r"([\d.]+) s of audio", page.locator("#details").inner_text()).group(1))
    assert partial < 0.8 * final  # the situation the fix is for: the player has only part of the audio
    expected = re.search(r"~(\d+) s in all", said)
    assert expected, f"the status line gave no expected total while streaming: {said!r}"
    assert abs(int(expected.group(1)) - final) <= 0.25 * final, (said, final)
    assert page.evaluate(HIDDEN_TOTAL)  # still hidden once done: the last chunk reaches the player late
