"""cull, tag and undo from the command line: what a photographer sees on stdout, stderr and disk."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.cli import invoke
from tests.support.models import REPO
from tests.support.sidecars import BILLION_LAUGHS
from tests.support.library import fingerprint, make_library

from aescull.library.journal import JOURNAL_NAME, LOCK_NAME, library_lock
from aescull.library.shots import shot_stem
from aescull.judge.decide import pick_label_for, rating_for


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return make_library(tmp_path / "lib")


def scoring(weights: Path) -> list[str]:
    return ["--weights", str(weights), "--max-side", "64"]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_cull_dry_run_prints_the_plan_and_changes_nothing(library: Path, plumbing_weights: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    code, out, err = invoke(["cull", "lib", "--bottom", "2", "--dry-run", *scoring(plumbing_weights)], library.parent)
    assert code == 0, err
    plan = out.splitlines()
    assert plan and all(line.startswith(("move ", "create folder ")) for line in plan)
    assert any("_culled" in line for line in plan)
    assert "kept 4 shots, culled 2" in err and "dry run: nothing changed" in err
    assert fingerprint(library, with_mtimes=True) == before
    assert not (library / JOURNAL_NAME).exists() and not (library / LOCK_NAME).exists()


def test_cull_moves_whole_shots_and_undo_restores_every_byte(library: Path, plumbing_weights: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    code, out, err = invoke(["cull", "lib", "--bottom", "50%", *scoring(plumbing_weights)], library.parent)
    assert code == 0, err
    assert out == ""
    assert "kept 3 shots, culled 3" in err and str(library / "_culled") in err and f"aescull undo {library}" in err
    moved = [path for path in (library / "_culled").rglob("*") if path.is_file()]
    assert moved
    for path in moved:  # a shot moves whole: nothing of the same stem is left behind
        folder = library / path.parent.relative_to(library / "_culled")
        assert not [name for name in os.listdir(folder) if shot_stem(name) == shot_stem(path.name)]

    code, out, err = invoke(["undo", "lib"], library.parent)
    assert code == 0 and out == ""
    assert "undone" in err
    assert fingerprint(library, with_mtimes=True) == before


def test_cull_copy_elsewhere_keeps_originals_and_undo_removes_the_copies(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    elsewhere = tmp_path / "rejects"
    code, _, err = invoke(["cull", "lib", "--bottom", "2", "--copy", "--move-to", str(elsewhere), *scoring(plumbing_weights)], library.parent)
    assert code == 0, err
    assert f"copied to {elsewhere}" in err
    assert [path for path in elsewhere.rglob("*") if path.is_file()]
    assert fingerprint(library, with_mtimes=True) == before
    invoke(["undo", "lib"], library.parent)
    assert not elsewhere.exists()


def test_tag_and_undo_as_subprocesses(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "aescull"]
    result = subprocess.run([*command, "tag", "lib", "--reject-below", "0.5", "--pick-labels", *scoring(plumbing_weights)],
                            cwd=library.parent, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "9 sidecars written" in result.stderr
    merged = (library / "b.jpg.xmp").read_bytes()
    assert b'my:Client="b.jpg.xmp &amp; Sons"' in merged and b"<rdf:li>beach</rdf:li>" in merged
    assert b'aescull:Model="plumbing"' in merged and b'aescull:ModelVersion="test"' in merged
    for photo in ("a.jpg", "a.CR2", "2023/trip/d.png", "2023/e.jpg"):
        assert b"aescull:Score=" in (library / f"{photo}.xmp").read_bytes()
    # Lightroom's a.xmp of the pair says what darktable's a.jpg.xmp and a.CR2.xmp say (the pair's
    # better file), so the two editors show one rating; its own fields stay.
    lightroom = (library / "a.xmp").read_bytes()
    assert b'my:Client="a.xmp &amp; Sons"' in lightroom and b'xmp:Rating="2"' not in lightroom
    rating = {name: int(re.search(rb'xmp:Rating="(-?\d)"', (library / name).read_bytes()).group(1)) for name in ("a.xmp", "a.jpg.xmp", "a.CR2.xmp")}
    assert rating["a.xmp"] == max(rating["a.jpg.xmp"], rating["a.CR2.xmp"])

    result = subprocess.run([*command, "undo", "lib"], cwd=library.parent, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "9 changes reverted" in result.stderr
    assert fingerprint(library, with_mtimes=True) == before


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed (Debian libimage-exiftool-perl; .ci/run installs it)")
def test_exiftool_reads_what_tag_wrote(library: Path, plumbing_weights: Path) -> None:
    code, _, err = invoke(["tag", "lib", "--reject-below", "0.5", "--pick-labels", "--sidecar-style", "stem", *scoring(plumbing_weights)], library.parent)
    assert code == 0, err
    sidecars = [library / "a.xmp", library / "2023" / "e.xmp"]
    result = subprocess.run(["exiftool", "-j", "-G1", "-XMP:all", *map(str, sidecars)], capture_output=True, text=True, check=True)
    for tags in json.loads(result.stdout):
        score = float(tags["XMP-aescull:Score"])
        assert tags["XMP-xmp:Rating"] == rating_for(score, reject_below=0.5)
        assert tags["XMP-digiKam:PickLabel"] == pick_label_for(score, reject_below=0.5)
        assert tags["XMP-aescull:Model"] == "plumbing"
    lightroom = json.loads(subprocess.run(["exiftool", "-j", "-G1", "-XMP:all", str(library / "a.xmp")], capture_output=True, text=True, check=True).stdout)[0]
    assert lightroom["XMP-my:Client"] == "a.xmp & Sons" and lightroom["XMP-photoshop:City"] == "Lisbon"
    assert lightroom["XMP-crs:Exposure2012"] == "+0.35" and lightroom["XMP-dc:Subject"] == ["holiday", "beach"]
    assert lightroom["XMP-xmp:Label"] == "Red"


def test_pipeline_rows_from_stdin_and_from_a_file(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    code, scores_csv, _ = invoke(["score", "lib", *scoring(plumbing_weights)], library.parent)
    assert code == 0
    code, out, err = invoke(["cull", "--bottom", "1", "--list"], library.parent, stdin=scores_csv)
    assert code == 0, err
    listed = csv_rows(out)
    others = [row for row in csv_rows(scores_csv) if row["path"] not in {item["path"] for item in listed}]
    assert listed and max(float(row["score"]) for row in listed) <= min(float(row["score"]) for row in others)
    assert "kept 5 shots, culled 1" in err

    code, scores_jsonl, _ = invoke(["score", "lib", "-f", "jsonl", *scoring(plumbing_weights)], library.parent)
    saved = tmp_path / "scores.jsonl"
    saved.write_text(scores_jsonl, encoding="utf-8")
    code, out, err = invoke(["cull", "--from", str(saved), "--below", "2", "--list", "-f", "jsonl"], library.parent)
    assert code == 0, err
    assert sorted(json.loads(line)["path"] for line in out.splitlines()) == sorted(json.loads(line)["path"] for line in scores_jsonl.splitlines())


def test_saved_rows_for_changed_files_are_refused_not_acted_on(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    code, scores_csv, _ = invoke(["score", "lib", *scoring(plumbing_weights)], library.parent)
    saved = tmp_path / "scores.csv"
    saved.write_text(scores_csv, encoding="utf-8")
    with open(library / "b.jpg", "ab") as handle:
        handle.write(b"edited after scoring")
    before = fingerprint(library)
    code, out, err = invoke(["cull", "--from", str(saved), "--below", "2"], library.parent)
    assert code == 1
    assert "lib/b.jpg: file changed since it was scored" in err
    assert (library / "b.jpg").exists() and not (library / "a.jpg").exists()
    invoke(["undo", "lib"], library.parent)
    assert fingerprint(library) == before


@pytest.mark.parametrize(
    "args",
    [
        ["cull", "lib", "--weak", "2"],
        ["cull", "lib", "--below", "0.5", "--bottom", "3"],
        ["cull", "lib", "--bottom", "ten"],
        ["cull", "lib", "--below", "0.5", "--copy", "--tag"],
        ["cull", "lib", "--below", "0.5", "--from", "scores.csv"],
        ["cull", "--below", "0.5"],  # no PATH and nothing on stdin
        ["tag"],
    ],
)
def test_usage_errors_exit_2_and_touch_nothing(library: Path, args: list[str]) -> None:
    before = fingerprint(library, with_mtimes=True)
    code, out, err = invoke(args, library.parent, stdin="")
    assert code == 2 and out == ""
    assert err.strip()
    assert fingerprint(library, with_mtimes=True) == before


def test_a_second_run_on_a_locked_library_is_refused(library: Path, plumbing_weights: Path) -> None:
    before = fingerprint(library)
    with library_lock(library):
        code, out, err = invoke(["cull", "lib", "--bottom", "1", *scoring(plumbing_weights)], library.parent)
    assert code == 2 and out == ""
    assert "another aescull run" in err
    assert fingerprint(library) == before


def test_a_hostile_sidecar_is_reported_and_left_untouched(library: Path, plumbing_weights: Path) -> None:
    (library / "b.jpg.xmp").write_bytes(BILLION_LAUGHS)
    code, out, err = invoke(["tag", "lib", *scoring(plumbing_weights)], library.parent)
    assert code == 1 and out == ""
    assert "b.jpg.xmp" in err and "DOCTYPE or ENTITY" in err and "left untouched" in err
    assert (library / "b.jpg.xmp").read_bytes() == BILLION_LAUGHS
    assert (library / "a.jpg.xmp").exists()


def test_undo_with_nothing_to_undo_says_so(tmp_path: Path) -> None:
    code, out, err = invoke(["undo", str(tmp_path)], tmp_path)
    assert code == 0 and out == ""
    assert "nothing to undo" in err
