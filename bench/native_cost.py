"""What the native view costs: milliseconds per photo, one thread, CPU time (not wall: the machine is shared).

    python -m bench.native_cost --photos ../shared/data/photos [--weights A.pt --weights B.pt] [--rounds 5] [--big 4]

Per photo, interleaved over ``--rounds`` rounds (medians over photos of each photo's median):
- ``decode``: :func:`aescull.pipeline.decode.decode` at 512 px as ``aescull score`` runs it without readings
  (draft decode of a JPEG, then Lanczos); ``decode+native``: the same with the native readings,
  the only extra work the score path does for them (the term is a few numpy operations per batch); ``readings``: :func:`aescull.pipeline.native.read`
  alone on the decode's intermediate image;
- ``full decode``: the photo decoded at full size (what the score path must not do), for scale;
- per ``--weights``: the network on the 512-px pixels, batch norms folded as the score path runs it.

``--big N`` also times N 24-MP JPEGs (the first photos, upscaled to 6000x4000, quality 92) in a
temporary folder, where draft decoding matters most.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from aescull.model.checkpoint import load_model
from aescull.model.inference import inference_network
from aescull.pipeline import native
from aescull.pipeline.decode import DRAFT_OVERSAMPLE, decode, working_size


def cpu_ms(function, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.thread_time()
        function()
        times.append(time.thread_time() - started)
    return 1000 * statistics.median(times)


def intermediate(path: Path, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """The upright image decode holds before its resize (a JPEG's draft decode), and the working size."""
    with Image.open(path) as image:
        target = working_size(*image.size, max_side)
        if image.format == "JPEG":
            image.draft("RGB", (target[0] * DRAFT_OVERSAMPLE, target[1] * DRAFT_OVERSAMPLE))
        return image.convert("RGB"), target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--weights", type=Path, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    networks = {str(path): inference_network(load_model(path).model) for path in args.weights}
    with tempfile.TemporaryDirectory(prefix="aescull-native-cost-") as temp:
        sets = {"photos": photos}
        if args.big:
            big = []
            for index, path in enumerate(photos[: args.big]):
                with Image.open(path) as opened:
                    image = opened.convert("RGB").resize((6000, 4000), Image.Resampling.BICUBIC)
                big.append(Path(temp) / f"big{index}.jpg")
                image.save(big[-1], quality=92)
            sets["24-MP JPEGs"] = big
        for label, files in sets.items():
            rows: dict[str, list[float]] = {}
            for path in files:
                inter, target = intermediate(path, 512)
                pixels = decode(path, 512).pixels[None].contiguous(memory_format=torch.channels_last)
                measures = {
                    "decode": lambda: decode(path, 512),
                    "decode+native": lambda: decode(path, 512, native=True),
                    "readings": lambda: native.read(inter, target),
                    "full decode": lambda: decode(path, 0),
                }
                for name, network in networks.items():
                    measures[f"network {Path(name).name}"] = lambda network=network: network(pixels)
                with torch.inference_mode():
                    for name, function in measures.items():
                        rows.setdefault(name, []).append(cpu_ms(function, args.rounds))
            print(f"\n{label}: {len(files)} files, ms per photo on one thread (CPU time; median over files of the median of {args.rounds})")
            for name, values in rows.items():
                print(f"  {name:<40} {statistics.median(values):8.1f}   (max {max(values):.1f})")
            extra = [b - a for a, b in zip(rows["decode"], rows["decode+native"])]
            print(f"  {'native readings added to decode':<40} {statistics.median(extra):8.1f}")


if __name__ == "__main__":
    main()
