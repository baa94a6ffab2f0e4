"""Sets that must stay whole: which frames are an exposure bracket, a focus stack or a panorama, and which are a burst."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from aescull.judge.sets import mark_sets, set_clues
from aescull.judge.signatures import signature, signature_bytes
from aescull.model.checkpoint import LoadedModel
from aescull.pipeline.cache import CachedScore, FileKey, ScoreCache
from aescull.pipeline.decode import decode
from aescull.pipeline.exif import Exposure, read_exif
from aescull.pipeline.local import score_paths
from aescull.rows.record import ScoreRecord
from evaluation.groups_eval import make_bursts
from tests.support.bursts import SCENES, burst_frame, scene_pixels
from tests.support.sets import (
    save_bracket,
    save_focus_stack,
    save_panorama,
    save_shot,
    save_steady_burst,
    scene,
)
from training import degrade

MAX_SIDE = 256


def record_of(path: Path, score: float = 0.5) -> ScoreRecord:
    """The row scoring would give ``path``, its set clues included."""
    photo = decode(path, max_side=MAX_SIDE)
    info = photo.info
    clues = set_clues(photo.pixels, info.exposure)
    return ScoreRecord(path, score, info.width, info.height, taken=info.taken, camera=info.camera, size=1, mtime_ns=1, clues=clues)


def sets_of(paths: list[Path]) -> dict[str, tuple[str | None, str | None]]:
    """Each photo's name: (set kind, set id)."""
    return {record.path.name: (record.set_kind, record.set_id) for record in mark_sets([record_of(path) for path in paths])}


def kinds(marked: dict[str, tuple[str | None, str | None]]) -> dict[str, str | None]:
    return {name: kind for name, (kind, _) in marked.items()}


def test_exif_gives_the_exposure_settings(tmp_path: Path) -> None:
    path = save_shot(tmp_path / "a.jpg", scene(), 0.0, bias=-2 / 3, mode=2)
    assert read_exif(path).exposure == Exposure(bias=pytest.approx(-2 / 3), mode=2, program=1, time=0.008, f_number=8.0, iso=100.0, focal_length=35.0)
    assert read_exif(save_shot(tmp_path / "b.jpg", scene(), 0.0)).exposure.bias == 0.0
    plain = tmp_path / "plain.jpg"
    scene().save(plain)
    assert read_exif(plain).exposure == Exposure()


def test_an_exposure_bracket_is_one_set(tmp_path: Path) -> None:
    marked = sets_of(save_bracket(tmp_path))
    assert kinds(marked) == {"BRK_0001.jpg": "bracket", "BRK_0002.jpg": "bracket", "BRK_0003.jpg": "bracket"}
    assert len({set_id for _, set_id in marked.values()}) == 1


def test_the_camera_saying_auto_bracket_is_enough(tmp_path: Path) -> None:
    """Some cameras keep the bracket's offsets out of ExposureBiasValue; ExposureMode 2 still says it."""
    base = scene()
    paths = [save_shot(tmp_path / f"IMG_{index}.jpg", degrade.exposure(base, stop), 0.2 * index, mode=2) for index, stop in enumerate((0, -1, 1))]
    assert set(kinds(sets_of(paths)).values()) == {"bracket"}


def test_manual_frames_a_stop_apart_are_a_bracket_and_at_one_setting_are_not(tmp_path: Path) -> None:
    base = scene()
    times = ((1, 500), (1, 125), (1, 30))
    paths = [save_shot(tmp_path / f"M_{index}.jpg", degrade.exposure(base, 2 * index - 2), 0.5 * index, time=time) for index, time in enumerate(times)]
    assert set(kinds(sets_of(paths)).values()) == {"bracket"}
    same = [save_shot(tmp_path / "same" / f"M_{index}.jpg", degrade.exposure(base, 0.3 * index), 0.5 * index) for index in range(3)]
    assert set(kinds(sets_of(same)).values()) == {None}


def test_compensation_changed_between_two_scenes_is_no_bracket(tmp_path: Path) -> None:
    first = save_shot(tmp_path / "A.jpg", scene(seed=3), 0.0, bias=0.0)
    second = save_shot(tmp_path / "B.jpg", burst_frame("stripes").resize((480, 320)), 1.0, bias=1.0)
    assert kinds(sets_of([first, second])) == {"A.jpg": None, "B.jpg": None}


def test_a_focus_stack_is_one_set(tmp_path: Path) -> None:
    marked = sets_of(save_focus_stack(tmp_path))
    assert set(kinds(marked).values()) == {"stack"} and len(set(marked.values())) == 1


def test_a_stack_frame_focused_on_a_plain_sky_stays_in_its_stack(tmp_path: Path) -> None:
    """That frame shows no change of focus, but it shares the stack's settings and framing."""
    marked = sets_of(save_focus_stack(tmp_path, sky=True))
    assert set(kinds(marked).values()) == {"stack"} and len(set(marked.values())) == 1


def test_a_panorama_is_one_set(tmp_path: Path) -> None:
    marked = sets_of(save_panorama(tmp_path))
    assert set(kinds(marked).values()) == {"panorama"} and len(set(marked.values())) == 1


def test_steady_bursts_at_one_exposure_are_no_sets(tmp_path: Path) -> None:
    """Jitter, blur on all frames but one, exposure changes, the same settings: a burst, never a set."""
    paths = []
    for index, seed in enumerate((11, 12, 13, 14)):
        paths += save_steady_burst(tmp_path, start=3.0 * index, seed=seed, name=f"B{index}")
    for index, (shift, blur) in enumerate(((0, 2.0), (3, 0.0), (5, 2.0))):  # as tests/support/bursts.make_shoot, at fixed settings
        frame = burst_frame("disc", shift, blur=blur).resize((480, 360))
        paths.append(save_shot(tmp_path / f"D_{index}.jpg", frame, 13.0 + 0.25 * index))
    assert set(kinds(sets_of(paths)).values()) == {None}


def test_sets_come_from_one_folder_one_camera_frames_seconds_apart(tmp_path: Path) -> None:
    slow = [save_shot(tmp_path / "slow" / f"S_{index}.jpg", degrade.exposure(scene(), stop), 6.0 * index, bias=stop) for index, stop in enumerate((-2, 0, 2))]
    assert set(kinds(sets_of(slow)).values()) == {None}
    bracket = save_bracket(tmp_path / "shoot")
    records = [record_of(path) for path in bracket]
    moved = replace(records[1], path=tmp_path / "export" / records[1].path.name)
    other_camera = replace(records[2], camera="Nikon Z 6")
    assert [record.set_kind for record in mark_sets([records[0], moved, other_camera])] == [None, None, None]


def test_frames_without_exposure_settings_are_never_stacks_or_panoramas(tmp_path: Path) -> None:
    records = [replace(record, clues=replace(record.clues, exposure=Exposure())) for record in map(record_of, save_panorama(tmp_path))]  # type: ignore[arg-type]
    assert [record.set_kind for record in mark_sets(records)] == [None, None, None]


def test_set_ids_are_stable_the_raw_follows_its_jpeg_and_failures_are_in_none(tmp_path: Path) -> None:
    records = [record_of(path) for path in save_bracket(tmp_path)]
    raw = replace(records[0], path=records[0].path.with_suffix(".CR2"), pair=records[0].path, clues=None)
    broken = ScoreRecord(tmp_path / "broken.jpg", None, error="truncated file")
    marked = mark_sets([broken, raw, *records])
    again = mark_sets(records[::-1] + [raw])
    assert marked[0].set_id is None and marked[1].set_id == marked[2].set_id is not None
    assert {record.path: record.set_id for record in marked[1:]} == {record.path: record.set_id for record in again}
    assert {record.set_kind for record in marked[1:]} == {"bracket"}
    assert all(record.set_kind is None for record in mark_sets([replace(record, clues=None) for record in records]))


def test_the_synthetic_bursts_of_groups_eval_are_no_sets(tmp_path: Path) -> None:
    """Its bursts shake, blur and re-expose frames at one manual setting: the hardest bursts to tell from a set."""
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in SCENES:
        Image.fromarray(scene_pixels(name, 400, 300)).save(sources / f"{name}.jpg", quality=95)
    make_bursts(sources, tmp_path / "lib", seed=3)
    records = [record_of(path) for path in sorted((tmp_path / "lib").rglob("*.jpg"))]
    assert len(records) > 20 and all(record.clues.exposure.time == 0.004 for record in records if "shoot" in record.path.parts)  # type: ignore[union-attr]
    assert [record.path.name for record in mark_sets(records) if record.set_kind is not None] == []


def test_scoring_gives_the_clues_and_the_cache_keeps_them(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    save_bracket(tmp_path / "shoot")
    cache = tmp_path / "cache.sqlite3"

    def scored() -> list[ScoreRecord]:
        return list(score_paths([tmp_path / "shoot"], model=plumbing_model, max_side=MAX_SIDE, cache_file=cache, signatures=True))

    fresh, again = scored(), scored()
    assert not any(record.cached for record in fresh) and all(record.cached for record in again)
    assert [record.clues.exposure.bias for record in again] == [-2.0, 0.0, 2.0]  # type: ignore[union-attr]
    assert [record.set_kind for record in mark_sets(again)] == [record.set_kind for record in mark_sets(fresh)] == ["bracket"] * 3
    assert all(record.clues is None for record in score_paths([tmp_path / "shoot"], model=plumbing_model, max_side=MAX_SIDE))


def test_a_cached_score_without_clues_is_decoded_again_when_sets_are_wanted(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    photo = save_bracket(tmp_path)[0]
    status = photo.stat()
    key = FileKey(str(photo.absolute()), status.st_size, status.st_mtime_ns)
    cache = tmp_path / "cache.sqlite3"
    with ScoreCache(cache, plumbing_model.sha256, MAX_SIDE) as store:  # as left by a version without set clues
        store.put_many([(key, CachedScore(0.123, 480, 320, None, None))])
        store.put_signatures([(key, signature_bytes(signature(decode(photo, MAX_SIDE).pixels)))])
    first = next(score_paths([photo], model=plumbing_model, max_side=MAX_SIDE, cache_file=cache, signatures=True))
    assert not first.cached and first.clues is not None
    assert next(score_paths([photo], model=plumbing_model, max_side=MAX_SIDE, cache_file=cache, signatures=True)).cached
