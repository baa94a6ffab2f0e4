"""RAW+JPEG shots and file versions, shared by the local and the Ray engine so their rows agree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aescull.pipeline.cache import FileKey
from aescull.pipeline.discover import Candidate
from aescull.rows.record import ScoreRecord

PAIRED_JPEG_UNREAD = "paired JPEG could not be read"


def _file_key(path: Path) -> FileKey:
    stat = path.stat()
    return FileKey(str(path.absolute()), stat.st_size, stat.st_mtime_ns)


def file_key_or_error(path: Path) -> FileKey | str:
    """The file version to score, or the row's error text when the file cannot even be stat'ed."""
    try:
        return _file_key(path)
    except OSError as error:
        return "file not found (moved or deleted?)" if isinstance(error, FileNotFoundError) else f"cannot read: {error.strerror}"


def raw_row(jpeg_row: ScoreRecord, raw: Candidate, key: FileKey) -> ScoreRecord:
    """The RAW half of a shot: the camera JPEG's score and metadata, the RAW's own identity."""
    error = f"paired JPEG: {jpeg_row.error}" if jpeg_row.error else None
    return replace(jpeg_row, path=raw.path, pair=raw.pair, error=error, size=key.size, mtime_ns=key.mtime_ns)
