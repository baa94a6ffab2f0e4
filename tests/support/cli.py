"""Running the CLI in a test: through CliRunner (stdout and stderr apart) or as a subprocess."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from aescull.cli.app import app
from tests.support.models import REPO

runner = CliRunner()


def invoke_result(args: list[str], cwd: Path | None = None, stdin: str | None = None) -> Result:
    """``aescull ARGS`` in ``cwd`` (paths in ARGS and in the rows are relative to it), the whole result."""
    old = Path.cwd()
    os.chdir(cwd or old)
    try:
        return runner.invoke(app, args, input=stdin)
    finally:
        os.chdir(old)


def invoke(args: list[str], cwd: Path | None = None, weights: Path | None = None, stdin: str | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``aescull ARGS [--weights W]`` run in ``cwd``."""
    result = invoke_result([*args, *(["--weights", str(weights)] if weights else [])], cwd, stdin)
    return result.exit_code, result.stdout, result.stderr


def rows(text: str) -> list[dict[str, str]]:
    """The CSV rows of ``aescull score`` as dicts."""
    return list(csv.DictReader(io.StringIO(text)))


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """For ``python -m aescull`` in a child: this checkout, and cache and state folders of the test's own."""
    return {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "XDG_STATE_HOME": str(tmp_path / "xdg-state"), "PYTHONPATH": str(REPO)}
