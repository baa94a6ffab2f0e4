"""Remember scores between runs, so re-running over an unchanged library is near-instant.

A row is reused only when the file's absolute path, size and mtime_ns, the model's sha256 and
the working size all match; anything else is a miss and gets re-scored (and overwritten). The
native-resolution checks of ``--checks`` are kept beside the scores, keyed by file version and
:data:`aescull.judge.checks.CHECKS_VERSION` (they depend on neither the model nor the working size);
the grouping signatures of ``--groups`` and the set clues (EXIF exposure and the detail and
layout maps of :mod:`aescull.judge.sets`) share the scores' key. The cache is a convenience, never a source of failure: a corrupt file is moved aside to
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

from aescull.judge.checks import CHECKS_VERSION, Checks
from aescull.judge.faces import Face, FaceSearch, faces_from_json, faces_to_json
from aescull.judge.sets import CLUES_VERSION, SetClues, clues_from_bytes, features_bytes
from aescull.pipeline.exif import Exposure

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
# Grouping signatures (aescull.judge.groups) of the same file versions, kept apart so the score rows
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
# The clues of aescull.judge.sets for the same file versions: the EXIF exposure settings and the
# pixel features. Added beside `scores` (CREATE IF NOT EXISTS), so older cache files keep their
# scores; a photo without a row here is decoded once more when sets are looked for.
_SET_CLUES = """
CREATE TABLE IF NOT EXISTS set_clues (
    path TEXT NOT NULL,
    model TEXT NOT NULL,
    max_side INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    version INTEGER NOT NULL,
    bias REAL,
    mode INTEGER,
    program INTEGER,
    exposure_time REAL,
    f_number REAL,
    iso REAL,
    focal_length REAL,
    features BLOB NOT NULL,
    PRIMARY KEY (path, model, max_side)
)
"""
# Added beside `scores` (CREATE IF NOT EXISTS), so older cache files keep their scores.
_CHECKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS checks (
    path TEXT NOT NULL,
    version INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sharpness REAL,
    exposure REAL NOT NULL,
    clipped REAL NOT NULL,
    noise REAL,
    PRIMARY KEY (path, version)
)
"""
# The faces of --faces (aescull.judge.faces), measured at native resolution: valid for one file
# version and one FaceSearch.version (the face code, the sharpness estimator, the tile search).
_FACES_SCHEMA = """
CREATE TABLE IF NOT EXISTS faces (
    path TEXT NOT NULL,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    faces TEXT NOT NULL,
    PRIMARY KEY (path, version)
)
"""
# Scores and signatures are valid for one file version, one model and one working size.
_SCORED_VERSION = "WHERE path=? AND model=? AND max_side=? AND size=? AND mtime_ns=?"


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


FULL_DECODE_SUFFIX = "+full-decode"


class ScoreCache:
    """SQLite store of scores for one model, one working size and one way of decoding."""

    def __init__(self, path: Path, model_sha256: str, max_side: int, full_decode: bool = False) -> None:
        self.path = Path(path)
        # a full decode gives (slightly) different pixels, so its scores are kept apart
        self.model = model_sha256 + FULL_DECODE_SUFFIX if full_decode else model_sha256
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
                db.execute("DROP TABLE IF EXISTS checks")
                db.execute("DROP TABLE IF EXISTS signatures")
                db.execute("DROP TABLE IF EXISTS set_clues")
                db.execute("DROP TABLE IF EXISTS faces")
            db.execute(_SCHEMA)
            db.execute(_SIGNATURES)
            db.execute(_SET_CLUES)
            db.execute(_CHECKS_SCHEMA)
            db.execute(_FACES_SCHEMA)
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
        row = self._read_one(f"SELECT score, width, height, taken, camera FROM scores {_SCORED_VERSION}", self._scored(key), "scoring")
        return CachedScore(*row) if row else None

    def put_many(self, items: Iterable[tuple[FileKey, CachedScore]]) -> None:
        rows = [
            (_stored_path(k.path), self.model, self.max_side, k.size, k.mtime_ns, v.score, v.width, v.height, v.taken, v.camera)
            for k, v in items
        ]
        self._write_all("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?,?)", rows, "scores")

    def get_signature(self, key: FileKey) -> bytes | None:
        row = self._read_one(f"SELECT signature FROM signatures {_SCORED_VERSION}", self._scored(key), "grouping")
        return bytes(row[0]) if row else None

    def put_signatures(self, items: Iterable[tuple[FileKey, bytes]]) -> None:
        rows = [(_stored_path(k.path), self.model, self.max_side, k.size, k.mtime_ns, blob) for k, blob in items]
        self._write_all("INSERT OR REPLACE INTO signatures VALUES (?,?,?,?,?,?)", rows, "groups")

    def get_clues(self, key: FileKey) -> SetClues | None:
        """None when missing or written by a version with other features: the photo is decoded again."""
        row = self._read_one(
            "SELECT bias, mode, program, exposure_time, f_number, iso, focal_length, features FROM set_clues "
            f"{_SCORED_VERSION} AND version=?",
            (*self._scored(key), CLUES_VERSION),
            "finding sets",
        )
        return clues_from_bytes(bytes(row[7]), Exposure(*row[:7])) if row else None

    def put_clues_many(self, items: Iterable[tuple[FileKey, SetClues]]) -> None:
        rows = []
        for k, clues in items:
            e = clues.exposure
            rows.append((_stored_path(k.path), self.model, self.max_side, k.size, k.mtime_ns, CLUES_VERSION,
                         e.bias, e.mode, e.program, e.time, e.f_number, e.iso, e.focal_length, features_bytes(clues)))
        self._write_all("INSERT OR REPLACE INTO set_clues VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows, "sets")

    def get_checks(self, key: FileKey) -> Checks | None:
        """Cached measurements, judged by today's thresholds (a threshold change needs no re-measuring)."""
        row = self._read_one(
            "SELECT sharpness, exposure, clipped, noise FROM checks WHERE path=? AND version=? AND size=? AND mtime_ns=?",
            (_stored_path(key.path), CHECKS_VERSION, key.size, key.mtime_ns),
            "measuring",
        )
        return Checks.judged(*row) if row else None

    def put_checks_many(self, items: Iterable[tuple[FileKey, Checks]]) -> None:
        rows = [(_stored_path(k.path), CHECKS_VERSION, k.size, k.mtime_ns, c.sharpness, c.exposure, c.clipped, c.noise) for k, c in items]
        self._write_all("INSERT OR REPLACE INTO checks VALUES (?,?,?,?,?,?,?,?)", rows, "checks")

    def get_faces(self, key: FileKey, search: FaceSearch) -> tuple[Face, ...] | None:
        """Cached faces of this file version for this search, as measured (the caller judges them)."""
        row = self._read_one(
            "SELECT faces FROM faces WHERE path=? AND version=? AND size=? AND mtime_ns=?",
            (_stored_path(key.path), search.version, key.size, key.mtime_ns),
            "looking for faces",
        )
        return faces_from_json(row[0]) if row else None

    def put_faces_many(self, items: Iterable[tuple[FileKey, tuple[Face, ...]]], search: FaceSearch) -> None:
        rows = [(_stored_path(k.path), search.version, k.size, k.mtime_ns, faces_to_json(found)) for k, found in items]
        self._write_all("INSERT OR REPLACE INTO faces VALUES (?,?,?,?,?)", rows, "faces")

    def _scored(self, key: FileKey) -> tuple[object, ...]:
        """Parameters of :data:`_SCORED_VERSION`: this file version, this model, this working size."""
        return (_stored_path(key.path), self.model, self.max_side, key.size, key.mtime_ns)

    def _read_one(self, query: str, parameters: tuple[object, ...], fallback: str) -> tuple | None:
        """One row, or None; a failing cache is a miss, never an error."""
        if self._db is None:
            return None
        try:
            return self._db.execute(query, parameters).fetchone()
        except sqlite3.DatabaseError as error:
            log.warning("cache lookup failed (%s); %s without it", error, fallback)
            return None

    def _write_all(self, statement: str, rows: list[tuple], what: str) -> None:
        if not rows or self._db is None:
            return
        try:
            with self._db:
                self._db.executemany(statement, rows)
        except sqlite3.DatabaseError as error:
            log.warning("cache write failed (%s); %s are still printed", error, what)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> "ScoreCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
