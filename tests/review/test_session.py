"""A review's decisions against the library as it really is: sidecars in other cases, hostile ones, files gone meanwhile."""

from __future__ import annotations

from pathlib import Path

from aescull.library import xmp
from aescull.library.decisions import Decision
from aescull.review.catalog import Catalog
from aescull.review.session import Review
from tests.support.images import save_photo
from tests.support.library import LIGHTROOM_SIDECAR
from tests.support.reviewing import records_for
from tests.support.sidecars import BILLION_LAUGHS


def review_of(folder: Path, style: str = "ext") -> Review:
    return Review(Catalog(records_for(folder), folder), style)


def state_of(review: Review, name: str) -> dict[str, object]:
    shot = next(shot for shot in review.catalog.shots if shot.shown.path.name == name)
    return review.state(shot.number)


def number_of(review: Review, name: str) -> int:
    return next(shot.number for shot in review.catalog.shots if shot.shown.path.name == name)


def test_a_sidecar_named_in_another_case_is_read_and_written_not_shadowed(tmp_path: Path) -> None:
    save_photo(tmp_path / "IMG_1.JPG", 120, 80)
    (tmp_path / "IMG_1.XMP").write_bytes(LIGHTROOM_SIDECAR.replace(b'xmp:Rating="2"', b'xmp:Rating="4"'))
    review = review_of(tmp_path, "stem")
    assert state_of(review, "IMG_1.JPG") | {"id": 0} == {"id": 0, "flag": "none", "stars": 4, "error": None, "gone": False}
    states, failures = review.decide([number_of(review, "IMG_1.JPG")], Decision("pick"))
    review.close()
    assert not failures and states[0]["flag"] == "pick" and states[0]["stars"] == 4
    assert sorted(path.name for path in tmp_path.iterdir() if path.suffix.lower() == ".xmp") == ["IMG_1.XMP"]


def test_a_hostile_sidecar_is_shown_as_not_editable_and_left_untouched(tmp_path: Path) -> None:
    save_photo(tmp_path / "bomb.jpg", 120, 80)
    (tmp_path / "bomb.jpg.xmp").write_bytes(BILLION_LAUGHS)
    save_photo(tmp_path / "fine.jpg", 120, 80, seed=2)
    review = review_of(tmp_path)
    assert "DOCTYPE" in str(state_of(review, "bomb.jpg")["error"])
    states, failures = review.decide([number_of(review, "bomb.jpg"), number_of(review, "fine.jpg")], Decision("reject"))
    review.close()
    assert len(failures) == 1 and "bomb.jpg" in failures[0]
    assert (tmp_path / "bomb.jpg.xmp").read_bytes() == BILLION_LAUGHS
    assert [state["flag"] for state in states] == ["none", "reject"]  # the other shot is decided all the same


def test_a_shot_moved_away_since_the_review_started_is_left_alone(tmp_path: Path) -> None:
    save_photo(tmp_path / "gone.jpg", 120, 80)
    review = review_of(tmp_path)
    (tmp_path / "gone.jpg").rename(tmp_path / "elsewhere.jpg")
    _, failures = review.decide([0], Decision("stars", 3))
    review.close()
    assert failures and "moved or deleted" in failures[0]
    assert not xmp.sidecar_path(tmp_path / "gone.jpg").exists()
