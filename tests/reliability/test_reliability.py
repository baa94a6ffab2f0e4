"""Every command over the hostile corpus of tests/support/hostile.py: no crash, nothing lost.

Invariants, for every command and every cull/tag + undo sequence: each input file has exactly one
row (a score or an error), each failure exactly one warning line; exit code 1 when any file
failed, 0 otherwise; no traceback; originals are never opened for writing; cull and tag change
no photo's bytes, and undo puts back every entry exactly (the multiset of file hashes included);
no temp file outlives a command.
"""

from __future__ import annotations

import builtins
import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from PIL import Image, ImageFile
from tests.support.cli import invoke_result
from tests.support.models import REPO
from tests.support.library import make_library

from aescull.library.journal import JOURNAL_NAME, Journal
from aescull.pipeline.decode import DecodeError, decode
from aescull.pipeline.exif import EXIF_MAX_READS, ExifSummary, read_exif
from aescull.pipeline.discover import discover
from tests.support.hostile import (
    NON_UTF8_NAME,
    Case,
    WriteGuard,
    disk_full_at_fsync,
    enforced_permissions,
    file_hashes,
    hostile_runtime,
    ifd_bomb_exif,
    leftovers,
    snapshot,
    write_corpus,
)



@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, list[Case]]:
    root = tmp_path / "lib"
    return root, write_corpus(root)


def text_of(data: bytes) -> str:
    """Output as written: file names that are not UTF-8 come back as the same surrogates."""
    return data.decode("utf-8", "surrogateescape")


def scoring(weights: Path, cache: Path) -> list[str]:
    return ["--weights", str(weights), "--max-side", "64", "--cache", str(cache)]


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("aescull: warning: ")]


def shown(name: str) -> str:
    """A path as aescull prints it on stderr: control characters escaped, other bytes as \\udcXX."""
    escaped = name.replace("\n", "\\n").replace("\x1b", "\\x1b")
    return escaped.encode("utf-8", "backslashreplace").decode("utf-8")


def assert_rows_match_cases(rows: list[dict[str, str]], cases: list[Case], armed: bool, races: bool = True) -> None:
    """Every case exactly once, scored or failed as it must be."""
    assert Counter(row["path"] for row in rows) == Counter(f"lib/{case.row_name(armed)}" for case in cases)
    by_path = {row["path"]: row for row in rows}
    for case in cases:
        row, expected = by_path[f"lib/{case.row_name(armed)}"], case.expected(armed, races)
        if expected is None:
            assert row["error"] in ("", None) and 0.0 <= float(row["score"]) <= 1.0, (case, row)
        else:
            assert row["score"] in ("", None) and expected in row["error"], (case, row)
            assert "\n" not in row["error"]


def assert_one_warning_per_failure(stderr: str, cases: list[Case], armed: bool, races: bool = True) -> None:
    lines = warnings_of(stderr)
    for case in cases:
        mentions = [line for line in lines if line.startswith(f"aescull: warning: {shown('lib/' + case.row_name(armed))}: ")]
        assert len(mentions) == (0 if case.expected(armed, races) is None else 1), (case, mentions)


def test_score_gives_every_hostile_file_exactly_one_row(corpus: tuple[Path, list[Case]], plumbing_weights: Path, tmp_path: Path) -> None:
    root, cases = corpus
    with hostile_runtime(root), WriteGuard().active() as guard:
        result = invoke_result(["score", "lib", *scoring(plumbing_weights, tmp_path / "c.sqlite")], root.parent)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    rows = list(csv.DictReader(io.StringIO(text_of(result.stdout_bytes))))
    assert_rows_match_cases(rows, cases, armed=True)
    assert_one_warning_per_failure(result.stderr, cases, armed=True)
    failed = sum(case.expected(True) is not None for case in cases)
    assert f"{len(cases) - failed} of {len(cases)} files scored, {failed} failed" in result.stderr
    assert len(warnings_of(result.stderr)) == failed
    assert guard.violations == []


def test_rank_lists_every_hostile_file_once_failures_last(corpus: tuple[Path, list[Case]], plumbing_weights: Path, tmp_path: Path) -> None:
    root, cases = corpus
    with hostile_runtime(root), WriteGuard().active() as guard:
        result = invoke_result(["rank", "lib", "-f", "jsonl", *scoring(plumbing_weights, tmp_path / "c.sqlite")], root.parent)
    assert result.exit_code == 1, result.stderr
    rows = [json.loads(line) for line in text_of(result.stdout_bytes).splitlines()]
    assert_rows_match_cases(rows, cases, armed=True)
    scores = [row["score"] for row in rows]
    first_failure = scores.index(None)
    assert all(score is None for score in scores[first_failure:])
    assert scores[:first_failure] == sorted(scores[:first_failure], reverse=True)
    assert guard.violations == []


SEQUENCES = {
    "cull (move)": ["cull", "lib", "--bottom", "50%"],
    "cull --copy": ["cull", "lib", "--bottom", "50%", "--copy"],
    "cull --tag": ["cull", "lib", "--bottom", "50%", "--tag"],
    "tag": ["tag", "lib", "--reject-below", "0.1", "--pick-labels"],
}


def test_cull_and_tag_then_undo_over_the_hostile_corpus_lose_nothing(
    corpus: tuple[Path, list[Case]], plumbing_weights: Path, tmp_path: Path
) -> None:
    root, cases = corpus
    cache = tmp_path / "c.sqlite"
    original = snapshot(root)
    for name, command in SEQUENCES.items():
        with hostile_runtime(root, races=False), WriteGuard().active() as guard:
            acted = invoke_result([*command, *scoring(plumbing_weights, cache)], root.parent)
        assert acted.exit_code == 1, (name, acted.stderr)  # the corpus has broken files
        assert "Traceback" not in acted.stderr, name
        failing = [case for case in cases if case.expected(armed=True, races=False)]
        assert_one_warning_per_failure(acted.stderr, failing, armed=True, races=False)
        assert "undo with: aescull undo" in acted.stderr, (name, acted.stderr)
        after = snapshot(root)
        assert file_hashes(after, photos_only=True) >= file_hashes(original, photos_only=True), name  # no photo lost or changed
        if name == "cull (move)":
            assert file_hashes(after) == file_hashes(original), name
        assert guard.violations == [], name
        assert leftovers(root) == [], name

        undone = invoke_result(["undo", "lib"], root.parent)
        assert undone.exit_code == 0, (name, undone.stderr)
        assert snapshot(root) == original, name
        assert leftovers(root) == [], name


def test_report_shows_every_hostile_file_once(corpus: tuple[Path, list[Case]], plumbing_weights: Path, tmp_path: Path) -> None:
    """A Latin-1 file name made the page's UTF-8 encoding fail: no report at all."""
    root, cases = corpus
    with hostile_runtime(root, races=False), WriteGuard().active() as guard:
        result = invoke_result(["report", "lib", "-o", str(tmp_path / "report.html"), *scoring(plumbing_weights, tmp_path / "c.sqlite")], root.parent)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("<figure ") == len(cases)
    failed = [case for case in cases if case.expected(armed=True, races=False)]
    assert page.count('<span class="error">') == len(failed)
    assert "latin1-caf\\udce9.jpg" in page  # the odd byte shown escaped, as on stderr
    assert guard.violations == []


def test_hostile_sidecars_are_refused_never_expanded(corpus: tuple[Path, list[Case]], plumbing_weights: Path, tmp_path: Path) -> None:
    root, _ = corpus
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-XXE-CONTENT")
    xxe = root / "sidecars" / "xxe.jpg.xmp"
    xxe.write_bytes(xxe.read_bytes().replace(b"file:///etc/passwd", secret.as_uri().encode()))
    original = snapshot(root)
    result = invoke_result(["tag", "lib/sidecars", *scoring(plumbing_weights, tmp_path / "c.sqlite")], root.parent)
    assert result.exit_code == 1
    refused = [line for line in warnings_of(result.stderr) if "DOCTYPE or ENTITY" in line]
    assert len(refused) == 2 and any("xxe.jpg.xmp" in line for line in refused) and any("laughs.jpg.xmp" in line for line in refused)
    assert "TOP-SECRET" not in result.stdout + result.stderr
    after = snapshot(root)
    for name in ("sidecars/xxe.jpg.xmp", "sidecars/laughs.jpg.xmp"):
        assert after[name] == original[name]
    assert after["sidecars/lightroom.jpg.xmp"]  # the ordinary photo was still tagged
    assert not any(b"TOP-SECRET" in path.read_bytes() for path in root.rglob("*.xmp"))


def test_score_as_a_subprocess_with_a_strict_utf8_stdout(corpus: tuple[Path, list[Case]], plumbing_weights: Path, tmp_path: Path) -> None:
    """A desktop UTF-8 locale makes stdout strict: a Latin-1 file name must not end the run."""
    root, cases = corpus
    folders = ("broken", "exif", "names", "odd")  # links/up -> .. would walk the whole corpus again
    cases = [case for case in cases if case.name.startswith(folders)]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    completed = subprocess.run(
        [sys.executable, "-m", "aescull", "score", *(f"lib/{folder}" for folder in folders), *scoring(plumbing_weights, tmp_path / "c.sqlite")],
        cwd=root.parent, capture_output=True, env=env, timeout=600,
    )
    stderr = completed.stderr.decode("utf-8")
    assert completed.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert_rows_match_cases(list(csv.DictReader(io.StringIO(text_of(completed.stdout)))), cases, armed=False)
    assert_one_warning_per_failure(stderr, cases, armed=False)
    assert b"\nlib/names/latin1-caf\xe9.jpg," in completed.stdout  # the name's own bytes, as ls shows them
    assert "\\x1b" in stderr and "\x1b" not in stderr  # no terminal escape reaches the terminal
    assert "Warning" not in stderr and "IFD" not in stderr  # Pillow's and exifread's complaints about bad EXIF stay quiet
    assert len(stderr.splitlines()) == len(warnings_of(stderr)) + 1  # one line per failed file, then the summary


def test_exit_code_is_0_when_every_file_scores(corpus: tuple[Path, list[Case]], plumbing_weights: Path, tmp_path: Path) -> None:
    root, cases = corpus
    result = invoke_result(["score", "lib/exif", "lib/sidecars", *scoring(plumbing_weights, tmp_path / "c.sqlite")], root.parent)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 + sum(case.name.startswith(("exif/", "sidecars/")) for case in cases)
    assert warnings_of(result.stderr) == []


def test_a_leading_dash_name_is_a_file_after_double_dash(corpus: tuple[Path, list[Case]], plumbing_weights: Path, tmp_path: Path) -> None:
    root, _ = corpus
    result = invoke_result(["score", *scoring(plumbing_weights, tmp_path / "c.sqlite"), "--", "-leading-dash.jpg"], root / "names")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("-leading-dash.jpg,0.")


def test_saved_rows_with_a_latin1_name_cull_and_undo(tmp_path: Path, plumbing_weights: Path) -> None:
    library = make_library(tmp_path / "lib")
    latin1 = library / NON_UTF8_NAME
    (library / "b.jpg").rename(latin1)
    original = snapshot(library)
    scored = invoke_result(["score", "lib", *scoring(plumbing_weights, tmp_path / "c.sqlite")], tmp_path)
    assert scored.exit_code == 0, scored.stderr
    (tmp_path / "rows.csv").write_bytes(scored.stdout_bytes)
    culled = invoke_result(["cull", "--from", "rows.csv", "--bottom", "100%"], tmp_path)
    assert culled.exit_code == 0, culled.stderr
    assert not latin1.exists() and (library / "_culled" / NON_UTF8_NAME).exists()
    assert invoke_result(["undo", "lib"], tmp_path).exit_code == 0
    assert snapshot(library) == original


def test_a_symlinked_photo_is_refused_by_cull_and_the_rest_still_culled(tmp_path: Path, plumbing_weights: Path) -> None:
    library = make_library(tmp_path / "lib")
    (library / "0-alias.jpg").symlink_to("b.jpg")  # met before b.jpg, so its row stands for the photo
    original = snapshot(library)
    result = invoke_result(["cull", "lib", "--bottom", "100%", *scoring(plumbing_weights, tmp_path / "c.sqlite")], tmp_path)
    assert result.exit_code == 1, result.stderr
    assert any(line.endswith("0-alias.jpg: 0-alias.jpg is a symbolic link; aescull moves only regular files; left alone") for line in warnings_of(result.stderr))
    assert (library / "0-alias.jpg").is_symlink() and (library / "_culled" / "a.jpg").exists()
    assert invoke_result(["undo", "lib"], tmp_path).exit_code == 0
    assert snapshot(library) == original


# ---------------------------------------------------------------- failing writes


def tag_library(tmp_path: Path, weights: Path, *extra: str) -> tuple[Path, dict[str, object], Result]:
    library = make_library(tmp_path / "lib")
    original = snapshot(library)
    return library, original, invoke_result(["tag", "lib", *extra, *scoring(weights, tmp_path / "c.sqlite")], tmp_path)


def test_disk_full_while_writing_sidecars(tmp_path: Path, plumbing_weights: Path) -> None:
    with disk_full_at_fsync(of=lambda path: ".aescull-tmp-" in path) as failed:
        library, original, result = tag_library(tmp_path, plumbing_weights)
    assert failed and result.exit_code == 1
    assert sum("No space left on device" in line for line in warnings_of(result.stderr)) == len(failed)
    assert snapshot(library) == original  # every sidecar as it was, none half-written
    assert leftovers(library) == []
    assert invoke_result(["undo", "lib"], tmp_path).exit_code == 0
    assert snapshot(library) == original


def test_disk_full_while_journaling_does_nothing_unjournaled(tmp_path: Path, plumbing_weights: Path) -> None:
    appends: list[str] = []

    def journal_fills_up(path: str) -> bool:
        if path.endswith(JOURNAL_NAME):
            appends.append(path)
            return len(appends) > 3  # the run record and the first operation fit, then the disk is full
        return False

    with disk_full_at_fsync(of=journal_fills_up):
        library, original, result = tag_library(tmp_path, plumbing_weights)
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    assert leftovers(library) == []
    assert invoke_result(["undo", "lib"], tmp_path).exit_code == 0
    assert snapshot(library) == original


def test_disk_full_during_a_move_across_file_systems(tmp_path: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = make_library(tmp_path / "lib")
    original = snapshot(library)

    def other_file_system(source: object, target: object, **kwargs: object) -> None:
        raise OSError(18, "Invalid cross-device link")  # EXDEV: a move becomes copy + verify + delete

    monkeypatch.setattr(os, "link", other_file_system)
    with disk_full_at_fsync(of=lambda path: ".aescull-tmp-" in path) as failed:
        result = invoke_result(["cull", "lib", "--bottom", "2", *scoring(plumbing_weights, tmp_path / "c.sqlite")], tmp_path)
    assert failed and result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert file_hashes(snapshot(library)) == file_hashes(original)  # every original still in place
    assert leftovers(library) == []
    assert invoke_result(["undo", "lib"], tmp_path).exit_code == 0
    assert snapshot(library) == original


def test_read_only_target_folder(tmp_path: Path, plumbing_weights: Path) -> None:
    library = make_library(tmp_path / "lib")
    target = tmp_path / "rejects"
    target.mkdir()
    target.chmod(0o555)
    original = snapshot(library)
    with enforced_permissions():
        result = invoke_result(
            ["cull", "lib", "--bottom", "2", "--move-to", str(target), *scoring(plumbing_weights, tmp_path / "c.sqlite")], tmp_path
        )
    target.chmod(0o755)
    assert result.exit_code == 1 and "Permission denied" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(library) == original and list(target.iterdir()) == []
    assert invoke_result(["undo", "lib"], tmp_path).exit_code == 0
    assert snapshot(library) == original


def test_read_only_photo_folder_keeps_every_photo_in_place(tmp_path: Path, plumbing_weights: Path) -> None:
    """Linking into the cull folder works, deleting the original does not: the link is taken back,
    so no photo is left in two places, and the shots of writable folders are still culled."""
    library = make_library(tmp_path / "lib")
    sealed = library / "2023" / "trip"
    original = snapshot(library)
    sealed.chmod(0o555)
    try:
        with enforced_permissions():
            result = invoke_result(["cull", "lib", "--bottom", "100%", *scoring(plumbing_weights, tmp_path / "c.sqlite")], tmp_path)
    finally:
        sealed.chmod(0o755)
    assert result.exit_code == 1 and "Permission denied" in result.stderr, result.stderr
    culled = snapshot(library)
    assert file_hashes(culled) == file_hashes(original)
    assert {name for name in original if name.startswith("2023/trip/")} <= set(culled)  # still there, and only there
    assert not any(path.is_file() for path in (library / "_culled" / "2023" / "trip").rglob("*"))
    assert (library / "_culled" / "a.jpg").exists()
    assert invoke_result(["undo", "lib"], tmp_path).exit_code == 0
    assert snapshot(library) == original


# ---------------------------------------------------------------- regressions found by this suite


def test_a_symlink_loop_named_on_the_command_line_is_an_error_row(tmp_path: Path) -> None:
    """Path.resolve() raises RuntimeError, not OSError, on a loop (Python < 3.13): it ended the walk."""
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.jpg").symlink_to("b.jpg")
    (tmp_path / "folder" / "b.jpg").symlink_to("a.jpg")
    candidates = list(discover([tmp_path / "loop.jpg", tmp_path / "folder"]))
    assert [candidate.path.name for candidate in candidates] == ["loop.jpg", "a.jpg", "b.jpg"]


def test_exif_reading_stops_at_its_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """5000 tags of 999 values each: millions of reads (minutes) for exifread left to itself."""
    path = tmp_path / "bomb.jpg"
    Image.new("RGB", (32, 24)).save(path, exif=ifd_bomb_exif())
    reads = 0
    real_open = builtins.open

    class CountingFile:
        def __init__(self, handle: io.BufferedReader) -> None:
            self.handle = handle

        def read(self, size: int = -1) -> bytes:
            nonlocal reads
            reads += 1
            return self.handle.read(size)

        def __getattr__(self, name: str) -> object:
            return getattr(self.handle, name)

        def __enter__(self) -> CountingFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

    monkeypatch.setattr(builtins, "open", lambda file, *args, **kwargs: CountingFile(real_open(file, *args, **kwargs)))
    assert read_exif(path) == ExifSummary()
    assert reads <= EXIF_MAX_READS


def test_a_journal_line_cut_short_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    journal = Journal(tmp_path / JOURNAL_NAME)
    journal.append({"type": "op", "run": "r1", "seq": 0, "kind": "mkdir", "target": str(tmp_path / "x")})
    with open(journal.path, "ab") as handle:
        handle.write(b'{"type": "op", "run": "r1", "seq": 1, "ki')  # the disk filled up mid-line
    journal.append({"type": "op", "run": "r2", "seq": 0, "kind": "mkdir", "target": str(tmp_path / "y")})
    assert [(record["run"], record["seq"]) for record in journal.records()] == [("r1", 0), ("r2", 0)]
    assert [run for _, run in journal.pending_runs()] == ["r1", "r2"]


def test_hostile_formats_decode_to_the_right_pixels(corpus: tuple[Path, list[Case]]) -> None:
    """Scored is not enough: YCCK must give CMYK's colours, an animation its first (blue) frame,
    and a truncated JPEG an error, never a half-grey picture (Pillow's LOAD_TRUNCATED_IMAGES stays off)."""
    root, _ = corpus
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    ycck, cmyk = (decode(root / "formats" / name, max_side=0).pixels for name in ("ycck.jpg", "cmyk.jpg"))
    assert float(np.abs(ycck - cmyk).mean()) < 0.02
    for name in ("animated.gif", "animated.webp"):
        assert decode(root / "formats" / name, max_side=0).pixels[:, 16, 24].tolist() == pytest.approx([0.0, 0.0, 1.0], abs=0.02)
    with pytest.raises(DecodeError, match="truncated"):
        decode(root / "broken" / "truncated.jpg", max_side=64)


def test_the_write_guard_catches_a_photo_opened_for_writing(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"jpeg")
    with WriteGuard().active() as guard:
        for attempt in (lambda: open(photo, "r+b"), lambda: photo.open("ab"), lambda: os.open(photo, os.O_WRONLY)):
            with pytest.raises(PermissionError):
                attempt()
        with open(photo, "rb") as handle:  # reading stays allowed
            assert handle.read() == b"jpeg"
    assert guard.violations == [str(photo)] * 3
