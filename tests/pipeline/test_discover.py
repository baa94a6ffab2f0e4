from __future__ import annotations

import os
from pathlib import Path

import pytest

from aescull.pipeline.discover import discover


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def paths_of(paths: list[str], recursive: bool = True) -> list[str]:
    return [str(candidate.path) for candidate in discover(paths, recursive=recursive)]


def test_walk_is_sorted_recursive_and_keeps_typed_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["b.jpg", "a.PNG", "sub/z.webp", "sub/deeper/c.tif", "a b/ü é.jpeg", "notes.txt", "c.gif"]:
        touch(tmp_path / "lib" / name)
    monkeypatch.chdir(tmp_path)
    assert paths_of(["lib"]) == [
        "lib/a.PNG",
        "lib/b.jpg",
        "lib/c.gif",
        "lib/a b/ü é.jpeg",
        "lib/sub/z.webp",
        "lib/sub/deeper/c.tif",
    ]
    assert paths_of(["lib"], recursive=False) == ["lib/a.PNG", "lib/b.jpg", "lib/c.gif"]


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    touch(tmp_path / ".hidden.jpg")
    touch(tmp_path / ".thumbnails" / "t.jpg")
    touch(tmp_path / "seen.jpg")
    assert [c.path.name for c in discover([tmp_path])] == ["seen.jpg"]


def test_symlink_loop_terminates_and_each_file_appears_once(tmp_path: Path) -> None:
    touch(tmp_path / "lib" / "a.jpg")
    touch(tmp_path / "lib" / "sub" / "b.jpg")
    os.symlink(tmp_path / "lib", tmp_path / "lib" / "sub" / "loop")
    os.symlink(tmp_path / "lib" / "sub", tmp_path / "lib" / "again")
    names = [c.path.name for c in discover([tmp_path / "lib"])]
    assert sorted(names) == ["a.jpg", "b.jpg"]


def test_explicit_files_always_listed_and_missing_paths_become_errors(tmp_path: Path) -> None:
    text = touch(tmp_path / "readme.txt")
    photo = touch(tmp_path / "p.jpg")
    found = list(discover([text, tmp_path / "missing.jpg", photo, photo]))
    assert [(c.path.name, c.error) for c in found] == [
        ("readme.txt", None),
        ("missing.jpg", "no such file or folder"),
        ("p.jpg", None),
    ]


def test_overlapping_arguments_give_one_row_per_file(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    assert len(list(discover([tmp_path, tmp_path / "a.jpg", tmp_path]))) == 1


def test_raw_and_jpeg_of_same_stem_are_paired(tmp_path: Path) -> None:
    raw = touch(tmp_path / "IMG_1.CR2")
    jpeg = touch(tmp_path / "IMG_1.JPG")
    lone = touch(tmp_path / "IMG_2.NEF")
    pairs = {c.path.name: c.pair for c in discover([tmp_path])}
    assert pairs == {"IMG_1.CR2": jpeg, "IMG_1.JPG": raw, "IMG_2.NEF": None}
    assert lone.exists()


def test_symlinked_file_and_its_target_give_one_row(tmp_path: Path) -> None:
    target = touch(tmp_path / "lib" / "b.jpg")
    os.symlink(target, tmp_path / "lib" / "a.jpg")
    os.symlink(target, tmp_path / "elsewhere.jpg")
    assert [str(c.path.relative_to(tmp_path)) for c in discover([tmp_path / "lib", tmp_path / "elsewhere.jpg"])] == ["lib/a.jpg"]
