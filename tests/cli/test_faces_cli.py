"""``--faces`` as a photographer runs it: the face columns and reasons on stdout, a blinker culled
with ``--reject eyes-closed``, saved rows reused, the cache kept, and the extra explaining itself.

The models are stubbed on generated images (a grey square is a face whose grey level names its
blink: tests/support/faces.py); the real MediaPipe runs where the extra is installed."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from evaluation.faces_eval import padded
from tests.support.cli import invoke, rows, subprocess_env
from tests.support.faces import found_at, stub_models
from tests.support.images import sharp_scene
from tests.support.models import REPO

FACE_BOX = (300, 150, 500, 350)
BLINKS = {60: 0.05, 120: 0.8}  # open.png: eyes open; blink.png: eyes closed
FACES_DEV = REPO.parent / "shared" / "data" / "faces-dev" / "images"


def _photo(level: int | None) -> Image.Image:
    image = Image.new("RGB", (800, 500), (0, 0, 0))
    if level is not None:
        image.paste((level, level, level), FACE_BOX)
    return image


@pytest.fixture()
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """open.png and blink.png hold one face each; empty.png none. PNG, so the grey levels stay exact."""
    root = tmp_path / "lib"
    root.mkdir()
    _photo(60).save(root / "open.png")
    _photo(120).save(root / "blink.png")
    _photo(None).save(root / "empty.png")
    found_at(monkeypatch, FACE_BOX)
    return root


def _jsonl(text: str) -> dict[str, dict[str, object]]:
    return {Path(str(row["path"])).name: row for row in map(json.loads, text.splitlines())}


def test_score_faces_counts_faces_and_flags_the_blinker(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_models(monkeypatch, BLINKS)
    code, out, err = invoke(["score", "lib", "--faces", "-f", "jsonl", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    table = _jsonl(out)
    assert {name: (row["faces"], row["eyes_closed"], row["reasons"]) for name, row in table.items()} == {
        "blink.png": (1, 1, ["eyes-closed"]),
        "empty.png": (0, 0, []),
        "open.png": (1, 0, []),
    }
    assert table["empty.png"]["face_sharpness"] is None and table["open.png"]["face_sharpness"] > 0.9  # a perfect step
    assert "faces" not in err and "Traceback" not in err


def test_csv_has_the_face_columns_after_the_checks(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_models(monkeypatch, BLINKS)
    code, out, err = invoke(["score", "lib", "--faces", "--checks", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    header = out.splitlines()[0].split(",")
    assert header[-8:] == ["sharpness", "exposure", "clipped", "noise", "faces", "eyes_closed", "face_sharpness", "reasons"]
    reasons = {Path(row["path"]).name: row["reasons"].split(";") for row in rows(out)}
    assert "eyes-closed" in reasons["blink.png"] and "eyes-closed" not in reasons["open.png"]  # dark too: the frame is black


def test_the_closed_eyes_line_is_the_users(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_models(monkeypatch, BLINKS)
    code, out, err = invoke(["score", "lib", "--faces", "--closed-eyes", "0.9", "-f", "jsonl", "--max-side", "64"],
                            cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    assert _jsonl(out)["blink.png"]["eyes_closed"] == 0


def test_faces_are_cached_and_judged_again_by_new_thresholds(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = stub_models(monkeypatch, BLINKS)
    args = ["score", "lib", "--faces", "-f", "jsonl", "--max-side", "64"]
    first = invoke(args, cwd=library.parent, weights=plumbing_weights)
    measured = sum(models.calls for models in started)
    second = invoke([*args, "--closed-eyes", "0.9"], cwd=library.parent, weights=plumbing_weights)
    assert measured > 0 and sum(models.calls for models in started) == measured  # nothing measured twice
    assert _jsonl(first[1])["blink.png"]["eyes_closed"] == 1 and _jsonl(second[1])["blink.png"]["eyes_closed"] == 0
    assert "3 from cache" in second[2]


def test_cull_reject_eyes_closed_moves_only_the_blinker(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_models(monkeypatch, BLINKS)
    code, out, err = invoke(["cull", "lib", "--reject", "eyes-closed", "--move-to", "rejects", "--max-side", "64"],
                            cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    assert sorted(path.name for path in (library.parent / "rejects").rglob("*.png")) == ["blink.png"]
    assert sorted(path.name for path in library.glob("*.png")) == ["empty.png", "open.png"]
    code, _, err = invoke(["undo", "lib"], cwd=library.parent)
    assert code == 0, err
    assert sorted(path.name for path in library.glob("*.png")) == ["blink.png", "empty.png", "open.png"]


def test_saved_rows_must_hold_faces_to_reject_on_them(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_models(monkeypatch, BLINKS)
    _, with_faces, _ = invoke(["score", "lib", "--faces", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    _, without, _ = invoke(["score", "lib", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    (library.parent / "faces.csv").write_text(with_faces)
    (library.parent / "plain.csv").write_text(without)
    code, out, err = invoke(["cull", "--from", "faces.csv", "--reject", "eyes-closed", "--list"], cwd=library.parent)
    assert code == 0, err
    assert [Path(row["path"]).name for row in rows(out)] == ["blink.png"]
    code, out, err = invoke(["cull", "--from", "plain.csv", "--reject", "eyes-closed", "--move-to", "rejects"], cwd=library.parent)
    assert code == 2 and out == ""
    assert "aescull score --faces" in " ".join(err.replace("│", " ").split())
    assert not (library.parent / "rejects").exists()


def test_the_report_shows_faces_and_blinks(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_models(monkeypatch, BLINKS)
    code, _, err = invoke(["report", "lib", "--faces", "-o", "sheet.html", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    page = (library.parent / "sheet.html").read_text()
    assert page.count('<span class="faces">1 face · 1 eyes closed</span>') == 1
    assert page.count('<span class="faces">1 face</span>') == 1 and page.count('<span class="faces">no face</span>') == 1
    assert "<span>eyes-closed</span>" in page


@pytest.mark.parametrize("command", [["score", "lib", "--faces"], ["cull", "lib", "--reject", "eyes-closed", "--move-to", "rejects"]])
def test_without_the_extra_faces_is_a_usage_error_before_any_work(
    library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # `import mediapipe` fails as if it were not installed
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "mediapipe" else _find_spec(name, *args))
    code, out, err = invoke(command, cwd=library.parent, weights=plumbing_weights)
    assert code == 2 and out == ""
    assert "pip install 'aescull[faces]'" in " ".join(err.replace("│", " ").split())
    assert not (library.parent / "rejects").exists() and len(list(library.iterdir())) == 3


_find_spec = importlib.util.find_spec


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None, reason="needs the faces extra (pip install '.[faces]')")
def test_the_real_models_run_from_the_command_line_quietly(tmp_path: Path, plumbing_weights: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    sharp_scene(seed=4).save(root / "landscape.jpg", quality=92)
    done = subprocess.run([sys.executable, "-m", "aescull", "score", str(root), "--faces", "--weights", str(plumbing_weights), "-f", "jsonl"],
                          capture_output=True, text=True, env=subprocess_env(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr
    (row,) = map(json.loads, done.stdout.splitlines())
    assert (row["faces"], row["eyes_closed"], row["reasons"]) == (0, 0, [])
    assert [line for line in done.stderr.splitlines() if line.strip()] == [done.stderr.strip().splitlines()[-1]]  # the summary only


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None or not FACES_DEV.is_dir(), reason="needs the faces extra and ../shared/data/faces-dev")
def test_real_closed_eyes_are_flagged_and_open_ones_are_not(tmp_path: Path, plumbing_weights: Path) -> None:
    root = tmp_path / "lib"
    for label in ("closed", "open"):
        (root / label).mkdir(parents=True)
        for source in sorted((FACES_DEV / label).iterdir())[:6]:  # tight crops, on a border as faces_eval shows them
            padded(Image.open(source).convert("RGB")).save(root / label / f"{source.stem}.png")
    code, out, err = invoke(["score", "lib", "--faces", "-f", "jsonl"], cwd=tmp_path, weights=plumbing_weights)
    assert code == 0, err
    flagged = {label: sum("eyes-closed" in row["reasons"] for row in _jsonl_rows(out) if f"/{label}/" in row["path"]) for label in ("closed", "open")}
    assert flagged["closed"] >= 5 and flagged["open"] <= 1


def _jsonl_rows(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed (Debian package libimage-exiftool-perl; .ci/run installs it)")
def test_tag_reject_eyes_closed_rates_the_blinker_rejected(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_models(monkeypatch, BLINKS)
    code, _, err = invoke(["tag", "lib", "--reject", "eyes-closed", "--pick-labels", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    read = subprocess.run(["exiftool", "-j", "-XMP:all", *(str(library / f"{name}.png.xmp") for name in ("blink", "open"))],
                          capture_output=True, text=True, check=True)
    tags = {Path(item["SourceFile"]).name: item for item in json.loads(read.stdout)}
    blink, open_eyes = tags["blink.png.xmp"], tags["open.png.xmp"]
    assert (blink["Rating"], blink["PickLabel"], blink["Reasons"], blink["Faces"], blink["EyesClosed"]) == (-1, 1, "eyes-closed", 1, 1)
    assert open_eyes["Rating"] >= 1 and open_eyes["PickLabel"] == 3 and open_eyes["EyesClosed"] == 0
    assert invoke(["undo", "lib"], cwd=library.parent)[0] == 0
    assert not list(library.glob("*.xmp"))


def test_keep_best_in_a_burst_keeps_the_open_eyed_frame(library: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_models(monkeypatch, BLINKS)
    (library / "empty.png").unlink()
    for offset, name in enumerate(("blink.png", "open.png")):  # one second apart: a burst, by file time
        os.utime(library / name, ns=(1_700_000_000_000_000_000 + offset * 10**9,) * 2)
    code, out, err = invoke(["score", "lib", "--groups", "--faces", "-f", "jsonl", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    table = _jsonl(out)
    assert table["blink.png"]["group"] == table["open.png"]["group"] is not None
    assert (table["open.png"]["rank_in_group"], table["blink.png"]["rank_in_group"]) == (1, 2)
    code, _, err = invoke(["cull", "lib", "--keep-best", "1", "--faces", "--move-to", "rejects", "--max-side", "64"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    assert [path.name for path in library.glob("*.png")] == ["open.png"]
