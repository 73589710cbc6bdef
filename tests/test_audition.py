"""The Audition tab's callbacks: catalog filters, one clip per voice, the cache, the history."""

from __future__ import annotations

import time

import gradio as gr
import pytest

from tests.ui_helpers import sound_info
from ui.backends import LocalBackend
from ui.studio.clips import ClipMaker
from ui.tabs.audition import ANY, Auditioner, filtered, table

NO_PROGRESS = lambda *a, **k: None  # noqa: E731


@pytest.mark.parametrize("language", ["en-us", "ja", "zh"])
def test_the_language_filter_shows_exactly_its_voices_best_first(catalog, language):
    shown = filtered(catalog, language)
    assert sorted(v.id for v in shown) == sorted(v.id for v in catalog.voices if v.language == language)
    ranks = [v.grade_rank for v in shown]
    assert ranks == sorted(ranks)


def test_filters_combine(catalog):
    assert all(v.gender == "male" and v.model == "v1.0" for v in filtered(catalog, ANY, "male", "v1.0"))
    good = filtered(catalog, ANY, ANY, ANY, "B or better")
    assert {v.grade for v in good} == {"A", "A-", "B-"}
    ungraded = filtered(catalog, ANY, ANY, ANY, "Ungraded")
    assert ungraded and all(v.grade is None for v in ungraded)
    assert len(ungraded) == sum(v.grade is None for v in catalog.voices)
    assert len(filtered(catalog)) == len(catalog.voices)
    by_id = [v.id for v in filtered(catalog, "ja", sort="Voice id")]
    assert by_id == sorted(by_id)
    frame = table(catalog, filtered(catalog, "en-gb"))
    assert list(frame["Voice"]) == [v.id for v in filtered(catalog, "en-gb")] and set(frame["Language"]) == {"British English"}


@pytest.fixture
def auditioner(engine, catalog, tmp_path):
    return Auditioner(ClipMaker(LocalBackend(engine), catalog), catalog, out_dir=tmp_path / "out")


def test_on_filter_selects_every_voice_shown(auditioner):
    frame, selection, count = auditioner.on_filter("fr", ANY, ANY, "Any grade", "Grade, best first")
    assert list(frame["Voice"]) == selection.value == ["ff_siwis"] and "1 voice shown" in count


def test_an_audition_of_one_voice_says_so_in_the_singular(auditioner):
    *_, (results, status, _) = auditioner.audition("One sentence.", ["af_heart"], ANY, 1.0, [], progress=NO_PROGRESS)
    assert len(results) == 1 and "Done: 1 voice." in status


def test_an_audition_gives_one_labelled_playable_clip_per_voice_then_replays_from_the_cache(auditioner):
    voices = ["af_heart", "am_adam", "bf_emma"]
    steps = list(auditioner.audition("One sentence.", voices, ANY, 1.0, [], progress=NO_PROGRESS))
    results, status, history = steps[-1]
    assert [r["voice"] for r in results] == voices and "Done: 3 voices" in status
    assert [len(s[0]) for s in steps] == [0, 1, 2, 3, 3]  # each clip shows as it arrives
    for r in results:
        info = sound_info(open(r["path"], "rb").read())
        assert info.samplerate == 24000 and info.duration > 0.3 and r["voice"] in r["path"]
    assert results[2]["language"] == "en-gb"  # "All languages": each voice reads as its own language
    assert [h["voice"] for h in history] == list(reversed(voices))
    started = time.perf_counter()
    again = list(auditioner.audition("One sentence.", voices, ANY, 1.0, history, progress=NO_PROGRESS))[-1]
    assert time.perf_counter() - started < 2.0 and all(r["cached"] for r in again[0])
    assert len(again[2]) == 3  # replays are not new history entries


def test_a_failing_voice_is_reported_in_its_slot_and_no_selection_is_a_toast(auditioner):
    results, status, _ = list(auditioner.audition("", ["af_heart"], "en-us", 1.0, [], progress=NO_PROGRESS))[-1]
    assert "text" in results[0]["error"] and "1 failed" in status
    with pytest.raises(gr.Error, match="Select at least one voice"):
        list(auditioner.audition("Hi.", [], "en-us", 1.0, [], progress=NO_PROGRESS))
