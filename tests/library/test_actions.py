from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from tests.support.sidecars import BILLION_LAUGHS
from tests.support.library import fingerprint, make_library

from aescull import fsutil
from aescull.library import execute as execute_module
from aescull.fsutil import UnsafeFileOperation, copy_verified, file_sha256
from aescull.library.errors import LibraryLocked
from aescull.library.execute import Outcome, execute
from aescull.library.journal import JOURNAL_NAME, Journal, LOCK_NAME, library_lock
from aescull.library.plan import CULLED_FOLDER, Plan, plan_cull, plan_tag
from aescull.library.shots import shot_stem
from aescull.library import undo as undoing
from aescull.rows.read import RowsError, read_score_rows
from aescull.judge.decide import CullRule
from aescull.rows.record import ScoreRecord

SCORES = {
    "a.jpg": 0.2,
    "a.CR2": 0.2,
    "b.jpg": 0.9,
    "2023/trip/c.jpg": 0.1,
    "2023/trip/c.CR2": 0.1,
    "2023/trip/d.png": 0.6,
    "2023/e.jpg": 0.3,
    "2023/f.jpg": 0.8,
}

def rows_for(root: Path, scores: dict[str, float] = SCORES) -> list[ScoreRecord]:
    rows = []
    for relative, score in scores.items():
        status = (root / relative).stat()
        rows.append(ScoreRecord(root / relative, score, size=status.st_size, mtime_ns=status.st_mtime_ns))
    return rows


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return make_library(tmp_path / "library")


def run(plan: Plan, root: Path, command: str = "test") -> Outcome:
    with library_lock(root):
        return execute(plan.operations, Journal(root / JOURNAL_NAME), command, root)


def undo(root: Path, all_runs: bool = False) -> list[Outcome]:
    """The newest run (or all, newest first), as ``aescull undo`` picks them from one journal."""
    journal = Journal(root / JOURNAL_NAME)
    newest_first = [run for _, run in reversed(journal.pending_runs())]
    with library_lock(root):
        return undoing.undo(journal, newest_first if all_runs else newest_first[:1])


def relative_files(root: Path) -> set[str]:
    return {key for key in fingerprint(root) if not key.endswith("/")}


def test_shot_stem_groups_raw_jpeg_sidecars_and_companions() -> None:
    names = ["IMG_1.CR2", "IMG_1.jpg", "IMG_1.xmp", "IMG_1.jpg.xmp", "IMG_1.MOV", "IMG_1.CR2.pp3"]
    assert {shot_stem(name) for name in names} == {"IMG_1"}
    assert shot_stem("IMG_10.jpg") == "IMG_10"
    assert shot_stem("holiday.2023.jpg") == "holiday.2023"


def test_cull_moves_whole_shots_keeping_the_tree_then_undo_restores_every_byte(library: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    destination = library / CULLED_FOLDER
    plan = plan_cull(rows_for(library), CullRule(bottom_count=3), library, "move", destination)
    assert sorted(shot.stem for shot in plan.culled) == ["a", "c", "e"]
    outcome = run(plan, library)
    assert outcome.failures == []
    after_cull = relative_files(library)
    assert {"_culled/a.jpg", "_culled/a.CR2", "_culled/a.xmp", "_culled/a.mov"} <= after_cull
    assert {"_culled/2023/trip/c.jpg", "_culled/2023/trip/c.CR2", "_culled/2023/e.jpg"} <= after_cull
    assert not {"a.jpg", "a.CR2", "a.xmp", "a.mov", "2023/trip/c.CR2", "2023/e.jpg"} & after_cull
    assert {"b.jpg", "b.jpg.xmp", "2023/trip/d.png", "2023/f.jpg"} <= after_cull
    assert fingerprint(library / CULLED_FOLDER)["a.xmp"] == before["a.xmp"][0]

    [undone] = undo(library)
    assert undone.failures == [] and undone.done > 0
    assert fingerprint(library, with_mtimes=True) == before


def test_cull_copy_and_undo_deletes_only_the_copies(library: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    plan = plan_cull(rows_for(library), CullRule(below=0.25), library, "copy", library / CULLED_FOLDER)
    run(plan, library)
    assert (library / "_culled/2023/trip/c.CR2").read_bytes() == (library / "2023/trip/c.CR2").read_bytes()
    assert (library / "a.jpg").exists()
    undo(library)
    assert fingerprint(library, with_mtimes=True) == before


def test_cull_tag_marks_rejected_in_sidecars_then_undo_restores_them(library: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    plan = plan_cull(rows_for(library), CullRule(bottom_count=2), library, "tag", library / CULLED_FOLDER, sidecar_style="stem")
    assert sorted(operation.target.name for operation in plan.operations) == ["a.xmp", "c.xmp"]
    run(plan, library)
    merged = (library / "a.xmp").read_bytes()
    assert b'xmp:Rating="-1"' in merged and b'digiKam:PickLabel="1"' in merged and b"2023" not in merged
    assert b'my:Client="a.xmp &amp; Sons"' in merged
    assert not (library / CULLED_FOLDER).exists()
    undo(library)
    assert fingerprint(library, with_mtimes=True) == before


def test_tag_then_undo_restores_merged_sidecars_and_removes_created_ones(library: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    plan = plan_tag(rows_for(library), reject_below=0.15, pick_labels=True, model_name="aescull-spp", model_version="1.0")
    assert plan.refused == []
    run(plan, library)
    fresh = (library / "2023/trip/c.jpg.xmp").read_bytes()
    assert b'xmp:Rating="-1"' in fresh and b'digiKam:PickLabel="1"' in fresh and b'aescull:Score="0.1000"' in fresh
    assert b'xmp:Rating="5"' in (library / "b.jpg.xmp").read_bytes()
    assert b'aescull:Model="aescull-spp"' in (library / "a.CR2.xmp").read_bytes()
    undo(library)
    assert fingerprint(library, with_mtimes=True) == before


def test_a_sidecar_of_the_other_style_already_there_gets_the_same_marks(library: Path) -> None:
    """Lightroom's a.xmp beside the darktable-style sidecars the default writes: both say rejected."""
    before = fingerprint(library, with_mtimes=True)
    plan = plan_cull(rows_for(library), CullRule(bottom_count=2), library, "tag", library / CULLED_FOLDER)
    targets = sorted(operation.target.relative_to(library).as_posix() for operation in plan.operations)
    assert targets == ["2023/trip/c.CR2.xmp", "2023/trip/c.jpg.xmp", "a.CR2.xmp", "a.jpg.xmp", "a.xmp"]
    run(plan, library)
    lightroom = (library / "a.xmp").read_bytes()
    assert b'xmp:Rating="-1"' in lightroom and b'my:Client="a.xmp &amp; Sons"' in lightroom
    undo(library)
    assert fingerprint(library, with_mtimes=True) == before


def test_tag_rates_a_shared_sidecar_of_the_other_style_by_the_better_file(library: Path) -> None:
    plan = plan_tag(rows_for(library, {**SCORES, "a.jpg": 0.7, "a.CR2": 0.3}))
    content = {operation.target.name: operation.content for operation in plan.operations}
    assert b'xmp:Rating="4"' in content["a.xmp"] and b'xmp:Rating="4"' in content["a.jpg.xmp"]
    assert b'xmp:Rating="2"' in content["a.CR2.xmp"]


def test_stem_style_gives_a_raw_jpeg_pair_one_sidecar(library: Path) -> None:
    plan = plan_tag(rows_for(library), sidecar_style="stem")
    targets = [operation.target.relative_to(library).as_posix() for operation in plan.operations]
    assert targets.count("a.xmp") == 1 and targets.count("2023/trip/c.xmp") == 1


def test_planning_touches_nothing(library: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    rows = rows_for(library)
    for action in ("move", "copy", "tag", "list"):
        plan_cull(rows, CullRule(bottom_count=4), library, action, library / CULLED_FOLDER)
    plan_tag(rows, reject_below=0.5, pick_labels=True)
    assert fingerprint(library, with_mtimes=True) == before
    assert set(os.listdir(library)) == {"a.jpg", "a.CR2", "a.xmp", "a.mov", "b.jpg", "b.jpg.xmp", "2023"}


def test_a_name_collision_gets_a_suffix_for_the_whole_shot(library: Path) -> None:
    squatter = library / "_culled/2023/e.jpg"
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"an older culled photo")
    before = fingerprint(library)
    plan = plan_cull(rows_for(library), CullRule(below=0.35), library, "move", library / CULLED_FOLDER)
    run(plan, library)
    assert squatter.read_bytes() == b"an older culled photo"
    assert file_sha256(library / "_culled/2023/e-1.jpg") == before["2023/e.jpg"]
    journal = [json.loads(line) for line in (library / JOURNAL_NAME).read_text().splitlines()]
    assert any(record.get("target", "").endswith("_culled/2023/e-1.jpg") for record in journal)
    undo(library)
    assert fingerprint(library) == before


def test_already_culled_files_are_not_culled_again(library: Path) -> None:
    run(plan_cull(rows_for(library), CullRule(bottom_count=1), library, "move", library / CULLED_FOLDER), library)
    culled_row = rows_for(library, {"_culled/2023/trip/c.jpg": 0.1, "b.jpg": 0.9})
    plan = plan_cull(culled_row, CullRule(bottom_count=1), library, "move", library / CULLED_FOLDER)
    assert [shot.stem for shot in plan.culled] == ["b"]


def test_a_move_across_file_systems_copies_verifies_then_deletes(library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_link = os.link

    def link_within_a_folder_only(source, target, **kwargs):  # noqa: ANN001, ANN003 - mirrors os.link
        if Path(source).parent != Path(target).parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_link(source, target, **kwargs)

    monkeypatch.setattr(fsutil.os, "link", link_within_a_folder_only)
    before = fingerprint(library, with_mtimes=True)
    outcome = run(plan_cull(rows_for(library), CullRule(bottom_count=2), library, "move", library / CULLED_FOLDER), library)
    assert outcome.failures == []
    assert not (library / "a.CR2").exists()
    moved = library / "_culled/a.CR2"
    assert (file_sha256(moved), moved.stat().st_mtime_ns) == before["a.CR2"]
    undo(library)
    assert fingerprint(library, with_mtimes=True) == before


def test_a_copy_that_does_not_verify_keeps_the_original(library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def corrupting_copy(reader, writer, length=0):  # noqa: ANN001 - mirrors shutil.copyfileobj
        writer.write(reader.read()[:-1] + b"!")

    monkeypatch.setattr(fsutil.shutil, "copyfileobj", corrupting_copy)
    source, target = library / "a.CR2", library / "a-copy.CR2"
    with pytest.raises(UnsafeFileOperation, match="does not match"):
        copy_verified(source, target, file_sha256(source))
    assert source.exists() and not target.exists()
    assert not [name for name in os.listdir(library) if "aescull-tmp" in name]


def test_hostile_sidecar_is_refused_reported_and_left_untouched(library: Path) -> None:
    (library / "b.jpg.xmp").write_bytes(BILLION_LAUGHS)
    plan = plan_tag(rows_for(library))
    assert len(plan.refused) == 1 and "b.jpg.xmp" in plan.refused[0] and "DOCTYPE" in plan.refused[0]
    run(plan, library)
    assert (library / "b.jpg.xmp").read_bytes() == BILLION_LAUGHS
    assert (library / "2023/e.jpg.xmp").exists()


def test_rows_that_changed_since_scoring_are_refused(library: Path) -> None:
    rows = rows_for(library)
    (library / "2023/e.jpg").write_bytes((library / "2023/e.jpg").read_bytes() + b"edited")
    rows.append(ScoreRecord(library / "2023/f.jpg", 0.01))  # no size/mtime: cannot be checked
    plan = plan_cull(rows, CullRule(below=0.35), library, "move", library / CULLED_FOLDER, check_staleness=True)
    assert sorted(shot.stem for shot in plan.culled) == ["a", "c"]
    assert any("2023/e.jpg: file changed since it was scored" in message for message in plan.refused)
    assert any("2023/f.jpg: the score row has no size/mtime_ns" in message for message in plan.refused)


def test_error_rows_are_reported_not_culled(library: Path) -> None:
    rows = [*rows_for(library), ScoreRecord(library / "broken.jpg", None, error="cannot identify image file")]
    plan = plan_cull(rows, CullRule(bottom_count=100), library, "list", library / CULLED_FOLDER)
    assert "broken" not in {shot.stem for shot in plan.culled}
    assert plan.refused == [f"{library / 'broken.jpg'}: cannot identify image file; left alone"]


def test_read_score_rows_accepts_csv_and_jsonl() -> None:
    csv_text = "path,score,width,height,taken,camera,error,pair,size,mtime_ns\nx/a.jpg,0.4200,48,32,,,,,123,456\nx/b.jpg,,,,,,broken,,7,8\n"
    rows = read_score_rows(csv_text)
    assert rows[0] == ScoreRecord(Path("x/a.jpg"), 0.42, width=48, height=32, size=123, mtime_ns=456)
    assert rows[1].score is None and rows[1].error == "broken"
    jsonl_text = '{"path": "x/a.jpg", "score": 0.42, "size": 123, "mtime_ns": 456, "pair": "x/a.CR2"}\n\n'
    assert read_score_rows(jsonl_text) == [ScoreRecord(Path("x/a.jpg"), 0.42, pair=Path("x/a.CR2"), size=123, mtime_ns=456)]
    assert read_score_rows("") == []
    with pytest.raises(RowsError, match="path"):
        read_score_rows("name,score\na,1\n")
    with pytest.raises(RowsError, match="malformed"):
        read_score_rows("path,score\na.jpg,high\n")


def test_a_second_run_on_the_same_library_is_refused(library: Path) -> None:
    with library_lock(library):
        with pytest.raises(LibraryLocked, match="another aescull run"):
            with library_lock(library):
                pass
    assert not (library / LOCK_NAME).exists()
    with library_lock(library):
        pass


def test_undo_goes_back_one_run_at_a_time_or_all_at_once(library: Path) -> None:
    original = fingerprint(library)
    run(plan_tag(rows_for(library)), library)
    after_tag = fingerprint(library)
    run(plan_cull(rows_for(library), CullRule(bottom_count=2), library, "move", library / CULLED_FOLDER), library)
    undo(library)
    assert fingerprint(library) == after_tag
    undo(library)
    assert fingerprint(library) == original
    assert undo(library) == []

    run(plan_tag(rows_for(library)), library)
    run(plan_cull(rows_for(library), CullRule(bottom_count=2), library, "move", library / CULLED_FOLDER), library)
    assert len(undo(library, all_runs=True)) == 2
    assert fingerprint(library) == original


def test_undo_keeps_a_sidecar_edited_after_tagging_and_can_be_retried(library: Path) -> None:
    run(plan_tag(rows_for(library)), library)
    edited = library / "b.jpg.xmp"
    edited.write_bytes(edited.read_bytes().replace(b"Lisbon", b"Porto"))
    [outcome] = undo(library)
    assert any("b.jpg.xmp was edited" in message for message in outcome.failures)
    assert b"Porto" in edited.read_bytes()
    assert not (library / "2023/e.jpg.xmp").exists()
    assert len(undo(library)) == 1  # not marked undone, so it is offered again


def test_a_failed_step_is_reported_and_the_rest_still_undoable(library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(library)
    plan = plan_cull(rows_for(library), CullRule(bottom_count=3), library, "move", library / CULLED_FOLDER)
    blocked = next(operation.target for operation in plan.operations if operation.target.name == "e.jpg")
    original_perform = execute_module._perform

    def squat_then_perform(operation, record):  # noqa: ANN001 - mirrors the private helper
        if operation.target == blocked:
            blocked.write_bytes(b"appeared meanwhile")
        return original_perform(operation, record)

    monkeypatch.setattr(execute_module, "_perform", squat_then_perform)
    [message] = run(plan, library).failures
    assert "already exists; not overwritten" in message
    assert (library / "2023/e.jpg").exists() and blocked.read_bytes() == b"appeared meanwhile"
    assert not (library / "a.jpg").exists()
    blocked.unlink()
    undo(library)
    assert fingerprint(library) == before
