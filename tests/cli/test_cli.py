from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aescull import __version__
from tests.support.cli import invoke, invoke_result, rows, subprocess_env
from tests.support.images import save_photo



@pytest.fixture()
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    save_photo(root / "a.jpg", 120, 80, seed=1)
    save_photo(root / "nested" / "deeper" / "b.png", 80, 120, seed=2)
    save_photo(root / "with space" / "ünï cödé.jpg", 90, 90, seed=3)
    return root


def test_score_csv_on_stdout_summary_on_stderr(library: Path, plumbing_weights: Path) -> None:
    code, out, err = invoke(["score", "lib", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    table = rows(out)
    assert [row["path"] for row in table] == ["lib/a.jpg", "lib/nested/deeper/b.png", "lib/with space/ünï cödé.jpg"]
    assert all(0.0 <= float(row["score"]) <= 1.0 and len(row["score"].split(".")[1]) == 4 for row in table)
    assert [(row["width"], row["height"]) for row in table] == [("120", "80"), ("80", "120"), ("90", "90")]
    assert "3 of 3 files scored" in err and "lib/a.jpg" not in err


def test_failures_are_rows_plus_one_warning_each_and_exit_1(library: Path, plumbing_weights: Path) -> None:
    (library / "zero.jpg").write_bytes(b"")
    (library / "text.jpg").write_text("not a photo")
    code, out, err = invoke(["score", str(library), "--max-side", "64"], weights=plumbing_weights)
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
    code, out, err = invoke(["score", str(library), "-f", "jsonl", "-o", str(target), "--quiet", "--max-side", "64"], weights=plumbing_weights)
    assert code == 0 and out == "" and err == ""
    objects = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(objects) == 3 and all(isinstance(obj["score"], float) for obj in objects)


def test_table_format_aligns_columns_for_reading(library: Path, plumbing_weights: Path) -> None:
    code, out, _ = invoke(["score", str(library), "-f", "table", "--max-side", "64", "--no-recursive"], weights=plumbing_weights)
    header, row = [line for line in out.splitlines() if line.strip()]
    assert header.split() == ["path", "score", "size", "taken", "camera", "error"] and "," not in header
    path, score, size = row.split()
    assert path.endswith("a.jpg") and 0.0 <= float(score) <= 1.0 and size == "120×80"
    assert header.index("score") + len("score") == row.index(score) + len(score)  # right-aligned under its header


def test_rank_orders_best_first_and_selects(library: Path, plumbing_weights: Path) -> None:
    args = ["--max-side", "64", "--no-cache"]
    _, out, _ = invoke(["score", str(library), *args], weights=plumbing_weights)
    scores = sorted((float(row["score"]) for row in rows(out)), reverse=True)
    code, out, _ = invoke(["rank", str(library), *args], weights=plumbing_weights)
    assert code == 0 and [float(row["score"]) for row in rows(out)] == scores
    _, out, _ = invoke(["rank", str(library), "--top", "2", *args], weights=plumbing_weights)
    assert [float(row["score"]) for row in rows(out)] == scores[:2]
    _, out, _ = invoke(["rank", str(library), "--bottom", "1", *args], weights=plumbing_weights)
    assert [float(row["score"]) for row in rows(out)] == scores[-1:]


def test_cache_makes_second_run_use_cached_rows(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite3"
    first = invoke(["score", str(library), "--cache", str(cache), "--max-side", "64"], weights=plumbing_weights)
    second = invoke(["score", str(library), "--cache", str(cache), "--max-side", "64"], weights=plumbing_weights)
    assert first[1] == second[1]
    assert "3 from cache" in second[2] and "from cache" not in first[2]
    third = invoke(["score", str(library), "--no-cache", "--max-side", "64"], weights=plumbing_weights)
    assert "from cache" not in third[2]


def test_default_cache_lives_in_the_user_cache_folder(library: Path, plumbing_weights: Path, isolated_cache: Path) -> None:
    invoke(["score", str(library), "--max-side", "64"], weights=plumbing_weights)
    assert (isolated_cache / "aescull" / "scores.sqlite3").is_file()


@pytest.mark.parametrize(
    "args",
    [["score", "--format", "xml"], ["score", "--max-side", "-1"], ["rank", "--top", "1", "--bottom", "1"], ["score", "--bogus"]],
)
def test_usage_errors_exit_2(args: list[str], plumbing_weights: Path) -> None:
    code, out, err = invoke(args, weights=plumbing_weights)
    assert code == 2 and out == "" and err


def test_missing_weights_is_a_clear_setup_error(library: Path, tmp_path: Path) -> None:
    code, out, err = invoke(["score", str(library)], weights=tmp_path / "nope.pt")
    assert code == 2 and out == ""
    assert "weights file not found" in err and "Traceback" not in err


def test_version() -> None:
    result = invoke_result(["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"aescull {__version__}"


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


IMPORT_PROBE = """
import json, sys
from aescull.cli.app import app
try:
    app(sys.argv[2:], prog_name="aescull")
except SystemExit as stop:
    code = stop.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def modules_after(args: list[str], tmp_path: Path) -> list[str]:
    """The modules a fresh ``aescull ARGS`` process has imported by the time it exits."""
    report = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", IMPORT_PROBE, str(report), *args], env=subprocess_env(tmp_path), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    found = json.loads(report.read_text())
    assert found["code"] in (0, None), result.stderr
    return found["modules"]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["score", "--help"], ["cull", "--help"]])
def test_help_and_version_import_neither_torch_nor_numpy(args: list[str], tmp_path: Path) -> None:
    modules = modules_after(args, tmp_path)
    assert not [name for name in modules if name.split(".")[0] in ("torch", "numpy")]


def test_score_imports_neither_the_library_nor_the_report(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    modules = modules_after(["score", str(library), "--groups", "--checks", "--weights", str(plumbing_weights), "--max-side", "64"], tmp_path)
    assert "aescull.pipeline.local" in modules  # it did score
    assert not [name for name in modules if name.startswith(("aescull.library", "aescull.report"))]


def test_a_crash_exits_70_not_1(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug must not read as "some files failed": scripts that retry failed files would loop on it."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("aescull.cli.score.scored", broken)
    code, out, err = invoke(["score", str(library)], weights=plumbing_weights)
    assert (code, out) == (70, "")
    assert err == "aescull: error: boom (run with --debug for the traceback)\n"
    code, _, err = invoke(["score", str(library), "--debug"], weights=plumbing_weights)
    assert code == 70 and "Traceback" in err and "RuntimeError: boom" in err
