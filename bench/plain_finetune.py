"""The issue's floor, on our folds: a plain fine-tune of EfficientNet-Lite0, trained as the issue describes.

    python -m bench.plain_finetune --data ../shared/data/clive-dev [--folds 0,1,2,3,4] [--results plain.jsonl]

The issue sets its floor (SRCC ~0.85, PLCC ~0.88, accuracy ~0.84 on held-back photos) with this
recipe: ImageNet EfficientNet-Lite0, global average pooling of its 1,280 output channels and a
linear head; 8 epochs of random 384x384 crops and horizontal flips, batch 16, AdamW 1e-4
backbone / 3e-4 head, cosine schedule, L1 loss on MOS/100, BatchNorm statistics frozen. This
trains exactly that on the same 5 folds as ``python -m training`` (seed 0) and scores
each fold's validation photos whole, as ``aescull score`` decodes them (crops for training
come from the photos at full size, 500x500 but for two larger ones), so the shipped model's
cross-validated figures can be read against the floor recipe on the same photos. "Good" is MOS
at or above the training photos' median; the score line that calls a photo good is chosen on
the training photos' own scores. Each fold appends a JSON line to ``--results``, so a run cut
short keeps the folds it finished.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aescull.pipeline.decode import decode
from aescull.model.network import ModelConfig, SPPNet
from training.cv import fold_indices, fold_split
from training.data import imagenet_trunk_state, read_labels
from training.fit import TrainConfig, set_train_mode
from training.metrics import agreement, choose_score_line

PLAIN = ModelConfig(pyramid_bins=(1,), pooling="avg", reduce_channels=0, hidden=0, layer_norm=False)
EPOCHS, BATCH, CROP = 8, 16, 384
TRUNK_LR, HEAD_LR, WEIGHT_DECAY = 1e-4, 3e-4, 1e-4


def random_crop(photo: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """A CROP x CROP window at the photo's own pixel scale, mirrored half the time."""
    _, height, width = photo.shape
    top, left = rng.randint(0, height - CROP), rng.randint(0, width - CROP)
    window = photo[:, top : top + CROP, left : left + CROP]
    return window.flip(2) if rng.random() < 0.5 else window


def train_plain(photos: list[torch.Tensor], targets: torch.Tensor, train_idx: np.ndarray, seed: int, log) -> SPPNet:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = SPPNet(PLAIN)
    model.trunk.load_state_dict(imagenet_trunk_state())
    trunk = [p for name, p in model.named_parameters() if name.startswith("trunk.")]
    head = [p for name, p in model.named_parameters() if not name.startswith("trunk.")]
    optimizer = torch.optim.AdamW(
        [{"params": trunk, "lr": TRUNK_LR}, {"params": head, "lr": HEAD_LR}], weight_decay=WEIGHT_DECAY
    )
    total_steps = math.ceil(len(train_idx) / BATCH) * EPOCHS
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total_steps)
    started = time.time()
    for epoch in range(EPOCHS):
        set_train_mode(model)
        order = [int(i) for i in train_idx]
        rng.shuffle(order)
        epoch_loss = 0.0
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            images = torch.stack([random_crop(photos[i], rng) for i in batch])
            loss = F.l1_loss(model.raw_score(model.features(images)), targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            epoch_loss += loss.item() * len(batch)
        log(f"  epoch {epoch + 1}/{EPOCHS} loss {epoch_loss / len(order):.4f} {time.time() - started:.0f}s")
    return model.eval()


@torch.inference_mode()
def whole_photo_scores(model: SPPNet, photos: list[torch.Tensor], indices: np.ndarray) -> np.ndarray:
    return np.array([float(model(photos[i][None])[0]) for i in indices])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="clive-dev: labels.csv and images/")
    parser.add_argument("--folds", default="0,1,2,3,4")
    parser.add_argument("--results", type=Path, default=Path("plain-finetune.jsonl"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names, mos = read_labels(args.data)
    targets = torch.tensor(mos / 100.0, dtype=torch.float32)
    paths = [args.data / "images" / name for name in names]
    native = [torch.from_numpy(decode(path, 0).pixels) for path in paths]  # crops at the photo's own pixel scale
    photos = [pixels if max(pixels.shape) <= PLAIN.max_side else torch.from_numpy(decode(path, PLAIN.max_side).pixels) for pixels, path in zip(native, paths)]
    folds = fold_indices(len(names), 5, TrainConfig.seed)
    for fold in (int(f) for f in args.folds.split(",")):
        val_idx, train_idx, good_line = fold_split(mos, folds, fold)
        started = time.time()
        model = train_plain(native, targets, train_idx, seed=TrainConfig.seed, log=print)
        train_seconds = time.time() - started
        score_line = choose_score_line(whole_photo_scores(model, photos, train_idx), mos[train_idx], good_line)
        metrics = agreement(whole_photo_scores(model, photos, val_idx), mos[val_idx], good_line, score_line)
        line = {"variant": "plain-finetune", "fold": fold, **metrics, "score_line": score_line, "train_seconds": round(train_seconds)}
        print(f"plain fine-tune fold {fold}: srcc {metrics['srcc']:.4f} plcc {metrics['plcc']:.4f} "
              f"accuracy {metrics['accuracy']:.4f} ({train_seconds:.0f} s)", flush=True)
        with open(args.results, "a") as handle:
            handle.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
