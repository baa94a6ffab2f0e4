"""Runs that end early: Ctrl-C and SIGTERM during `score`, SIGKILL during `cull` and `tag`, and a
second aescull on a library that is being worked on. Each runs the real CLI in a subprocess
(tests/support/interrupting.py adds the fault); nothing in aescull knows it is being tested.

By default the SIGKILL tests stop a run at chosen fsync points, one per kind of moment (every
journal line, sidecar, copy and folder change is followed by an fsync); AESCULL_KILL_SWEEP=1 stops
it at every one of them in turn.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.cli import invoke
from tests.support.models import REPO
from tests.support.library import make_library

from aescull.library.journal import JOURNAL_NAME

from aescull.library import xmp
from tests.support.images import save_photo
from tests.support.hostile import leftovers, snapshot
from tests.support.interrupting import PAUSED

DRIVER = REPO / "tests" / "support" / "interrupting.py"
PHOTOS = 24
FULL_SWEEP = bool(os.environ.get("AESCULL_KILL_SWEEP"))


def environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "xdg")}


def driver(mode: str, options: list[str], args: list[str]) -> list[str]:
    return [sys.executable, str(DRIVER), mode, *options, "--", *args]


@pytest.mark.parametrize(("sent", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_during_score_leaves_whole_rows_and_a_cache_that_resumes(
    tmp_path: Path, plumbing_weights: Path, sent: signal.Signals, code: int, said: str
) -> None:
    for index in range(PHOTOS):
        save_photo(tmp_path / "lib" / f"p{index:02d}.jpg", 96, 72, seed=index)
    cache = tmp_path / "scores.sqlite3"
    args = ["score", "lib", "--weights", str(plumbing_weights), "--max-side", "64", "--cache", str(cache), "--batch-size", "1", "--workers", "1"]
    process = subprocess.Popen(
        driver("slow-decodes", ["4", "0.5"], args), cwd=tmp_path, env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    head = [process.stdout.readline() for _ in range(4)]  # the header and three rows
    process.send_signal(sent)
    rest, stderr = process.communicate(timeout=300)
    stdout = b"".join(head) + rest

    assert process.returncode == code, stderr
    assert f"aescull: {said}" in stderr.decode() and b"Traceback" not in stderr
    assert stdout.endswith(b"\n")
    rows = list(csv.reader(io.StringIO(stdout.decode())))
    assert rows[0][0] == "path" and all(len(row) == 10 and row[1] for row in rows[1:])  # whole rows only
    printed = len(rows) - 1
    assert 3 <= printed < PHOTOS

    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (cached,) = db.execute("SELECT count(*) FROM scores").fetchone()
    assert printed <= cached < PHOTOS  # committed as it went: every printed row, perhaps one batch more

    exit_code, again, summary = invoke(args, tmp_path)
    assert exit_code == 0, summary
    assert f"{PHOTOS} of {PHOTOS} files scored, {cached} from cache" in summary  # only the rest was scored
    assert again.splitlines()[: printed + 1] == stdout.decode().splitlines()


@pytest.fixture
def scored_library(tmp_path: Path, plumbing_weights: Path) -> tuple[Path, Path, dict[str, object]]:
    """The photo library and its score rows, saved so that `cull --from` needs no model."""
    library = make_library(tmp_path / "lib")
    code, rows, err = invoke(["score", "lib", "--weights", str(plumbing_weights), "--max-side", "64", "--no-cache"], tmp_path)
    assert code == 0, err
    (tmp_path / "rows.csv").write_text(rows)
    return library, tmp_path / "rows.csv", snapshot(library)


def no_half_written_sidecar(library: Path) -> None:
    """Every sidecar is whole: its old bytes or a complete merge, never a cut-off file."""
    for sidecar in library.rglob("*.xmp"):
        data = sidecar.read_bytes()
        assert xmp.merge(data, {}) == data, sidecar  # parses as a complete XMP packet


# Where to kill each kind of run, by its fsync count (1 is the journal's run record; then each
# operation is: journal line, the change's own fsyncs, done mark):
KILL_POINTS = {
    "move": [2, 3, 6, 7],  # operation journaled, not done; folder made, not marked; linked, original not yet unlinked; moved, not marked
    "tag": [3, 4, 8],  # new sidecar in its temp file, not renamed; renamed, not marked; the second sidecar's temp file
    "copy": [2, 6, 7],  # journaled only; copy in its temp file, not verified; linked to its name, not marked
}


@pytest.mark.parametrize("action", list(KILL_POINTS))
def test_sigkill_at_any_point_of_a_cull_is_undone_exactly(scored_library: tuple[Path, Path, dict[str, object]], tmp_path: Path, action: str) -> None:
    library, rows, original = scored_library
    points = range(1, 40) if FULL_SWEEP else KILL_POINTS[action]
    option = {"move": [], "tag": ["--tag"], "copy": ["--copy"]}[action]
    for point in points:
        completed = subprocess.run(
            driver("kill-at-fsync", [str(point)], ["cull", "--from", str(rows), "--bottom", "50%", *option]),
            cwd=tmp_path, env=environment(tmp_path), capture_output=True, timeout=120,
        )
        if completed.returncode == 0 and FULL_SWEEP:  # the run has fewer fsyncs than this: it finished
            break
        assert completed.returncode == -signal.SIGKILL, (point, completed.stderr)
        no_half_written_sidecar(library)
        code, _, err = invoke(["undo", "lib"], tmp_path)
        assert code == 0, (point, err)
        assert snapshot(library) == original, point
        assert leftovers(library) == [], point


def test_sigkill_during_tag_and_a_second_run_meanwhile(
    scored_library: tuple[Path, Path, dict[str, object]], tmp_path: Path, plumbing_weights: Path
) -> None:
    library, rows, original = scored_library
    process = subprocess.Popen(
        driver("pause-at-fsync", ["4"], ["tag", "lib", "--weights", str(plumbing_weights), "--max-side", "64", "--no-cache"]),
        cwd=tmp_path, env=environment(tmp_path), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stderr is not None
        lines = iter(process.stderr.readline, "")
        assert PAUSED in next(line for line in lines if PAUSED in line or "Traceback" in line)
        second = invoke(["cull", "--from", str(rows), "--bottom", "1", "--copy"], tmp_path)
        assert second[0] == 2 and "another aescull run is working on" in second[2], second
        refused_undo = invoke(["undo", "lib"], tmp_path)
        assert refused_undo[0] == 2 and "another aescull run" in refused_undo[2]
        assert (library / JOURNAL_NAME).exists()
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    no_half_written_sidecar(library)
    code, _, err = invoke(["undo", "lib"], tmp_path)  # the kernel released the dead run's lock
    assert code == 0, err
    assert snapshot(library) == original and leftovers(library) == []
