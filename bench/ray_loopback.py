"""Both engines on the same generated photos: are the rows the same, and how fast is each here?

    python -m bench.ray_loopback --images 2000 --workdir /tmp/aescull-bench

Starts a two-node Ray cluster on 127.0.0.1 (ray.cluster_utils, one CPU per node unless
--cpus-per-node), runs `aescull score` once locally and once with `--engine ray --address`,
compares the two CSVs and prints the wall time of each command. Needs the ray extra. Not a test
(pytest does not collect it): a measurement to run by hand.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from aescull.model.network import ModelConfig, SPPNet
from aescull.pipeline.ray import LOOPBACK_ONLY_ENV
from aescull.model.checkpoint import save_checkpoint
from tests.support.images import photo_pixels
from tests.support.models import REPO


def generate(folder: Path, count: int, width: int, height: int) -> None:
    for index in range(count):
        path = folder / f"{index // 100:03d}" / f"IMG_{index:05d}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo_pixels(width, height, seed=index)).save(path, quality=90)


def timed(command: list[str], workdir: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    print(f"$ {' '.join(command[2:])}\n  exit {result.returncode}, {seconds:.1f} s; stderr tail: {result.stderr.strip()[-300:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", default="320x240", help="generated photo size, WxH")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aescull-bench"))
    parser.add_argument("--weights", type=Path, help="checkpoint (default: an untrained SPPNet, max_side 96)")
    parser.add_argument("--cpus-per-node", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault(LOOPBACK_ONLY_ENV, "0")  # before ray is imported: the cluster stays on 127.0.0.1
    from ray.cluster_utils import Cluster

    workdir = args.workdir.absolute()
    width, height = (int(side) for side in args.size.split("x"))
    generate(workdir / "photos", args.images, width, height)
    weights = args.weights
    if weights is None:
        weights = workdir / "plumbing.pt"
        save_checkpoint(SPPNet(ModelConfig(max_side=96)), weights, meta={"name": "benchmark"})
    score = [sys.executable, "-m", "aescull", "score", "photos", "--weights", str(weights), "--no-cache", "--quiet"]
    local_seconds = timed([*score, "--output", "local.csv"], workdir)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.cpus_per_node, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=args.cpus_per_node)
        cluster.wait_for_nodes()
        ray_seconds = timed([*score, "--engine", "ray", "--address", cluster.address, "--output", "ray.csv"], workdir)
    finally:
        cluster.shutdown()
    local, on_ray = (list(csv.DictReader(open(workdir / name, encoding="utf-8"))) for name in ("local.csv", "ray.csv"))
    same_but_score = [{**row, "score": ""} for row in local] == [{**row, "score": ""} for row in on_ray]
    text_differs = sum(a["score"] != b["score"] for a, b in zip(local, on_ray))
    largest = max((abs(float(a["score"]) - float(b["score"])) for a, b in zip(local, on_ray) if a["score"] and b["score"]), default=0.0)
    print(f"rows: local {len(local)}, ray {len(on_ray)}; every column but score identical: {same_but_score}; "
          f"score text differs in {text_differs} rows (largest difference {largest:.1e})")
    print(f"local engine: {len(local) / local_seconds:.1f} photos/s; ray engine, 2 nodes x {args.cpus_per_node} CPU on "
          f"127.0.0.1: {len(on_ray) / ray_seconds:.1f} photos/s (wall time of the whole command, start-up included)")


if __name__ == "__main__":
    main()
