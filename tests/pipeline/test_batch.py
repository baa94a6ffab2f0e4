"""The engine-free batch API: numpy batches of bytes in, the rows of `aescull score` out.

None of this needs Ray: the Scorer is what a Ray actor holds, but it is plain Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aescull.pipeline.batch import SCORED_COLUMNS, Scorer, read_files
from aescull.cli.app import app
from aescull.pipeline.decode import DecodeError, decode
from aescull.pipeline.discover import is_raw
from aescull.pipeline.local import score_paths
from aescull.rows.record import ScoreRecord
from aescull.model.checkpoint import LoadedModel
from tests.support.images import mixed_library
from tests.support.images import save_photo
from tests.support.cli import rows, subprocess_env

runner = CliRunner()


def batch_of(paths: list[Path]) -> dict[str, np.ndarray]:
    """The shape of a Ray Data numpy batch: object arrays of str and bytes."""
    batch = {"path": np.empty(len(paths), dtype=object), "bytes": np.empty(len(paths), dtype=object)}
    batch["path"][:] = [str(path) for path in paths]
    batch["bytes"][:] = [path.read_bytes() for path in paths]
    return batch


def scored_by_itself(record: ScoreRecord) -> bool:
    """The RAW half of a RAW+JPEG pair takes its JPEG's row; every other file is decoded itself."""
    return not (record.pair is not None and is_raw(record.path))


def test_scorer_rows_match_the_local_engine(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    library = mixed_library(tmp_path / "lib")
    local = [record for record in score_paths([library], model=plumbing_model) if scored_by_itself(record)]
    out = Scorer(plumbing_model)(batch_of([record.path for record in local]))
    assert set(SCORED_COLUMNS) <= set(out) and "bytes" not in out
    assert list(out["path"]) == [str(record.path) for record in local]
    for index, record in enumerate(local):
        if record.score is None:
            assert out["score"][index] is None
        else:
            assert abs(out["score"][index] - record.score) <= 1e-5, record.path
        got = {name: out[name][index] for name in ("width", "height", "taken", "camera", "error", "size")}
        assert got == {"width": record.width, "height": record.height, "taken": record.taken, "camera": record.camera,
                       "error": record.error, "size": record.size}
    by_name = {Path(path).name: index for index, path in enumerate(out["path"])}
    assert (out["width"][by_name["rotated.jpg"]], out["height"][by_name["rotated.jpg"]]) == (144, 96)
    assert out["error"][by_name["truncated.jpg"]] == "truncated file: image data ends early"
    assert sum(error is None for error in out["error"]) == 7


def test_scorer_full_decode_matches_the_local_engines(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    """A Ray actor scores with the same decode as `aescull score --full-decode`, not the draft one."""
    path = save_photo(tmp_path / "big.jpg", 700, 500, seed=3, quality=85)
    drafted, full = (next(score_paths([path], model=plumbing_model, full_decode=mode)).score for mode in (False, True))
    assert drafted is not None and full is not None and abs(drafted - full) > 1e-6
    assert abs(Scorer(plumbing_model, full_decode=True)(batch_of([path]))["score"][0] - full) <= 1e-5
    assert abs(Scorer(plumbing_model)(batch_of([path]))["score"][0] - drafted) <= 1e-5


def test_scorer_scores_match_the_cli_output(tmp_path: Path, plumbing_model: LoadedModel, plumbing_weights: Path) -> None:
    library = mixed_library(tmp_path / "lib")
    result = runner.invoke(app, ["score", str(library), "--weights", str(plumbing_weights), "--no-cache"])
    assert result.exit_code == 1, result.stderr  # the four bad files
    cli_rows = [row for row in rows(result.stdout) if not (row["pair"] and is_raw(Path(row["path"])))]
    out = Scorer(plumbing_model)(batch_of([Path(row["path"]) for row in cli_rows]))
    for index, row in enumerate(cli_rows):
        score = out["score"][index]
        if row["score"]:
            assert abs(float(row["score"]) - score) <= 0.5e-4 + 1e-5  # the CLI prints 4 decimals
        else:
            assert score is None and out["error"][index] == row["error"]
        assert (str(out["width"][index] or ""), str(out["height"][index] or "")) == (row["width"], row["height"])


def test_bad_bytes_become_error_rows_and_never_raise(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    good = save_photo(tmp_path / "good.jpg", 100, 70, seed=3).read_bytes()
    cases = {
        "empty.jpg": b"",
        "text.jpg": b"not a photo",
        "truncated.jpg": good[: len(good) // 3],
        "noise.png": bytes(range(256)) * 8,
        "broken.ARW": b"II*\x00" + b"\x00" * 64,
        "good.jpg": good,
    }
    batch = {"path": np.array(list(cases), dtype=object), "bytes": np.empty(len(cases), dtype=object), "id": np.arange(len(cases))}
    batch["bytes"][:] = list(cases.values())
    out = Scorer(plumbing_model)(batch)
    assert list(out["path"]) == list(cases) and list(out["id"]) == list(range(len(cases)))
    for name, data in cases.items():
        index = list(cases).index(name)
        (tmp_path / name).write_bytes(data)
        try:
            decode(tmp_path / name, plumbing_model.config.max_side)
            expected_error = None
        except DecodeError as error:
            expected_error = str(error)
        assert out["error"][index] == expected_error, name
        assert (out["score"][index] is None) == (expected_error is not None)
    assert out["error"][0] == "empty file (0 bytes)" and out["error"][1] == "not an image, or an unsupported format"


def test_missing_bytes_and_rows_that_arrive_with_an_error(plumbing_model: LoadedModel) -> None:
    batch = {"path": np.array(["gone.jpg", "none.jpg"], dtype=object), "bytes": np.array([b"", None], dtype=object),
             "error": np.array(["file not found (moved or deleted?)", None], dtype=object)}
    out = Scorer(plumbing_model)(batch)
    assert list(out["error"]) == ["file not found (moved or deleted?)", "empty file (0 bytes)"]
    assert list(out["score"]) == [None, None] and list(out["size"]) == [0, None]


def test_an_all_null_error_column_as_ray_hands_it_over_is_no_error(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    batch = batch_of([save_photo(tmp_path / "a.jpg"), save_photo(tmp_path / "b.jpg", seed=1)])
    batch["error"] = np.array([np.nan, np.nan], dtype=np.float32)  # Ray's numpy form of a column of nulls
    out = Scorer(plumbing_model)(batch)
    assert list(out["error"]) == [None, None] and all(score is not None for score in out["score"])


def test_read_files_gives_the_local_engines_error_texts(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    photo = save_photo(tmp_path / "photo.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "folder.jpg").mkdir()
    os.mkfifo(tmp_path / "fifo.jpg")
    paths = [photo, tmp_path / "gone.jpg", tmp_path / "empty.jpg", tmp_path / "folder.jpg", tmp_path / "fifo.jpg"]
    read = read_files({"path": np.array([str(path) for path in paths], dtype=object), "index": np.arange(5)})
    assert list(read["index"]) == list(range(5))
    assert read["bytes"][0] == photo.read_bytes() and read["error"][0] is None
    for index, path in enumerate(paths[1:], start=1):
        with pytest.raises(DecodeError) as local:
            decode(path, 64)
        assert read["bytes"][index] == b"" and read["error"][index] == str(local.value)
    out = Scorer(plumbing_model)(read)
    assert out["score"][0] is not None and list(out["error"][1:]) == list(read["error"][1:])


def test_scorer_sets_torch_threads_explicitly(plumbing_model: LoadedModel) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        Scorer(plumbing_model, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_scorer_from_a_weights_path_scores_batches_in_any_order(tmp_path: Path, plumbing_weights: Path) -> None:
    scorer = Scorer(weights=plumbing_weights, max_side=96, batch_size=2)
    paths = [save_photo(tmp_path / f"{index}.png", 128, 80 + index, seed=index) for index in range(5)]
    out = scorer(batch_of(paths))
    again = scorer(batch_of(paths[::-1]))
    assert list(again["score"]) == pytest.approx(list(out["score"])[::-1], abs=1e-6)  # batch order: float rounding only
    assert all(score is not None for score in out["score"])


def test_the_core_never_imports_an_engine(tmp_path: Path) -> None:
    probe = "import sys, aescull.pipeline.batch, aescull.cli.app, aescull.pipeline.local; assert 'ray' not in sys.modules, 'ray imported'"
    result = subprocess.run([sys.executable, "-c", probe], env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
