"""`python -m evaluation.sets_eval`: brackets, stacks and panoramas made from photos, and how many are found."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.sets_eval import main
from tests.support.images import sharp_scene


def test_it_makes_each_kind_of_set_from_each_photo_and_counts_what_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for seed in (1, 2):
        sharp_scene(900, 600, seed=seed).save(tmp_path / f"scene{seed}.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("not a photo")
    main(["--photos", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["bracket", "stack", "panorama"]
    assert all(" of 2 found whole" in line for line in lines)
    assert lines[0].startswith("bracket   2 of 2 found whole")
