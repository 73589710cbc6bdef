"""The voice shortlist: its store (ui/studio/shortlist.py, in the votes database) and the Audition
tab's Shortlist callbacks (ui/tabs/shortlist.py): star, note and tags, unstar, exports that parse
back, one sentence for a bad value, and a shortlist that survives a restart."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import gradio as gr
import pytest
import yaml

from tests.conftest import REPO
from ui.studio.shortlist import MAX_NOTE_CHARS, MAX_TAG_CHARS, Shortlist
from ui.studio.votes import VoteStore
from ui.tabs.ab import ABDesk
from ui.tabs.shortlist import STAR_OFF, STAR_ON, ShortlistDesk
from worker.core.errors import InputError


@pytest.fixture
def db(tmp_path):
    return tmp_path / "votes.sqlite3"


@pytest.fixture
def shortlist(db, catalog):
    return Shortlist(VoteStore(db), catalog)


@pytest.fixture
def desk(db, catalog, tmp_path):
    return ShortlistDesk(ABDesk(None, catalog, votes_path=db, out_dir=tmp_path / "out"), catalog)


def test_star_note_tags_and_unstar(shortlist):
    entry = shortlist.star("af_heart", "warm, for the app", "warm, Narration, warm ,")
    assert (entry.voice, entry.language, entry.note, entry.tags) == ("af_heart", "en-us", "warm, for the app",
                                                                     ("warm", "Narration"))
    assert shortlist.star("af_heart").note == "warm, for the app"  # starring again keeps the note
    shortlist.star("bf_emma")
    assert shortlist.ids() == ["af_heart", "bf_emma"]
    changed = shortlist.annotate("bf_emma", "  crisp  ", "british")
    assert (changed.note, changed.tags) == ("crisp", ("british",))
    assert shortlist.unstar("af_heart") and not shortlist.unstar("af_heart")
    assert shortlist.ids() == ["bf_emma"]


@pytest.mark.parametrize("call, words", [
    (lambda s: s.star("zz_nobody"), "Unknown voice \"zz_nobody\""),
    (lambda s: s.star(""), "Pick a voice"),
    (lambda s: s.star("af_heart", "x" * (MAX_NOTE_CHARS + 1)), "The note is too long"),
    (lambda s: s.star("af_heart", "", "y" * (MAX_TAG_CHARS + 1)), "is too long"),
    (lambda s: s.star("af_heart", "", ",".join(f"t{i}" for i in range(11))), "at most 10 tags"),
    (lambda s: s.annotate("am_adam", "note", ""), "am_adam is not on the shortlist"),
    (lambda s: s.for_test(), "The shortlist is empty"),
])
def test_bad_values_give_one_sentence(shortlist, call, words):
    with pytest.raises(InputError) as caught:
        call(shortlist)
    text = str(caught.value)
    assert words in text and text.count(". ") == 0 and text.endswith(".") and len(text) < 160
    assert shortlist.ids() == []


def test_exports_parse_back(shortlist):
    shortlist.star("af_heart", 'says "hi", twice\non two lines', "warm, narration")
    shortlist.star("jf_alpha", "日本語のメモ", [])
    rows = list(csv.DictReader(io.StringIO(shortlist.to_csv())))
    assert [(r["voice"], r["language"], r["note"], r["tags"]) for r in rows] == [
        ("af_heart", "en-us", 'says "hi", twice\non two lines', "warm, narration"), ("jf_alpha", "ja", "日本語のメモ", "")]
    data = yaml.safe_load(shortlist.to_yaml())
    assert [(r["voice"], r["note"], r["tags"]) for r in data["shortlist"]] == [
        ("af_heart", 'says "hi", twice\non two lines', ["warm", "narration"]), ("jf_alpha", "日本語のメモ", [])]
    assert all(r["added_at"] for r in data["shortlist"])


def test_the_test_takes_the_most_common_language_and_its_voices(shortlist):
    for voice in ("jf_alpha", "af_heart", "am_adam", "bf_emma"):
        shortlist.star(voice)
    assert shortlist.for_test() == ("en-us", ["af_heart", "am_adam"])
    assert shortlist.for_test(["jf_alpha", "bf_emma"]) == ("ja", ["jf_alpha"])  # a tie: the earliest starred


def test_the_shortlist_survives_a_restart(db, catalog):
    Shortlist(VoteStore(db), catalog).star("af_heart", "keep me", "final")
    assert Shortlist(VoteStore(db), catalog).get("af_heart").note == "keep me"  # a new store, same file
    # Another process (a restarted studio) reads it back from the file.
    script = ("import sys; from ui.studio.shortlist import Shortlist; from ui.studio.votes import VoteStore;"
              "from worker.core.catalog import default_catalog;"
              "print(Shortlist(VoteStore(sys.argv[1]), default_catalog()).to_yaml())")
    out = subprocess.run([sys.executable, "-c", script, str(db)], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    [row] = yaml.safe_load(out)["shortlist"]
    assert (row["voice"], row["note"], row["tags"]) == ("af_heart", "keep me", ["final"])


def test_a_star_does_what_the_page_showed_so_a_click_sent_twice_does_not_undo_itself(desk):
    for _ in range(2):  # a double click, or one click delivered twice: both sent from a page showing ☆
        *_, ids, _ = desk.toggle("af_heart", [])
    assert ids == ["af_heart"]
    for _ in range(2):  # both sent from a page showing ★
        *_, ids, _ = desk.toggle("af_heart", ["af_heart"])
    assert ids == []


def test_callbacks_star_edit_export_and_remove(desk, db, catalog):
    frame, picker, ids, language = desk.toggle("af_heart", [])
    assert list(frame["Voice"]) == ids == ["af_heart"] and list(frame["Language"]) == ["American English"]
    assert picker.choices == [("af_heart", "af_heart")] and language == "en-us"
    assert desk.star_label("af_heart", ids) == STAR_ON and desk.star_label("am_adam", ids) == STAR_OFF
    desk.toggle("am_adam", ids)
    frame, picker, ids, _ = desk.save("am_adam", "deep", "male, calm")
    assert list(frame["Note"]) == ["", "deep"] and list(frame["Tags"]) == ["", "male, calm"] and picker.value == "am_adam"
    assert desk.on_pick("am_adam") == ("deep", "male, calm")
    with pytest.raises(gr.Error, match="The note is too long"):
        desk.save("am_adam", "x" * (MAX_NOTE_CHARS + 1), "")
    assert desk.shortlist_for_test() == ("en-us", ["af_heart", "am_adam"])
    exported = desk.export("csv")
    assert exported.startswith(str(desk.out_dir)) and exported.endswith(".csv")
    assert [r["voice"] for r in csv.DictReader(open(exported, encoding="utf-8"))] == ["af_heart", "am_adam"]
    assert yaml.safe_load(open(desk.export("yaml"), encoding="utf-8"))["shortlist"][1]["tags"] == ["male", "calm"]
    *_, ids, _, note, tags = desk.remove("af_heart")
    assert ids == ["am_adam"] and (note, tags) == ("", "")
    frame, _, ids, _ = desk.toggle("am_adam", ids)  # the star again: off
    assert ids == [] and frame.empty
    with pytest.raises(gr.Error, match="The shortlist is empty"):
        desk.export("csv")
    with pytest.raises(gr.Error, match="The shortlist is empty"):
        desk.shortlist_for_test()
    desk.toggle("bf_emma", ids)  # one database: the A/B desk's vote store holds the shortlist
    with VoteStore(db).connection() as conn:
        assert [r[0] for r in conn.execute("SELECT voice FROM shortlist")] == ["bf_emma"]
