"""Where the project's files are, and a plumbing checkpoint: an untrained network whose score reacts to every pixel.

The plumbing checkpoint is an untrained SPPNet with a He initialisation, so (unlike PyTorch's
default init, whose deep trunk outputs ~0 and scores every photo 0.5) its score reacts to every
pixel: invariance tests with it can fail. It says nothing about quality.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from aescull.model.network import ModelConfig, SPPNet

REPO = Path(__file__).resolve().parents[2]
BUNDLED_WEIGHTS = REPO / "weights" / "aescull-spp.pt"
# The development data sets, beside the checkout; tests that need them skip when they are absent.
SHARED_DATA = REPO.parent / "shared" / "data"


def make_plumbing_model(seed: int = 0) -> SPPNet:
    torch.manual_seed(seed)
    model = SPPNet(ModelConfig(max_side=96))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.5 / module.weight.shape[1] ** 0.5)
            nn.init.zeros_(module.bias)
    return model.eval()
