"""What a photographer trusts the shipped score with, through ``aescull score`` (files on disk, draft
decode, native readings, the network, the native term): a shallow depth of field is not a missed
focus, and a ruined copy is not good.

Generated scenes need nothing but Pillow and the bundled weights; the tests on the Debian photos
skip when ../shared/data/photos is not there. The native term was fitted on those photos' copies,
so the tests on them guard against regressions; the held-out figures are ``python -m training.native_term``'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aescull.model.checkpoint import load_model
from aescull.pipeline.local import score_paths
from evaluation.trust import network_alone, scaled
from tests.support.cli import invoke, rows
from tests.support.models import BUNDLED_WEIGHTS, SHARED_DATA
from tests.support.scenes import scene
from training.degrade import FOCUS_COPIES, SEVERE_DAMAGES, exposure

pytestmark = pytest.mark.skipif(not BUNDLED_WEIGHTS.is_file(), reason="weights/aescull-spp.pt not built")


def scored(images: dict[str, Image.Image], folder: Path) -> dict[str, float]:
    """Each image saved as a JPEG of quality 95 and scored by one ``aescull score`` over the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for name, image in images.items():
        file = f"{name.replace(' ', '_').replace('+', 'p').replace('.', '')}.jpg"
        image.save(folder / file, quality=95)
        names[file] = name
    code, out, err = invoke(["score", str(folder)])
    assert code == 0, err
    return {names[Path(row["path"]).name]: float(row["score"]) for row in rows(out)}


@pytest.mark.parametrize("seed", [0, 1])
def test_a_shallow_depth_of_field_scores_above_a_missed_focus(seed: int, tmp_path: Path) -> None:
    image = scene(seed)
    scores = scored({"original": image, **{kind: make(image) for kind, make in FOCUS_COPIES.items()}}, tmp_path)
    assert scores["bokeh"] > scores["missed"] + 0.02, scores


@pytest.mark.xfail(strict=True, reason="issue 24 open: the network drops a sharp-centre copy of these scenes by 0.17-0.22 "
                   "and the native term only ever lowers a score")
def test_a_shallow_depth_of_field_scores_about_as_its_original(tmp_path: Path) -> None:
    image = scene(0)
    scores = scored({"original": image, "bokeh": FOCUS_COPIES["bokeh"](image)}, tmp_path)
    assert abs(scores["bokeh"] - scores["original"]) < 0.05, scores


def test_severe_damage_drops_the_score_by_a_margin_a_threshold_catches(tmp_path: Path) -> None:
    """Blur, noise, heavy JPEG, pixelation and -2 stops of a 1536-px scene; +2 stops is the next test."""
    image = scene(0)
    kinds = [kind for kind in SEVERE_DAMAGES if kind != "+2 stops"]
    scores = scored({"original": image, **{kind: SEVERE_DAMAGES[kind](image) for kind in kinds}}, tmp_path)
    drops = {kind: scores["original"] - scores[kind] for kind in kinds}
    assert all(drop > 0.03 for drop in drops.values()), drops
    assert np.median(list(drops.values())) >= 0.10, drops


@pytest.mark.xfail(strict=True, reason="issue 24 open: the shipped network scores these scenes 2 stops over at or above "
                   "the original (on the 28 Debian photos at 2048 px: below in 27, median drop 0.10); the native term reads no exposure")
@pytest.mark.parametrize("width,height", [(480, 320), (1536, 1024)])
def test_two_stops_over_scores_below_the_original(width: int, height: int, tmp_path: Path) -> None:
    images = {}
    for seed in range(2):
        image = scene(seed, width, height)
        images |= {f"original{seed}": image, f"bright{seed}": exposure(image, 2.0)}
    scores = scored(images, tmp_path)
    for seed in range(2):
        assert scores[f"bright{seed}"] < scores[f"original{seed}"] - 0.02, scores


def test_a_photo_no_larger_than_the_working_size_scores_as_the_network_alone_scores_it(tmp_path: Path) -> None:
    """clive-dev's 500-px photos, the MOS data, are judged by the network alone: the term pays nothing there."""
    image = exposure(scene(1, 500, 375).resize((500, 375)), -1.0)
    image.save(tmp_path / "small.jpg", quality=60)
    loaded = load_model()
    (with_term,) = list(score_paths([tmp_path / "small.jpg"], model=loaded, workers=1))
    (alone,) = list(score_paths([tmp_path / "small.jpg"], model=network_alone(loaded), workers=1))
    assert with_term.score == alone.score


def shared_photos(count: int) -> list[Path]:
    photos = SHARED_DATA / "photos"
    if not photos.is_dir():
        pytest.skip(f"{photos} is not here")
    paths = sorted(photos.glob("*.jpg"))
    return paths[:: max(1, len(paths) // count)][:count]


def test_real_photos_ruined_at_2048_px_fall_by_a_margin(tmp_path: Path) -> None:
    """Six severe damages of 6 Debian photos at 2048 px: nearly all below the original, by a median a threshold catches."""
    images = {}
    for index, path in enumerate(shared_photos(6)):
        image = scaled(path, 2048)
        images |= {f"{index} original": image, **{f"{index} {kind}": damage(image) for kind, damage in SEVERE_DAMAGES.items()}}
    scores = scored(images, tmp_path)
    drops = np.array([scores[f"{i} original"] - scores[f"{i} {kind}"] for i in range(6) for kind in SEVERE_DAMAGES])
    assert np.mean(drops > 0) >= 0.95, drops
    assert np.median(drops) >= 0.10, drops


def test_every_engine_pays_the_same_term(tmp_path: Path) -> None:
    """The batch engine (Ray's Scorer) and the local one apply the same term after the network."""
    from aescull.pipeline.batch import Scorer

    path = tmp_path / "pixelated.jpg"
    SEVERE_DAMAGES["pixelate 4x"](scene(2)).save(path, quality=95)
    loaded = load_model()
    (local,) = list(score_paths([path], model=loaded, workers=1))
    (alone,) = list(score_paths([path], model=network_alone(loaded), workers=1))
    batch = Scorer(loaded)({"path": np.array([str(path)], dtype=object), "bytes": np.array([path.read_bytes()], dtype=object)})
    assert local.score is not None and alone.score is not None
    assert batch["score"][0] == pytest.approx(local.score, abs=1e-4)
    assert local.score < alone.score - 0.1
