"""`score --checks` and `cull --reject` as a photographer runs them: rows on stdout, the summary
on stderr, the flagged shots culled (alone or with --below), saved rows reused."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import aescull
from aescull.library.shots import Shot
from aescull.rows.read import read_score_rows
from aescull.judge.checks import Checks
from aescull.judge.decide import CullRule, select_culled
from aescull.rows.record import ScoreRecord
from aescull.model.checkpoint import LoadedModel
from aescull.rows.columns import CHECK_COLUMNS, COLUMNS, REASON_COLUMN
from tests.support.cli import invoke, invoke_result
from tests.support.images import sharp_scene
from tests.support.models import REPO
from tests.support.pages import Page
from training import degrade

EXPECTED_REASONS = {"blurry.jpg": "blurry", "dark.jpg": "dark", "fine.png": "", "sharp.jpg": ""}


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    root.mkdir()
    sharp_scene(seed=0).save(root / "sharp.jpg", quality=95)
    degrade.gaussian_blur(sharp_scene(seed=1), 4).save(root / "blurry.jpg", quality=95)
    degrade.exposure(sharp_scene(seed=2), -2).save(root / "dark.jpg", quality=95)
    sharp_scene(seed=3).save(root / "fine.png")
    return root


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def said(stderr: str) -> str:
    """stderr as one line: the usage-error box wraps long messages."""
    return " ".join(stderr.replace("│", " ").split())


def test_score_checks_adds_the_columns_and_the_reasons(library: Path, plumbing_weights: Path) -> None:
    code, out, err = invoke(["score", "lib", "--checks", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split(",") == [*COLUMNS, *CHECK_COLUMNS, REASON_COLUMN]
    table = {Path(row["path"]).name: row for row in csv_rows(out)}
    assert {name: row["reasons"] for name, row in table.items()} == EXPECTED_REASONS
    assert float(table["blurry.jpg"]["sharpness"]) < float(table["sharp.jpg"]["sharpness"])
    assert float(table["dark.jpg"]["exposure"]) < float(table["sharp.jpg"]["exposure"]) - 1.5
    assert "4 of 4 files scored" in err and "blurry" not in err


def test_without_checks_the_output_keeps_its_columns(library: Path, plumbing_weights: Path) -> None:
    code, out, _ = invoke(["score", "lib", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0
    assert out.splitlines()[0].split(",") == list(COLUMNS)


def test_jsonl_and_table_show_the_reasons(library: Path, plumbing_weights: Path) -> None:
    code, out, _ = invoke(["score", "lib", "--checks", "-f", "jsonl", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0
    reasons = {Path(row["path"]).name: row["reasons"] for row in map(json.loads, out.splitlines())}
    assert reasons == {name: [reason] if reason else [] for name, reason in EXPECTED_REASONS.items()}
    code, out, _ = invoke(["rank", "lib", "--checks", "-f", "table", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0 and "reasons" in out and "sharpness" in out and "blurry" in out and "dark" in out


def test_a_failed_file_has_empty_checks(library: Path, plumbing_weights: Path) -> None:
    (library / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    code, out, err = invoke(["score", "lib", "--checks", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 1
    broken = next(row for row in csv_rows(out) if row["path"].endswith("broken.jpg"))
    assert broken["error"] and all(broken[name] == "" for name in CHECK_COLUMNS)
    assert "warning: lib/broken.jpg" in err


def test_checks_are_cached_with_the_scores(library: Path, plumbing_model: LoadedModel, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    plain = list(aescull.score_paths([library], model=plumbing_model, max_side=64, cache_file=cache))
    assert all(record.checks is None for record in plain)
    first = list(aescull.score_paths([library], model=plumbing_model, max_side=64, cache_file=cache, checks=True))
    assert not any(record.cached for record in first)  # cached scores without checks: measured now
    again = list(aescull.score_paths([library], model=plumbing_model, max_side=64, cache_file=cache, checks=True))
    assert all(record.cached for record in again)
    assert [record.checks for record in again] == [record.checks for record in first]
    assert [record.score for record in again] == [record.score for record in plain]  # checks never change a score


def test_report_checks_shows_the_reasons_on_the_tiles(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    code, out, err = invoke(["report", "lib", "--checks", "-o", str(target), "--no-cache", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    assert out == "" and "4 photos" in err
    page = Page(target.read_text(encoding="utf-8"))
    captions = {Path(str(tile["data-name"])).name: caption for tile, caption in zip(page.tiles, page.captions)}
    assert "blurry" in captions["blurry.jpg"] and "dark" in captions["dark.jpg"]
    assert not any(reason in captions["sharp.jpg"] for reason in ("blurry", "dark", "bright", "noisy"))
    assert "sharpness: " in str(next(tile["title"] for tile in page.tiles if str(tile["data-name"]).endswith("blurry.jpg")))


def test_cull_reject_lists_only_the_flagged_shots(library: Path, plumbing_weights: Path) -> None:
    code, out, err = invoke(["cull", "lib", "--reject", "blurry,dark", "--list", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    listed = {Path(row["path"]).name: row["reasons"] for row in csv_rows(out)}
    assert listed == {"blurry.jpg": "blurry", "dark.jpg": "dark"}
    assert "kept 2 shots, culled 2" in err


def test_cull_reject_combines_with_below(library: Path, plumbing_weights: Path) -> None:
    _, out, _ = invoke(["score", "lib", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    scores = {Path(row["path"]).name: float(row["score"]) for row in csv_rows(out)}
    weakest_clean = min(("fine.png", "sharp.jpg"), key=scores.__getitem__)
    below = scores[weakest_clean] + 1e-4
    code, out, err = invoke(["cull", "lib", "--reject", "blurry", "--below", str(below), "--list", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    expected = {"blurry.jpg", weakest_clean} | {name for name, score in scores.items() if score < below}
    assert {Path(row["path"]).name for row in csv_rows(out)} == expected


def test_cull_reject_moves_the_blurry_shot_and_undo_brings_it_back(library: Path, plumbing_weights: Path) -> None:
    code, out, err = invoke(["cull", "lib", "--reject", "blurry", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    assert out == ""
    assert (library / "_culled" / "blurry.jpg").is_file() and not (library / "blurry.jpg").exists()
    assert sorted(path.name for path in library.iterdir() if path.is_file() and not path.name.startswith(".")) == [
        "dark.jpg", "fine.png", "sharp.jpg"
    ]
    result = invoke_result(["undo", str(library)])
    assert result.exit_code == 0 and (library / "blurry.jpg").is_file()


def test_cull_reject_from_saved_rows(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    rows_file = tmp_path / "rows.jsonl"
    code, _, _ = invoke(["score", "lib", "--checks", "-f", "jsonl", "-o", str(rows_file), "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0
    code, out, err = invoke(["cull", "--from", str(rows_file), "--reject", "dark", "--list", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    assert [Path(row["path"]).name for row in csv_rows(out)] == ["dark.jpg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cull", "lib", "--reject", "fuzzy", "--list"], "unknown reason fuzzy"),
        (["cull", "lib", "--reject", "", "--list"], "choose from blurry, dark, bright"),
    ],
)
def test_cull_reject_usage_errors_exit_2(library: Path, plumbing_weights: Path, args: list[str], message: str) -> None:
    code, out, err = invoke([*args, "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 2 and out == ""
    assert message in said(err)


def test_cull_reject_refuses_rows_scored_without_checks(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    rows_file = tmp_path / "rows.csv"
    invoke(["score", "lib", "-o", str(rows_file), "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    code, out, err = invoke(["cull", "--from", str(rows_file), "--reject", "dark", "--list", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 2 and out == ""
    assert "aescull score --checks" in said(err)


def test_saved_rows_keep_their_reasons_in_both_formats(library: Path, plumbing_weights: Path) -> None:
    for fmt in ("csv", "jsonl"):
        code, out, _ = invoke(["score", "lib", "--checks", "-f", fmt, "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
        assert code == 0
        rows = {row.path.name: row for row in read_score_rows(out)}
        assert {name: ";".join(row.checks.reasons) for name, row in rows.items() if row.checks} == EXPECTED_REASONS


def test_select_culled_rejects_by_reason_and_a_shot_needs_every_file_flagged() -> None:
    items = [("a", 0.9, ("blurry",)), ("b", 0.2, ()), ("c", 0.8, ("dark", "noisy")), ("d", 0.7, None)]

    def pick(rule: CullRule) -> list[str]:
        chosen = select_culled(items, score_of=lambda item: item[1], path_of=lambda item: item[0], rule=rule, reasons_of=lambda item: item[2])
        return [item[0] for item in chosen]

    assert pick(CullRule(reject=frozenset({"blurry"}))) == ["a"]
    assert pick(CullRule(reject=frozenset({"noisy", "blurry"}))) == ["c", "a"]  # lowest score first
    assert pick(CullRule(below=0.5, reject=frozenset({"dark"}))) == ["b", "c"]
    assert pick(CullRule(bottom_count=1, reject=frozenset({"blurry"}))) == ["b", "a"]
    with pytest.raises(ValueError):
        CullRule()
    pair = Shot(Path("."), "IMG", rows=[
        ScoreRecord(Path("IMG.jpg"), 0.5, checks=Checks(0.9, 0.0, 0.0, 1.0, ())),
        ScoreRecord(Path("IMG.CR2"), 0.5, checks=Checks(0.1, 0.0, 0.0, 1.0, ("blurry",))),
    ])
    assert pair.reasons == frozenset()


def test_subprocess_score_checks_and_cull_reject(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "aescull"]
    options = ["--weights", str(plumbing_weights), "--max-side", "64"]
    result = subprocess.run([*command, "score", "lib", "--checks", *options], cwd=library.parent, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert {Path(row["path"]).name: row["reasons"] for row in csv_rows(result.stdout)} == EXPECTED_REASONS
    assert "4 of 4 files scored" in result.stderr and "reasons" not in result.stderr

    result = subprocess.run([*command, "cull", "lib", "--reject", "dark", "--dry-run", *options], cwd=library.parent, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("move ") and "dark.jpg" in result.stdout
    assert "blurry.jpg" not in result.stdout
    assert "kept 3 shots, culled 1" in result.stderr and "dry run: nothing changed" in result.stderr
    assert (library / "dark.jpg").is_file()
