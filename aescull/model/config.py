"""The network's configuration, stored inside every checkpoint and every exported ONNX file.

Apart from :mod:`aescull.model.network` so that the ONNX engine can read it without torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The network's stride-32 feature map must be at least three cells across the frame's short
# side to judge it: measured on strips of 80 clive-dev photos, a short side of 32 px or less
# (one cell) scored near 1.0 whatever the photo (Spearman with people 0.12), 33-64 px (two
# cells) 0.41-0.48, 72-96 px (three cells) 0.73-0.76 like the full frames' crops. Thinner frames
# (a 284×25 logo strip) get an error row instead of a guess.
MIN_SHORT_SIDE = 65


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; stored inside every checkpoint."""

    backbone: str = "efficientnet-lite0"
    pyramid_bins: tuple[int, ...] = (1, 2, 4)
    pooling: str = "avgmax"  # "avg", "max" or "avgmax" (both, concatenated)
    reduce_channels: int = 128  # 0: pool the trunk's 1,280 channels as they are
    hidden: int = 256  # 0: a linear head
    layer_norm: bool = True  # on the pooled vector: its maxima and means on one scale
    # MBConv blocks whose outputs' per-channel mean and spread feed a second, kernel head: blur,
    # noise and exposure show in the statistics of early, fine-grained features. The score is
    # (1 - tap_weight) x the pyramid head + tap_weight x the tap head.
    taps: tuple[int, ...] = ()
    tap_weight: float = 0.0
    tap_support: int = 0  # training photos the kernel head compares a photo with
    tap_gamma: float = 0.5  # kernel width: exp(-tap_gamma x mean squared standardised difference)
    # 0, or the first block of a frozen copy of the trunk's blocks at their ImageNet weights, up
    # to the last tap, run beside the fine-tuned ones only for the statistics of the taps there:
    # ImageNet's own coarse features carry quality signal the fine-tuning keeps only in part.
    tap_copy_from: int = 0
    dropout: float = 0.2
    max_side: int = 512  # default working size: longest side the photo is scaled down to

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {name for name in cls.__dataclass_fields__}
        values = {key: value for key, value in data.items() if key in known}
        for name in ("pyramid_bins", "taps"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


class Described:
    """A loaded model's name and version, from the meta stored with its weights (the checkpoint's,
    or the ONNX export's copy of it), so both runtimes name a model alike in sidecars and rows."""

    meta: dict
    sha256: str

    @property
    def name(self) -> str:
        return str(self.meta.get("name", "aescull-spp"))

    @property
    def version(self) -> str:
        return str(self.meta.get("version", self.sha256[:12]))
