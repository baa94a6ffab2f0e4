"""What a photographer trusts the shipped score with, through ``aescull score`` (files on disk,
draft decode, the network): a shallow depth of field is not a missed focus, and a ruined copy is
not good.

Generated scenes need nothing but Pillow and the bundled weights; the test on the Debian photos
skips when ../shared/data/photos is not there. The shipped model learnt from copies of those
photos, so that test guards against regressions; the held-out figures are
``python -m evaluation.trust --held-out``'s (MODEL_CARD.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation.trust import scaled
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
    code, out, err = invoke(["score", str(folder), "--no-cache"])
    assert code == 0, err
    return {names[Path(row["path"]).name]: float(row["score"]) for row in rows(out)}


@pytest.mark.parametrize("seed", [0, 1])
def test_a_shallow_depth_of_field_scores_above_a_missed_focus(seed: int, tmp_path: Path) -> None:
    image = scene(seed)
    scores = scored({"original": image, **{kind: make(image) for kind, make in FOCUS_COPIES.items()}}, tmp_path)
    assert scores["bokeh"] > scores["missed"] + 0.02, scores


@pytest.mark.xfail(strict=True, reason="issue 24's gap: the shipped network drops a sharp-centre copy of this scene by 0.16 "
                   "(of the 28 Debian photos at 2048 px by 0.09, median); retrained models held it near but lost agreement (MODEL_CARD.md)")
def test_a_shallow_depth_of_field_scores_about_as_its_original(tmp_path: Path) -> None:
    image = scene(0)
    scores = scored({"original": image, "bokeh": FOCUS_COPIES["bokeh"](image)}, tmp_path)
    assert abs(scores["bokeh"] - scores["original"]) < 0.05, scores


@pytest.mark.xfail(strict=True, reason="issue 24's gap: noise of sigma 12 leaves this scene's score as it was (and on the "
                   "Debian photos at 2048 px scores below the original in 24 of 28, median drop 0.03)")
def test_severe_damage_drops_the_score_by_a_margin_a_threshold_catches(tmp_path: Path) -> None:
    """Blur, noise, heavy JPEG, pixelation and -2 stops of a 1536-px scene; +2 stops is the next test."""
    image = scene(0)
    kinds = [kind for kind in SEVERE_DAMAGES if kind != "+2 stops"]
    scores = scored({"original": image, **{kind: SEVERE_DAMAGES[kind](image) for kind in kinds}}, tmp_path)
    drops = {kind: scores["original"] - scores[kind] for kind in kinds}
    assert all(drop > 0.03 for drop in drops.values()), drops
    assert np.median(list(drops.values())) >= 0.10, drops


@pytest.mark.xfail(strict=True, reason="issue 24's gap: the shipped network scores these scenes 2 stops over at or above the "
                   "original (on the Debian photos at 2048 px: below in 27 of 28, median drop 0.10)")
@pytest.mark.parametrize("width,height", [(480, 320), (1536, 1024)])
def test_two_stops_over_scores_below_the_original(width: int, height: int, tmp_path: Path) -> None:
    images = {}
    for seed in range(2):
        image = scene(seed, width, height)
        images |= {f"original{seed}": image, f"bright{seed}": exposure(image, 2.0)}
    scores = scored(images, tmp_path)
    for seed in range(2):
        assert scores[f"bright{seed}"] < scores[f"original{seed}"] - 0.02, scores


def shared_photos(count: int) -> list[Path]:
    photos = SHARED_DATA / "photos"
    if not photos.is_dir():
        pytest.skip(f"{photos} is not here")
    paths = sorted(photos.glob("*.jpg"))
    return paths[:: max(1, len(paths) // count)][:count]


@pytest.mark.xfail(strict=True, reason="issue 24's gap: on all 28 photos 96.4 % of the copies score below the original, "
                   "median drop 0.058 (evaluation.trust); these 6 photos: 94 %, below the 0.10 a threshold catches")
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
