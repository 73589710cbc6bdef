"""The studio in a real browser: `python ui/app.py` in a subprocess, Debian's chromium via Playwright.

Elements are found by role and label, as a person finds them. The local-backend app synthesizes
with the stand-in weights; a second app uses the RunPod backend against the loopback cloud with a
planted API key, to show the key never reaches the browser.
"""

from __future__ import annotations

import re

import pytest

from loopback.cloud import LoopbackCloud
from tests.ui_helpers import (
    ARTIFACTS,
    PLANTED_KEY,
    ResponseLog,
    choose,
    open_options,
    running_app,
    sound_info,
    status_text,
    wait_until,
)

pytestmark = pytest.mark.browser

NAME = re.compile(r"^en-us_af_heart_\d{8}-\d{6}\.flac$")
SYNTH_TIMEOUT_MS = 180_000  # the stand-in model on 2 busy cores can be slow; never unbounded


@pytest.fixture(scope="module")
def local_app(local_studio):
    return local_studio  # conftest: one studio without ffmpeg on its PATH, shared by the run


def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    responses = ResponseLog(page)
    page.goto(url)
    page.get_by_role("button", name="Generate").wait_for()
    return context, page, responses


@pytest.fixture
def page(browser, local_app):
    context, page, _ = open_page(browser, local_app.url)
    yield page
    context.close()


def voice_value(page) -> str:
    return page.get_by_role("combobox", name="Voice").input_value()


def test_page_is_a_product_that_says_it_runs_locally(page):
    assert page.title() == "Kokoro Voice Studio"
    page.get_by_role("heading", name="Kokoro Voice Studio").wait_for()
    assert "Running locally" in page.locator("#backend").inner_text()
    for label in ("Language", "Voice", "Output format"):
        assert page.get_by_role("combobox", name=label).is_visible()
    assert page.get_by_label("Text").input_value().startswith("Kokoro is an open-weight")
    assert voice_value(page).startswith("af_heart — female · grade A · v1.0")
    assert page.get_by_role("button", name="Stop").is_visible()


def test_japanese_leaves_only_japanese_voices(page):
    choose(page, "Language", "日本語")
    wait_until(lambda: voice_value(page).startswith("jf_alpha"), 10, "the best Japanese voice")
    options = open_options(page, "Voice")
    assert len(options) == 5 and all(re.match(r"^j[fm]_\w+ — ", o) for o in options), options
    assert page.get_by_label("Text").input_value() == "ココロは軽くて速い音声合成モデルです。今日はいい天気ですね。"
    assert not page.get_by_role("radio", name="v1.1-zh").is_visible()  # one model: no filter


def test_chinese_offers_both_models_and_the_filter_reaches_every_voice(page):
    choose(page, "Language", "中文")
    wait_until(lambda: voice_value(page).startswith("zf_xiaobei"), 10, "the best Chinese voice")
    options = open_options(page, "Voice")
    assert any(o.endswith("· v1.0") for o in options) and any(o.endswith("· v1.1-zh") for o in options)
    page.get_by_role("radio", name="v1.1-zh").check()
    wait_until(lambda: voice_value(page).endswith("v1.1-zh"), 10, "a v1.1-zh voice")
    options = open_options(page, "Voice")
    assert len(options) == 100 and all(o.endswith("· v1.1-zh") for o in options)
    page.get_by_role("radio", name="v1.0").check()
    wait_until(lambda: voice_value(page).endswith("v1.0"), 10, "a v1.0 voice")
    options = open_options(page, "Voice")
    assert len(options) == 8 and all(o.endswith("· v1.0") for o in options)


def test_a_phone_sees_every_tab_and_whole_boxes(browser, local_app):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(local_app.url)
    page.get_by_role("button", name="Generate").wait_for()
    tabs = page.get_by_role("tab")
    wait_until(lambda: tabs.count() == 6, 15, "six tabs in the tab bar")
    for tab in tabs.all():  # none behind the "More tabs" menu, none past the screen's edge
        box = tab.bounding_box()
        assert tab.is_visible() and box["x"] >= 0 and box["x"] + box["width"] <= 390, tab.inner_text()
    assert not page.get_by_role("button", name="More tabs").is_visible()
    for name in ("Generate", "A/B test", "Audition"):
        tabs.filter(has_text=name).first.click()
        language = page.get_by_role("combobox", name="Language").locator("visible=true").first
        box = language.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] >= 200, (name, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing scrolls sideways
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone.png"))
    context.close()


def test_generate_plays_and_downloads_the_chosen_format(page):
    choose(page, "Output format", "flac")
    page.get_by_label("Text").fill("Hello from the studio. This is a second sentence.")
    page.get_by_role("button", name="Generate").click()
    link = page.locator("#download a[data-testid=download-link]")
    link.wait_for(timeout=SYNTH_TIMEOUT_MS)
    name = link.get_attribute("download")
    assert NAME.match(name), name
    data = page.request.get(link.get_attribute("href")).body()
    info = sound_info(data)
    assert info.format == "FLAC" and info.samplerate == 24000 and info.duration > 0.5
    # The streamed player: it has a source and actually advances.
    assert page.locator("#player audio[src]").count() == 1
    wait_until(lambda: page.locator("#player audio").evaluate("a => a.currentTime > 0 || a.ended"),
               30, "the audio to play")
    assert "Done" in status_text(page)
    details = page.locator("#details").inner_text()
    assert re.search(r"\d+\.\d\d s of audio · synthesized in \d+\.\d\d s", details), details
    page.get_by_text("Phonemes", exact=True).click()
    assert page.locator("#phonemes textarea").input_value().strip()  # (its copy button hides the label)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui.png"), full_page=True)


def test_empty_text_shows_an_error_toast_and_the_page_keeps_working(page):
    page.get_by_label("Text").fill("")
    page.get_by_role("button", name="Generate").click()
    toast = page.locator("[data-testid=toast-body]")
    toast.first.wait_for()
    assert "'text' is empty; give some text to speak." in toast.first.inner_text()
    assert "Traceback" not in page.content()
    # The status line says it, readable: Gradio's red "Error" pill covered it.
    wait_until(lambda: "'text' is empty" in status_text(page), 10, "the status line to say it")
    assert not page.locator("#status [data-testid=status-tracker] .error").is_visible()
    page.get_by_label("Text").fill("Fine.")
    page.get_by_role("button", name="Generate").click()
    page.locator("#download a[data-testid=download-link]").wait_for(timeout=SYNTH_TIMEOUT_MS)
    # Output files are the visitor's to take, not to remove: no "×" on the download or the captions.
    page.locator("#caption-files").get_by_text(".vtt").first.wait_for()
    assert page.get_by_role("button", name="Remove this file").filter(visible=True).count() == 0


def test_stop_ends_a_long_run(page):
    page.get_by_label("Text").fill(" ".join(f"Sentence {i}." for i in range(150)))
    page.get_by_role("button", name="Generate").click()
    # G2P is lazy: the page counts chunks ("chunk 3") until G2P has reached the end ("of 150").
    page.get_by_text(re.compile(r"(Speaking|Making audio) · chunk \d+")).first.wait_for(timeout=SYNTH_TIMEOUT_MS)
    page.get_by_role("button", name="Stop").click()
    wait_until(lambda: "Stopped" in status_text(page), 30, "the run to stop")
    assert page.locator("#download a[data-testid=download-link]").count() == 0


# --- the API key stays on the server ------------------------------------------------------------

@pytest.fixture(scope="module")
def cloud():
    with LoopbackCloud(api_key=PLANTED_KEY, endpoint_id="ep-browser", poll_hold_s=0.3) as c:
        yield c


@pytest.fixture(scope="module")
def runpod_app(cloud):
    # No worker: jobs wait in the queue (for Cancel) or end by an injected outcome.
    with running_app(RUNPOD_ENDPOINT_ID=cloud.endpoint_id, RUNPOD_API_KEY=PLANTED_KEY,
                     RUNPOD_API_BASE=cloud.url) as app:
        yield app


@pytest.mark.hostile
def test_runpod_key_never_reaches_the_browser(browser, runpod_app, cloud):
    context, page, responses = open_page(browser, runpod_app.url)
    try:
        assert "RunPod Serverless" in page.locator("#backend").inner_text()
        assert page.get_by_role("button", name="Cancel").is_visible()
        # A failing worker and a proxy page that both echo the key back to the app.
        cloud.add_fault("outcome", status="FAILED", error=f"Bearer {PLANTED_KEY} was bad", after_s=0.5)
        page.get_by_role("button", name="Generate").click()
        toast = page.locator("[data-testid=toast-body]")
        toast.first.wait_for()
        assert "The RunPod worker failed" in toast.first.inner_text()
        cloud.add_fault("status", code=418, on="stream", error=f"teapot saw {PLANTED_KEY}")  # RUNPOD_STREAM
        page.get_by_role("button", name="Generate").click()
        # Gradio groups toasts of one kind into one body, listing each message.
        wait_until(lambda: "HTTP 418" in " ".join(toast.all_inner_texts()), 30, "the second error")
        assert len(responses.bodies) > 10
        assert responses.containing(PLANTED_KEY) == []
        assert PLANTED_KEY not in page.content()
        assert PLANTED_KEY not in runpod_app.log()
    finally:
        context.close()


@pytest.mark.hostile
def test_runpod_progress_and_cancel(browser, runpod_app, cloud):
    context, page, responses = open_page(browser, runpod_app.url)
    try:
        before = len(cloud.jobs())
        page.get_by_role("button", name="Generate").click()
        page.get_by_text(re.compile(r"In queue · \d+ s")).first.wait_for()
        page.get_by_role("button", name="Cancel").click()
        wait_until(lambda: "Cancelled" in status_text(page), 30, "the cancel to show")
        jobs = cloud.jobs()[before:]
        assert [j["status"] for j in jobs] == ["CANCELLED"]
        assert responses.containing(PLANTED_KEY) == []
    finally:
        context.close()
