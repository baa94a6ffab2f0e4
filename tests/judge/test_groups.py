"""Grouping bursts and near-duplicates: what decides a moment, stable ids, ranks, keep-best."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from tests.support.bursts import SCENES, START, burst_frame, landscape, make_shoot, save_frame
from PIL import Image, ImageFilter

from aescull.pipeline import local as scoring
from aescull.pipeline.cache import CachedScore, FileKey, ScoreCache
from aescull.pipeline.decode import decode
from aescull.judge.faces import Face, FaceVerdict
from aescull.judge.groups import all_but_best, group_records
from aescull.judge.ranking import rank_records
from aescull.judge.signatures import signature, similarity_of
from aescull.judge.thresholds import DEFAULT_SIMILARITY, DUPLICATE_SIMILARITY
from aescull.rows.record import capture_time
from aescull.rows.record import ScoreRecord
from aescull.model.checkpoint import LoadedModel
from tests.support.models import BUNDLED_WEIGHTS


def signature_of(image: Image.Image) -> np.ndarray:
    return signature(np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0)


def timed(name: str, seconds: float, image: Image.Image, score: float = 0.5) -> ScoreRecord:
    """A scored photo taken ``seconds`` after 09:00:00 (EXIF time with milliseconds)."""
    taken = (START + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
    return ScoreRecord(Path(name), score, image.width, image.height, taken=taken, mtime_ns=1, size=1, signature=signature_of(image))


def record(name: str, seconds: float, scene: str = "disc", score: float = 0.5, **frame: object) -> ScoreRecord:
    """A burst frame of ``scene`` taken ``seconds`` after 09:00:00."""
    return timed(name, seconds, burst_frame(scene, **frame), score)  # type: ignore[arg-type]


def untimed(name: str, image: Image.Image, file_seconds: float) -> ScoreRecord:
    """A scored photo without EXIF, written ``file_seconds`` after 09:00:00 (its file time)."""
    stamp = int((START + timedelta(seconds=file_seconds)).timestamp() * 1e9)
    return ScoreRecord(Path(name), 0.5, image.width, image.height, mtime_ns=stamp, size=1, signature=signature_of(image))


def groups_of(records: list[ScoreRecord], **options: object) -> list[set[str]]:
    by_group: dict[str, set[str]] = {}
    for item in group_records(records, **options):  # type: ignore[arg-type]
        if item.group is not None:
            by_group.setdefault(item.group, set()).add(str(item.path))
    return sorted(by_group.values(), key=sorted)


def test_capture_time_uses_subseconds_and_offsets_and_falls_back_to_the_file_time() -> None:
    base = capture_time("2024-06-01T09:00:00", None)
    assert capture_time("2024-06-01T09:00:00.25", None) == pytest.approx(base + 0.25)  # type: ignore[operator]
    assert capture_time("2024-06-01T09:00:00.250", None) == pytest.approx(base + 0.25)  # type: ignore[operator]
    assert capture_time("2024-06-01T11:00:00+02:00", None) == pytest.approx(base)
    assert capture_time(None, 1_700_000_000_500_000_000) == pytest.approx(1_700_000_000.5)
    assert capture_time("not a time", 2_000_000_000) == pytest.approx(2.0)
    assert capture_time("2024-06-01T09:60:00", 3_000_000_000) == pytest.approx(3.0)
    assert capture_time(None, None) is None


def test_subsecond_exif_fields_reach_the_taken_column(tmp_path: Path) -> None:
    path = save_frame(tmp_path / "a.jpg", burst_frame("disc"), 0.375)
    assert decode(path, max_side=32).info.taken == "2024-06-01T09:00:00.375"


def similarity(a: ScoreRecord, b: ScoreRecord) -> float:
    return similarity_of(a.signature, b.signature)


def test_signature_ignores_exposure_blur_and_small_shifts_but_not_another_scene() -> None:
    disc = signature_of(burst_frame("disc"))
    for variant in (burst_frame("disc", gain=0.7), burst_frame("disc", blur=2.0), burst_frame("disc", shift=4, gain=1.3, blur=1.5)):
        assert similarity_of(disc, signature_of(variant)) >= 0.9
    for scene in SCENES[1:]:
        assert similarity_of(disc, signature_of(burst_frame(scene))) < DEFAULT_SIMILARITY - 0.3


def test_the_same_layout_in_another_colour_is_another_scene() -> None:
    disc = signature_of(burst_frame("disc"))
    green = signature_of(burst_frame("disc", tint=(0.5, 1.0, 0.3)))
    assert float(disc[:64] @ green[:64]) > 0.99  # light and dark fall alike...
    assert similarity_of(disc, green) < DEFAULT_SIMILARITY  # ...but the colour differs


def test_a_flat_photo_looks_like_nothing_not_like_everything() -> None:
    flat = Image.new("RGB", (64, 48), (120, 120, 120))
    assert similarity_of(signature_of(flat), signature_of(flat)) < DEFAULT_SIMILARITY


def test_frames_chain_within_the_window_and_a_pause_longer_than_it_splits() -> None:
    records = [record("a", 0.0), record("b", 2.5, shift=2), record("c", 5.0, shift=4), record("d", 8.5, shift=2)]
    assert groups_of(records, window=3.0) == [{"a", "b", "c"}, {"d"}]
    assert groups_of(records, window=4.0) == [{"a", "b", "c", "d"}]


def test_subseconds_decide_a_burst_within_one_second() -> None:
    records = [record("a", 0.1), record("b", 0.9, shift=2)]
    assert groups_of(records, window=0.5) == [{"a"}, {"b"}]
    assert groups_of(records, window=1.0) == [{"a", "b"}]


def test_a_different_scene_within_the_window_is_its_own_group() -> None:
    records = [record("a", 0.0), record("b", 0.3, shift=2), record("s1", 0.6, "stripes"), record("c", 0.9, shift=3), record("s2", 1.2, "stripes", shift=2)]
    assert groups_of(records) == [{"a", "b", "c"}, {"s1", "s2"}]


def test_similarity_threshold_is_honoured() -> None:
    records = [record("a", 0.0), record("b", 0.5, "blobs")]
    alike = similarity(*records)
    assert groups_of(records, similarity=alike - 0.01) == [{"a", "b"}]
    assert groups_of(records, similarity=alike + 0.01) == [{"a"}, {"b"}]


def test_duplicates_far_apart_in_time_merge_only_when_asked() -> None:
    records = [record("a", 0.0), record("b", 0.4, shift=3), record("copy", 3600.0), record("similar", 7200.0, shift=12)]
    copy_of_a = similarity(records[0], records[2])
    merely_similar = max(similarity(records[index], records[3]) for index in range(3))
    assert copy_of_a >= DUPLICATE_SIMILARITY > merely_similar >= DEFAULT_SIMILARITY
    assert groups_of(records) == [{"a", "b"}, {"copy"}, {"similar"}]
    assert groups_of(records, duplicates=True) == [{"a", "b", "copy"}, {"similar"}]


def test_a_frame_alike_to_two_partial_groups_joins_them() -> None:
    """Frames 1 and 2 differ (big shift), frame 3 is between them: all three are one burst."""
    records = [record("1", 0.0, shift=0), record("2", 0.2, shift=14), record("3", 0.4, shift=7)]
    threshold = similarity(records[0], records[1]) + 0.01
    assert groups_of(records[:2], similarity=threshold) == [{"1"}, {"2"}]
    assert groups_of(records, similarity=threshold) == [{"1", "2", "3"}]


def test_a_chain_of_alike_pairs_does_not_put_unlike_photos_together() -> None:
    """A looks like B and B like C, but C nothing like A: C does not look like the group."""
    disc, stripes = burst_frame("disc"), burst_frame("stripes")
    records = [timed("a", 0.0, disc), timed("b", 0.3, Image.blend(disc, stripes, 0.5)), timed("c", 0.6, stripes)]
    a, b, c = records
    threshold = min(similarity(a, b), similarity(b, c)) - 0.01
    assert similarity(a, c) < 0.0
    assert groups_of(records, similarity=threshold) == [{"a", "b"}, {"c"}]


@pytest.mark.parametrize("seconds_apart", [0.3, 2.0])
def test_a_scene_changing_frame_by_frame_splits_before_its_ends_meet(seconds_apart: float) -> None:
    """Each frame a quarter of the way from the disc to the stripes: each looks like the one
    before it, the last nothing like the first. 2 s apart, the first is out of the last's window
    too, so only the frames between could link them."""
    frames = [Image.blend(burst_frame("disc"), burst_frame("stripes"), step / 4) for step in range(5)]
    records = [timed(str(step), seconds_apart * step, frame) for step, frame in enumerate(frames)]
    assert all(similarity(first, second) >= DEFAULT_SIMILARITY + 0.1 for first, second in zip(records, records[1:]))
    assert similarity(records[0], records[-1]) < 0.0
    assert groups_of(records) == [{"0", "1", "2"}, {"3", "4"}]


@pytest.mark.parametrize("seconds_apart", [0.0, 0.005])
def test_distinct_photos_copied_together_without_exif_form_no_group(seconds_apart: float) -> None:
    """A phone, chat-app or export copy: no EXIF, and one file time (or milliseconds apart, as a
    copy writes them). These distinct scenes look alike to a thumbnail (most pairs 0.5-0.9, none
    near-identical) and so chained into one "burst"; their file times are no capture times."""
    records = [untimed(f"{seed}.jpg", landscape(seed), seed * seconds_apart) for seed in range(12)]
    assert sum(similarity(first, second) >= DEFAULT_SIMILARITY for first in records for second in records if first is not second) > 12
    for duplicates in (False, True):
        assert all(len(group) == 1 for group in groups_of(records, duplicates=duplicates))


def test_copies_of_one_photo_in_a_bulk_copy_are_still_one_moment() -> None:
    records = [untimed(f"{seed}.jpg", landscape(seed), 0.0) for seed in range(6)] + [untimed("0 (1).jpg", landscape(0), 0.0)]
    assert groups_of(records) == [{"0 (1).jpg", "0.jpg"}, {"1.jpg"}, {"2.jpg"}, {"3.jpg"}, {"4.jpg"}, {"5.jpg"}]


def test_photos_without_exif_written_seconds_apart_keep_their_file_time_as_capture_time() -> None:
    """A camera or screenshot tool that writes no EXIF: photos a second apart, no copy."""
    records = [untimed("a.jpg", burst_frame("disc"), 0.0), untimed("b.jpg", burst_frame("disc", shift=12), 1.0)]
    assert DUPLICATE_SIMILARITY > similarity(*records) >= DEFAULT_SIMILARITY
    assert groups_of(records) == [{"a.jpg", "b.jpg"}]
    copied = [untimed("a.jpg", burst_frame("disc"), 0.0), untimed("b.jpg", burst_frame("disc", shift=12), 0.0)]
    assert groups_of(copied) == [{"a.jpg"}, {"b.jpg"}]  # one file time: alike is not enough, only copies group


def test_ranks_are_best_first_ties_by_path_and_failures_get_no_group() -> None:
    records = [
        record("b", 0.0, score=0.7),
        record("a", 0.2, score=0.7, shift=1),
        record("c", 0.4, score=0.9, shift=2),
        ScoreRecord(Path("broken.jpg"), None, error="truncated file", mtime_ns=1),
    ]
    grouped = group_records(records)
    assert [(item.path.name, item.rank_in_group) for item in grouped] == [("b", 3), ("a", 2), ("c", 1), ("broken.jpg", None)]
    assert len({item.group for item in grouped[:3]}) == 1 and grouped[3].group is None


def _with_faces(item: ScoreRecord, blink: float, sharpness: float) -> ScoreRecord:
    face = Face((10, 10, 60, 60), 40.0, blink, sharpness, {})
    return replace(item, faces=FaceVerdict.judged((face,)))


def test_in_a_burst_a_blink_or_a_soft_face_ranks_below_open_sharp_eyes_whatever_the_score() -> None:
    records = [
        _with_faces(record("blink", 0.0, score=0.9), blink=0.8, sharpness=0.9),
        _with_faces(record("soft", 0.2, score=0.8, shift=1), blink=0.05, sharpness=0.2),
        _with_faces(record("open", 0.4, score=0.6, shift=2), blink=0.05, sharpness=0.9),
        _with_faces(record("open-better", 0.6, score=0.7, shift=3), blink=0.1, sharpness=0.8),
    ]
    grouped = group_records(records)
    assert len({item.group for item in grouped}) == 1
    assert {item.path.name: item.rank_in_group for item in grouped} == {"open-better": 1, "open": 2, "soft": 3, "blink": 4}
    without_faces = group_records([replace(item, faces=None) for item in records])
    assert {item.path.name: item.rank_in_group for item in without_faces}["blink"] == 1  # the score alone, as before


def test_the_raw_of_a_pair_shares_its_jpegs_group_and_rank() -> None:
    jpeg = record("IMG_1.JPG", 0.0, score=0.4)
    raw = ScoreRecord(Path("IMG_1.CR2"), 0.4, taken=jpeg.taken, mtime_ns=1, pair=Path("IMG_1.JPG"), signature=jpeg.signature)
    jpeg = ScoreRecord(**{**jpeg.__dict__, "pair": Path("IMG_1.CR2")})
    other = record("IMG_2.JPG", 0.3, score=0.8, shift=2)
    grouped = group_records([raw, jpeg, other])
    assert [(item.path.name, item.rank_in_group) for item in grouped] == [("IMG_1.CR2", 2), ("IMG_1.JPG", 2), ("IMG_2.JPG", 1)]
    assert len({item.group for item in grouped}) == 1


def test_group_ids_are_stable_across_reruns_input_order_and_other_photos() -> None:
    burst = [record("a", 0.0), record("b", 0.4, shift=2)]
    stripes = [record("s", 10.0, "stripes")]
    first = {str(item.path): item.group for item in group_records(burst + stripes)}
    again = {str(item.path): item.group for item in group_records(stripes + burst[::-1])}
    with_more = {str(item.path): item.group for item in group_records([record("z", 5.0, "corner"), *burst, *stripes])}
    assert first == again
    assert {name: with_more[name] for name in first} == first
    assert first["a"] == first["b"] != first["s"]
    assert group_records([record("a", 0.0)])[0].group != group_records([record("a", 1.0)])[0].group


def test_ranking_by_group_lists_groups_by_their_best_each_best_first() -> None:
    records = [
        record("d1", 0.0, score=0.3),
        record("d2", 0.3, score=0.6, shift=2),
        record("s1", 1.0, "stripes", score=0.5),
        record("s2", 1.3, "stripes", score=0.9, shift=2),
        ScoreRecord(Path("broken.jpg"), None, error="truncated file"),
    ]
    grouped = group_records(records)
    assert [str(item.path) for item in rank_records(grouped, grouped=True)] == ["s2", "s1", "d2", "d1", "broken.jpg"]
    assert [str(item.path) for item in rank_records(grouped, grouped=True, limit=1)] == ["s2", "s1"]
    assert [str(item.path) for item in rank_records(grouped, grouped=True, worst_first=True, limit=1)] == ["d2", "d1"]


def test_a_copy_with_fewer_pixels_ranks_below_its_original_even_scoring_a_hair_higher() -> None:
    original = record("IMG_1.jpg", 0.0, score=0.60, shift=3)
    small_copy = ScoreRecord(Path("export/IMG_1_small.jpg"), 0.61, width=80, height=60, taken=original.taken, mtime_ns=1, signature=original.signature)
    sharper = record("IMG_2.jpg", 0.3, score=0.65, shift=0)
    weaker = record("IMG_3.jpg", 0.6, score=0.40, shift=12)
    ranks = {item.path.name: item.rank_in_group for item in group_records([small_copy, original, sharper, weaker])}
    assert ranks == {"IMG_2.jpg": 1, "IMG_1.jpg": 2, "IMG_1_small.jpg": 3, "IMG_3.jpg": 4}


def test_a_full_size_export_without_exif_ranks_below_the_camera_original() -> None:
    original = record("IMG_1.jpg", 0.0, score=0.60)
    exported_in_2027 = 1_800_000_000 * 10**9
    export = ScoreRecord(Path("export/IMG_1.jpg"), 0.62, original.width, original.height, mtime_ns=exported_in_2027, signature=original.signature)
    ranks = {str(item.path): item.rank_in_group for item in group_records([export, original], duplicates=True)}
    assert ranks == {"IMG_1.jpg": 1, "export/IMG_1.jpg": 2}


def test_all_but_best_keeps_n_per_group_and_ungrouped_items() -> None:
    items = [("g1", 1, "a"), ("g1", 2, "b"), ("g1", 3, "c"), ("g2", 1, "d"), (None, None, "e")]
    culled = all_but_best(items, 1, group_of=lambda item: item[0], rank_of=lambda item: (item[1], item[2]))
    assert sorted(item[2] for item in culled) == ["b", "c"]
    culled = all_but_best(items, 2, group_of=lambda item: item[0], rank_of=lambda item: (item[1], item[2]))
    assert [item[2] for item in culled] == ["c"]


def test_score_paths_gives_signatures_and_caches_them(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    cache = tmp_path / "cache.sqlite3"
    fresh = list(scoring.score_paths([shoot], model=plumbing_model, max_side=64, cache_file=cache, signatures=True))
    again = list(scoring.score_paths([shoot], model=plumbing_model, max_side=64, cache_file=cache, signatures=True))
    assert all(item.signature is not None and not item.cached for item in fresh)
    assert all(item.signature is None for item in scoring.score_paths([shoot], model=plumbing_model, max_side=64))  # only when asked
    assert all(item.cached for item in again)
    for first, second in zip(fresh, again):
        assert np.allclose(first.signature, second.signature, atol=2e-3)  # type: ignore[arg-type]
    assert [item.group for item in group_records(fresh)] == [item.group for item in group_records(again)]


def test_a_cached_score_without_signature_is_decoded_again_only_when_grouping(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    photo = save_frame(tmp_path / "a.jpg", burst_frame("disc"), 0.0)
    status = photo.stat()
    cache = tmp_path / "cache.sqlite3"
    with ScoreCache(cache, plumbing_model.sha256, 64) as store:  # as left by a version without signatures
        store.put_many([(FileKey(str(photo.absolute()), status.st_size, status.st_mtime_ns), CachedScore(0.123, 160, 120, None, None))])
    plain = next(scoring.score_paths([photo], model=plumbing_model, max_side=64, cache_file=cache))
    assert plain.cached and plain.score == 0.123 and plain.signature is None
    grouped = next(scoring.score_paths([photo], model=plumbing_model, max_side=64, cache_file=cache, signatures=True))
    assert not grouped.cached and grouped.signature is not None
    assert next(scoring.score_paths([photo], model=plumbing_model, max_side=64, cache_file=cache, signatures=True)).cached


@pytest.mark.skipif(not BUNDLED_WEIGHTS.is_file(), reason="needs the trained weights (weights/aescull-spp.pt)")
def test_with_the_trained_model_the_sharp_frame_of_a_burst_ranks_first(tmp_path: Path) -> None:
    from aescull.model.checkpoint import load_model

    source = Image.fromarray(np.asarray(burst_frame("blobs")).repeat(3, axis=0).repeat(3, axis=1))
    sharp = save_frame(tmp_path / "IMG_2.jpg", source, 0.3)
    for index, (seconds, radius) in enumerate(((0.0, 3.0), (0.6, 4.0), (0.9, 2.5))):
        save_frame(tmp_path / f"IMG_{index + 3}.jpg", source.filter(ImageFilter.GaussianBlur(radius)), seconds)
    grouped = group_records(list(scoring.score_paths([tmp_path], model=load_model(), signatures=True)))
    assert len({item.group for item in grouped}) == 1
    assert next(item.path for item in grouped if item.rank_in_group == 1) == sharp
