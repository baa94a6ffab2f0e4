"""`aescull score --output FILE`: the format follows the extension; Parquet holds the CSV's rows, typed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aescull.cli.app import app
from tests.support.images import save_photo
from tests.support.cli import rows

runner = CliRunner()


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    save_photo(root / "a.jpg", 120, 80, seed=1)
    save_photo(root / "sub" / "b.png", 80, 120, seed=2)
    (root / "text.jpg").write_text("not a photo")
    return root


def score(library: Path, weights: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["score", str(library), "--weights", str(weights), "--no-cache", *args])
    return result.exit_code, result.stdout, result.stderr


def test_parquet_output_holds_the_rows_of_the_csv(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    parquet = pytest.importorskip("pyarrow.parquet")
    _, csv_text, _ = score(library, plumbing_weights)
    code, out, err = score(library, plumbing_weights, "--output", str(tmp_path / "scores.parquet"))
    assert code == 1 and out == "" and "2 of 3 files scored, 1 failed" in err
    table = parquet.read_table(tmp_path / "scores.parquet")
    assert str(table.schema.field("score").type) == "double" and str(table.schema.field("width").type) == "int64"
    as_text = [{name: "" if value is None else (f"{value:.4f}" if name == "score" else str(value)) for name, value in row.items()}
               for row in table.to_pylist()]
    assert as_text == rows(csv_text)


def test_parquet_needs_a_file(library: Path, plumbing_weights: Path) -> None:
    code, out, err = score(library, plumbing_weights, "--format", "parquet")
    assert code == 2 and out == "" and "--output" in err


def test_jsonl_follows_the_extension_and_an_explicit_format_wins(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    score(library, plumbing_weights, "--output", str(tmp_path / "scores.jsonl"))
    lines = (tmp_path / "scores.jsonl").read_text().splitlines()
    assert [Path(json.loads(line)["path"]).name for line in lines] == ["a.jpg", "text.jpg", "b.png"]
    score(library, plumbing_weights, "--output", str(tmp_path / "scores.jsonl"), "--format", "csv")
    assert (tmp_path / "scores.jsonl").read_text().startswith("path,score,")
