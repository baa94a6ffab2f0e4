"""Revert a run from its journal, judging each operation by what is on disk now.

So an interrupted run, or an interrupted undo, can be undone again safely; a file that changed
since aescull touched it is reported and left alone.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

from aescull.fsutil import atomic_write, file_sha256, fsync_directory, move_file, temporaries_of
from aescull.library.errors import ActionError, reason
from aescull.library.execute import Outcome
from aescull.library.journal import Journal


def undo(journal: Journal, runs: Sequence[str]) -> list[Outcome]:
    """Revert these runs of the journal, in the order given, each newest operation first.

    Each operation is judged by what is on disk now, so an interrupted run or an interrupted
    undo can be undone again safely. A run is marked undone only when all of it was reverted.
    """
    records = journal.records()
    outcomes = []
    for run in runs:
        outcome = Outcome(run=run)
        operations = [record for record in records if record.get("type") == "op" and record["run"] == run]
        for record in sorted(operations, key=lambda record: record["seq"], reverse=True):
            try:
                _remove_stale_temporaries(Path(record["target"]))
                if _revert(record):
                    outcome.done += 1
            except (OSError, ActionError) as error:
                outcome.failures.append(f"undo {record['kind']} {record.get('source') or record['target']}: {reason(error)}")
        if not outcome.failures:
            journal.append({"type": "undone", "run": run, "time": time.time()})
        outcomes.append(outcome)
    return outcomes


def _remove_stale_temporaries(target: Path) -> None:
    """A run killed between writing a temp file and renaming it leaves it beside its target;
    once the process that wrote it is gone, it is nobody's file."""
    for temporary, pid in temporaries_of(target):
        if not _process_alive(pid):
            temporary.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _revert(record: dict) -> bool:
    """Put one operation back; True if something changed, False if it was already as before."""
    target = Path(record["target"])
    kind = record["kind"]
    if kind == "mkdir":
        if not target.is_dir():
            return False
        if any(target.iterdir()):
            raise ActionError(f"folder {target} is not empty; left in place")
        target.rmdir()
        return True
    if kind == "move":
        source = Path(record["source"])
        if not os.path.lexists(target):
            return False
        if os.path.lexists(source):
            if os.path.samefile(source, target):  # crashed between link and unlink
                target.unlink()
                return True
            raise ActionError(f"{source} exists again; the culled copy stays at {target}")
        source.parent.mkdir(parents=True, exist_ok=True)
        move_file(target, source)
        return True
    if kind == "copy":
        if not target.exists():
            return False
        if file_sha256(target) != record["sha256"]:
            raise ActionError(f"{target} was changed after it was copied; kept")
        target.unlink()
        fsync_directory(target.parent)
        return True
    if kind == "sidecar":
        current = target.read_bytes() if target.exists() else None
        previous = None if record["previous"] is None else base64.b64decode(record["previous"])
        if current == previous:
            return False
        if current is None or hashlib.sha256(current).hexdigest() != record["sha256"]:
            raise ActionError(f"sidecar {target} was edited after aescull wrote it; left as it is")
        if previous is None:
            target.unlink()
            fsync_directory(target.parent)
        else:
            atomic_write(target, previous, mtime_ns=record["previous_mtime_ns"])
        return True
    raise ActionError(f"unknown operation {kind!r} in the journal")
