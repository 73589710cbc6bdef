"""The Pronunciations panel and captions on Generate: handlers called directly (a session's words
change what Generate sends and speaks), then the same in a real browser."""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import pytest
import srt as srt_parser

from tests.ui_helpers import ARTIFACTS, status_text
from ui.backends import LocalBackend
from ui.studio.clips import ClipMaker
from ui.tabs.generate import OUTPUTS, Studio
from ui.tabs.pronunciations import Pronouncer
from worker.text import lexicon

SYNTH_TIMEOUT_MS = 180_000


@pytest.fixture
def pronouncer(engine, catalog, tmp_path):
    return Pronouncer(ClipMaker(LocalBackend(engine), catalog), catalog, out_dir=tmp_path)


def test_keep_remove_and_export_a_lexicon_file_a_worker_can_load(pronouncer, catalog, tmp_path):
    entries, rows, _ = pronouncer.add({}, "en-us", " Kokoro ", "kˈOkəɹO")
    entries, rows, _ = pronouncer.add(entries, "ja", "東京", "toːkʲoː")
    assert rows == [["en-us", "Kokoro", "kˈOkəɹO"], ["ja", "東京", "toːkʲoː"]]
    exported = Path(pronouncer.export(entries)["value"])
    assert lexicon.load(exported, catalog) == entries
    entries, rows, _ = pronouncer.remove(entries, "ja", "東京")
    assert entries == {"en-us": {"Kokoro": "kˈOkəɹO"}} and len(rows) == 1


@pytest.mark.parametrize("word, phonemes, says", [("", "abc", "the word must be"),
                                                  ("[x]", "abc", "the word must be"),
                                                  ("Kokoro", "", "the phonemes must be")])
@pytest.mark.hostile
def test_a_bad_entry_is_a_toast(pronouncer, word, phonemes, says):
    with pytest.raises(gr.Error, match=says):
        pronouncer.add({}, "en-us", word, phonemes)


@pytest.mark.hostile
def test_keep_refuses_phonemes_the_model_has_no_sound_for(pronouncer):
    # It kept them, and Generate then said nothing for those symbols (issue 23's first defect).
    with pytest.raises(gr.Error, match="'ǂ' has no sound in Kokoro v1.0"):
        pronouncer.add({}, "en-us", "Kokoro", "kˈOǂkəɹO")
    entries, _, _ = pronouncer.add({}, "en-us", "Kokoro", "kˈOkəɹO")  # the model's own symbols are kept
    assert entries == {"en-us": {"Kokoro": "kˈOkəɹO"}}


@pytest.mark.hostile
def test_hear_it_speaks_the_phonemes_and_refuses_unknown_symbols(pronouncer):
    import soundfile as sf

    path = pronouncer.hear("en-us", "Kokoro", "kˈOkəɹO")
    assert sf.info(path).duration > 0.2
    with pytest.raises(gr.Error, match="has no sound"):
        pronouncer.hear("en-us", "Kokoro", "ǂǂǂ")


def test_generate_applies_the_sessions_pronunciations_and_gives_captions(engine, catalog, tmp_path):
    studio = Studio(LocalBackend(engine), catalog, out_dir=tmp_path)
    mine = {"en-us": {"Kokoro": "kˈOkəɹO"}}
    steps = list(studio.generate("Kokoro speaks clearly. Then it stops.", "en-us", "af_heart", 1.0, True, "wav",
                                 None, mine, progress=lambda *a, **k: None))
    last = steps[-1]
    assert "kˈOkəɹO" in last[OUTPUTS.index("phonemes")]
    assert "Kokoro speaks clearly." in last[OUTPUTS.index("captions")]  # the word the reader wrote
    srt_file, vtt_file = sorted(last[OUTPUTS.index("caption_files")]["value"])
    cues = list(srt_parser.parse(Path(srt_file).read_text(encoding="utf-8")))
    assert " ".join(c.content for c in cues).split() == "Kokoro speaks clearly. Then it stops.".split()
    assert Path(vtt_file).read_text(encoding="utf-8").startswith("WEBVTT")


def test_the_panel_in_a_browser(browser, local_studio):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.set_default_timeout(30_000)
        page.goto(local_studio.url)
        page.get_by_text("Pronunciations", exact=True).click()
        page.get_by_label("Word").fill("Kokoro")
        page.get_by_label("Phonemes", exact=True).fill("kˈOkəɹO")
        page.get_by_role("button", name="Hear it").click()
        page.locator("#pronunciation-audio audio[src]").wait_for(state="attached", timeout=SYNTH_TIMEOUT_MS)
        page.get_by_role("button", name="Keep").click()
        table = page.locator("#pronunciations")
        table.get_by_text("kˈOkəɹO").locator("visible=true").first.wait_for()
        page.get_by_label("Text").fill("Kokoro reads this. Then it stops.")
        page.get_by_role("button", name="Generate").click()
        page.locator("#download a[data-testid=download-link]").wait_for(timeout=SYNTH_TIMEOUT_MS)
        assert "Done" in status_text(page)
        cues = page.get_by_role("table", name="Captions").inner_text()
        assert "Kokoro reads this." in cues and re.search(r"0:00\.0 – \d:\d\d\.\d", cues), cues
        page.get_by_text("Phonemes", exact=True).last.click()
        assert "kˈOkəɹO" in page.locator("#phonemes textarea").input_value()
        assert page.locator("#caption-files a[download$='.vtt']").count() == 1
        page.get_by_role("button", name="Export lexicon (YAML)").click()
        page.locator("a[download='lexicon.yaml']").wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "captions.png"), full_page=True)
    finally:
        context.close()


MINE = {"en-us": {"Kokoro": "kˈOkəɹO"}}


def _texts_made(clips: ClipMaker) -> set[str]:
    return {key.text for key in clips.cache._clips}


def test_ab_and_audition_apply_the_sessions_pronunciations_too(engine, catalog, tmp_path):
    from ui.tabs.ab import ABDesk
    from ui.tabs.audition import Auditioner

    clips = ClipMaker(LocalBackend(engine), catalog)
    desk = ABDesk(clips, catalog, votes_path=tmp_path / "votes.db", out_dir=tmp_path / "out")
    rnd = desk.compare("en-us", "Kokoro speaks.", "af_heart", 1.0, "am_adam", 1.0, False, [], MINE,
                       progress=lambda *a, **k: None)[-2]
    assert rnd.text == "Kokoro speaks."  # the round and the history show what the user wrote
    assert _texts_made(clips) == {"[Kokoro](/kˈOkəɹO/) speaks."}
    auditioner = Auditioner(clips, catalog, out_dir=tmp_path / "out")
    list(auditioner.audition("Kokoro listens.", ["af_heart"], "en-us", 1.0, [], None, MINE,
                             progress=lambda *a, **k: None))
    assert "[Kokoro](/kˈOkəɹO/) listens." in _texts_made(clips)
