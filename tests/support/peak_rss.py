"""Peak memory of scoring, measured in a fresh process, for tests/test_limits.py and README's figures.

    python tests/support/peak_rss.py [--weights W] [--max-side N] --warm-up PHOTO TARGET...
        prints JSON: peak RSS (ru_maxrss, MiB) once the model is loaded and PHOTO scored (the
        baseline), and again after scoring TARGET... the way the CLI does (rows streamed, not kept)
    python tests/support/peak_rss.py --make-folder DIR N
        writes N distinct small JPEGs into DIR, in 100 subfolders
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def make_folder(folder: Path, count: int) -> None:
    from PIL import Image

    for index in range(count):
        path = folder / f"{index % 100:02d}" / f"IMG_{index:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (96, 72), (index % 256, index // 256 % 256, 128)).save(path, quality=80)


def measure(weights: str | None, max_side: int | None, warm_up: str, targets: list[str]) -> dict[str, object]:
    import aescull

    model = aescull.load_model(weights)
    for _ in aescull.score_paths([warm_up], model=model, max_side=max_side):
        pass
    baseline = peak_mib()
    records = failed = 0
    scores = []
    for record in aescull.score_paths(targets, model=model, max_side=max_side):
        records += 1
        failed += record.error is not None
        if len(scores) < 3:
            scores.append(record.score)
    return {"baseline_mib": round(baseline, 1), "peak_mib": round(peak_mib(), 1), "records": records, "failed": failed, "first_scores": scores}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights")
    parser.add_argument("--max-side", type=int)
    parser.add_argument("--warm-up")
    parser.add_argument("--make-folder", nargs=2, metavar=("DIR", "N"))
    parser.add_argument("targets", nargs="*")
    options = parser.parse_args(argv)
    if options.make_folder:
        make_folder(Path(options.make_folder[0]), int(options.make_folder[1]))
        return
    print(json.dumps(measure(options.weights, options.max_side, options.warm_up, options.targets)))


if __name__ == "__main__":
    main(sys.argv[1:])
