"""The SPP network, its checkpoint format, and what the shipped weights must get right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.support.models import BUNDLED_WEIGHTS, SHARED_DATA, make_plumbing_model
from tests.support.scenes import sky_and_hills
from PIL import Image

from aescull.pipeline.decode import decode
from aescull.model.network import ModelConfig, SPPNet, spatial_pyramid_pool
from aescull.model.checkpoint import WeightsError, load_model, save_checkpoint
from training import degrade

SHARED_PHOTOS = SHARED_DATA / "photos"
needs_weights = pytest.mark.skipif(not BUNDLED_WEIGHTS.is_file(), reason="weights/aescull-spp.pt not built")


@pytest.mark.parametrize("taps,copy_from", [((), 0), ((0, 5, 11), 0), ((0, 5, 13, 15), 12)])
@pytest.mark.parametrize("height,width", [(96, 288), (288, 96), (64, 64), (8, 8), (37, 201)])
def test_pyramid_vector_has_one_length_whatever_the_shape(height: int, width: int, taps: tuple[int, ...], copy_from: int) -> None:
    model = make_plumbing_model() if not taps else SPPNet(ModelConfig(taps=taps, tap_copy_from=copy_from)).eval()
    with torch.inference_mode():
        vector = model.features(torch.rand(2, 3, height, width))
        scores = model(torch.rand(2, 3, height, width))
    assert vector.shape == (2, SPPNet.pooled_length(model.config) + SPPNet.tap_length(model.config))
    assert scores.shape == (2,)
    assert bool(((scores >= 0) & (scores <= 1)).all())


def test_pyramid_keeps_where_things_are() -> None:
    """A bright patch top-left and one bottom-right give the same global mean but different pyramids."""
    left, right = torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8)
    left[..., :4, :4] = 1.0
    right[..., 4:, 4:] = 1.0
    global_only = [spatial_pyramid_pool(x, (1,), "avg") for x in (left, right)]
    pyramid = [spatial_pyramid_pool(x, (1, 2, 4), "avgmax") for x in (left, right)]
    assert torch.equal(global_only[0], global_only[1])
    assert not torch.equal(pyramid[0], pyramid[1])
    assert pyramid[0].shape == (1, 2 * (1 + 4 + 16))


def test_checkpoint_round_trip_is_self_describing(tmp_path: Path) -> None:
    config = ModelConfig(pooling="avg", hidden=64, max_side=320)
    model = SPPNet(config).eval()
    path = tmp_path / "w.pt"
    digest = save_checkpoint(model, path, meta={"name": "roundtrip", "version": "1"})
    loaded = load_model(path, expected_sha256=digest)
    assert loaded.config == config
    assert loaded.name == "roundtrip" and loaded.sha256 == digest
    image = torch.rand(1, 3, 50, 70)
    with torch.inference_mode():
        assert abs(float(model.half().float()(image)) - float(loaded.model(image))) < 1e-3


def test_the_frozen_copy_feeds_the_taps_and_the_fine_tuned_blocks_the_pyramid() -> None:
    """Past ``tap_copy_from`` the taps' statistics come from the frozen copy only: changing the
    trunk's blocks there moves the pyramid and leaves the statistics; changing the copy, the reverse."""
    torch.manual_seed(0)
    model = SPPNet(ModelConfig(taps=(3, 12, 15), tap_copy_from=12)).eval()
    pooled = SPPNet.pooled_length(model.config)
    photos = torch.rand(2, 3, 64, 96)
    with torch.inference_mode():
        before = model.features(photos)
        for parameter in model.trunk._blocks[12:].parameters():
            parameter.add_(0.05)
        trunk_changed = model.features(photos)
        for parameter in model.tap_copy.parameters():
            parameter.add_(0.05)
        copy_changed = model.features(photos)
    assert torch.equal(trunk_changed[:, pooled:], before[:, pooled:])
    assert not torch.allclose(trunk_changed[:, :pooled], before[:, :pooled])
    assert torch.equal(copy_changed[:, :pooled], trunk_changed[:, :pooled])
    assert torch.equal(copy_changed[:, pooled : pooled + 2 * 40], trunk_changed[:, pooled : pooled + 2 * 40])  # block 3
    assert not torch.allclose(copy_changed[:, pooled + 2 * 40 :], trunk_changed[:, pooled + 2 * 40 :])
    with pytest.raises(ValueError, match="branches off at block 12"):
        model.frozen_part(photos, 8)
    assert len(SPPNet(ModelConfig(taps=(3, 13), tap_copy_from=12)).tap_copy) == 2  # nothing past the last tap


def test_taps_survive_the_checkpoint_and_do_not_depend_on_the_batch(tmp_path: Path) -> None:
    """The taps' statistics are each photo's own: a photo scores the same alone or beside others,
    and a checkpoint with taps (and their scaling, and the frozen copy) reloads as it was saved."""
    config = ModelConfig(taps=(1, 10, 14), tap_copy_from=12, tap_weight=0.5, tap_support=7, max_side=128)
    model = SPPNet(config).eval()
    with torch.no_grad():
        for parameter in model.tap_copy.parameters():
            parameter.normal_(0.0, 0.1)
        model.tap_norm.running_mean.uniform_(0.0, 1.0)
        model.tap_norm.running_var.uniform_(0.5, 2.0)
        model.tap_head.support.normal_()
        model.tap_head.coefficients.uniform_(-0.2, 0.2)
        model.tap_head.intercept.fill_(0.5)
    path = tmp_path / "taps.pt"
    loaded = load_model(path, expected_sha256=save_checkpoint(model, path, meta={"name": "taps", "version": "1"}))
    assert loaded.config == config and loaded.config.taps == (1, 10, 14)
    photos = torch.rand(3, 3, 60, 90)
    with torch.inference_mode():
        together = loaded.model(photos)
        alone = torch.cat([loaded.model(photo[None]) for photo in photos])
        assert torch.allclose(together, alone, atol=1e-5)
        assert torch.allclose(together, model.half().float()(photos), atol=2e-3)
        other_batch = loaded.model(torch.cat([photos[:1], torch.zeros(1, 3, 60, 90)]))
    assert abs(float(other_batch[0]) - float(together[0])) < 1e-5


def test_sha256_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    save_checkpoint(SPPNet(), path, meta={})
    with pytest.raises(WeightsError, match="sha256"):
        load_model(path, expected_sha256="0" * 64)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save({"something": torch.zeros(3)}, path)
    with pytest.raises(WeightsError, match="not a valid aescull checkpoint"):
        load_model(path)


def test_checkpoint_holding_code_is_refused(tmp_path: Path) -> None:
    """weights_only loading: a pickle that would run code never loads."""
    path = tmp_path / "evil.pt"
    torch.save({"config": {}, "state_dict": {}, "meta": Path("/")}, path)
    with pytest.raises(WeightsError):
        load_model(path)


# The shipped weights: properties a photographer relies on.


def landscape(width: int = 480, height: int = 320, seed: int = 0) -> Image.Image:
    """A clean, sharp, photo-like scene: graded sky, layered hills, fine grass, hard-edged objects.

    (Random-noise textures are no good here: the model rightly scores them as noisy junk.)
    """
    rng = np.random.default_rng(seed)
    image, draw = sky_and_hills(rng, width, height, 40)
    for _ in range(400):
        x, y = rng.uniform(0, width), rng.uniform(height * 0.7, height)
        colour = tuple(int(v) for v in rng.uniform(30, 200, 3))
        draw.line((x, y, x + rng.uniform(-3, 3), y - rng.uniform(4, 12)), fill=colour, width=1)
    for _ in range(6):
        x, y, size = rng.uniform(0, width), rng.uniform(0, height * 0.8), rng.uniform(10, 40)
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        draw.rectangle((x, y, x + size, y + size * 1.5), fill=colour, outline=(20, 20, 20), width=2)
    return image


def to_batch(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float()[None] / 255.0


def shipped_score(model: SPPNet, image: Image.Image) -> float:
    with torch.inference_mode():
        return float(model(to_batch(image)))


def shared_photos(count: int) -> list[Image.Image]:
    if not SHARED_PHOTOS.is_dir():
        pytest.skip("../shared/data/photos is not here")
    paths = sorted(SHARED_PHOTOS.glob("*.jpg"))[:count]
    return [Image.fromarray((decode(p, 512).pixels.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)) for p in paths]


@needs_weights
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blurred_copy_scores_lower(seed: int) -> None:
    model = load_model().model
    scene = landscape(seed=seed)
    assert shipped_score(model, degrade.gaussian_blur(scene, 3.0)) < shipped_score(model, scene)


@needs_weights
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_stops_underexposed_scores_lower(seed: int) -> None:
    model = load_model().model
    scene = landscape(seed=seed)
    assert shipped_score(model, degrade.exposure(scene, -2.0)) < shipped_score(model, scene)


@needs_weights
def test_real_photos_blurred_or_darkened_score_lower() -> None:
    """Every blurred copy, and nearly every 2-stop darker copy, of real photos scores lower.

    (A dark abstract pattern can honestly look as good darker, so exposure allows 10 %.)
    """
    model = load_model().model
    blur_wins, dark_wins = [], []
    photos = shared_photos(28)
    for photo in photos:
        original = shipped_score(model, photo)
        blur_wins.append(shipped_score(model, degrade.gaussian_blur(photo, 3.0)) < original)
        dark_wins.append(shipped_score(model, degrade.exposure(photo, -2.0)) < original)
    assert all(blur_wins)
    assert sum(dark_wins) >= 0.9 * len(photos)


@needs_weights
def test_shipped_weights_are_small_and_describe_themselves() -> None:
    loaded = load_model()
    assert loaded.path.stat().st_size < 20_000_000
    assert {"name", "version", "data", "cv", "good_threshold"} <= set(loaded.meta)
    assert 0.0 < loaded.meta["good_threshold"] < 1.0


@needs_weights
def test_same_photo_same_score_and_batches_equal_singles() -> None:
    model = load_model().model
    scenes = [landscape(seed=s) for s in range(3)]
    singles = [shipped_score(model, s) for s in scenes]
    with torch.inference_mode():
        batch = model(torch.cat([to_batch(s) for s in scenes])).tolist()
    assert singles == [shipped_score(model, s) for s in scenes]
    assert np.allclose(singles, batch, atol=1e-5)
