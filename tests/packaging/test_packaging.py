"""The built wheel is what users get: build it, install it into a fresh venv, run it elsewhere."""

from __future__ import annotations

import csv
import io
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support.images import save_photo

from tests.support.models import REPO


def source_tree_with_weights(target: Path) -> Path:
    """A copy of the project as a fresh clone has it: code, weights and their data notice."""
    target.mkdir(parents=True)
    for name in ("pyproject.toml", "hatch_build.py", "README.md"):
        shutil.copy(REPO / name, target / name)
    shutil.copytree(REPO / "aescull", target / "aescull", ignore=shutil.ignore_patterns("__pycache__", "_weights"))
    shutil.copytree(REPO / "weights", target / "weights")
    return target


@pytest.mark.slow
def test_wheel_installs_and_scores_from_outside_the_repo(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="the [test] extra provides hatchling to build the wheel offline")
    source = source_tree_with_weights(tmp_path / "src")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("aescull-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True, timeout=300
    )
    # Dependencies (torch above all) come from this environment instead of being downloaded again.
    venv_site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    parent_sites = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    (venv_site / "parent-env.pth").write_text("\n".join(sorted(parent_sites)) + "\n")

    outside = tmp_path / "elsewhere"
    save_photo(outside / "photos" / "one.jpg", 160, 120, seed=1)
    save_photo(outside / "photos" / "two.png", 90, 160, seed=2)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    result = subprocess.run(
        [str(venv / "bin" / "aescull"), "score", "photos", "--max-side", "64"],
        cwd=outside, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["path"] for row in rows] == ["photos/one.jpg", "photos/two.png"]
    assert all(0.0 <= float(row["score"]) <= 1.0 for row in rows)

    where = subprocess.run(
        [
            str(python),
            "-c",
            (
                "import aescull, aescull.model.checkpoint as w, aescull.judge.faces as f, aescull.model.bundled as b; "
                "print(aescull.__file__); print(w.default_weights_path()); print(f.default_model_path()); print(b.bundled_path(b.ONNX_FILE))"
            ),
        ],
        cwd=outside, env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout.splitlines()
    assert Path(where[0]).is_relative_to(venv)
    assert Path(where[1]) == Path(where[0]).parent / "_weights" / "aescull-spp.pt"
    shipped = Path(where[0]).parent / "_weights"
    assert Path(where[2]) == shipped / "face_landmarker.task"  # the faces extra's model, with its notice and licence
    assert Path(where[3]) == shipped / "aescull-spp.onnx"  # the ONNX runtime's export of the checkpoint
    assert all((shipped / name).is_file() for name in ("NOTICE.face_landmarker.txt", "LICENSE.Apache-2.0.txt"))
    assets = [Path(where[0]).parent / "report" / name for name in ("page.css", "page.js")]  # the report's page needs them
    assets += [Path(where[0]).parent / "review" / name for name in ("page.html", "review.css", "review.js")]  # and the review's
    assert all(asset.is_file() and asset.stat().st_size > 0 for asset in assets)
    version = subprocess.run([str(python), "-m", "aescull", "--version"], cwd=outside, env=env, capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("aescull ")
