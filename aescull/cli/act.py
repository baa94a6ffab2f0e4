"""``aescull cull``, ``tag`` and ``undo``: the commands that change the library, every change journaled.

Both changing commands run one sequence (:func:`_carry_out`): plan, then either print the plan
(``--dry-run``) or take the library's lock, plan again under it and execute; then report what
was refused or failed and how to undo it (:func:`_finish`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from aescull.cli.errors import ExitCode, UsageError, counted, guard, warn
from aescull.cli.options import (
    ActPathsArg,
    ChecksOpt,
    DebugOpt,
    DryRunOpt,
    FaceOptions,
    Format,
    FormatOpt,
    FromOpt,
    GroupingOptions,
    JournalOpt,
    QuietOpt,
    ScoringOptions,
    SidecarStyle,
    SidecarStyleOpt,
    VerdictOptions,
    takes,
)
from aescull.cli.run import load_weights, score_rows, verdict_rows
from aescull.cli.streams import read_rows, rows_source, write_rows
from aescull.judge.thresholds import CHECK_REASONS, FACE_REASONS

REASONS_HELP = f"comma-separated: {', '.join(CHECK_REASONS)} from --checks; {', '.join(FACE_REASONS)} from --faces"

if TYPE_CHECKING:
    from aescull.library.execute import Outcome
    from aescull.library.plan import Plan


@takes(scoring=ScoringOptions, grouping=GroupingOptions, face_options=FaceOptions, verdict_options=VerdictOptions)
def cull(
    paths: ActPathsArg = None,
    below: Annotated[Optional[float], typer.Option("--below", metavar="T", help="Cull shots scoring below T (0..1).")] = None,
    bottom: Annotated[Optional[str], typer.Option("--bottom", metavar="N|P%", help="Cull the N lowest shots, or the lowest P% (e.g. 10%).")] = None,
    keep_best: Annotated[
        Optional[int], typer.Option("--keep-best", min=1, metavar="N", help="Cull all but the N best shots of each burst or near-duplicate group (with --below: and those below T too).")
    ] = None,
    reject: Annotated[
        Optional[str],
        typer.Option(
            "--reject",
            metavar="REASONS",
            help=f"Also cull shots flagged for any of these reasons ({REASONS_HELP}); scoring runs what they need, saved "
            "rows must come from `aescull score --checks` / `--faces`.",
        ),
    ] = None,
    per_folder: Annotated[bool, typer.Option("--per-folder", help="Apply --bottom in each folder separately.")] = False,
    move_to: Annotated[Optional[Path], typer.Option("--move-to", metavar="DIR", help="Move culled shots here [default: _culled in the library's root].", file_okay=False)] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy culled shots instead of moving them.")] = False,
    tag: Annotated[bool, typer.Option("--tag", help="Mark culled photos rejected in their sidecars instead of moving.")] = False,
    list_only: Annotated[bool, typer.Option("--list", help="Only print the culled rows (csv/jsonl/table on stdout).")] = False,
    dry_run: DryRunOpt = False,
    from_file: FromOpt = None,
    sidecar_style: SidecarStyleOpt = SidecarStyle.ext,
    journal: JournalOpt = None,
    fmt: FormatOpt = Format.csv,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    *,
    scoring: ScoringOptions,
    grouping: GroupingOptions,
    face_options: FaceOptions,
    verdict_options: VerdictOptions,
) -> None:
    """Move (or copy, tag, list) the weakest shots; a RAW+JPEG pair, its sidecars and companions go together.

    Without --below, --bottom, --reject or --keep-best, the shots the verdict rejects are culled (as `aescull score --verdict` judges them: blurry, mis-exposed, eyes closed, weak, or not the best of a burst; docs/verdict.md); saved rows must then come from `aescull score --verdict`.

    Rows come from scoring PATH..., or from --from FILE, or from stdin when no PATH is given and stdin is not a terminal (`aescull score ~/Photos | aescull cull --below 0.4`). Saved rows whose file changed since scoring are refused. Every change is journaled: `aescull undo` reverts it.

    --keep-best N keeps the N best shots of each moment (bursts found as by `score --groups`, with --burst-window, --similarity, --duplicates; saved rows must come from `aescull score --groups`).

    Exposure brackets, focus stacks and panoramas are kept or culled whole: a set is judged by its best shot, and kept whole when any of its shots is among the N best of its group.

    --reject blurry,dark culls the shots flagged for those reasons, alone or on top of --below/--bottom (a shot is culled when either picks it).
    """
    from aescull.judge.decide import CullRule, parse_bottom
    from aescull.library.plan import CULLED_FOLDER, library_root, plan_cull
    from aescull.rows.read import read_score_rows

    if below is not None and bottom is not None:
        raise typer.BadParameter("give one of --below T or --bottom N|P%, not both")
    if keep_best is not None and bottom is not None:
        raise typer.BadParameter("--keep-best combines with --below, not with --bottom")
    by_verdict = below is None and bottom is None and reject is None and keep_best is None
    rejected = _parse_reject(reject)
    try:
        if by_verdict:
            rule: CullRule | None = CullRule(verdict_rejects=True)
        elif below is not None:
            rule = CullRule(below=below, reject=rejected)
        elif bottom is not None:
            rule = replace(parse_bottom(bottom), reject=rejected)
        else:
            rule = CullRule(reject=rejected) if rejected else None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if copy + tag + list_only > 1 or (move_to is not None and (tag or list_only)):
        raise typer.BadParameter("choose one action: --move-to/--copy (move or copy), --tag or --list")
    from_file = rows_source(paths, from_file)
    action = "copy" if copy else "tag" if tag else "list" if list_only else "move"
    started = time.monotonic()
    saved_rows = None if from_file is None else read_rows(from_file, read_score_rows)
    if by_verdict and saved_rows is not None and any(row.error is None and row.verdict is None for row in saved_rows):
        raise typer.BadParameter("these rows have no verdict to cull by: save them with `aescull score --verdict`, or give --below T, "
                                 "--bottom N|P%, --reject REASONS or --keep-best N", param_hint="--from")
    if saved_rows is not None and keep_best is not None and any(row.error is None and row.group is None for row in saved_rows):
        raise typer.BadParameter("--keep-best needs the rows' group column: save them with `aescull score --groups`", param_hint="--from")
    checks, needs_faces = bool(rejected & set(CHECK_REASONS)), bool(rejected & set(FACE_REASONS))
    if checks and saved_rows is not None and any(row.checks is None and row.error is None for row in saved_rows):
        raise typer.BadParameter("--reject needs rows with reasons: score them with `aescull score --checks`", param_hint="--from")
    if needs_faces and saved_rows is not None and any(row.faces is None and row.error is None for row in saved_rows):
        raise typer.BadParameter("--reject eyes-closed/face-soft needs rows of `aescull score --faces`", param_hint="--from")
    if saved_rows is not None and any(row.error is None and row.group is None for row in saved_rows):
        warn("warning: these rows were not written by `aescull score --groups`, so they do not say which photos are "
             "exposure brackets, focus stacks or panoramas: each shot is judged alone")
    with guard(debug):
        if saved_rows is not None:
            root = library_root([row.path for row in saved_rows])
        else:
            assert paths is not None
            root = _checked_paths(paths, culls_into_root=move_to is None and action in ("move", "copy"))
        destination = (move_to or root / CULLED_FOLDER).absolute()
        if action != "list":
            _refuse_unwritable(action, root, destination)
        if saved_rows is not None:
            rows, failed = saved_rows, 0
        elif by_verdict:
            rows, failed = verdict_rows(paths, scoring, grouping, verdict_options, face_options, quiet=quiet)
        else:
            search = replace(face_options, faces=face_options.faces or needs_faces).search()  # --reject eyes-closed looks for faces
            rows, failed = score_rows(paths, scoring, grouping if keep_best is not None else None, sets=True, quiet=quiet, checks=checks,
                                      faces=search)

        def make_plan() -> Plan:
            return plan_cull(rows, rule, root, action, destination, per_folder=per_folder,
                             check_staleness=from_file is not None, sidecar_style=sidecar_style.value, keep_best=keep_best)

        if action == "list":
            plan, outcome = make_plan(), None
            listed = [row for shot in plan.culled for row in shot.rows]
            write_rows(listed, fmt, None, groups=keep_best is not None or by_verdict, checks=any(row.checks is not None for row in rows),
                       faces=any(row.faces is not None for row in rows), verdict=by_verdict)
            where = f"{counted(sum(len(shot.rows) for shot in plan.culled), 'photo')} listed"
        else:
            plan, outcome = _carry_out(make_plan, "cull", root, journal, dry_run)
            n_files = sum(operation.kind != "mkdir" for operation in plan.operations)
            where = {
                "move": f"{counted(n_files, 'file')} {'to move' if dry_run else 'moved'} to {destination}",
                "copy": f"{counted(n_files, 'file')} {'to copy' if dry_run else 'copied'} to {destination}",
                "tag": f"{counted(n_files, 'sidecar')} {'to mark' if dry_run else 'marked'} rejected",
            }[action]
        summary = f"kept {counted(len(plan.kept), 'shot')}, culled {len(plan.culled)} ({where})"
        _finish(plan, outcome, summary, failed=failed, quiet=quiet, dry_run=dry_run and action != "list", started=started,
                root=root, journal=journal)


@takes(scoring=ScoringOptions, face_options=FaceOptions, grouping=GroupingOptions, verdict_options=VerdictOptions)
def tag(
    paths: ActPathsArg = None,
    reject_below: Annotated[Optional[float], typer.Option("--reject-below", metavar="T", help="Rate photos scoring below T as rejected (-1).")] = None,
    pick_labels: Annotated[bool, typer.Option("--pick-labels", help="Also write digiKam:PickLabel (1 rejected, 3 accepted).")] = False,
    reject: Annotated[
        Optional[str],
        typer.Option("--reject", metavar="REASONS", help=f"Also rate photos flagged for any of these reasons as rejected ({REASONS_HELP})."),
    ] = None,
    checks: ChecksOpt = False,
    verdict: Annotated[
        bool,
        typer.Option(
            "--verdict",
            help="Write each shot's verdict instead (implies --groups and --checks, and --faces when installed): a reject rated -1, "
            "pick label 1, colour label Red; a pick its stars, pick label 3, Green; a keep its stars, no pick label.",
        ),
    ] = False,
    sidecar_style: SidecarStyleOpt = SidecarStyle.ext,
    dry_run: DryRunOpt = False,
    journal: JournalOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    *,
    scoring: ScoringOptions,
    face_options: FaceOptions,
    grouping: GroupingOptions,
    verdict_options: VerdictOptions,
) -> None:
    """Write each photo's rating into its XMP sidecar (merged, never clobbered; undo with `aescull undo`).

    Stars are equal-width bins of the score: 0-0.2 is 1 star ... 0.8-1 is 5 stars; -1 (rejected) below --reject-below or when flagged for a --reject reason. The raw score, the model and, with --checks or --faces, the reasons and face counts go into the aescull: namespace.

    With --verdict, the verdict of `aescull score --verdict` is written where editors read it (docs/verdict.md); a colour label set by someone else is left as it is.
    """
    from aescull.library.plan import plan_tag

    if not paths:
        raise typer.BadParameter("give the photos or folders to tag (e.g. `aescull tag .`)")
    if verdict and (reject_below is not None or reject is not None or pick_labels):
        raise typer.BadParameter("--verdict writes its own rejects and pick labels: not with --reject-below, --reject or --pick-labels")
    rejected = _parse_reject(reject)
    started = time.monotonic()
    with guard(debug):
        root = _checked_paths(paths, culls_into_root=False)
        _refuse_unwritable("tag", root, None)
        loaded = load_weights(scoring)
        if verdict:
            rows, failed = verdict_rows(paths, scoring, grouping, verdict_options, face_options, quiet=quiet, loaded=loaded)
        else:
            search = replace(face_options, faces=face_options.faces or bool(rejected & set(FACE_REASONS))).search()
            rows, failed = score_rows(paths, scoring, quiet=quiet, loaded=loaded, checks=checks or bool(rejected & set(CHECK_REASONS)),
                                      faces=search)

        def make_plan() -> Plan:
            return plan_tag(rows, reject_below=reject_below, pick_labels=pick_labels, sidecar_style=sidecar_style.value,
                            model_name=loaded.name, model_version=loaded.version, reject_reasons=rejected, verdict=verdict)

        plan, outcome = _carry_out(make_plan, "tag", root, journal, dry_run)
        summary = f"{counted(len(plan.operations), 'sidecar')} {'to write' if dry_run else 'written'}"
        summary += f", {len(plan.refused)} refused" if plan.refused else ""
        _finish(plan, outcome, summary, failed=failed, quiet=quiet, dry_run=dry_run, started=started, root=root, journal=journal)


def undo(
    path: Annotated[Optional[Path], typer.Argument(metavar="FOLDER", help="The folder whose runs to revert, nested folders included (default: the current folder).", show_default=False)] = None,
    journal: JournalOpt = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Revert every run under the folder, newest first.")] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Revert the newest cull or tag run under a folder: files back to their exact paths, sidecars to their exact bytes."""
    from aescull.library import undo as undoing
    from aescull.library.journal import Journal, journals_under

    root = (path or Path(".")).absolute()
    with guard(debug):
        if not root.is_dir():
            raise UsageError(f"{path}: no such folder; nothing to undo there")
        journals = [journal] if journal else journals_under(root)
        pending = sorted(
            ((started, position, run, file) for file in journals for position, (started, run) in enumerate(Journal(file).pending_runs())),
            reverse=True,
        )
        if not pending:
            if not quiet:
                warn(f"nothing to undo under {root}")
            return
        outcomes = []
        for _, _, run, file in pending if all_runs else pending[:1]:
            with _library_lock(file.parent):
                outcomes += undoing.undo(Journal(file), [run])
        for outcome in outcomes:
            for message in outcome.failures:
                warn(f"warning: {message}")
            if not quiet:
                state = "partly undone (run undo again once the above is resolved)" if outcome.failures else "undone"
                warn(f"run {outcome.run} {state}: {counted(outcome.done, 'change')} reverted")
        if any(outcome.failures for outcome in outcomes):
            raise typer.Exit(ExitCode.FILES_FAILED)


def _checked_paths(paths: list[Path], culls_into_root: bool) -> Path:
    """The library root of the PATHs, once each is known to exist (and, when the cull folder goes
    in the root, the root is one of them): a typo must never widen what a command changes."""
    from aescull.library.plan import library_root
    from aescull.library.preflight import Refused, cull_folder_root, existing_paths

    try:
        existing_paths(paths)
        return cull_folder_root(paths, library_root(paths)) if culls_into_root else library_root(paths)
    except Refused as error:
        raise UsageError(str(error)) from None


def _refuse_unwritable(action: str, root: Path, destination: Path | None) -> None:
    from aescull.library.preflight import Refused, check_writable

    try:
        check_writable(action, root, destination)
    except Refused as error:
        raise UsageError(str(error)) from None


def _parse_reject(text: str | None) -> frozenset[str]:
    """``blurry,eyes-closed`` -> the reasons; an unknown name is a usage error, not a silent no-op."""
    if text is None:
        return frozenset()
    known = (*CHECK_REASONS, *FACE_REASONS)
    reasons = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = sorted(reasons - set(known))
    if unknown or not reasons:
        raise typer.BadParameter(f"unknown reason {', '.join(unknown) or repr(text)}; choose from {', '.join(known)}", param_hint="--reject")
    return reasons


def _carry_out(make_plan: Callable[[], Plan], command: str, root: Path, journal: Path | None, dry_run: bool) -> tuple[Plan, Outcome | None]:
    """Print the plan (dry run), or plan again under the library's lock and execute it, journaled."""
    from aescull.library.execute import execute
    from aescull.library.journal import JOURNAL_NAME, Journal, journal_home

    if dry_run:
        plan = make_plan()
        for operation in plan.operations:
            typer.echo(operation.describe())
        return plan, None
    home = journal_home(root)
    home.mkdir(parents=True, exist_ok=True)
    with _library_lock(home):
        plan = make_plan()
        return plan, execute(plan.operations, Journal(journal or home / JOURNAL_NAME), command, root)


def _finish(
    plan: Plan, outcome: Outcome | None, summary: str, *, failed: int, quiet: bool, dry_run: bool, started: float, root: Path,
    journal: Path | None,
) -> None:
    """Warn about each refusal and failure, print the summary with how to undo, and exit 1 if anything went wrong."""
    for message in plan.refused + (outcome.failures if outcome else []):
        warn(f"warning: {message}")
    if not quiet:
        if dry_run:
            summary += "; dry run: nothing changed"
        elif outcome is not None and outcome.done:
            summary += f" in {time.monotonic() - started:.1f} s; undo with: aescull undo {root}" + (f" --journal {journal}" if journal else "")
        warn(summary)
    if failed or plan.refused or (outcome and outcome.failures):
        raise typer.Exit(ExitCode.FILES_FAILED)


@contextmanager
def _library_lock(root: Path) -> Iterator[None]:
    from aescull.library.errors import LibraryLocked
    from aescull.library.journal import library_lock

    try:
        with library_lock(root):
            yield
    except LibraryLocked as error:
        raise UsageError(str(error)) from None
