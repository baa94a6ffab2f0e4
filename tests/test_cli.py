from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aescull import __version__
from aescull.cli.app import app
from tests.conftest import REPO, save_photo

runner = CliRunner()


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    save_photo(root / "a.jpg", 120, 80, seed=1)
    save_photo(root / "nested" / "deeper" / "b.png", 80, 120, seed=2)
    save_photo(root / "with space" / "ünï cödé.jpg", 90, 90, seed=3)
    return root


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def run(args: list[str], weights: Path, cwd: Path | None = None) -> tuple[int, str, str]:
    """Through CliRunner, with stdout and stderr kept apart."""
    old = Path.cwd()
    os.chdir(cwd or old)
    try:
        result = runner.invoke(app, [*args, "--weights", str(weights)])
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def test_score_csv_on_stdout_summary_on_stderr(library: Path, plumbing_weights: Path) -> None:
    code, out, err = run(["score", "lib", "--max-side", "64"], plumbing_weights, cwd=library.parent)
    assert code == 0, err
    table = rows(out)
    assert [row["path"] for row in table] == ["lib/a.jpg", "lib/nested/deeper/b.png", "lib/with space/ünï cödé.jpg"]
    assert all(0.0 <= float(row["score"]) <= 1.0 and len(row["score"].split(".")[1]) == 4 for row in table)
    assert [(row["width"], row["height"]) for row in table] == [("120", "80"), ("80", "120"), ("90", "90")]
    assert "3 of 3 files scored" in err and "lib/a.jpg" not in err


def test_failures_are_rows_plus_one_warning_each_and_exit_1(library: Path, plumbing_weights: Path) -> None:
    (library / "zero.jpg").write_bytes(b"")
    (library / "text.jpg").write_text("not a photo")
    code, out, err = run(["score", str(library), "--max-side", "64"], plumbing_weights)
    assert code == 1
    by_name = {Path(row["path"]).name: row for row in rows(out)}
    assert len(by_name) == 5
    assert by_name["zero.jpg"]["error"] == "empty file (0 bytes)" and by_name["zero.jpg"]["score"] == ""
    assert by_name["text.jpg"]["error"].startswith("not an image")
    warnings = [line for line in err.splitlines() if "warning:" in line]
    assert len(warnings) == 2 and any("zero.jpg" in line for line in warnings)
    assert "Traceback" not in err and "Traceback" not in out


def test_jsonl_output_file_and_quiet(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    target = tmp_path / "scores.jsonl"
    code, out, err = run(["score", str(library), "-f", "jsonl", "-o", str(target), "--quiet", "--max-side", "64"], plumbing_weights)
    assert code == 0 and out == "" and err == ""
    objects = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(objects) == 3 and all(isinstance(obj["score"], float) for obj in objects)


def test_table_format(library: Path, plumbing_weights: Path) -> None:
    code, out, _ = run(["score", str(library), "-f", "table", "--max-side", "64", "--no-recursive"], plumbing_weights)
    assert code == 0 and "a.jpg" in out and "b.png" not in out


def test_rank_orders_best_first_and_selects(library: Path, plumbing_weights: Path) -> None:
    args = ["--max-side", "64", "--no-cache"]
    _, out, _ = run(["score", str(library), *args], plumbing_weights)
    scores = sorted((float(row["score"]) for row in rows(out)), reverse=True)
    code, out, _ = run(["rank", str(library), *args], plumbing_weights)
    assert code == 0 and [float(row["score"]) for row in rows(out)] == scores
    _, out, _ = run(["rank", str(library), "--top", "2", *args], plumbing_weights)
    assert [float(row["score"]) for row in rows(out)] == scores[:2]
    _, out, _ = run(["rank", str(library), "--bottom", "1", *args], plumbing_weights)
    assert [float(row["score"]) for row in rows(out)] == scores[-1:]


def test_cache_makes_second_run_use_cached_rows(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite3"
    first = run(["score", str(library), "--cache", str(cache), "--max-side", "64"], plumbing_weights)
    second = run(["score", str(library), "--cache", str(cache), "--max-side", "64"], plumbing_weights)
    assert first[1] == second[1]
    assert "3 from cache" in second[2] and "from cache" not in first[2]
    third = run(["score", str(library), "--no-cache", "--max-side", "64"], plumbing_weights)
    assert "from cache" not in third[2]


def test_default_cache_lives_in_the_user_cache_folder(library: Path, plumbing_weights: Path, isolated_cache: Path) -> None:
    run(["score", str(library), "--max-side", "64"], plumbing_weights)
    assert (isolated_cache / "aescull" / "scores.sqlite3").is_file()


@pytest.mark.parametrize(
    "args",
    [["score", "--format", "xml"], ["score", "--max-side", "-1"], ["rank", "--top", "1", "--bottom", "1"], ["score", "--bogus"]],
)
def test_usage_errors_exit_2(args: list[str], plumbing_weights: Path) -> None:
    code, out, err = run(args, plumbing_weights)
    assert code == 2 and out == "" and err


def test_missing_weights_is_a_clear_setup_error(library: Path, tmp_path: Path) -> None:
    code, out, err = run(["score", str(library)], tmp_path / "nope.pt")
    assert code == 2 and out == ""
    assert "weights file not found" in err and "Traceback" not in err


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"aescull {__version__}"


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)}


def test_subprocess_streams_are_separate_and_exit_code_is_1(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    good = (library / "a.jpg").read_bytes()
    (library / "truncated.jpg").write_bytes(good[: len(good) // 2])
    result = subprocess.run(
        [sys.executable, "-m", "aescull", "score", ".", "--weights", str(plumbing_weights), "--max-side", "64"],
        cwd=library,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    table = rows(result.stdout)
    assert [row["path"] for row in table] == ["a.jpg", "truncated.jpg", "nested/deeper/b.png", "with space/ünï cödé.jpg"]
    assert table[1]["error"] == "truncated file: image data ends early"
    assert "warning: truncated.jpg: truncated file" in result.stderr
    assert "3 of 4 files scored, 1 failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_subprocess_debug_shows_the_decoder_traceback(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    (library / "text.jpg").write_text("not a photo")
    result = subprocess.run(
        [sys.executable, "-m", "aescull", "score", str(library / "text.jpg"), "--weights", str(plumbing_weights), "--debug"],
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "UnidentifiedImageError" in result.stderr
    assert "Traceback" not in result.stdout


def test_help_does_not_import_torch(tmp_path: Path) -> None:
    probe = "import sys; from aescull.cli.app import app; sys.argv = ['aescull', '--help']\ntry:\n    app()\nexcept SystemExit:\n    pass\nassert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", probe], env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "score" in result.stdout and "rank" in result.stdout
