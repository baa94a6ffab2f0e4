"""What each key writes into a shot's sidecars, read back as another program reads them, and undone as one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from aescull.library import xmp
from aescull.library.decisions import Decision, Flag, Marks, decided, fields_for, stars_before_reject
from aescull.library.execute import execute
from aescull.library.journal import Journal
from aescull.library.plan import plan_sidecar
from aescull.library.undo import undo
from tests.support.library import LIGHTROOM_SIDECAR
from tests.support.sidecars import EXIFTOOL_SIDECAR, XXE, top_level_values

PICK, REJECT, UNFLAG = Decision("pick"), Decision("reject"), Decision("unflag")


def written(decision: Decision, before: bytes | None, restored: int = 0) -> dict[tuple[str, str], str]:
    """The sidecar's simple properties after the decision, read by an independent XML parser."""
    marks = Marks.of(before)
    return top_level_values(xmp.merge(before, fields_for(decided(decision, marks, restored))))


def test_reject_rates_minus_one_and_labels_rejected_keeping_the_rest_of_a_lightroom_sidecar() -> None:
    after = written(REJECT, LIGHTROOM_SIDECAR)
    assert after[xmp.RATING] == "-1" and after[xmp.PICK_LABEL] == "1"
    assert after[("http://ns.adobe.com/photoshop/1.0/", "City")] == "Lisbon"
    assert after[("http://ns.adobe.com/xap/1.0/", "Label")] == "Red"


def test_pick_and_unflag_keep_the_stars_and_set_the_pick_label() -> None:
    assert written(PICK, LIGHTROOM_SIDECAR)[xmp.RATING] == "2"
    assert written(PICK, LIGHTROOM_SIDECAR)[xmp.PICK_LABEL] == "3"
    assert written(UNFLAG, LIGHTROOM_SIDECAR)[xmp.RATING] == "2"
    assert written(UNFLAG, LIGHTROOM_SIDECAR)[xmp.PICK_LABEL] == "0"
    assert xmp.RATING not in written(PICK, None)  # an unrated photo stays unrated: no 0 is invented


@pytest.mark.parametrize("stars", [1, 3, 5])
def test_stars_rate_and_a_rejected_shot_given_stars_is_no_longer_rejected(stars: int) -> None:
    after = written(Decision("stars", stars), EXIFTOOL_SIDECAR)
    assert after[xmp.RATING] == str(stars) and xmp.PICK_LABEL not in after
    rejected = xmp.merge(LIGHTROOM_SIDECAR, fields_for(Marks(-1, 1)))
    assert Marks.of(rejected).flag is Flag.reject
    again = Marks.of(xmp.merge(rejected, fields_for(decided(Decision("stars", stars), Marks.of(rejected)))))
    assert again == Marks(stars, 0) and again.flag is Flag.none


def test_taking_a_shot_out_of_the_rejects_writes_back_the_stars_it_had() -> None:
    rejected = xmp.merge(LIGHTROOM_SIDECAR, fields_for(Marks(-1, 1)))
    assert written(UNFLAG, rejected, restored=2)[xmp.RATING] == "2"
    assert written(PICK, rejected, restored=0)[xmp.RATING] == "0"  # nothing to restore: unrated, but no longer -1


def test_each_editor_s_reject_reads_as_a_reject() -> None:
    assert Marks(-1, None).flag is Flag.reject  # darktable, Bridge
    assert Marks(3, 1).flag is Flag.reject  # digiKam keeps the stars of a rejected photo
    assert Marks(3, 3).flag is Flag.pick and Marks(3, 0).flag is Flag.none and Marks().flag is Flag.none


def test_marks_are_read_where_the_writer_writes_them_and_a_hostile_sidecar_is_refused() -> None:
    assert Marks.of(EXIFTOOL_SIDECAR) == Marks(3, None)  # an element, as exiftool writes it
    assert Marks.of(LIGHTROOM_SIDECAR) == Marks(2, None)  # an attribute, as Lightroom writes it
    with pytest.raises(xmp.SidecarError):
        Marks.of(XXE)


@pytest.mark.parametrize("bad", [("stars", 6), ("stars", -1), ("delete", 0)])
def test_an_unknown_decision_is_refused(bad: tuple[str, int]) -> None:
    with pytest.raises(ValueError):
        Decision(*bad)


def decide_on(photo: Path, journal: Journal, decision: Decision, run: str | None, seq: int) -> tuple[str | None, int]:
    """One decision as the review makes it: plan, then execute as the next steps of ``run``."""
    sidecar = xmp.sidecar_path(photo)
    marks = Marks.of(sidecar.read_bytes() if sidecar.exists() else None)
    restored = stars_before_reject(sidecar, [journal]) if marks.rating == -1 else 0
    operation = plan_sidecar(sidecar, fields_for(decided(decision, marks, restored)))
    operations = [operation] if operation else []
    outcome = execute(operations, journal, "review", photo.parent, run=run, first_seq=seq)
    assert not outcome.failures
    return outcome.run, seq + len(operations)


def test_a_slip_of_the_reject_key_costs_no_stars_and_undo_reverts_every_decision_of_the_run(tmp_path: Path) -> None:
    photo = tmp_path / "IMG.jpg"
    photo.write_bytes(b"not read")
    sidecar = xmp.sidecar_path(photo)
    sidecar.write_bytes(LIGHTROOM_SIDECAR)
    journal = Journal(tmp_path / "journal.jsonl")
    run, seq = decide_on(photo, journal, REJECT, None, 0)
    run, seq = decide_on(photo, journal, Decision("stars", 4), run, seq)
    run, seq = decide_on(photo, journal, REJECT, run, seq)
    run, seq = decide_on(photo, journal, UNFLAG, run, seq)
    assert Marks.of(sidecar.read_bytes()) == Marks(4, 0)  # the 4 stars given before the second reject
    assert [started_run for _, started_run in journal.pending_runs()] == [run]  # four decisions, one run
    outcomes = undo(journal, [run])
    assert outcomes[0].done == 4 and not outcomes[0].failures
    assert sidecar.read_bytes() == LIGHTROOM_SIDECAR


def test_the_stars_before_an_earlier_run_s_reject_come_from_its_journal(tmp_path: Path) -> None:
    photo = tmp_path / "IMG.jpg"
    sidecar = xmp.sidecar_path(photo)
    sidecar.write_bytes(LIGHTROOM_SIDECAR)
    journal = Journal(tmp_path / "journal.jsonl")
    decide_on(photo, journal, REJECT, None, 0)  # as `aescull cull --tag` would
    assert stars_before_reject(sidecar, [journal]) == 2
    assert stars_before_reject(sidecar, []) == 0  # no journal: nothing known

