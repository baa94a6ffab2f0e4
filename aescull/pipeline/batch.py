"""Score batches of file contents, for data engines that move bytes between machines.

``Scorer`` is what a Ray Data actor (or a Spark/Dask worker) holds: the model is loaded once in
its constructor, then each call maps a numpy batch ``{"path": [...], "bytes": [...]}`` to the
columns of ``aescull score``. It decodes with :func:`aescull.pipeline.decode.decode_bytes` and scores with
:func:`aescull.model.inference.score_batch`, the code the local engine runs, so a photo gets the same
score, width and height on a cluster as on a laptop. It never imports an engine, and a bad
image is a row with ``error`` set, never an exception that would fail a whole distributed job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from aescull.pipeline.decode import DecodedPhoto, DecodeError, decode_bytes, read_photo_bytes
from aescull.model.inference import DEFAULT_BATCH_SIZE, MODEL_FAILED, ScoringModel, load_scoring_model, score_batch, too_small

# Filled from the bytes; ``pair`` and ``mtime_ns`` are facts about the file system, not the
# bytes, so they (like any other input column but ``bytes``) are carried through from the input.
SCORED_COLUMNS = ("path", "score", "width", "height", "taken", "camera", "error", "size")


class Scorer:
    """Callable over numpy batches; construct once per worker process, call once per batch.

    ``threads`` sets the model's intra-op threads explicitly: engines pin OMP_NUM_THREADS to the
    CPUs they reserved for the worker (Ray sets it to the actor's ``num_cpus``), which is not
    always what the worker should use. ``max_side`` defaults to the model's working size;
    ``full_decode`` as in :func:`aescull.score_paths`.
    """

    def __init__(
        self,
        model: ScoringModel | None = None,
        *,
        weights: str | os.PathLike[str] | None = None,
        max_side: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        full_decode: bool = False,
    ) -> None:
        self.loaded = model if model is not None else load_scoring_model(weights, threads=threads)
        self.network = self.loaded.network(threads)  # as the local engine runs it
        self.max_side = self.loaded.config.max_side if max_side is None else max_side
        self.batch_size = max(1, batch_size)
        self.draft = not full_decode

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Rows in input order. A row that arrives with ``error`` set (its reader failed) keeps it."""
        paths = [str(path) for path in batch["path"]]
        contents = batch["bytes"]
        arriving_errors = batch.get("error")
        rows: list[dict[str, Any]] = []
        by_shape: dict[tuple[int, ...], list[tuple[int, DecodedPhoto]]] = {}
        for index, (path, data) in enumerate(zip(paths, contents)):
            row: dict[str, Any] = {name: None for name in SCORED_COLUMNS}
            row["path"] = path
            row["size"] = None if data is None else len(data)
            rows.append(row)
            # Only text is an error: Ray hands an all-null column over as float NaN.
            if arriving_errors is not None and isinstance(arriving_errors[index], str) and arriving_errors[index]:
                row["error"] = arriving_errors[index]
                continue
            try:
                photo = decode_bytes(data if data is not None else b"", path, self.max_side, self.draft)
            except DecodeError as error:
                row["error"] = str(error)
                continue
            row.update(width=photo.info.width, height=photo.info.height, taken=photo.info.taken, camera=photo.info.camera)
            unjudgeable = too_small(photo)
            if unjudgeable:
                row.update(width=None, height=None, taken=None, camera=None, error=unjudgeable)
                continue
            by_shape.setdefault(tuple(photo.pixels.shape), []).append((index, photo))
        for items in by_shape.values():
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                for (index, _), score in zip(chunk, score_batch(self.network, [photo.pixels for _, photo in chunk])):
                    if score is None:
                        rows[index]["error"] = MODEL_FAILED
                    else:
                        rows[index]["score"] = score
        return _columns(batch, rows)


def read_files(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The read step before :class:`Scorer`: adds ``bytes`` (the file's contents) and ``error``.

    A file that cannot be read (gone, unreadable, a FIFO) gets empty bytes and the same error text
    the local engine gives, instead of failing the engine's read task and with it the whole job.
    """
    contents = np.empty(len(batch["path"]), dtype=object)
    errors = np.empty(len(batch["path"]), dtype=object)
    for index, path in enumerate(batch["path"]):
        try:
            contents[index], errors[index] = read_photo_bytes(Path(str(path))), None
        except DecodeError as error:
            contents[index], errors[index] = b"", str(error)
    return {**batch, "bytes": contents, "error": errors}


def _columns(batch: Mapping[str, np.ndarray], rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Object columns keep None as None, so an engine writes a missing score as null, not NaN."""
    out = {name: values for name, values in batch.items() if name != "bytes" and name not in SCORED_COLUMNS}
    for name in SCORED_COLUMNS:
        column = np.empty(len(rows), dtype=object)
        column[:] = [row[name] for row in rows]
        out[name] = column
    return out
