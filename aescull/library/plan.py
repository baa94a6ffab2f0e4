"""Plan a cull or a tag: which shots go, where each file goes, which sidecar bytes change.

Planning touches nothing: the plan is a list of operations that :mod:`aescull.library.execute`
journals and carries out, or that ``--dry-run`` prints. Nothing is ever overwritten: a name
collision gets a ``-N`` suffix for the whole shot, planned like any other destination; a
sidecar's new bytes are computed here from its current ones, so undo can put them back exactly.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aescull.judge.decide import PICK_LABEL_REJECTED, REJECTED_RATING, CullRule, pick_label_for, rating_for, select_culled
from aescull.judge.groups import all_but_best
from aescull.library import xmp
from aescull.library.errors import ActionError, reason
from aescull.library.shots import Shot, Unit, group_shots, group_units, shot_files
from aescull.rows.record import ScoreRecord

CULLED_FOLDER = "_culled"


def stalereason(row: ScoreRecord) -> str | None:
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
            refused.append(f"{shot.path}: {reason(error)}; left alone")
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


def plan_sidecar(
    target: Path, updates: dict[tuple[str, str], str],
    from_previous: Callable[[bytes | None], dict[tuple[str, str], str]] | None = None,
) -> Operation | None:
    """The merge of ``updates`` into the sidecar ``target`` (:func:`aescull.library.xmp.sidecar_path`);
    None when it already says exactly that. ``from_previous`` adds the fields that depend on what
    the sidecar says now (read once, here).

    Raises :class:`aescull.library.xmp.SidecarError` for a sidecar that cannot be merged safely.
    """
    previous = target.read_bytes() if target.exists() else None
    if from_previous is not None:
        updates = {**from_previous(previous), **updates}
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
        reason = row.error or ("no score" if row.score is None else None) or (stalereason(row) if check_staleness else None)
        if reason:
            refused.append(f"{row.path}: {reason}; left alone")
        else:
            usable.append(row)
    return usable, refused


def culled_units(units: Sequence[Unit], rule: CullRule | None, per_folder: bool, keep_best: int | None) -> list[Unit]:
    """The units ``rule`` or ``keep_best`` cull, lowest first: a set is kept or culled whole.

    ``--below``/``--bottom`` judge a set by its best shot (a set counts once in ``--bottom``'s
    quota); ``--reject`` culls it only when every shot of it is flagged for one same reason;
    ``--keep-best N`` keeps it whole when any of its shots is among the N best of its group (a set
    ranks in each group it has shots in at the place of its best shot there, and counts once),
    and culls it whole otherwise. ``rule.verdict_rejects`` culls the units the verdict rejected.
    """
    if rule is not None and rule.verdict_rejects:
        return sorted((unit for unit in units if unit.rejected_by_verdict), key=lambda unit: (unit.score, unit.path))
    culled = [] if rule is None else select_culled(
        units, score_of=lambda unit: unit.score, path_of=lambda unit: unit.path, rule=rule, per_folder=per_folder,
        reasons_of=lambda unit: unit.reasons,
    )
    if keep_best is None:
        return culled
    places = [(unit, group, rank) for unit in units for group, rank in unit.places()]
    beaten = all_but_best(places, keep_best, lambda place: place[1], lambda place: (place[2] or 0, place[0].path))
    beaten_count = Counter(id(place[0]) for place in beaten)
    chosen = {id(unit) for unit in culled}
    extra = [unit for unit in units if beaten_count[id(unit)] == len(unit.places()) and id(unit) not in chosen]
    return sorted(culled + extra, key=lambda unit: (unit.score, unit.path))


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
    ``rank_in_group``) is culled too, on top of what ``rule`` (if any) culls. A set (rows'
    ``set_id``) is one unit for both: see :func:`culled_units`.
    """
    usable, refused = usable_rows(rows, check_staleness, exclude=destination)
    shots = group_shots(usable)
    culled = sorted(
        (shot for unit in culled_units(group_units(shots), rule, per_folder, keep_best) for shot in unit.shots),
        key=lambda shot: (shot.score, shot.path),
    )
    chosen = {id(shot) for shot in culled}
    plan = Plan(refused=refused, culled=culled, kept=[shot for shot in shots if id(shot) not in chosen])
    if action in ("move", "copy"):
        plan.operations, refused_shots = plan_transfer(culled, root, destination, copy=action == "copy")
        plan.refused.extend(refused_shots)
    elif action == "tag":
        rejected = {xmp.RATING: str(REJECTED_RATING), xmp.PICK_LABEL: str(PICK_LABEL_REJECTED)}
        planned: set[Path] = set()
        listings: dict[Path, dict[str, list[str]]] = {}
        for shot in culled:
            for row in shot.rows:
                for style in xmp.sidecar_styles(row.path, sidecar_style, listings):
                    sidecar = xmp.sidecar_path(row.path, style, listings)
                    if sidecar not in planned:  # a RAW and its JPEG share IMG.xmp in the stem style
                        planned.add(sidecar)
                        _add_sidecar(plan, sidecar, {**rejected, **sidecar_fields(row.score)})
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
    reject_reasons: frozenset[str] = frozenset(),
    verdict: bool = False,
) -> Plan:
    """One sidecar per photo, and the other style's where it exists already (:func:`aescull.library.xmp.sidecar_styles`);
    photos sharing a sidecar (IMG.xmp for IMG.CR2 + IMG.jpg) get the best score.
    A photo flagged for one of ``reject_reasons`` is rated rejected whatever its score. With
    ``verdict`` the rows' verdicts are written instead (:func:`aescull.library.decisions.verdict_fields`)."""
    usable, refused = usable_rows(rows, check_staleness)
    plan = Plan(refused=refused)
    best: dict[Path, ScoreRecord] = {}
    listings: dict[Path, dict[str, list[str]]] = {}
    for row in usable:
        for style in xmp.sidecar_styles(row.path, sidecar_style, listings):
            sidecar = xmp.sidecar_path(row.path, style, listings)
            if sidecar not in best or (row.score or 0.0) > (best[sidecar].score or 0.0):
                best[sidecar] = row
    for sidecar, row in best.items():
        assert row.score is not None
        if verdict:
            _add_sidecar(plan, sidecar, {**sidecar_fields(row.score, model_name, model_version), **_judged_fields(row)},
                         from_previous=_verdict_of(row))
            continue
        flagged = bool(reject_reasons & set(row.reasons or ()))
        rating = REJECTED_RATING if flagged else rating_for(row.score, reject_below)
        fields = {xmp.RATING: str(rating), **sidecar_fields(row.score, model_name, model_version), **_judged_fields(row)}
        if pick_labels:
            fields[xmp.PICK_LABEL] = str(PICK_LABEL_REJECTED if flagged else pick_label_for(row.score, reject_below))
        _add_sidecar(plan, sidecar, fields)
    return plan


def _judged_fields(row: ScoreRecord) -> dict[tuple[str, str], str]:
    """What the checks and faces found, when they ran: the reasons (empty when none, so an older
    run's reasons are replaced) and the face counts, for a search in digiKam or exiftool."""
    fields = {} if row.reasons is None else {xmp.REASONS: ",".join(row.reasons)}
    if row.faces is not None:
        fields |= {xmp.FACES: str(row.faces.faces), xmp.EYES_CLOSED: str(row.faces.eyes_closed)}
    return fields


def _verdict_of(row: ScoreRecord) -> Callable[[bytes | None], dict[tuple[str, str], str]]:
    """The verdict's fields depend on the sidecar's colour label now (:func:`aescull.library.decisions.verdict_fields`)."""
    from aescull.library.decisions import verdict_fields

    assert row.score is not None and row.verdict is not None
    verdict, reasons, score = row.verdict, row.verdict_reasons or (), row.score
    return lambda previous: verdict_fields(verdict, reasons, score, previous)


def _add_sidecar(
    plan: Plan, sidecar: Path, fields: dict[tuple[str, str], str],
    from_previous: Callable[[bytes | None], dict[tuple[str, str], str]] | None = None,
) -> None:
    try:
        operation = plan_sidecar(sidecar, fields, from_previous)
    except (xmp.SidecarError, OSError) as error:
        plan.refused.append(f"{sidecar}: {reason(error)}; left untouched")
        return
    if operation is not None:
        plan.operations.append(operation)
