"""The documentation a user follows: the generated CLI reference is current and the API example runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.images import save_photo
from tests.support.models import BUNDLED_WEIGHTS, REPO

REGENERATE = [sys.executable, "-m", "typer", "aescull.cli.app", "utils", "docs", "--name", "aescull", "--output"]


def test_cli_reference_is_generated_from_the_commands(tmp_path: Path) -> None:
    fresh = tmp_path / "cli.md"
    subprocess.run([*REGENERATE, str(fresh)], cwd=REPO, check=True, capture_output=True, timeout=120)
    assert fresh.read_text() == (REPO / "docs" / "cli.md").read_text(), f"docs/cli.md is stale: run {' '.join(REGENERATE[1:])} docs/cli.md"


def test_python_api_example_runs_as_written(tmp_path: Path) -> None:
    assert BUNDLED_WEIGHTS.is_file()
    example = re.search(r"```python\n(.*?)```", (REPO / "docs" / "python-api.md").read_text(), re.S)
    assert example
    home = tmp_path / "home"
    save_photo(home / "Photos" / "trip" / "beach.jpg", 320, 240, seed=4)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    done = subprocess.run([sys.executable, "-c", example[1]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    path, score, error = done.stdout.split()
    assert path.endswith("Photos/trip/beach.jpg") and 0.0 <= float(score) <= 1.0 and error == "None"
