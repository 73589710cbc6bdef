"""A rater's page and the Tests tab, through their callbacks (ui/tabs/rater.py, ui/tabs/tests.py):
what a `?test=` link opens, pairs in the rater's stored order, the A/B tab's vote rules, the lead's
script upload and results."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from tests.test_ab import Clock, Request, desk  # noqa: F401 (the A/B desk fixture, its clock and requests)
from tests.test_ab import clock  # noqa: F401
from ui.studio import listening
from ui.tabs.rater import RaterDesk
from ui.tabs.tests import TestDesk

NO_PROGRESS = lambda *a, **k: None  # noqa: E731


def page_request(query: dict | None = None, address: str = "151.101.1.69"):
    request = Request(address=address)
    request.query_params = query or {}
    return request


@pytest.fixture
def made(desk, catalog):  # noqa: F811
    return listening.create(desk.store, catalog, "Support line", "en-us", "The boat drifted.\nA quiet lake.",
                            "af_heart,am_adam")


def open_pair(raters: RaterDesk, test_id: str, rater: str):
    current, player_a, player_b, status, *buttons, next_btn, position = raters.next_pair(
        test_id, rater, progress=NO_PROGRESS)
    return current, player_a, player_b, status, buttons, next_btn, position


def test_without_a_test_link_the_studio_shows_as_always(desk):  # noqa: F811
    studio, view, *_ = RaterDesk(desk).open_page(None, page_request())
    assert studio["visible"] is True and view["visible"] is False


def test_a_link_opens_only_its_test_with_a_new_rater_id_kept_by_the_browser(desk, made):  # noqa: F811
    studio, view, heading, rater, test_id, name = RaterDesk(desk).open_page(None, page_request({"test": made.id}))
    assert studio["visible"] is False and view["visible"] is True
    assert "Support line" in heading and "af_heart" not in heading
    assert listening.is_rater(rater) and test_id == made.id and name == ""
    again = RaterDesk(desk).open_page(rater, page_request({"test": made.id}))
    assert again[3] == rater  # a returning browser keeps its id


@pytest.mark.hostile
@pytest.mark.parametrize("wanted, says", [("abcdefgh", "There is no test abcdefgh"),
                                          ("../../etc/passwd", "is not a test id or link")])
def test_a_bad_link_says_why_and_opens_nothing(desk, wanted, says):  # noqa: F811
    studio, view, heading, rater, test_id, _ = RaterDesk(desk).open_page(None, page_request({"test": wanted}))
    assert studio["visible"] is False and view["visible"] is True and says in heading and test_id is None


def test_a_rater_goes_through_the_stored_sequence_and_a_vote_counts_under_the_ab_rules(desk, clock, made):  # noqa: F811
    raters = RaterDesk(desk)
    rater = listening.new_rater()
    order = listening.rater_pairs(desk.store, made, rater)
    for k, pair in enumerate(order):
        current, player_a, player_b, status, buttons, next_btn, position = open_pair(raters, made.id, rater)
        assert current.index == pair.index and position == f"**Pair {k + 1} of {len(order)}**"
        shown = str((player_a, player_b, status, position))
        assert "af_heart" not in shown and "am_adam" not in shown  # blind
        assert {current.round.sides[0].voice, current.round.sides[1].voice} == {pair.left, pair.right}
        assert current.round.sides[0].voice == pair.left  # the stored side, not a fresh shuffle
        with pytest.raises(gr.Error, match="Play A and B before voting"):
            raters.vote("a", current, page_request())
        raters.played(0, current)
        raters.played(1, current)
        with pytest.raises(gr.Error, match="Listen a little longer"):
            raters.vote("a", current, page_request())
        clock.now += 3.0
        status, *buttons, next_btn = raters.vote("tie", current, page_request())
        assert "Saved" in status and next_btn["interactive"] and not any(b["interactive"] for b in buttons)
        with pytest.raises(gr.Error, match="has a vote already"):
            raters.vote("a", current, page_request())
    current, *_, status, buttons, next_btn, position = open_pair(raters, made.id, rater)
    assert current is None and "All 2 pairs rated" in status and not next_btn["interactive"]
    stored = desk.store.votes(test_id=made.id)
    assert [v.pair_index for v in stored] == [p.index for p in order] and {v.outcome for v in stored} == {"tie"}
    assert desk.store.votes() == []  # the arena's leaderboard does not see a test's votes


def test_a_rater_name_is_kept_and_shown_on_return(desk, made):  # noqa: F811
    raters, rater = RaterDesk(desk), listening.new_rater()
    raters.rename(made.id, rater, "  Ana   María  ")
    assert raters.open_page(rater, page_request({"test": made.id}))[5] == "Ana María"
    assert listening.results(desk.store, made.id)["per_rater"][0]["name"] == "Ana María"


def test_the_lead_uploads_a_script_and_reads_the_results(desk, catalog, made, tmp_path):  # noqa: F811
    tests = TestDesk(desk, catalog)
    script = tmp_path / "script.txt"
    script.write_bytes("\ufeffFirst line.\nSecond line.\n".encode("utf-8"))
    assert tests.read_script(str(script)) == "First line.\nSecond line.\n"
    link, note, picker = tests.create("Round two", "en-us", "First line.\nSecond line.", ["af_heart", "bf_emma"],
                                      SimpleNamespace(headers={"host": "studio.example"}, url=None))
    assert link.startswith("http://studio.example/?test=") and "2 pairs per rater" in note
    assert picker.value == link.rsplit("=", 1)[1] and len(picker.choices) == 2
    summary, ratings, figure, per_sentence, per_rater = tests.show(made.id)
    assert "0 votes" in summary and list(per_sentence["Sentence"]) == ["The boat drifted.", "A quiet lake."]


@pytest.mark.hostile
@pytest.mark.parametrize("content, says", [(b"\xff\xfe\x00bad", "not UTF-8"), (b"x" * 70_000, "fits in 64 KB")])
def test_a_script_file_that_is_not_a_script_is_one_sentence(desk, catalog, tmp_path, content, says):  # noqa: F811
    path = tmp_path / "script.txt"
    path.write_bytes(content)
    with pytest.raises(gr.Error, match=says):
        TestDesk(desk, catalog).read_script(str(path))


@pytest.mark.hostile
def test_a_test_of_unknown_voices_is_a_toast_not_a_traceback(desk, catalog):  # noqa: F811
    with pytest.raises(gr.Error, match="Unknown voice"):
        TestDesk(desk, catalog).create("T", "en-us", "Hi.", ["af_heart", "zz_nobody"], None)


def test_the_shortlist_opens_the_tests_tab_with_its_language_and_voices(desk, catalog):  # noqa: F811
    tabs, language, voices = TestDesk(desk, catalog).from_shortlist("en-gb", ["bf_emma", "bm_george", "af_heart"])
    assert tabs.selected == "tests" and language == "en-gb"
    assert voices.value == ["bf_emma", "bm_george"]  # a voice of another language is not offered
    with pytest.raises(gr.Error, match="shortlist is empty"):
        TestDesk(desk, catalog).from_shortlist("", [])


def test_clips_served_in_a_test_and_in_ab_play_at_one_loudness(desk, made):  # noqa: F811
    import soundfile as sf

    from tests.test_ab import compare
    from ui.studio import loudness

    rater = listening.new_rater()
    current, player_a, player_b, *_ = open_pair(RaterDesk(desk), made.id, rater)
    ab_a, ab_b = compare(desk, blind=True, a="bf_emma", b="am_michael")[2:4]
    levels = [loudness.loudness(*sf.read(p["value"], dtype="float32")) for p in (player_a, player_b, ab_a, ab_b)]
    assert max(levels) - min(levels) < 0.5, levels
