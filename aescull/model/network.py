"""The SPP scoring network: an EfficientNet-Lite0 trunk, spatial pyramid pooling, an MLP head,
and a kernel head on the statistics of every block's output (the "taps").

Pure ``nn.Module`` code, no I/O: the checkpoint format lives in :mod:`aescull.model.checkpoint`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aescull.model.config import ModelConfig

# (repeats, kernel, stride, expand ratio, in channels, out channels) of EfficientNet-Lite0.
LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
BN_EPS = 1e-3
TAP_NORM_EPS = 1e-5  # the taps' standardisation: (x - mean) / sqrt(variance + TAP_NORM_EPS)
# EfficientNet-Lite was trained on pixels scaled to [-1, 1]: (x - 127.5) / 128.
PIXEL_MEAN = 0.5
PIXEL_STD = 128.0 / 255.0


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation, as in EfficientNet-Lite.

    The ReLU6 clamps work in place: each acts on a fresh tensor, and not allocating a second
    copy of the widest activations (96 x 171 x 256 floats for a 512-px photo) cut a CPU forward
    pass from 67 to 43 ms on one core, with identical scores.
    """

    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(
            hidden, hidden, kernel, stride=stride, padding=kernel // 2, groups=hidden, bias=False
        )
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)), inplace=True)
        out = F.relu6(self._bn1(self._depthwise_conv(out)), inplace=True)
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


def lite0_blocks() -> list[MBConv]:
    """A fresh set of EfficientNet-Lite0's 16 blocks: the trunk holds one, the frozen copy a slice of another."""
    blocks = []
    for repeats, kernel, stride, expand, c_in, c_out in LITE0_STAGES:
        for index in range(repeats):
            blocks.append(MBConv(kernel, stride if index == 0 else 1, expand, c_in if index == 0 else c_out, c_out))
    return blocks


class EfficientNetLite0Trunk(nn.Module):
    """Convolutional layers only; parameter names match the public ImageNet state_dict.
    :class:`SPPNet` runs the blocks itself, to tap their outputs on the way."""

    out_channels = 1280
    block_channels = tuple(c_out for repeats, *_, c_out in LITE0_STAGES for _ in range(repeats))

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        self._blocks = nn.ModuleList(lite0_blocks())
        self._conv_head = nn.Conv2d(320, self.out_channels, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(self.out_channels, eps=BN_EPS)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x)), inplace=True)

    def last_conv(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn1(self._conv_head(x)), inplace=True)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] to the input range the ImageNet trunk was trained on."""
    return (images - PIXEL_MEAN) / PIXEL_STD


def tap_statistics(activations: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and standard deviation over the whole frame (any height and width).

    Through average pooling, which is fast on channels-last tensors (torch.std_mean over the
    spatial dimensions took 3 ms per 512-px photo on one core, this 1.3 ms; same values)."""
    mean = F.adaptive_avg_pool2d(activations, 1)
    spread = F.adaptive_avg_pool2d((activations - mean).square_(), 1).sqrt_()
    return torch.cat([mean.flatten(1), spread.flatten(1)], dim=1)


def spatial_pyramid_pool(features: torch.Tensor, bins: tuple[int, ...], pooling: str) -> torch.Tensor:
    """Pool a feature map of any height and width into a fixed-length vector (SPP-Net).

    Each level splits the map into ``b × b`` cells, so the layout of the frame (where the subject
    sits, what is sharp where) survives, whatever the photo's aspect ratio.
    """
    pooled = []
    for size in bins:
        if pooling in ("avg", "avgmax"):
            pooled.append(F.adaptive_avg_pool2d(features, size).flatten(1))
        if pooling in ("max", "avgmax"):
            pooled.append(F.adaptive_max_pool2d(features, size).flatten(1))
    return torch.cat(pooled, dim=1)


def gaussian_similarity(a: torch.Tensor, b: torch.Tensor, gamma: float) -> torch.Tensor:
    """exp(-gamma x mean squared difference) between every row of ``a`` and every row of ``b``
    (training calls it too, in float64, so the head computes exactly what was fitted)."""
    squared = (a.square().sum(1, keepdim=True) + b.square().sum(1)[None] - 2.0 * a @ b.T).clamp_min_(0.0)
    return torch.exp(squared.mul_(-gamma / a.shape[1]))


class TapKernelHead(nn.Module):
    """Kernel ridge regression on standardised tap statistics: a weighted sum of Gaussian
    similarities to the training photos' statistics. It learns how the statistics interact
    (a blur that matters only in a dark photo), which a linear map cannot; the support is a
    few MB, the comparison well under a millisecond."""

    def __init__(self, support: int, length: int, gamma: float) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("support", torch.zeros(support, length))
        self.register_buffer("coefficients", torch.zeros(support))
        self.register_buffer("intercept", torch.zeros(()))

    def forward(self, standardised: torch.Tensor) -> torch.Tensor:
        return gaussian_similarity(standardised, self.support, self.gamma) @ self.coefficients + self.intercept


class SPPNet(nn.Module):
    """Maps RGB photos in [0, 1] (N×3×H×W, any H and W) to quality scores in [0, 1]."""

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        if config.backbone != "efficientnet-lite0":
            raise ValueError(f"unknown backbone {config.backbone!r}")
        if config.pooling not in ("avg", "max", "avgmax"):
            raise ValueError(f"unknown pooling {config.pooling!r}")
        self.config = config
        self.trunk = EfficientNetLite0Trunk()
        self.reduce: nn.Module = nn.Identity()
        if config.reduce_channels:
            self.reduce = nn.Sequential(
                nn.Conv2d(self.trunk.out_channels, config.reduce_channels, 1, bias=False),
                nn.BatchNorm2d(config.reduce_channels, eps=BN_EPS),
                nn.ReLU(inplace=True),
            )
        if config.tap_copy_from:
            self.tap_copy = nn.ModuleList(lite0_blocks()[config.tap_copy_from : max(config.taps, default=0) + 1])
        if config.taps:
            # each statistic on one scale (training sets the running mean and variance from its
            # photos), then kernel ridge regression against the training photos
            self.tap_norm = nn.BatchNorm1d(self.tap_length(config), eps=TAP_NORM_EPS, affine=False)
            self.tap_head = TapKernelHead(config.tap_support, self.tap_length(config), config.tap_gamma)
        pooled = self.pooled_length(config)
        layers: list[nn.Module] = [nn.LayerNorm(pooled)] if config.layer_norm else []
        if config.hidden:
            layers += [nn.Dropout(config.dropout), nn.Linear(pooled, config.hidden), nn.ReLU(inplace=True)]
        layers += [nn.Dropout(config.dropout), nn.Linear(config.hidden or pooled, 1)]
        self.head = nn.Sequential(*layers)
        nn.init.constant_(self.head[-1].bias, 0.5)  # the middle of the score range

    @staticmethod
    def tap_length(config: ModelConfig) -> int:
        return 2 * sum(EfficientNetLite0Trunk.block_channels[index] for index in config.taps)

    @staticmethod
    def pooled_length(config: ModelConfig) -> int:
        cells = sum(size * size for size in config.pyramid_bins)
        kinds = 2 if config.pooling == "avgmax" else 1
        return (config.reduce_channels or EfficientNetLite0Trunk.out_channels) * cells * kinds

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The fixed-length vector of each photo: the pyramid, then the taps' statistics (if any)."""
        start = self.config.tap_copy_from
        activations, taps = self.frozen_part(images, start)
        return self.features_from(activations, start, taps)

    def frozen_part(self, images: torch.Tensor, stop: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Activations before block ``stop`` and the statistics of the taps below it, and of those
        in the frozen copy, which branches off there: training keeps this part at its ImageNet
        weights and caches it."""
        if self.config.tap_copy_from not in (0, stop):
            raise ValueError(f"the frozen copy branches off at block {self.config.tap_copy_from}, not {stop}")
        taps: list[torch.Tensor] = []
        activations = self.run_blocks(self.trunk.stem(normalize(images)), 0, stop, taps)
        if self.config.tap_copy_from:
            self.run_blocks(activations, stop, stop + len(self.tap_copy), taps, copy=True)
        return activations, taps

    def features_from(self, activations: torch.Tensor, start: int, taps: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The vector from the trunk's activations before block ``start`` and the statistics of
        the taps below ``start``."""
        taps = list(taps or [])
        x = self.run_blocks(activations, start, len(self.trunk._blocks), taps)
        feature_map = self.reduce(self.trunk.last_conv(x))
        pooled = spatial_pyramid_pool(feature_map, self.config.pyramid_bins, self.config.pooling)
        return torch.cat([pooled, *taps], dim=1)

    def run_blocks(self, x: torch.Tensor, start: int, stop: int, taps: list[torch.Tensor], copy: bool = False) -> torch.Tensor:
        """Blocks ``[start, stop)`` of the trunk or of the frozen copy, appending the statistics
        of the taps among them to ``taps`` (past the copy's start, only the copy's are taps)."""
        blocks = self.tap_copy if copy else self.trunk._blocks
        offset = self.config.tap_copy_from if copy else 0
        copied = self.config.tap_copy_from or len(self.trunk._blocks)
        for index in range(start, stop):
            x = blocks[index - offset](x)
            if index in self.config.taps and (copy or index < copied):
                taps.append(tap_statistics(x))
        return x

    def raw_score(self, features: torch.Tensor) -> torch.Tensor:
        """Unbounded regression output: training uses it, so no squashing hides its gradient."""
        pyramid = features[:, : self.pooled_length(self.config)]
        score = self.head(pyramid).squeeze(1)
        if not self.config.taps:
            return score
        taps = self.tap_head(self.tap_norm(features[:, pyramid.shape[1] :]))
        return (1.0 - self.config.tap_weight) * score + self.config.tap_weight * taps

    def score_from_features(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.raw_score(pooled).clamp(0.0, 1.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.score_from_features(self.features(images))
