"""A/B votes, kept in SQLite: one file, created on first use, upgraded by numbered migrations.

Where: KOKORO_VOTES_DB, else /data/kokoro-votes.sqlite3 on a Hugging Face Space with persistent
storage, else $XDG_DATA_HOME (~/.local/share)/kokoro-studio/votes.sqlite3. Every call opens its
own connection, so the store is safe across threads and processes: WAL lets readers work while
one voter writes, and a write waits (busy timeout) instead of failing when another holds the lock.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, astuple, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from ui.studio.ratings import OUTCOMES
from worker.core import settings
from worker.core.errors import SettingsError

BUSY_TIMEOUT_S = 30.0

# Append only: a database at version k runs migrations k+1.. in order. Never edit a released one.
MIGRATIONS = (
    """
    CREATE TABLE votes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        language TEXT NOT NULL,
        text TEXT NOT NULL,
        voice_a TEXT NOT NULL,
        voice_b TEXT NOT NULL,
        model_a TEXT NOT NULL,
        model_b TEXT NOT NULL,
        speed_a REAL NOT NULL,
        speed_b REAL NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('a', 'b', 'tie', 'bad')),
        blind INTEGER NOT NULL,
        backend TEXT NOT NULL
    );
    """,
    # v2: who voted (an anonymous per-browser-session tag) and a per-language index.
    """
    ALTER TABLE votes ADD COLUMN session TEXT NOT NULL DEFAULT '';
    CREATE INDEX votes_by_language ON votes (language, id);
    """,
    # v3: the round a vote belongs to; one vote per round, whatever a client sends (older rows: NULL).
    """
    ALTER TABLE votes ADD COLUMN round_id TEXT;
    CREATE UNIQUE INDEX votes_one_per_round ON votes (round_id);
    """,
    # v4: listening tests (ui/studio/listening.py): the tests, each rater's sequence, and which test,
    # rater and pair a vote answers (arena votes: NULL); one vote per rater and pair.
    """
    CREATE TABLE tests (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        name TEXT NOT NULL,
        language TEXT NOT NULL,
        sentences TEXT NOT NULL,
        voices TEXT NOT NULL
    );
    CREATE TABLE raters (
        test_id TEXT NOT NULL REFERENCES tests (id),
        rater TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        sequence TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (test_id, rater)
    );
    ALTER TABLE votes ADD COLUMN test_id TEXT;
    ALTER TABLE votes ADD COLUMN rater TEXT;
    ALTER TABLE votes ADD COLUMN pair_index INTEGER;
    CREATE UNIQUE INDEX votes_one_per_test_pair ON votes (test_id, rater, pair_index);
    """,
    # v5: the studio's one shared shortlist of voices (ui/studio/shortlist.py); tags: a JSON list.
    """
    CREATE TABLE shortlist (
        voice TEXT PRIMARY KEY,
        note TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '[]',
        added_at TEXT NOT NULL
    );
    """,
)


class AlreadyVoted(Exception):
    """The round has its vote: a second one (a double click, a replayed request) is refused."""


@dataclass(frozen=True)
class Vote:
    language: str
    text: str
    voice_a: str
    voice_b: str
    model_a: str
    model_b: str
    speed_a: float
    speed_b: float
    outcome: str  # ui.studio.ratings.OUTCOMES: a, b, tie, bad
    blind: bool
    backend: str
    session: str = ""
    round_id: str | None = None
    test_id: str | None = None  # a listening test's vote (ui/studio/listening.py); None: the arena
    rater: str | None = None
    pair_index: int | None = None
    created_at: str = ""  # UTC ISO 8601, set when recorded
    id: int | None = None


COLUMNS = [f.name for f in fields(Vote)]
CSV_COLUMNS = ["id", "created_at", *COLUMNS[:-2]]  # when and which first, as a reader expects


def default_path(env: dict[str, str] | None = None) -> Path:
    return settings.votes_path(env)


class VoteStore:
    """Records votes and reads them back; the schema is created or upgraded on first use."""

    def __init__(self, path: str | Path | None = None, migrations: tuple[str, ...] = MIGRATIONS):
        self.path = Path(path) if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate(migrations)
        except (OSError, sqlite3.Error) as exc:  # the studio checks this at start-up (ui/app.py)
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SettingsError(f"The votes database {self.path} cannot be created or opened ({reason}): "
                                "set KOKORO_VOTES_DB to a file in a writable folder.") from None

    def connection(self):
        """A connection to the same database, for the listening tests' tables."""
        return self._connect()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE takes the write lock up front,
        # so two writers queue on the busy timeout rather than deadlocking on a lock upgrade).
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            yield conn
        finally:
            conn.close()

    def _migrate(self, migrations: tuple[str, ...]) -> None:
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others then see it done
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                for number, script in enumerate(migrations[version:], start=version + 1):
                    for statement in filter(str.strip, script.split(";")):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        with self._connect() as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0]

    def record(self, vote: Vote) -> Vote:
        """Stores the vote; returns it with its id and time. AlreadyVoted if its round has one."""
        if vote.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {vote.outcome!r}")
        stamp = vote.created_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        row = {**dict(zip(COLUMNS, astuple(vote))), "created_at": stamp, "blind": int(vote.blind)}
        row.pop("id")
        names = ", ".join(row)
        with self._connect() as conn:
            try:
                cursor = conn.execute(f"INSERT INTO votes ({names}) VALUES ({', '.join('?' * len(row))})",
                                      tuple(row.values()))
            except sqlite3.IntegrityError as exc:
                if "round_id" in str(exc) or "pair_index" in str(exc):
                    raise AlreadyVoted(vote.round_id or vote.pair_index) from None
                raise
            new_id = cursor.lastrowid
        return Vote(**{**row, "blind": vote.blind, "id": new_id})

    def votes(self, language: str | None = None, test_id: str | None = None,
              include_tests: bool = False) -> list[Vote]:
        """The arena's votes (of one language), oldest first; a listening test's with `test_id`;
        both with `include_tests`."""
        where, args = [], []
        if language:
            where, args = ["language = ?"], [language]
        if test_id is not None:
            where.append("test_id = ?")
            args.append(test_id)
        elif not include_tests:
            where.append("test_id IS NULL")
        query = f"SELECT {', '.join(COLUMNS)} FROM votes" + (" WHERE " + " AND ".join(where) if where else "")
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY id", args).fetchall()
        return [Vote(**{**dict(r), "blind": bool(r["blind"])}) for r in rows]

    def count(self, language: str | None = None) -> int:
        with self._connect() as conn:
            if language:
                return conn.execute("SELECT COUNT(*) FROM votes WHERE language = ?", (language,)).fetchone()[0]
            return conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0]

    def languages(self) -> list[str]:
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT language FROM votes ORDER BY language")]

    def to_csv(self, language: str | None = None, test_id: str | None = None) -> str:
        """The raw votes (all, or one listening test's) as CSV, one row per vote, a header first."""
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_COLUMNS)
        writer.writeheader()
        for vote in self.votes(language, test_id=test_id, include_tests=True):
            writer.writerow({**asdict(vote), "blind": int(vote.blind)})
        return out.getvalue()
