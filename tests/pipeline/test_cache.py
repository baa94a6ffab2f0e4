from __future__ import annotations

import sqlite3
from pathlib import Path

from aescull.pipeline.cache import CachedScore, FileKey, ScoreCache, default_cache_path

KEY = FileKey("/photos/a.jpg", 1234, 1_700_000_000_000_000_000)
VALUE = CachedScore(0.75, 4000, 3000, "2023-05-01T14:03:22", "Canon EOS R5")


def test_round_trip_survives_reopening(tmp_path: Path) -> None:
    with ScoreCache(tmp_path / "c.sqlite3", "sha-a", 512) as cache:
        cache.put_many([(KEY, VALUE)])
    with ScoreCache(tmp_path / "c.sqlite3", "sha-a", 512) as cache:
        assert cache.get(KEY) == VALUE


def test_changed_file_other_model_or_size_is_a_miss(tmp_path: Path) -> None:
    with ScoreCache(tmp_path / "c.sqlite3", "sha-a", 512) as cache:
        cache.put_many([(KEY, VALUE)])
        assert cache.get(FileKey(KEY.path, KEY.size + 1, KEY.mtime_ns)) is None
        assert cache.get(FileKey(KEY.path, KEY.size, KEY.mtime_ns + 1)) is None
    with ScoreCache(tmp_path / "c.sqlite3", "sha-b", 512) as cache:
        assert cache.get(KEY) is None
    with ScoreCache(tmp_path / "c.sqlite3", "sha-a", 0) as cache:
        assert cache.get(KEY) is None


def test_corrupt_file_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with ScoreCache(path, "sha-a", 512) as cache:
        assert cache.get(KEY) is None
        cache.put_many([(KEY, VALUE)])
        assert cache.get(KEY) == VALUE
    assert (tmp_path / "c.sqlite3.corrupt").read_bytes().startswith(b"this is not a database")
    assert sqlite3.connect(path).execute("SELECT count(*) FROM scores").fetchone() == (1,)


def test_unusable_location_means_no_cache_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with ScoreCache(blocker / "sub" / "c.sqlite3", "sha-a", 512) as cache:
        cache.put_many([(KEY, VALUE)])
        assert cache.get(KEY) is None


def test_default_location_follows_the_user_cache_folder(isolated_cache: Path) -> None:
    assert default_cache_path() == isolated_cache / "aescull" / "scores.sqlite3"
