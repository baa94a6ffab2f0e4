"""Score many photos fast: cache first, decode in threads while the model runs, batch by shape.

Records come out in discovery order whatever order the work finishes in, so the output of two
runs over the same files is identical. Memory stays bounded: at most a window of decoded photos
is held at a time, however large the library.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from aescull.pipeline.cache import CachedScore, FileKey, ScoreCache
from aescull.judge.checks import Checks
from aescull.judge.faces import Face, FaceSearch, FaceVerdict, ModelPool, measure_faces
from aescull.pipeline.decode import DecodedPhoto, DecodeError, Thumbnail, decode
from aescull.pipeline.discover import Candidate, discover, is_raw
from aescull.rows.record import ScoreRecord
from aescull.judge.sets import SetClues, set_clues
from aescull.judge.signatures import signature, signature_bytes, signature_from_bytes
from aescull.model.inference import DEFAULT_BATCH_SIZE, MODEL_FAILED, Network, ScoringModel, load_scoring_model, score_batch, too_small
from aescull.pipeline.pairing import PAIRED_JPEG_UNREAD, file_key_or_error, raw_row

log = logging.getLogger("aescull")


DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))


THUMBNAIL_SIDE = 400

# Receives the thumbnail of each photo decoded for scoring (cache hits and RAW halves of a pair
# are not decoded, so they get none); called on the consumer's thread, in completion order.
ThumbnailCallback = Callable[[Path, Thumbnail], None]




@dataclass
class _Job:
    index: int
    candidate: Candidate
    key: FileKey | None
    future: Future[DecodedPhoto] | None = None



class _Pipeline:
    def __init__(
        self,
        loaded: ScoringModel,
        max_side: int,
        batch_size: int,
        workers: int,
        cache: ScoreCache | None,
        on_thumbnail: ThumbnailCallback | None = None,
        thumbnail_side: int = THUMBNAIL_SIDE,
        signatures: bool = False,
        checks: bool = False,
        full_decode: bool = False,
        faces: FaceSearch | None = None,
        face_models: ModelPool | None = None,
    ) -> None:
        self.loaded = loaded
        self.network: Network | None = None  # prepared at the first cache miss
        self.on_thumbnail = on_thumbnail
        self.thumbnail_side = thumbnail_side if on_thumbnail is not None else 0
        self.signatures = signatures
        self.max_side = max_side
        self.checks = checks
        self.faces = faces
        self.face_models = face_models
        self.draft = not full_decode
        self.batch_size = max(1, batch_size)
        self.cache = cache
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="aescull-decode")
        self.window = self.batch_size * 2 + max(1, workers)
        self.done: dict[int, ScoreRecord] = {}
        self.in_flight: deque[_Job] = deque()
        self.buckets: dict[tuple[int, ...], list[tuple[_Job, DecodedPhoto]]] = {}
        self.held = 0
        # RAW files waiting for the score of their JPEG, and paired JPEG rows a later RAW will copy.
        self.raw_waiting: dict[Path, list[_Job]] = {}
        self.paired_jpeg_rows: dict[Path, ScoreRecord] = {}

    def run(self, candidates: Iterable[Candidate]) -> Iterator[ScoreRecord]:
        next_out = 0
        try:
            for index, candidate in enumerate(candidates):
                self._accept(_Job(index, candidate, None))
                while len(self.in_flight) >= self.window:
                    self._collect_oldest()
                if len(self.done) >= 4 * self.window:  # many cache hits queue behind one slow file
                    self._drain()
                while next_out in self.done:
                    yield self.done.pop(next_out)
                    next_out += 1
            self._drain()
            for jobs in self.raw_waiting.values():  # their JPEG vanished before it was read
                for job in jobs:
                    self._finish(job, self._error_record(job, PAIRED_JPEG_UNREAD))
            while next_out in self.done:
                yield self.done.pop(next_out)
                next_out += 1
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _drain(self) -> None:
        while self.in_flight:
            self._collect_oldest()
        for shape in list(self.buckets):
            self._run_batch(shape)

    def _accept(self, job: _Job) -> None:
        candidate = job.candidate
        if candidate.error:
            self._finish(job, self._error_record(job, candidate.error))
            return
        key = file_key_or_error(candidate.path)
        if isinstance(key, str):
            self._finish(job, self._error_record(job, key))
            return
        job.key = key
        if candidate.pair is not None and is_raw(candidate.path):
            jpeg_row = self.paired_jpeg_rows.pop(candidate.pair, None)
            if jpeg_row is None:
                self.raw_waiting.setdefault(candidate.pair, []).append(job)
            else:
                self._finish(job, self._copy_of(job, jpeg_row))
            return
        hit = self.cache.get(job.key) if self.cache else None
        cached_signature = self.cache.get_signature(job.key) if self.cache and hit is not None and self.signatures else None
        vector = signature_from_bytes(cached_signature) if cached_signature is not None else None
        clues = self.cache.get_clues(job.key) if self.cache and hit is not None and self.signatures else None
        checked = self.cache.get_checks(job.key) if self.cache and self.checks and hit is not None else None
        found = self.cache.get_faces(job.key, self.faces) if self.cache and self.faces and hit is not None else None
        # grouping needs the signature and the set clues, --checks and --faces their measurements: without them, decode again
        grouping_ready = not self.signatures or (vector is not None and clues is not None)
        if hit is not None and grouping_ready and (checked is not None or not self.checks) and (found is not None or not self.faces):
            record = self._record(job, hit.score, hit.width, hit.height, hit.taken, hit.camera, cached=True, checks=checked, found=found)
            self._finish(job, replace(record, signature=vector, clues=clues))
            return
        job.future = self.pool.submit(decode, candidate.path, self.max_side, self.thumbnail_side, self.checks, self.draft,
                                      self._measure_faces if self.faces else None)
        self.in_flight.append(job)
        if self.network is None:  # while the first decode runs (ONNX Runtime may still be building its session)
            self.network = self.loaded.network()

    def _measure_faces(self, upright: Image.Image) -> tuple[Face, ...]:
        """In a decoding thread, with that thread's own models (MediaPipe's are not shared between threads)."""
        assert self.faces is not None and self.face_models is not None
        with self.face_models.borrow() as models:
            return measure_faces(upright, models, self.faces.tile_levels)

    def _collect_oldest(self) -> None:
        job = self.in_flight.popleft()
        assert job.future is not None
        try:
            photo = job.future.result()
        except DecodeError as error:
            log.debug("decoding %s failed", job.candidate.path, exc_info=error.__cause__ or error)
            self._finish(job, self._error_record(job, str(error)))
            return
        unjudgeable = too_small(photo)
        if unjudgeable:
            self._finish(job, self._error_record(job, unjudgeable))
            return
        if self.on_thumbnail is not None and photo.thumbnail is not None:
            self.on_thumbnail(job.candidate.path, photo.thumbnail)
        shape = tuple(photo.pixels.shape)
        self.buckets.setdefault(shape, []).append((job, photo))
        self.held += 1
        if len(self.buckets[shape]) >= self.batch_size:
            self._run_batch(shape)
        elif self.held >= self.window:
            self._run_batch(max(self.buckets, key=lambda key: len(self.buckets[key])))

    def _run_batch(self, shape: tuple[int, ...]) -> None:
        items = self.buckets.pop(shape)
        self.held -= len(items)
        assert self.network is not None
        scores = score_batch(self.network, [photo.pixels for _, photo in items])
        fresh: list[tuple[FileKey, CachedScore]] = []
        fresh_signatures: list[tuple[FileKey, bytes]] = []
        fresh_clues: list[tuple[FileKey, SetClues]] = []
        fresh_checks: list[tuple[FileKey, Checks]] = []
        fresh_faces: list[tuple[FileKey, tuple[Face, ...]]] = []
        for (job, photo), score in zip(items, scores):
            info = photo.info
            if score is None:
                self._finish(job, self._error_record(job, MODEL_FAILED))
                continue
            record = self._record(job, score, info.width, info.height, info.taken, info.camera, checks=photo.checks, found=photo.faces)
            assert job.key is not None
            if self.signatures or self.cache:  # cached even when not asked for: a later --groups run reads them
                vector, clues = signature(photo.pixels), set_clues(photo.pixels, info.exposure)
                fresh_signatures.append((job.key, signature_bytes(vector)))
                fresh_clues.append((job.key, clues))
                if self.signatures:
                    record = replace(record, signature=vector, clues=clues)
            self._finish(job, record)
            fresh.append((job.key, CachedScore(score, info.width, info.height, info.taken, info.camera)))
            if photo.checks is not None:
                fresh_checks.append((job.key, photo.checks))
            if photo.faces is not None:
                fresh_faces.append((job.key, photo.faces))
        if self.cache:
            self.cache.put_many(fresh)
            self.cache.put_signatures(fresh_signatures)
            self.cache.put_clues_many(fresh_clues)
            self.cache.put_checks_many(fresh_checks)
            if self.faces:
                self.cache.put_faces_many(fresh_faces, self.faces)

    def _finish(self, job: _Job, record: ScoreRecord) -> None:
        self.done[job.index] = record
        candidate = job.candidate
        if candidate.pair is None or is_raw(candidate.path):
            return
        waiting = self.raw_waiting.pop(candidate.path, None)
        if waiting is None:
            self.paired_jpeg_rows[candidate.path] = record
        else:
            for raw_job in waiting:
                self._finish(raw_job, self._copy_of(raw_job, record))

    def _copy_of(self, job: _Job, jpeg_row: ScoreRecord) -> ScoreRecord:
        assert job.key is not None
        return raw_row(jpeg_row, job.candidate, job.key)

    def _record(
        self, job: _Job, score: float, width: int, height: int, taken: str | None, camera: str | None,
        cached: bool = False, checks: Checks | None = None, found: tuple[Face, ...] | None = None,
    ) -> ScoreRecord:
        assert job.key is not None
        return ScoreRecord(
            path=job.candidate.path,
            score=score,
            width=width,
            height=height,
            taken=taken,
            camera=camera,
            pair=job.candidate.pair,
            size=job.key.size,
            mtime_ns=job.key.mtime_ns,
            cached=cached,
            checks=checks,
            faces=None if found is None or self.faces is None else FaceVerdict.judged(found, self.faces.thresholds),
        )

    def _error_record(self, job: _Job, message: str) -> ScoreRecord:
        key = job.key
        return ScoreRecord(
            path=job.candidate.path,
            score=None,
            error=message,
            pair=job.candidate.pair,
            size=key.size if key else None,
            mtime_ns=key.mtime_ns if key else None,
        )


def score_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    model: ScoringModel | None = None,
    weights: str | os.PathLike[str] | None = None,
    max_side: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = DEFAULT_WORKERS,
    recursive: bool = True,
    cache_file: str | os.PathLike[str] | None = None,
    on_thumbnail: ThumbnailCallback | None = None,
    thumbnail_side: int = THUMBNAIL_SIDE,
    signatures: bool = False,
    checks: bool = False,
    full_decode: bool = False,
    faces: FaceSearch | None = None,
) -> Iterator[ScoreRecord]:
    """Score every photo under ``paths``; one record per file, in a stable order.

    ``model`` (from :func:`aescull.load_scoring_model`, or :func:`aescull.load_model` for torch)
    avoids reloading weights across calls; otherwise ``weights`` names a checkpoint or an ONNX
    file (default: the bundled model, on ONNX Runtime where it is installed, else on torch). ``max_side`` defaults to the
    model's working size; 0 scores native pixels. ``cache_file`` enables the SQLite cache (the
    CLI passes the user cache folder by default; the API caches only when asked).
    ``on_thumbnail`` receives a JPEG thumbnail (longest side at most ``thumbnail_side``) of every
    photo this run decodes, cut from the scoring decode, for ``aescull report``. With
    ``signatures`` every scored record carries its grouping signature and its set clues
    (:mod:`aescull.judge.sets`): a cached score without them is decoded again (once; they are
    cached from then on). ``checks`` adds
    :class:`aescull.judge.checks.Checks` to every record (focus, exposure and noise measured at
    native resolution, see :mod:`aescull.judge.checks`); it costs a full-size decode of each JPEG.
    ``full_decode`` turns JPEG draft decoding off: scores then equal a full-resolution decode's
    (draft decoding moves them by up to ~0.01), at several times the decode cost on large JPEGs.
    ``faces`` adds a :class:`aescull.judge.faces.FaceVerdict` to every record (faces counted,
    closed eyes, the softest face; :mod:`aescull.judge.faces`): it needs the ``faces`` extra
    (:class:`aescull.judge.faces.FacesUnavailable` otherwise) and shares the checks' full-size decode.
    """
    loaded = model if model is not None else load_scoring_model(weights)
    side = loaded.config.max_side if max_side is None else max_side
    face_models = ModelPool(max(1, workers)) if faces is not None else None  # before the walk: without the extra, fail at once
    cache = ScoreCache(Path(cache_file), loaded.sha256, side, full_decode) if cache_file is not None else None
    try:
        pipeline = _Pipeline(loaded, side, batch_size, workers, cache, on_thumbnail, thumbnail_side, signatures, checks, full_decode,
                             faces, face_models)
        yield from pipeline.run(discover(paths, recursive))
    finally:
        if cache:
            cache.close()
        if face_models:
            face_models.close()
