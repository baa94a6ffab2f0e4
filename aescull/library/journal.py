"""The journal and the lock: every change is written down and fsynced before it is made, and one run at a time.

``flock`` is released by the kernel if the process dies, so a crash never leaves a stale lock;
a journal line cut short by a crash is ignored when read back.

Where they live: in the library's root, so the journal travels with the library; when the root
is read-only (a memory card that a run only copies out of), in the user's state folder, under a
name derived from the root. :func:`journals_under` finds both, and the journals of runs over
folders nested inside a root, so ``aescull undo ROOT`` reverts whatever ran under it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

from aescull.library.errors import LibraryLocked

JOURNAL_NAME = ".aescull-journal.jsonl"
LOCK_NAME = ".aescull.lock"


def state_journals() -> Path:
    """The user's folder for the journals of read-only libraries (``~/.local/state/aescull/journals`` on Linux)."""
    return platformdirs.user_state_path("aescull") / "journals"


def journal_home(root: Path) -> Path:
    """The folder that holds a run's journal and lock: the root, or the state folder when the root is read-only."""
    if os.access(root, os.W_OK):
        return root
    return state_journals() / hashlib.sha256(os.fsencode(root.absolute())).hexdigest()[:16]


def journals_under(root: Path) -> list[Path]:
    """Every journal of a run over ``root`` or a folder inside it: in those folders, and in the state folder."""
    root = root.absolute()
    found = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        if JOURNAL_NAME in files:
            found.append(Path(folder) / JOURNAL_NAME)
    state = state_journals()
    if state.is_dir():
        for kept in sorted(state.glob(f"*/{JOURNAL_NAME}")):
            if any(Path(run_root).is_relative_to(root) for run_root in Journal(kept).roots()):
                found.append(kept)
    return found


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

    def pending_runs(self) -> list[tuple[float, str]]:
        """(start time, run id) of every run with changes not yet undone, oldest first."""
        records = self.records()
        undone = {record["run"] for record in records if record.get("type") == "undone"}
        started = {record["run"]: float(record.get("time", 0.0)) for record in records if record.get("type") == "run"}
        runs = dict.fromkeys(record["run"] for record in records if record.get("type") == "op")
        return [(started.get(run, 0.0), run) for run in runs if run not in undone]

    def roots(self) -> set[str]:
        """The library roots its runs worked on."""
        return {record["root"] for record in self.records() if record.get("type") == "run" and "root" in record}


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
