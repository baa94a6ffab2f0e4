"""Acting on scores — move, copy, tag — so that every change can be undone.

Every operation is appended to a JSON-lines journal and fsynced *before* it happens, and marked
done after, so even a run killed half-way can be reverted: undo looks at what is on disk for each
journaled operation rather than trusting the done marks. Nothing is ever overwritten: a name
collision gets a ``-N`` suffix (journaled like any other destination), a move across file systems
is copy + fsync + size and sha256 check + delete, and a sidecar's previous bytes are kept in the
journal so undo can put them back exactly.
"""

from __future__ import annotations

import base64
import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aescull.library import xmp
from aescull.judge.decide import PICK_LABEL_REJECTED, REJECTED_RATING, CullRule, pick_label_for, rating_for, select_culled
from aescull.judge.groups import all_but_best
from aescull.rows.record import ScoreRecord
from aescull.rows.write import REASON_SEPARATOR

JOURNAL_NAME = ".aescull-journal.jsonl"
LOCK_NAME = ".aescull.lock"
CULLED_FOLDER = "_culled"
# Files that describe another file rather than being one: IMG.jpg.xmp belongs to the shot IMG.
SIDECAR_EXTENSIONS = frozenset({".xmp", ".dop", ".pp3", ".on1"})
_CHUNK = 1 << 20

if TYPE_CHECKING:  # aescull.judge.checks pulls numpy in, which `aescull --help` does not need
    from aescull.judge.checks import Checks


class ActionError(RuntimeError):
    """An operation that was refused or failed; the library is left as it was for that file."""


class LibraryLocked(ActionError):
    """Another aescull run holds the library's lock."""


# ---------------------------------------------------------------- score rows from `aescull score`


def read_score_rows(text: str) -> list[ScoreRecord]:
    """Rows of ``aescull score --format csv`` or ``--format jsonl`` (told apart by the first character)."""
    return [_row_from(record, number) for number, record in enumerate(read_row_dicts(text), start=1)]


def read_row_dicts(text: str) -> list[dict]:
    """The rows as plain dicts, every column kept (the report shows columns cull does not use)."""
    stripped = text.lstrip()
    if not stripped:
        return []
    if stripped.startswith("{"):
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ActionError(f"score rows: line {number} is not JSON: {error}") from None
    else:
        records = list(csv.DictReader(io.StringIO(text)))
        if records and "path" not in records[0]:
            raise ActionError("score rows: expected the csv or jsonl of `aescull score` (no 'path' column found)")
    return records


def _row_from(record: dict, number: int) -> ScoreRecord:
    def field_of(name: str) -> str | None:
        value = record.get(name)
        return None if value is None or value == "" else str(value)

    path = field_of("path")
    if path is None:
        raise ActionError(f"score rows: row {number} has no path")
    def number_of(name: str, kind: type) -> int | float | None:
        value = field_of(name)
        return None if value is None else kind(value)

    pair = field_of("pair")
    try:
        return ScoreRecord(
            path=Path(path),
            score=number_of("score", float),
            width=number_of("width", int),
            height=number_of("height", int),
            taken=field_of("taken"),
            camera=field_of("camera"),
            error=field_of("error"),
            pair=None if pair is None else Path(pair),
            size=number_of("size", int),
            mtime_ns=number_of("mtime_ns", int),
            group=field_of("group"),
            rank_in_group=number_of("rank_in_group", int),
            checks=_checks_from(record, number_of),
        )
    except ValueError as error:
        raise ActionError(f"score rows: row {number} ({path}) has a malformed number: {error}") from None


def _checks_from(record: dict, number_of: Callable[[str, type], int | float | None]) -> Checks | None:
    """The columns of ``score --checks``; None when the row has none, or its file failed."""
    exposure = number_of("exposure", float)
    if exposure is None or "reasons" not in record:
        return None
    from aescull.judge.checks import Checks

    reasons = record["reasons"] or []
    if isinstance(reasons, str):
        reasons = [reason for reason in reasons.split(REASON_SEPARATOR) if reason]
    return Checks(
        sharpness=number_of("sharpness", float),
        exposure=float(exposure),
        clipped=float(number_of("clipped", float) or 0.0),
        noise=number_of("noise", float),
        reasons=tuple(str(reason) for reason in reasons),
    )


def stale_reason(row: ScoreRecord) -> str | None:
    """Why a saved score can no longer be trusted for this file, or None when it still matches."""
    if row.size is None or row.mtime_ns is None:
        return "the score row has no size/mtime_ns, so a change since scoring cannot be ruled out; re-run aescull score"
    try:
        status = row.path.stat()
    except FileNotFoundError:
        return "file no longer exists (moved or deleted since scoring)"
    except OSError as error:
        return f"cannot read: {error.strerror}"
    if status.st_size != row.size or status.st_mtime_ns != row.mtime_ns:
        return "file changed since it was scored; re-run aescull score"
    return None


# ---------------------------------------------------------------- shots


def shot_stem(name: str) -> str:
    """The name shared by every file of a shot: IMG.CR2, IMG.jpg, IMG.xmp, IMG.jpg.xmp, IMG.mov → IMG."""
    base, extension = os.path.splitext(name)
    if extension.lower() in SIDECAR_EXTENSIONS:
        name = base
    return os.path.splitext(name)[0]


def shot_files(photo: Path) -> list[Path]:
    """The photo and every regular, visible file of the same stem beside it, sorted by name."""
    stem = shot_stem(photo.name)
    with os.scandir(photo.parent) as entries:
        names = [
            entry.name
            for entry in entries
            if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False) and shot_stem(entry.name) == stem
        ]
    return [photo.parent / name for name in sorted(names)]


@dataclass
class Shot:
    """Files that are one picture (RAW+JPEG, sidecars, Live Photo video): culled or kept together.

    A shot scores as its best scored file, so a good JPEG is never moved away for its weaker twin.
    """

    folder: Path
    stem: str
    rows: list[ScoreRecord] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        scores = [row.score for row in self.rows if row.score is not None]
        return max(scores) if scores else None

    @property
    def path(self) -> str:
        return str(min(row.path for row in self.rows))

    @property
    def group(self) -> str | None:
        """The burst the shot belongs to (its files share one: a RAW follows its JPEG)."""
        return min((row.group for row in self.rows if row.group is not None), default=None)

    @property
    def rank_in_group(self) -> int | None:
        return min((row.rank_in_group for row in self.rows if row.rank_in_group is not None), default=None)

    @property
    def reasons(self) -> frozenset[str] | None:
        """Reasons every checked file of the shot shares: a sharp JPEG keeps its soft twin's shot."""
        checked = [frozenset(row.checks.reasons) for row in self.rows if row.checks is not None]
        return frozenset.intersection(*checked) if checked else None


def group_shots(rows: Iterable[ScoreRecord]) -> list[Shot]:
    shots: dict[tuple[Path, str], Shot] = {}
    for row in rows:
        key = (row.path.parent, shot_stem(row.path.name))
        shots.setdefault(key, Shot(*key)).rows.append(row)
    return list(shots.values())


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class Operation:
    """One journaled change. ``content``/``previous`` are a sidecar's new and old bytes."""

    kind: str  # "mkdir", "move", "copy" or "sidecar"
    target: Path
    source: Path | None = None
    content: bytes | None = None
    previous: bytes | None = None
    previous_mtime_ns: int | None = None

    def describe(self) -> str:
        if self.kind == "sidecar":
            return f"{'update' if self.previous is not None else 'create'} sidecar {self.target}"
        if self.kind == "mkdir":
            return f"create folder {self.target}"
        return f"{self.kind} {self.source} -> {self.target}"


def library_root(paths: Sequence[Path]) -> Path:
    """The folder a run works in: the common folder of the folders given (a file counts as its folder)."""
    folders = [str((path if path.is_dir() else path.parent).absolute()) for path in paths]
    return Path(os.path.commonpath(folders)) if folders else Path.cwd()


def is_inside(path: Path, folder: Path) -> bool:
    return path.absolute().is_relative_to(folder.absolute())


def plan_transfer(shots: Iterable[Shot], root: Path, destination: Path, copy: bool = False) -> tuple[list[Operation], list[str]]:
    """Move (or copy) each shot whole to ``destination``, keeping its folder relative to ``root``.

    A shot outside the root or with a symlinked file is refused (moving either could not be
    reverted to the exact same thing), as is one whose folder cannot be listed: the reasons come
    back beside the operations, and the other shots are still planned.
    """
    operations: list[Operation] = []
    refused: list[str] = []
    planned_folders: set[Path] = set()
    claimed: set[Path] = set()
    for shot in shots:
        try:
            operations.extend(_transfer_shot(shot, root, destination, copy, planned_folders, claimed))
        except (OSError, ActionError) as error:
            refused.append(f"{shot.path}: {_reason(error)}; left alone")
    return operations, refused


def _transfer_shot(shot: Shot, root: Path, destination: Path, copy: bool, planned_folders: set[Path], claimed: set[Path]) -> list[Operation]:
    folder = shot.folder.absolute()
    if not is_inside(folder, root):
        raise ActionError(f"outside the library root {root}")
    files = shot_files(folder / min(row.path.name for row in shot.rows))
    for row in shot.rows:
        if (folder / row.path.name).is_symlink():
            raise ActionError(f"{row.path.name} is a symbolic link; aescull moves only regular files")
    target_folder = destination.absolute() / folder.relative_to(root.absolute())
    operations = _folders_to_create(target_folder, planned_folders)
    targets = _free_names(files, shot.stem, target_folder, claimed)
    operations.extend(Operation("copy" if copy else "move", target, source=source) for source, target in zip(files, targets))
    return operations


def _folders_to_create(folder: Path, planned: set[Path]) -> list[Operation]:
    missing: list[Path] = []
    while not folder.exists() and folder not in planned:
        missing.append(folder)
        folder = folder.parent
    planned.update(missing)
    return [Operation("mkdir", path) for path in reversed(missing)]


def _free_names(files: list[Path], stem: str, folder: Path, claimed: set[Path]) -> list[Path]:
    """Destination names for a shot; on any collision the whole shot gets the same ``-N`` suffix."""
    suffix = 0
    while True:
        tag = f"-{suffix}" if suffix else ""
        targets = [folder / (stem + tag + source.name[len(stem) :]) for source in files]
        if not any(target in claimed or os.path.lexists(target) for target in targets):
            claimed.update(targets)
            return targets
        suffix += 1


def plan_sidecar(photo: Path, updates: dict[tuple[str, str], str], style: str = "ext") -> Operation | None:
    """The merge of ``updates`` into the photo's sidecar; None when it already says exactly that.

    Raises :class:`aescull.library.xmp.SidecarError` for a sidecar that cannot be merged safely.
    """
    target = xmp.sidecar_path(photo, style)
    previous = target.read_bytes() if target.exists() else None
    content = xmp.merge(previous, updates)
    if content == previous:
        return None
    mtime_ns = target.stat().st_mtime_ns if previous is not None else None
    return Operation("sidecar", target, content=content, previous=previous, previous_mtime_ns=mtime_ns)


def sidecar_fields(score: float, model_name: str | None = None, model_version: str | None = None) -> dict[tuple[str, str], str]:
    """aescull's own record in the sidecar: the raw score and, when known, which model gave it."""
    fields = {xmp.SCORE: f"{score:.4f}"}
    if model_name is not None:
        fields[xmp.MODEL] = model_name
    if model_version is not None:
        fields[xmp.MODEL_VERSION] = model_version
    return fields


@dataclass
class Plan:
    """What a cull or tag run will do, and what it refused to touch (reported, exit code 1)."""

    operations: list[Operation] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    kept: list[Shot] = field(default_factory=list)
    culled: list[Shot] = field(default_factory=list)


def usable_rows(rows: Iterable[ScoreRecord], check_staleness: bool, exclude: Path | None = None) -> tuple[list[ScoreRecord], list[str]]:
    """Rows safe to act on, and why the others are not: unreadable, changed since scoring.

    Rows under ``exclude`` (the cull folder) are dropped silently: they were culled already.
    """
    usable, refused = [], []
    for row in rows:
        if exclude is not None and is_inside(row.path, exclude):
            continue
        reason = row.error or ("no score" if row.score is None else None) or (stale_reason(row) if check_staleness else None)
        if reason:
            refused.append(f"{row.path}: {reason}; left alone")
        else:
            usable.append(row)
    return usable, refused


def plan_cull(
    rows: Sequence[ScoreRecord],
    rule: CullRule | None,
    root: Path,
    action: str,
    destination: Path,
    per_folder: bool = False,
    check_staleness: bool = False,
    sidecar_style: str = "ext",
    keep_best: int | None = None,
) -> Plan:
    """Choose the weakest shots and plan the action: "move", "copy", "tag" or "list" (no operations).

    With ``keep_best`` every shot but the N best of its group (rows' ``group`` and
    ``rank_in_group``) is culled too, on top of what ``rule`` (if any) culls.
    """
    usable, refused = usable_rows(rows, check_staleness, exclude=destination)
    shots = group_shots(usable)
    score_of, path_of = (lambda shot: shot.score), (lambda shot: shot.path)
    culled = [] if rule is None else select_culled(
        shots, score_of=score_of, path_of=path_of, rule=rule, per_folder=per_folder, reasons_of=lambda shot: shot.reasons
    )
    if keep_best is not None:
        chosen_ids = {id(shot) for shot in culled}
        ranked = all_but_best(shots, keep_best, lambda shot: shot.group, lambda shot: (shot.rank_in_group or 0, shot.path))
        extra = [shot for shot in ranked if id(shot) not in chosen_ids]
        culled = sorted(culled + extra, key=lambda shot: (shot.score, shot.path))
    chosen = {id(shot) for shot in culled}
    plan = Plan(refused=refused, culled=culled, kept=[shot for shot in shots if id(shot) not in chosen])
    if action in ("move", "copy"):
        plan.operations, refused_shots = plan_transfer(culled, root, destination, copy=action == "copy")
        plan.refused.extend(refused_shots)
    elif action == "tag":
        rejected = {xmp.RATING: str(REJECTED_RATING), xmp.PICK_LABEL: str(PICK_LABEL_REJECTED)}
        for shot in culled:
            for row in shot.rows:
                _add_sidecar(plan, row.path, {**rejected, **sidecar_fields(row.score)}, sidecar_style)
    elif action != "list":
        raise ValueError(f"unknown cull action {action!r}")
    return plan


def plan_tag(
    rows: Sequence[ScoreRecord],
    reject_below: float | None = None,
    pick_labels: bool = False,
    sidecar_style: str = "ext",
    model_name: str | None = None,
    model_version: str | None = None,
    check_staleness: bool = False,
) -> Plan:
    """One sidecar per photo; photos sharing a sidecar (IMG.xmp for IMG.CR2 + IMG.jpg) get the best score."""
    usable, refused = usable_rows(rows, check_staleness)
    plan = Plan(refused=refused)
    best: dict[Path, ScoreRecord] = {}
    for row in usable:
        sidecar = xmp.sidecar_path(row.path, sidecar_style)
        if sidecar not in best or (row.score or 0.0) > (best[sidecar].score or 0.0):
            best[sidecar] = row
    for row in best.values():
        assert row.score is not None
        fields = {xmp.RATING: str(rating_for(row.score, reject_below)), **sidecar_fields(row.score, model_name, model_version)}
        if pick_labels:
            fields[xmp.PICK_LABEL] = str(pick_label_for(row.score, reject_below))
        _add_sidecar(plan, row.path, fields, sidecar_style)
    return plan


def _add_sidecar(plan: Plan, photo: Path, fields: dict[tuple[str, str], str], style: str) -> None:
    if any(operation.target == xmp.sidecar_path(photo, style) for operation in plan.operations):
        return  # a RAW and its JPEG share IMG.xmp in the stem style
    try:
        operation = plan_sidecar(photo, fields, style)
    except (xmp.SidecarError, OSError) as error:
        plan.refused.append(f"{xmp.sidecar_path(photo, style)}: {_reason(error)}; left untouched")
        return
    if operation is not None:
        plan.operations.append(operation)


# ---------------------------------------------------------------- the lock and the journal


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


# ---------------------------------------------------------------- executing


@dataclass
class Outcome:
    """What a run or an undo did; ``failures`` are messages for stderr (exit code 1)."""

    run: str | None = None
    done: int = 0
    failures: list[str] = field(default_factory=list)


def execute(operations: Sequence[Operation], journal: Journal, command: str) -> Outcome:
    """Carry out a plan, journaling each step first. A failed step is reported and skipped."""
    outcome = Outcome(run=new_run_id())
    if not operations:
        return outcome
    journal.append({"type": "run", "run": outcome.run, "command": command, "time": time.time()})
    for seq, operation in enumerate(operations):
        record = _journal_record(operation, outcome.run, seq)
        try:
            journal.append(record)
            _perform(operation, record)
            journal.append({"type": "done", "run": outcome.run, "seq": seq})
            outcome.done += 1
        except (OSError, ActionError) as error:
            outcome.failures.append(f"{operation.describe()}: {_reason(error)}")
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
        xmp.fsync_directory(operation.target.parent)
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
        xmp.atomic_write(operation.target, operation.content)
    else:
        raise ActionError(f"unknown operation {operation.kind!r}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def move_file(source: Path, target: Path) -> None:
    """Rename without ever replacing ``target``; across file systems, copy, verify, then delete."""
    try:
        os.link(source, target, follow_symlinks=False)  # fails if target exists, unlike rename
    except FileExistsError:
        raise ActionError(f"{target} already exists; not overwritten") from None
    except OSError as error:
        if error.errno == errno.EXDEV:
            copy_verified(source, target, expected_sha256=file_sha256(source))
        elif error.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):  # no hard links here
            if os.path.lexists(target):
                raise ActionError(f"{target} already exists; not overwritten") from None
            os.rename(source, target)
            xmp.fsync_directory(target.parent)
            xmp.fsync_directory(source.parent)
            return
        else:
            raise
    xmp.fsync_directory(target.parent)
    try:
        source.unlink()
    except OSError:  # e.g. a read-only source folder: take back the new name, keep the original
        target.unlink()
        raise
    xmp.fsync_directory(source.parent)


def copy_verified(source: Path, target: Path, expected_sha256: str) -> None:
    """Copy data and timestamps to a temp name, fsync, check size and sha256, then take the name."""
    temporary = xmp.temporary_path(target)
    try:
        with open(source, "rb") as reader, open(temporary, "xb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)
            writer.flush()
            os.fsync(writer.fileno())
        shutil.copystat(source, temporary)
        if temporary.stat().st_size != source.stat().st_size or file_sha256(temporary) != expected_sha256:
            raise ActionError(f"copy of {source} does not match the original (size or sha256); original kept")
        try:
            os.link(temporary, target)
        except FileExistsError:
            raise ActionError(f"{target} already exists; not overwritten") from None
    finally:
        temporary.unlink(missing_ok=True)
    xmp.fsync_directory(target.parent)


# ---------------------------------------------------------------- undo


def undo(journal: Journal, all_runs: bool = False) -> list[Outcome]:
    """Revert the newest run (or every run), newest operation first.

    Each operation is judged by what is on disk now, so an interrupted run or an interrupted
    undo can be undone again safely. A run is marked undone only when all of it was reverted.
    """
    records = journal.records()
    outcomes = []
    for run in journal.runs_to_undo(all_runs):
        outcome = Outcome(run=run)
        operations = [record for record in records if record.get("type") == "op" and record["run"] == run]
        for record in sorted(operations, key=lambda record: record["seq"], reverse=True):
            try:
                _remove_stale_temporaries(Path(record["target"]))
                if _revert(record):
                    outcome.done += 1
            except (OSError, ActionError) as error:
                outcome.failures.append(f"undo {record['kind']} {record.get('source') or record['target']}: {_reason(error)}")
        if not outcome.failures:
            journal.append({"type": "undone", "run": run, "time": time.time()})
        outcomes.append(outcome)
    return outcomes


def _remove_stale_temporaries(target: Path) -> None:
    """A run killed between writing a temp file and renaming it leaves it beside its target;
    once the process that wrote it is gone, it is nobody's file."""
    for temporary, pid in xmp.temporaries_of(target):
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
        xmp.fsync_directory(target.parent)
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
            xmp.fsync_directory(target.parent)
        else:
            xmp.atomic_write(target, previous, mtime_ns=record["previous_mtime_ns"])
        return True
    raise ActionError(f"unknown operation {kind!r} in the journal")


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} ({error.filename})" if error.filename else error.strerror
    return str(error)
