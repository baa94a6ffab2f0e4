"""``aescull score`` and ``aescull rank``: rows out, nothing in the library changed.

Neither imports the library (cull, journal, sidecars) nor the report: a scoring run loads only
what scoring needs.
"""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from aescull.cli.errors import guard
from aescull.cli.options import (
    ChecksOpt,
    DebugOpt,
    Engine,
    FaceOptions,
    Format,
    FormatOpt,
    GroupingOptions,
    GroupsOpt,
    OutputOpt,
    PathsArg,
    QuietOpt,
    ScoringOptions,
    VerdictOptions,
    VerdictOpt,
    takes,
)
from aescull.cli.run import Tally, face_search, grouped, judged, scored
from aescull.cli.streams import output_format, write_rows

ScoreFormatOpt = Annotated[
    Optional[Format],
    typer.Option("--format", "-f", metavar="csv|jsonl|table|parquet", help="Output format (default: from the --output extension, .jsonl or .parquet, else csv).", show_default=False),
]
EngineOpt = Annotated[
    Engine, typer.Option("--engine", metavar="local|ray", help="local: this machine's cores; ray: a Ray cluster (pip install 'aescull[ray]').")
]
AddressOpt = Annotated[
    Optional[str],
    typer.Option("--address", metavar="HOST:PORT", help="Ray cluster address, as `ray start --head` prints it (default: a private Ray on this machine, 127.0.0.1 only)."),
]
ActorsOpt = Annotated[
    Optional[int],
    typer.Option("--actors", min=1, metavar="N", help="Model copies on the Ray cluster (default: its CPUs, less a reserve for reading files)."),
]


@takes(scoring=ScoringOptions, grouping=GroupingOptions, face_options=FaceOptions, verdict_options=VerdictOptions)
def score(
    paths: PathsArg = None,
    fmt: ScoreFormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    groups: GroupsOpt = False,
    checks: ChecksOpt = False,
    verdict: VerdictOpt = False,
    engine: EngineOpt = Engine.local,
    address: AddressOpt = None,
    actors: ActorsOpt = None,
    *,
    scoring: ScoringOptions,
    grouping: GroupingOptions,
    face_options: FaceOptions,
    verdict_options: VerdictOptions,
) -> None:
    """Score photos: one row per file (CSV on stdout by default), in a stable order.

    With --groups, photos of one moment (taken within --burst-window seconds and alike, or with --duplicates near-identical at any time) share a `group` id, and `rank_in_group` 1 is the best of each; the frames of an exposure bracket, a focus stack or a panorama share a `set_id`, and `set` names the kind. Rows are printed once all are scored.

    With --verdict each shot is judged pick, keep or reject (`verdict`), with the reasons (`verdict_reasons`): the rules and their lines are in docs/verdict.md.

    With --engine ray the same rows, in the same order, come from a Ray cluster (--address), or from a private Ray on this machine.
    """
    if engine is Engine.local and (address is not None or actors is not None):
        raise typer.BadParameter("--address and --actors need --engine ray")
    if engine is Engine.ray and (groups or checks or face_options.faces or verdict):
        raise typer.BadParameter("--groups, --checks, --faces and --verdict run on the local engine only, not with --engine ray")
    fmt = output_format(fmt, output)
    started = time.monotonic()
    with guard(debug):
        tally = Tally()
        faces = face_search(face_options, verdict, quiet)
        groups, checks = groups or verdict, checks or verdict
        records = scored(paths, scoring, quiet=quiet, signatures=groups, checks=checks, faces=faces, engine=engine,
                         address=address, actors=actors)
        if verdict:
            records = iter(judged(records, grouping, verdict_options))
        elif groups:
            records = iter(grouped(records, grouping))
        write_rows(tally.count(records), fmt, output, groups=groups, checks=checks, faces=faces is not None, verdict=verdict)
        tally.finish(started, quiet)


@takes(scoring=ScoringOptions, grouping=GroupingOptions, face_options=FaceOptions, verdict_options=VerdictOptions)
def rank(
    paths: PathsArg = None,
    top: Annotated[Optional[int], typer.Option("--top", min=1, metavar="N", help="Only the N best photos.")] = None,
    bottom: Annotated[Optional[int], typer.Option("--bottom", min=1, metavar="N", help="Only the N worst photos, worst first.")] = None,
    fmt: FormatOpt = Format.csv,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    groups: GroupsOpt = False,
    checks: ChecksOpt = False,
    verdict: VerdictOpt = False,
    *,
    scoring: ScoringOptions,
    grouping: GroupingOptions,
    face_options: FaceOptions,
    verdict_options: VerdictOptions,
) -> None:
    """Rank photos best first (or worst first with --bottom); failed files are listed last.

    With --groups, whole groups are ranked by their best photo, each group best first; --top/--bottom then count groups.

    With --verdict, the picks come first, then the keeps, then the rejects, each best first (--bottom: the rejects first, worst first); --top/--bottom count photos.
    """
    from aescull.judge.ranking import rank_by_verdict, rank_records

    if top is not None and bottom is not None:
        raise typer.BadParameter("use --top or --bottom, not both")
    started = time.monotonic()
    with guard(debug):
        tally = Tally()
        faces = face_search(face_options, verdict, quiet)
        groups, checks = groups or verdict, checks or verdict
        records = list(tally.count(scored(paths, scoring, quiet=quiet, signatures=groups, checks=checks, faces=faces)))
        limit = top if top is not None else bottom
        if verdict:
            ordered = rank_by_verdict(judged(records, grouping, verdict_options), worst_first=bottom is not None, limit=limit)
        else:
            records = grouped(records, grouping) if groups else records
            ordered = rank_records(records, grouped=groups, worst_first=bottom is not None, limit=limit)
        write_rows(ordered, fmt, output, groups=groups, checks=checks, faces=faces is not None, verdict=verdict)
        tally.finish(started, quiet)
