"""Scoring as the commands run it: load the model first, stream the rows, warn about each failure.

The model is loaded, and the first row computed, before any output, so a bad ``--weights`` or a
missing Ray fails with exit 2 and no rows; each failed file is warned about on stderr as its row
goes by.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aescull.cli.errors import ExitCode, UsageError, counted, warn
from aescull.cli.options import Engine, FaceOptions, GroupingOptions, ScoringOptions, VerdictOptions

if TYPE_CHECKING:
    from aescull.judge.faces import FaceSearch
    from aescull.model.inference import ScoringModel
    from aescull.pipeline.local import ThumbnailCallback
    from aescull.rows.record import ScoreRecord


def load_weights(scoring: ScoringOptions) -> ScoringModel:
    """The model on the runtime ``--runtime`` and ``--weights`` ask for, with ``--threads`` model threads."""
    from aescull.model.bundled import WeightsError
    from aescull.model.inference import DEFAULT_THREADS, load_scoring_model

    runtime = scoring.runtime.value if scoring.runtime is not None else None
    try:
        return load_scoring_model(scoring.weights, runtime, scoring.threads or DEFAULT_THREADS)
    except WeightsError as error:
        raise UsageError(str(error)) from error


def scored(
    paths: list[Path] | None,
    scoring: ScoringOptions,
    *,
    quiet: bool,
    loaded: ScoringModel | None = None,
    on_thumbnail: ThumbnailCallback | None = None,
    signatures: bool = False,
    checks: bool = False,
    faces: FaceSearch | None = None,
    engine: Engine = Engine.local,
    address: str | None = None,
    actors: int | None = None,
) -> Iterator[ScoreRecord]:
    """The rows of ``aescull score PATH...`` (default: the current folder), in discovery order."""
    if faces is not None:
        _faces_ready()
    loaded = loaded or load_weights(scoring)  # first: ONNX Runtime builds its session while the pipeline's modules import

    from aescull.pipeline.cache import default_cache_path
    from aescull.pipeline.local import score_paths

    cache_file = None if scoring.no_cache else (scoring.cache or default_cache_path())
    targets = [str(path) for path in (paths or [Path(".")])]
    if engine is Engine.ray:
        records = _ray_records(targets, loaded, scoring, cache_file, address, actors)
    else:
        records = score_paths(
            targets,
            model=loaded,
            max_side=scoring.max_side,
            full_decode=scoring.full_decode,
            recursive=scoring.recursive,
            cache_file=cache_file,
            on_thumbnail=on_thumbnail,
            signatures=signatures,
            checks=checks,
            faces=faces,
            **({} if scoring.batch_size is None else {"batch_size": scoring.batch_size}),
            **({} if scoring.workers is None else {"workers": scoring.workers}),
        )
    records = _started(records)
    if quiet or not sys.stderr.isatty():
        return _reported(records)
    return _reported(_with_progress(records, _count(targets, scoring.recursive)))


def _started(records: Iterator[ScoreRecord]) -> Iterator[ScoreRecord]:
    """The records, the first already computed: ONNX Runtime builds its session while the first
    photos decode, and a model whose session cannot be built fails here, exit 2 before any output."""
    from aescull.model.bundled import WeightsError

    try:
        first = next(records)
    except StopIteration:
        return iter(())
    except WeightsError as error:
        raise UsageError(str(error)) from error
    return itertools.chain([first], records)


def _faces_ready() -> None:
    """Without the extra, or with a damaged model file, ``--faces`` is a setup error (exit 2), before any work."""
    from aescull.judge.faces import FaceModelError, FacesUnavailable, check_ready

    try:
        check_ready()
    except (FacesUnavailable, FaceModelError) as error:
        raise UsageError(str(error)) from None


def _count(targets: list[str], recursive: bool) -> int:
    """How many rows the run will print: one quick walk (no file is opened), so the bar has a total and an ETA."""
    from aescull.pipeline.discover import discover

    return sum(1 for _ in discover(targets, recursive))


def _reported(records: Iterator[ScoreRecord]) -> Iterator[ScoreRecord]:
    for record in records:
        if record.error:
            warn(f"warning: {record.path}: {record.error}")
        yield record


def _with_progress(records: Iterator[ScoreRecord], total: int) -> Iterator[ScoreRecord]:
    """A progress bar on stderr (only when a person is watching it), with the rows done, the total and the time left."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (SpinnerColumn(), TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("scoring", total=total)
        for record in records:
            progress.advance(task)
            yield record


def _ray_records(
    targets: list[str], loaded: ScoringModel, scoring: ScoringOptions, cache_file: Path | None, address: str | None, actors: int | None
) -> Iterator[ScoreRecord]:
    """Ray is reached before any output, so a missing extra or a wrong --address exits 2 with no rows."""
    from aescull.model.inference import DEFAULT_BATCH_SIZE
    from aescull.pipeline.ray import EngineError, connect, score_paths_ray

    try:
        connect(address)
    except EngineError as error:
        raise UsageError(str(error)) from error
    return score_paths_ray(targets, model=loaded, max_side=scoring.max_side, batch_size=scoring.batch_size or DEFAULT_BATCH_SIZE,
                           recursive=scoring.recursive, cache_file=cache_file, address=address, actors=actors,
                           full_decode=scoring.full_decode)


def grouped(records: Iterable[ScoreRecord], grouping: GroupingOptions) -> list[ScoreRecord]:
    """Bursts and near-duplicates in groups, and the sets that must stay whole marked: wherever
    grouping runs, sets are found too, so ``--keep-best`` never splits one."""
    from aescull.judge.groups import group_records
    from aescull.judge.sets import mark_sets

    return mark_sets(group_records(list(records), grouping.burst_window, grouping.similarity, grouping.duplicates))


def face_search(face_options: FaceOptions, verdict: bool, quiet: bool) -> FaceSearch | None:
    """The face search a run needs: that of --faces; with the verdict (and no --faces), the one
    it looks with when the extra is installed, or, without the extra, none and a note saying what
    is left out (the rest is judged as usual)."""
    if face_options.faces or not verdict:
        return face_options.search()
    from dataclasses import replace

    from aescull.judge.faces import FaceModelError, FacesUnavailable, check_ready

    try:
        check_ready()
    except FacesUnavailable:
        if not quiet:
            warn("note: faces are not judged (no eyes-closed or face-soft rejects): pip install 'aescull[faces]' adds them")
        return None
    except FaceModelError as error:  # a damaged bundled model: a setup error, as with --faces
        raise UsageError(str(error)) from None
    return replace(face_options, faces=True).search()


def judged(records: Iterable[ScoreRecord], grouping: GroupingOptions, verdict: VerdictOptions) -> list[ScoreRecord]:
    """Grouped, sets marked, and every shot given its verdict (:mod:`aescull.judge.verdict`)."""
    from aescull.judge.verdict import judge_verdicts

    return judge_verdicts(grouped(records, grouping), verdict.rules())


def score_rows(
    paths: list[Path], scoring: ScoringOptions, grouping: GroupingOptions | None = None, sets: bool = False, **options: object
) -> tuple[list[ScoreRecord], int]:
    """Score ``paths`` now for a command that acts on them: grouped given ``grouping``, with sets
    marked given ``grouping`` or ``sets``; rows with errors were already warned about, so they are
    counted, not kept."""
    from aescull.judge.sets import mark_sets

    records: Iterable[ScoreRecord] = scored(paths, scoring, signatures=grouping is not None or sets, **options)  # type: ignore[arg-type]
    if grouping is not None:
        records = grouped(records, grouping)
    elif sets:
        records = mark_sets(list(records))
    rows, failed = [], 0
    for record in records:
        if record.error:
            failed += 1
            continue
        rows.append(record)
    return rows, failed


def verdict_rows(
    paths: list[Path], scoring: ScoringOptions, grouping: GroupingOptions, verdict: VerdictOptions, face_options: FaceOptions, *,
    quiet: bool, **options: object,
) -> tuple[list[ScoreRecord], int]:
    """:func:`score_rows` for a command that acts on the verdict: checked, grouped, faces where the
    extra is installed, and every shot judged."""
    from aescull.judge.verdict import judge_verdicts

    rows, failed = score_rows(paths, scoring, grouping, quiet=quiet, checks=True, faces=face_search(face_options, True, quiet), **options)
    return judge_verdicts(rows, verdict.rules()), failed


class Tally:
    """Counts rows as they stream past, for the summary line and the exit code."""

    def __init__(self) -> None:
        self.total = self.failed = self.cached = 0

    def count(self, records: Iterable[ScoreRecord]) -> Iterator[ScoreRecord]:
        for record in records:
            self.total += 1
            self.failed += record.error is not None
            self.cached += record.cached
            yield record

    def finish(self, started: float, quiet: bool) -> None:
        if not quiet:
            warn(
                f"{self.total - self.failed} of {counted(self.total, 'file')} scored"
                + (f", {self.failed} failed" if self.failed else "")
                + (f", {self.cached} from cache" if self.cached else "")
                + f" in {time.monotonic() - started:.1f} s"
            )
        if self.failed:
            raise typer.Exit(ExitCode.FILES_FAILED)
