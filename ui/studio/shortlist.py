"""The studio's voice shortlist: voices a team starred in Audition, each with a note and tags, kept in
the votes database (ui/studio/votes.py, schema v5) so it survives a restart and is shared by
everyone using the studio; exported as CSV or YAML, and turned into a listening test's candidates.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

import yaml

from ui.studio.votes import VoteStore
from worker.core.catalog import Catalog
from worker.core.errors import InputError, snippet

MAX_NOTE_CHARS = 500
MAX_TAGS = 10
MAX_TAG_CHARS = 30
EXPORT_FIELDS = ["voice", "language", "note", "tags", "added_at"]


@dataclass(frozen=True)
class Entry:
    voice: str
    language: str  # the catalog's language code of the voice
    note: str
    tags: tuple[str, ...]
    added_at: str  # UTC ISO 8601


def parse_tags(tags: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Comma-separated text (or a list) as tags: trimmed, blanks dropped, first spelling kept."""
    raw = tags.split(",") if isinstance(tags, str) else list(tags or [])
    seen: dict[str, str] = {}
    for tag in raw:
        tag = " ".join(str(tag).split())
        if tag and tag.casefold() not in seen:
            seen[tag.casefold()] = tag
    found = tuple(seen.values())
    if len(found) > MAX_TAGS:
        raise InputError(f"A voice takes at most {MAX_TAGS} tags.")
    long = next((t for t in found if len(t) > MAX_TAG_CHARS), None)
    if long:
        raise InputError(f"The tag \"{snippet(long)}\" is too long: tags have at most {MAX_TAG_CHARS} characters.")
    return found


def clean_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InputError(f"The note is too long: keep it under {MAX_NOTE_CHARS} characters.")
    return note


class Shortlist:
    """Star, annotate, list, export the shortlist; InputError with one sentence for a bad value."""

    def __init__(self, store: VoteStore, catalog: Catalog):
        self.store = store
        self.catalog = catalog

    def _known(self, voice: str | None) -> str:
        voice = (voice or "").strip()
        if not voice:
            raise InputError("Pick a voice first.")
        if self.catalog.voice(voice) is None:
            raise InputError(f"Unknown voice \"{snippet(voice)}\": the shortlist takes catalog ids such as af_heart.")
        return voice

    def star(self, voice: str, note: str = "", tags: str | list[str] | None = None) -> Entry:
        """Adds the voice; a voice already shortlisted keeps its note, tags and date."""
        voice = self._known(voice)
        note, parsed = clean_note(note), parse_tags(tags)
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.store.connection() as conn:
            conn.execute("INSERT OR IGNORE INTO shortlist (voice, note, tags, added_at) VALUES (?, ?, ?, ?)",
                         (voice, note, json.dumps(list(parsed)), stamp))
        return self.get(voice)

    def unstar(self, voice: str) -> bool:
        """Removes the voice; False if it was not shortlisted."""
        with self.store.connection() as conn:
            return conn.execute("DELETE FROM shortlist WHERE voice = ?", ((voice or "").strip(),)).rowcount > 0

    def annotate(self, voice: str, note: str | None, tags: str | list[str] | None) -> Entry:
        """Replaces a shortlisted voice's note and tags."""
        voice = self._known(voice)
        note, parsed = clean_note(note), parse_tags(tags)
        with self.store.connection() as conn:
            changed = conn.execute("UPDATE shortlist SET note = ?, tags = ? WHERE voice = ?",
                                   (note, json.dumps(list(parsed)), voice)).rowcount
        if not changed:
            raise InputError(f"{voice} is not on the shortlist: star it in Audition first.")
        return self.get(voice)

    def get(self, voice: str) -> Entry | None:
        return next((e for e in self.entries() if e.voice == voice), None)

    def entries(self) -> list[Entry]:
        """The shortlist, oldest first."""
        with self.store.connection() as conn:
            rows = conn.execute("SELECT voice, note, tags, added_at FROM shortlist ORDER BY added_at, rowid").fetchall()
        found = []
        for row in rows:
            known = self.catalog.voice(row["voice"])
            found.append(Entry(row["voice"], known.language if known else "", row["note"],
                               tuple(json.loads(row["tags"])), row["added_at"]))
        return found

    def ids(self) -> list[str]:
        return [e.voice for e in self.entries()]

    def for_test(self, voices: list[str] | None = None) -> tuple[str, list[str]]:
        """A listening test's language and candidates: the most common language among the
        shortlisted voices (on a tie, the earliest starred), and its voices."""
        entries = self.entries()
        if voices is not None:
            entries = [e for e in entries if e.voice in set(voices)]
        if not entries:
            raise InputError("The shortlist is empty: star voices in Audition first.")
        counts = Counter(e.language for e in entries)
        language = max(counts, key=lambda lang: (counts[lang], -[e.language for e in entries].index(lang)))
        return language, [e.voice for e in entries if e.language == language]

    def rows(self) -> list[dict]:
        """One plain dict per voice, in EXPORT_FIELDS order (tags as a list)."""
        return [{"voice": e.voice, "language": e.language, "note": e.note, "tags": list(e.tags),
                 "added_at": e.added_at} for e in self.entries()]

    def to_csv(self) -> str:
        """The shortlist as CSV, a header first; tags joined with ', '."""
        out = io.StringIO()
        writer = csv.DictWriter(out, EXPORT_FIELDS)
        writer.writeheader()
        for row in self.rows():
            writer.writerow({**row, "tags": ", ".join(row["tags"])})
        return out.getvalue()

    def to_yaml(self) -> str:
        """The shortlist as YAML: {shortlist: [{voice, language, note, tags, added_at}, ...]}."""
        return yaml.safe_dump({"shortlist": self.rows()}, allow_unicode=True, sort_keys=False)
