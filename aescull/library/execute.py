"""Carry out a plan: each operation journaled (and fsynced) first, performed, then marked done."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aescull.fsutil import atomic_write, copy_verified, file_sha256, fsync_directory, move_file
from aescull.library.errors import ActionError, reason
from aescull.library.journal import Journal, new_run_id
from aescull.library.plan import Operation


@dataclass
class Outcome:
    """What a run or an undo did; ``failures`` are messages for stderr (exit code 1)."""

    run: str | None = None
    done: int = 0
    failures: list[str] = field(default_factory=list)


def execute(
    operations: Sequence[Operation], journal: Journal, command: str, root: Path, run: str | None = None, first_seq: int = 0
) -> Outcome:
    """Carry out a plan over the library ``root``, journaling each step first. A failed step is reported and skipped.

    ``run`` with ``first_seq`` > 0 adds the operations to a run already in the journal (numbered
    on from there), so the decisions of one review are one run that ``aescull undo`` reverts whole.
    """
    outcome = Outcome(run=run or new_run_id())
    if not operations:
        return outcome
    journal.path.parent.mkdir(parents=True, exist_ok=True)
    if first_seq == 0:
        journal.append({"type": "run", "run": outcome.run, "command": command, "time": time.time(), "root": str(root.absolute())})
    for seq, operation in enumerate(operations, start=first_seq):
        record = _journal_record(operation, outcome.run, seq)
        try:
            journal.append(record)
            _perform(operation, record)
            journal.append({"type": "done", "run": outcome.run, "seq": seq})
            outcome.done += 1
        except (OSError, ActionError) as error:
            outcome.failures.append(f"{operation.describe()}: {reason(error)}")
    return outcome


def _journal_record(operation: Operation, run: str, seq: int) -> dict:
    record: dict = {"type": "op", "run": run, "seq": seq, "kind": operation.kind, "target": str(operation.target.absolute())}
    if operation.source is not None:
        record["source"] = str(operation.source.absolute())
    if operation.kind == "copy":
        assert operation.source is not None
        record["size"], record["sha256"] = operation.source.stat().st_size, file_sha256(operation.source)
    if operation.kind == "sidecar":
        assert operation.content is not None
        record["sha256"] = hashlib.sha256(operation.content).hexdigest()
        record["previous"] = None if operation.previous is None else base64.b64encode(operation.previous).decode("ascii")
        record["previous_mtime_ns"] = operation.previous_mtime_ns
    return record


def _perform(operation: Operation, record: dict) -> None:
    if operation.kind == "mkdir":
        operation.target.mkdir()
        fsync_directory(operation.target.parent)
    elif operation.kind == "move":
        assert operation.source is not None
        move_file(operation.source, operation.target)
    elif operation.kind == "copy":
        assert operation.source is not None
        copy_verified(operation.source, operation.target, expected_sha256=record["sha256"])
    elif operation.kind == "sidecar":
        assert operation.content is not None
        current = operation.target.read_bytes() if operation.target.exists() else None
        if current != operation.previous:
            raise ActionError("the sidecar changed while aescull was working; left as it is")
        atomic_write(operation.target, operation.content)
    else:
        raise ActionError(f"unknown operation {operation.kind!r}")
