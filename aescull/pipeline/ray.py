"""``aescull score --engine ray``: the rows of ``aescull score``, computed on a Ray cluster.

The driver (this process) walks the folders exactly as the local engine does (same order,
same RAW+JPEG pairing, same cache), so the rows and their order are the same. Only the heavy
part runs on the cluster, as a Ray Data pipeline:

    file paths -> read tasks: the file's bytes (aescull.pipeline.batch.read_files)
               -> actor pool: decode + model (aescull.pipeline.batch.Scorer, model loaded once per actor)
               -> rows stream back here, in order, to the same writers and cache.

Traps this avoids, measured with Ray 2.60:
- Files travel as their bytes, never as ``ray.data.read_images(size=...)`` pixels: that squashes
  the aspect ratio, and decoded pixels are ~20x bigger than JPEG bytes in the object store.
- An actor pool holding every CPU starves the read tasks and the run never ends: the pool is
  capped below the cluster's CPUs (:func:`plan_resources`).
- Ray sets OMP_NUM_THREADS to an actor's CPU count; the Scorer sets the model's threads explicitly.
- A local Ray listens on every network interface by default; the one started here (no
  ``--address``) is kept on 127.0.0.1.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aescull
from aescull.pipeline.batch import Scorer, read_files
from aescull.pipeline.cache import CachedScore, FileKey, ScoreCache
from aescull.pipeline.discover import Candidate, discover, is_raw
from aescull.model.inference import DEFAULT_BATCH_SIZE, ScoringModel
from aescull.pipeline.pairing import PAIRED_JPEG_UNREAD, file_key_or_error, raw_row
from aescull.rows.record import ScoreRecord

log = logging.getLogger("aescull")

RAY_MISSING = "the ray engine needs Ray: pip install 'aescull[ray]'"
# Ray's own switch for a loopback-only node (default off on Linux): read when ray is imported.
LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Files per read task: small enough that a block of full-size JPEGs stays far below Ray's
# 128 MiB block target, large enough that per-task overhead is small next to decoding.
FILES_PER_BLOCK = 16
# Reading is I/O: four read tasks share one CPU of the reserve left to them.
READ_TASK_CPUS = 0.25


class EngineError(RuntimeError):
    """Ray is missing or the cluster cannot be reached: nothing was scored."""


@dataclass(frozen=True)
class ResourcePlan:
    actors: int
    actor_cpus: float
    read_cpus: float


def plan_resources(cluster_cpus: float, actors: int | None = None) -> ResourcePlan:
    """Size the actor pool so the read tasks always have CPU left to run on.

    Each actor reserves one CPU (it runs one model thread), and at least one CPU, or an eighth
    of the cluster, stays free for reads; ``actors`` can only lower the count. On a cluster of
    under two CPUs the one actor takes what the reads leave (3/4 of a single CPU).
    """
    reserve = max(1.0, cluster_cpus / 8)
    most = max(1, math.floor(cluster_cpus - reserve))
    count = most if actors is None else max(1, min(actors, most))
    if cluster_cpus - count >= READ_TASK_CPUS:
        return ResourcePlan(actors=count, actor_cpus=1.0, read_cpus=READ_TASK_CPUS)
    return ResourcePlan(actors=1, actor_cpus=max(READ_TASK_CPUS, cluster_cpus - READ_TASK_CPUS), read_cpus=READ_TASK_CPUS)


def score_paths_ray(
    paths: Iterable[str | os.PathLike[str]],
    *,
    model: ScoringModel,
    max_side: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    recursive: bool = True,
    cache_file: str | os.PathLike[str] | None = None,
    address: str | None = None,
    actors: int | None = None,
    full_decode: bool = False,
) -> Iterator[ScoreRecord]:
    """:func:`aescull.score_paths` on Ray: the same records in the same order.

    Uses the Ray this process is already connected to, if any; else connects to ``address``
    (``ray start`` prints it), else starts a private local Ray on 127.0.0.1 for this run.
    """
    side = model.config.max_side if max_side is None else max_side
    cache = ScoreCache(Path(cache_file), model.sha256, side, full_decode) if cache_file is not None else None
    try:
        rows = _Rows(list(discover(paths, recursive)), cache)
        yield from rows.ready()
        if rows.to_score:
            for batch in _cluster_batches(rows.to_score, model, side, batch_size, address, actors, full_decode):
                rows.scored(batch)
                yield from rows.ready()
        yield from rows.rest()
    finally:
        if cache:
            cache.close()


class _Rows:
    """Records in discovery order: errors and cache hits at once, the rest as the cluster returns
    them; a RAW row once its JPEG's row exists (a RAW+JPEG shot is scored once, from the JPEG)."""

    def __init__(self, candidates: list[Candidate], cache: ScoreCache | None) -> None:
        self.candidates = candidates
        self.cache = cache
        self.keys: dict[int, FileKey] = {}
        self.records: dict[int, ScoreRecord] = {}
        self.raws_of: dict[int, list[int]] = {}
        self.to_score: list[tuple[int, str]] = []
        self.next_out = 0
        index_of = {candidate.path: index for index, candidate in enumerate(candidates)}
        for index, candidate in enumerate(candidates):
            key = candidate.error or file_key_or_error(candidate.path)
            if isinstance(key, str):
                self._settle(index, ScoreRecord(candidate.path, None, error=key, pair=candidate.pair))
                continue
            self.keys[index] = key
            if candidate.pair is not None and is_raw(candidate.path):
                jpeg_index = index_of.get(candidate.pair)
                if jpeg_index is None:  # the JPEG was listed under another spelling, earlier
                    self._settle(index, self._record(index, None, None, None, None, None, error=PAIRED_JPEG_UNREAD))
                else:
                    self.raws_of.setdefault(jpeg_index, []).append(index)
                continue
            hit = cache.get(key) if cache else None
            if hit is not None:
                self._settle(index, self._record(index, hit.score, hit.width, hit.height, hit.taken, hit.camera, cached=True))
            else:
                self.to_score.append((index, key.path))
        # A RAW whose JPEG already has a row (an error or a cache hit) is settled now.
        for jpeg_index in [index for index in self.raws_of if index in self.records]:
            self._settle(jpeg_index, self.records[jpeg_index])

    def scored(self, batch: list[dict[str, Any]]) -> None:
        """Rows back from the cluster (the columns of :class:`aescull.pipeline.batch.Scorer`)."""
        fresh: list[tuple[FileKey, CachedScore]] = []
        for row in batch:
            index = int(row["index"])
            if row["error"] is not None:
                self._settle(index, self._record(index, None, None, None, None, None, error=row["error"]))
                continue
            self._settle(index, self._record(index, row["score"], row["width"], row["height"], row["taken"], row["camera"]))
            fresh.append((self.keys[index], CachedScore(row["score"], row["width"], row["height"], row["taken"], row["camera"])))
        if self.cache:
            self.cache.put_many(fresh)

    def ready(self) -> Iterator[ScoreRecord]:
        while self.next_out in self.records:
            yield self.records.pop(self.next_out)
            self.next_out += 1

    def rest(self) -> Iterator[ScoreRecord]:
        """Every row still missing: never a silent skip, even if the cluster lost one."""
        for index in range(self.next_out, len(self.candidates)):
            if index not in self.records:
                self._settle(index, self._record(index, None, None, None, None, None, error="no result came back from the Ray cluster"))
        yield from self.ready()

    def _settle(self, index: int, record: ScoreRecord) -> None:
        self.records[index] = record
        for raw_index in self.raws_of.pop(index, []):
            self.records[raw_index] = raw_row(record, self.candidates[raw_index], self.keys[raw_index])

    def _record(
        self, index: int, score: float | None, width: int | None, height: int | None, taken: str | None, camera: str | None,
        error: str | None = None, cached: bool = False,
    ) -> ScoreRecord:
        candidate, key = self.candidates[index], self.keys[index]
        return ScoreRecord(
            path=candidate.path, score=score, width=width, height=height, taken=taken, camera=camera, error=error,
            pair=candidate.pair, size=key.size, mtime_ns=key.mtime_ns, cached=cached,
        )


def _cluster_batches(
    jobs: list[tuple[int, str]], model: ScoringModel, max_side: int, batch_size: int, address: str | None, actors: int | None,
    full_decode: bool,
) -> Iterator[list[dict[str, Any]]]:
    ray = connect(address)
    connected_here = ray is not None
    ray = ray or _import_ray(loopback_only=False)
    context = ray.data.DataContext.get_current()
    callers_settings = (context.execution_options.preserve_order, context.enable_progress_bars)
    try:
        plan = plan_resources(ray.cluster_resources().get("CPU", 0.0), actors)
        log.debug("ray resource plan: %s", plan)
        context.execution_options.preserve_order = True  # rows come back nearly in order: little to buffer here
        context.enable_progress_bars = False  # the CLI draws its own bar, on a terminal only
        items = ray.data.from_items(
            [{"index": index, "path": path} for index, path in jobs], override_num_blocks=math.ceil(len(jobs) / FILES_PER_BLOCK)
        )
        contents = items.map_batches(read_files, batch_size=None, num_cpus=plan.read_cpus)
        scored = contents.map_batches(
            Scorer,
            fn_constructor_args=(model,),
            fn_constructor_kwargs={
                "max_side": max_side, "batch_size": batch_size, "threads": max(1, math.floor(plan.actor_cpus)), "full_decode": full_decode,
            },
            batch_size=FILES_PER_BLOCK,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=plan.actors),
            num_cpus=plan.actor_cpus,
        )
        for table in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield table.to_pylist()
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = callers_settings
        if connected_here:
            ray.shutdown()


def _import_ray(loopback_only: bool) -> Any:
    if loopback_only:  # must be set before ray is imported; a private run needs no network
        os.environ.setdefault(LOOPBACK_ONLY_ENV, "0")
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise EngineError(RAY_MISSING) from error
    return ray


def connect(address: str | None = None) -> Any:
    """Connect to Ray unless this process already is; returns the ray module when it connected.

    Call it before writing any output, so a missing extra or a wrong address fails first.
    Workers get this process's aescull code (so they score exactly as it would); the model
    itself travels as an actor argument, so workers need no access to the weights file.
    """
    ray = _import_ray(loopback_only=address is None)
    if ray.is_initialized():
        return None
    runtime_env = {"py_modules": [str(Path(aescull.__file__).parent)]}
    level = logging.WARNING if log.isEnabledFor(logging.DEBUG) else logging.ERROR
    quiet = {"logging_level": level, "log_to_driver": False}
    logging.getLogger("ray.data").setLevel(level)  # its INFO lines would bury aescull's warnings on stderr
    try:
        if address:
            ray.init(address=address, runtime_env=runtime_env, **quiet)
        else:
            ray.init(address="local", include_dashboard=False, runtime_env=runtime_env, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise EngineError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {error}") from error
    return ray
