"""Remember scores between runs, so re-running over an unchanged library is near-instant.

A row is reused only when the file's absolute path, size and mtime_ns, the model's sha256 and
the working size all match; anything else is a miss and gets re-scored (and overwritten). The
cache is a convenience, never a source of failure: a corrupt file is moved aside to
``<name>.corrupt`` and a fresh cache is started.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

log = logging.getLogger("aescull")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    path TEXT NOT NULL,
    model TEXT NOT NULL,
    max_side INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    score REAL NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    taken TEXT,
    camera TEXT,
    PRIMARY KEY (path, model, max_side)
)
"""
# Grouping signatures (aescull.groups) of the same file versions, kept apart so the score rows
# keep their schema; a signature row without its score row is simply never looked up.
_SIGNATURES = """
CREATE TABLE IF NOT EXISTS signatures (
    path TEXT NOT NULL,
    model TEXT NOT NULL,
    max_side INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (path, model, max_side)
)
"""


def default_cache_path() -> Path:
    return platformdirs.user_cache_path("aescull") / "scores.sqlite3"


@dataclass(frozen=True)
class FileKey:
    """What identifies one version of one file."""

    path: str  # absolute
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class CachedScore:
    score: float
    width: int
    height: int
    taken: str | None
    camera: str | None


def _stored_path(path: str) -> str | bytes:
    """The path as SQLite can hold it: text, or its exact bytes for a name that is not UTF-8
    (SQLite cannot store the surrogates Python uses for those, and a BLOB never equals a TEXT)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


class ScoreCache:
    """SQLite store of scores for one model and one working size."""

    def __init__(self, path: Path, model_sha256: str, max_side: int) -> None:
        self.path = Path(path)
        self.model = model_sha256
        self.max_side = max_side
        self._db: sqlite3.Connection | None = None
        try:
            self._db = self._connect()
        except sqlite3.OperationalError as error:  # locked, read-only, no such folder: not corrupt
            log.warning("cache %s cannot be used (%s); scoring without it", self.path, error)
        except sqlite3.DatabaseError as error:
            log.warning("cache %s is unreadable (%s); moving it to %s.corrupt and starting afresh", self.path, error, self.path.name)
            self._move_aside()
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise sqlite3.OperationalError(f"cannot create {self.path.parent}: {error.strerror}") from error
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                db.execute("DROP TABLE IF EXISTS scores")
            db.execute(_SCHEMA)
            db.execute(_SIGNATURES)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM scores WHERE rowid < 2").fetchone()
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _move_aside(self) -> None:
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        if self.path.exists():
            os.replace(self.path, f"{self.path}.corrupt")

    def get(self, key: FileKey) -> CachedScore | None:
        row = self._lookup("SELECT score, width, height, taken, camera FROM scores", key)
        return CachedScore(*row) if row else None

    def put_many(self, items: Iterable[tuple[FileKey, CachedScore]]) -> None:
        rows = [
            (_stored_path(k.path), self.model, self.max_side, k.size, k.mtime_ns, v.score, v.width, v.height, v.taken, v.camera)
            for k, v in items
        ]
        self._store("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def get_signature(self, key: FileKey) -> bytes | None:
        row = self._lookup("SELECT signature FROM signatures", key)
        return bytes(row[0]) if row else None

    def put_signatures(self, items: Iterable[tuple[FileKey, bytes]]) -> None:
        rows = [(_stored_path(k.path), self.model, self.max_side, k.size, k.mtime_ns, blob) for k, blob in items]
        self._store("INSERT OR REPLACE INTO signatures VALUES (?,?,?,?,?,?)", rows)

    def _lookup(self, select: str, key: FileKey) -> tuple | None:
        """The row of this file version, model and working size; a failing cache is a miss."""
        if self._db is None:
            return None
        try:
            return self._db.execute(
                f"{select} WHERE path=? AND model=? AND max_side=? AND size=? AND mtime_ns=?",
                (_stored_path(key.path), self.model, self.max_side, key.size, key.mtime_ns),
            ).fetchone()
        except sqlite3.DatabaseError as error:
            log.warning("cache lookup failed (%s); scoring without it", error)
            return None

    def _store(self, statement: str, rows: list[tuple]) -> None:
        if not rows or self._db is None:
            return
        try:
            with self._db:
                self._db.executemany(statement, rows)
        except sqlite3.DatabaseError as error:
            log.warning("cache write failed (%s); scores are still printed", error)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> "ScoreCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
