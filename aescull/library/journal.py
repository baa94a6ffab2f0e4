"""The journal and the lock: every change is written down and fsynced before it is made, and one run at a time.

``flock`` is released by the kernel if the process dies, so a crash never leaves a stale lock;
a journal line cut short by a crash is ignored when read back.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aescull.library.errors import LibraryLocked

JOURNAL_NAME = ".aescull-journal.jsonl"
LOCK_NAME = ".aescull.lock"


@contextmanager
def library_lock(root: Path) -> Iterator[None]:
    """Refuse a second concurrent run on the same library instead of letting two runs race.

    ``flock`` is released by the kernel if the process dies, so a crash never leaves a stale lock.
    """
    path = root / LOCK_NAME
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise LibraryLocked(f"another aescull run is working on {root} (lock file {path}); try again when it ends") from None
        try:
            same_file = os.fstat(descriptor).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(descriptor)  # the holder removed the lock file after we opened it: lock the new one
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(descriptor)


class Journal:
    """Append-only JSON lines; each line is fsynced before the change it announces is made.

    File names that are not valid UTF-8 (a Latin-1 name from an old backup) are kept as their
    exact bytes (surrogateescape), so undo finds the very same file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        with open(self.path, "a+b") as handle:
            end = handle.seek(0, os.SEEK_END)
            if end:
                handle.seek(end - 1)
                if handle.read(1) != b"\n":  # a crash or a full disk cut the last line short: never glue onto it
                    line = "\n" + line
            handle.write(line.encode("utf-8", "surrogateescape"))
            handle.flush()
            os.fsync(handle.fileno())

    def records(self) -> list[dict]:
        """Every complete record; a line cut short by a crash is ignored."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def runs_to_undo(self, all_runs: bool) -> list[str]:
        """Runs not yet undone, newest first: just the newest, or all of them."""
        records = self.records()
        undone = {record["run"] for record in records if record.get("type") == "undone"}
        runs = list(dict.fromkeys(record["run"] for record in records if record.get("type") == "op"))
        pending = [run for run in reversed(runs) if run not in undone]
        return pending if all_runs else pending[:1]


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
