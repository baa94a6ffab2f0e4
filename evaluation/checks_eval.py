"""Calibrate and check the thresholds of :mod:`aescull.judge.checks` on data; print the tables.

    python -m evaluation.checks_eval --data ../shared/data [--save m.json | --load m.json]

- ``photos/`` (high-resolution originals): every photo is measured as it is and after each
  synthetic degradation at native resolution: Gaussian blur (sigma 1, 2, 3, 4 px), horizontal
  camera shake (a box of 9 or 17 px, the kernel of :func:`training.degrade.motion_blur`),
  exposure shifts (-2, -1, +1, +2 stops, exactly :func:`training.degrade.exposure`) and
  Gaussian noise (sigma 2, 4, 8 levels per channel, :func:`training.degrade.gaussian_noise`;
  that is about 0.67 times as much luminance noise, the ``noise`` column's scale).
  For each reason: how many copies of each level it flags (recall), the precision of its flags
  when the degraded copies are mixed with the originals, and every flag it raises on the
  untouched originals (the target is none).
  Photos arrive as JPEGs, so the original and every blurred copy is also measured after saving
  it as JPEG quality 90 and decoding it again (block edges, ringing), and a shallow depth of
  field copy (:func:`bokeh`: the centre sharp, the rest blurred by 8 px) must never be blurry.
  The sharpness of every photo is listed, with how stable the margins are on random subsets.
- ``clive-dev/`` (real phone photos rated by people): how often each reason fires and the mean
  opinion score of the flagged photos against the others: flags should pick worse photos.
- The time the checks add to a 24-MP JPEG (CPU time of one thread, so other load on the machine
  does not inflate it), against decoding for the model alone and one model call.

Measuring is the slow part; ``--save`` keeps the measurements and ``--load`` prints the tables
again (for instance after changing a threshold) without measuring.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from aescull.judge import checks
from evaluation import photos_in
from training import degrade
from training.metrics import spearman

Variant = Callable[[Image.Image], Image.Image]


def _shift(stops: float) -> Variant:
    """degrade.exposure is a function of each 8-bit value alone: apply it as a lookup table."""
    ramp = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2))
    table = list(np.asarray(degrade.exposure(ramp, stops))[0, :, 0])
    return lambda image: image.point(table * 3)


def _shake(length: int) -> Variant:
    """The box of degrade.motion_blur (odd lengths), run by Pillow: same kernel, far faster."""
    return lambda image: image.filter(ImageFilter.BoxBlur(((length - 1) // 2, 0)))


# (group, level, transform); the level 0 of every group is the untouched original.
VARIANTS: list[tuple[str, str, Variant]] = [
    ("blur", "sigma 1 px", lambda image: degrade.gaussian_blur(image, 1)),
    ("blur", "sigma 2 px", lambda image: degrade.gaussian_blur(image, 2)),
    ("blur", "sigma 3 px", lambda image: degrade.gaussian_blur(image, 3)),
    ("blur", "sigma 4 px", lambda image: degrade.gaussian_blur(image, 4)),
    ("blur", "shake 9 px", _shake(9)),
    ("blur", "shake 17 px", _shake(17)),
    ("dark", "-1 stop", _shift(-1)),
    ("dark", "-2 stops", _shift(-2)),
    ("bright", "+1 stop", _shift(1)),
    ("bright", "+2 stops", _shift(2)),
    ("noise", "sigma 2 RGB", lambda image: degrade.gaussian_noise(image, 2)),
    ("noise", "sigma 4 RGB", lambda image: degrade.gaussian_noise(image, 4)),
    ("noise", "sigma 8 RGB", lambda image: degrade.gaussian_noise(image, 8)),
]
REASON_OF = {"blur": "blurry", "dark": "dark", "bright": "bright", "noise": "noisy"}
# Levels counted as positives in the summary line of each reason: clearly visible at 100 %.
CLEAR = {"sigma 2 px", "sigma 3 px", "sigma 4 px", "shake 9 px", "shake 17 px", "-2 stops", "+2 stops", "sigma 4 RGB", "sigma 8 RGB"}
ORIGINAL = "original"
JPEG = ", JPEG q90"  # suffix of a copy saved as JPEG quality 90 and decoded again
BOKEH = "bokeh r8"  # the centre sharp, the rest blurred: must never be flagged blurry
CENTRE = "centre crop"  # the original's central half (where the bokeh copy stays sharp), for reference
# Copies measured again after a JPEG round trip: the untouched and sharp ones, and every blur.
JPEG_GROUPS = {"blur"}


def jpeg(image: Image.Image, quality: int = 90) -> Image.Image:
    """Saved as JPEG and decoded again, as photos that reach a culler mostly are."""
    return degrade.jpeg_artefacts(image, quality)


def bokeh(image: Image.Image, radius: float = 8) -> Image.Image:
    """Shallow depth of field: an ellipse over the central half of each side stays sharp, the rest
    is blurred by a Gaussian of ``radius`` px, with a feathered border (2 % of the short side)."""
    width, height = image.size
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).ellipse((width * 0.25, height * 0.25, width * 0.75, height * 0.75), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(0.02 * min(width, height)))
    return Image.composite(image, degrade.gaussian_blur(image, radius), mask)


def centre(image: Image.Image) -> Image.Image:
    width, height = image.size
    return image.crop((width // 4, height // 4, width - width // 4, height - height // 4))


def measure_photos(folder: Path, log: Callable[[str], None]) -> dict[str, dict[str, dict]]:
    """{photo: {level: measurements}} for every photo and variant."""
    results: dict[str, dict[str, dict]] = {}
    paths = photos_in(folder)
    for number, path in enumerate(paths, start=1):
        with Image.open(path) as opened:
            original = opened.convert("RGB")
        rows = {ORIGINAL: asdict(checks.measure(original)), ORIGINAL + JPEG: asdict(checks.measure(jpeg(original)))}
        soft = bokeh(original)
        rows[BOKEH] = asdict(checks.measure(soft))
        rows[BOKEH + JPEG] = asdict(checks.measure(jpeg(soft)))
        rows[CENTRE] = asdict(checks.measure(centre(original)))
        for group, level, transform in VARIANTS:
            copy = transform(original)
            rows[level] = asdict(checks.measure(copy))
            if group in JPEG_GROUPS:
                rows[level + JPEG] = asdict(checks.measure(jpeg(copy)))
        results[path.name] = rows
        log(f"{number}/{len(paths)} {path.name} {original.width}x{original.height}")
    return results


def measure_clive(folder: Path, log: Callable[[str], None]) -> list[dict]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        labels = list(csv.DictReader(handle))
    rows = []
    for number, label in enumerate(labels, start=1):
        with Image.open(folder / "images" / label["filename"]) as opened:
            measured = asdict(checks.measure(opened.convert("RGB")))
        rows.append({"filename": label["filename"], "mos": float(label["mos"]), **measured})
        if number % 200 == 0:
            log(f"clive-dev {number}/{len(labels)}")
    return rows


def _judge(row: dict) -> tuple[str, ...]:
    """Reasons under the current thresholds (so --load shows the effect of a changed threshold)."""
    return checks.reasons_for(row["sharpness"], row["exposure"], row["clipped"], row["noise"])


def _levels(group: str, results: dict[str, dict[str, dict]]) -> list[str]:
    """The copies of a group, each followed by its JPEG round trip where measured."""
    levels = []
    for variant_group, level, _ in VARIANTS:
        if variant_group == group:
            levels += [level, level + JPEG] if group in JPEG_GROUPS else [level]
    return [level for level in levels if all(level in rows for rows in results.values())]


def _short(name: str) -> str:
    """A photo's name without its package prefix and extension, for narrow tables."""
    return Path(name).stem.split("__")[-1][:24]


def photo_table(results: dict[str, dict[str, dict]]) -> list[str]:
    names = sorted(results)
    total = len(names)
    width = 24
    lines = [f"Synthetic degradations of {total} high-resolution photos, measured at native resolution", ""]
    header = f"{'reason':<8} {'copy':<{width}} {'flagged':>9} {'recall':>7} {'precision':>10}  other flags on these copies"
    lines += [header, "-" * len(header)]
    for group, reason in REASON_OF.items():
        false_flags = [name for name in names if reason in _judge(results[name][ORIGINAL])]
        levels = _levels(group, results)
        lines.append(f"{reason:<8} {'original':<{width}} {len(false_flags):>4} / {total:<3}{'':>7} {'':>10}  " + ", ".join(false_flags))
        if reason == "blurry":  # copies that must not be flagged either
            for keep in (ORIGINAL + JPEG, BOKEH, BOKEH + JPEG):
                if all(keep in results[name] for name in names):
                    flagged = [name for name in names if reason in _judge(results[name][keep])]
                    lines.append(
                        f"{'':<8} {keep:<{width}} {len(flagged):>4} / {total:<3}{'':>7} {'':>10}  "
                        + ", ".join(_flagged_note(results[name], keep, name) for name in flagged)
                    )
        clear_hits = 0
        clear_total = 0
        for level in levels:
            verdicts = [_judge(results[name][level]) for name in names]
            hits = sum(reason in verdict for verdict in verdicts)
            if level.removesuffix(JPEG) in CLEAR:
                clear_hits += hits
                clear_total += total
            precision = _share(hits, hits + len(false_flags))
            others: dict[str, int] = {}
            for verdict in verdicts:
                for other in verdict:
                    if other != reason:
                        others[other] = others.get(other, 0) + 1
            lines.append(
                f"{'':<8} {level:<{width}} {hits:>4} / {total:<3}{hits / total:>7.0%} {precision:>10}  "
                + ", ".join(f"{other} {count}" for other, count in sorted(others.items()))
            )
        clear = [level for level in levels if level in CLEAR]
        precision = _share(clear_hits, clear_hits + len(false_flags))
        lines.append(
            f"{'':<8} {'all clear levels':<{width}} {clear_hits:>4} / {clear_total:<3}{clear_hits / max(clear_total, 1):>7.0%} {precision:>10}  "
            + "(" + ", ".join(clear) + (", and their JPEG copies" if group in JPEG_GROUPS else "") + ")"
        )
        lines.append("")
    lines.append("Closest calls among the originals (distance to each threshold):")
    for label, key, threshold, better_high in (
        ("sharpness", "sharpness", checks.BLURRY_BELOW, True),
        ("exposure", "exposure", checks.DARK_BELOW, True),
        ("clipped", "clipped", checks.BRIGHT_ABOVE, False),
        ("noise", "noise", checks.NOISY_ABOVE, False),
    ):
        values = sorted(
            ((results[name][ORIGINAL][key], name) for name in names if results[name][ORIGINAL][key] is not None),
            reverse=not better_high,
        )
        shown = ", ".join(f"{name} {value:.3g}" for value, name in values[:3])
        lines.append(f"  {label:<10} threshold {threshold:<5} worst originals: {shown}")
    return lines + [""] + sharpness_table(results)


def _flagged_note(rows: dict[str, dict], level: str, name: str) -> str:
    """A flagged bokeh copy with the sharpness of the original's centre: it can only stay sharp
    where the original was."""
    if level.startswith(BOKEH) and CENTRE in rows:
        return f"{name} (original's centre {_value(rows[CENTRE]['sharpness'])})"
    return name


def _value(sharpness: float | None) -> str:
    return "-" if sharpness is None else f"{sharpness:.3f}"


def sharpness_table(results: dict[str, dict[str, dict]], seed: int = 0, draws: int = 2000) -> list[str]:
    """Every photo's sharpness per copy, and how the blurry line holds on random subsets.

    The held-back photos are other photos: the subsets show how much a result on 10 or 14 photos
    varies with which photos they are (the 28 as a population, so it is optimistic where the
    held-back content differs from all of them).
    """
    names = sorted(results)
    keep = [level for level in (ORIGINAL, ORIGINAL + JPEG, CENTRE, BOKEH, BOKEH + JPEG) if all(level in results[name] for name in names)]
    blurred = _levels("blur", results)
    columns = keep + blurred
    short = {ORIGINAL: "orig", CENTRE: "centre", BOKEH: "bokeh"}
    heads = [
        short.get(column.removesuffix(JPEG), column.removesuffix(JPEG)).replace("sigma ", "s").replace("shake ", "sh").replace(" px", "")
        + (" J" if column.endswith(JPEG) else "")
        for column in columns
    ]
    lines = [f"sharpness per photo (blurry below {checks.BLURRY_BELOW}; J: after a JPEG q90 round trip)", ""]
    lines.append(f"{'photo':<24}" + "".join(f"{head:>9}" for head in heads))
    for name in names:
        lines.append(f"{_short(name):<24}" + "".join(f"{_value(results[name][column]['sharpness']):>9}" for column in columns))

    def sharpness(name: str, level: str) -> float:
        value = results[name][level]["sharpness"]
        return math.inf if value is None else value  # never flagged

    line = checks.BLURRY_BELOW
    sharp = [level for level in keep if level != CENTRE]
    lowest = {name: min(sharpness(name, level) for level in sharp) for name in names}
    lines.append("")
    lines.append(
        "lowest readings of the copies that must stay sharp (originals, JPEG copies, bokeh): "
        + ", ".join(f"{_short(name)} {lowest[name]:.3f}" for name in sorted(names, key=lowest.get)[:4])
    )
    for level in [level for level in blurred if level.startswith("sigma 3 px")]:
        highest = sorted(names, key=lambda name: -sharpness(name, level))[:4]
        lines.append(f"highest readings of {level}: " + ", ".join(f"{_short(name)} {sharpness(name, level):.3f}" for name in highest))
    rng = np.random.default_rng(seed)
    for size in (10, len(names) // 2):
        if size > len(names) or size < 2:
            continue
        picks = [rng.choice(len(names), size=size, replace=False) for _ in range(draws)]
        parts = []
        for level in [level for level in blurred if level.startswith("sigma 3 px")]:
            counts = np.array([sum(sharpness(names[index], level) < line for index in pick) for pick in picks])
            parts.append(f"{level}: >= 90 % flagged in {np.mean(counts >= 0.9 * size):.0%}, median {np.median(counts) / size:.0%}, worst {counts.min()}/{size}")
        false = np.array([sum(lowest[names[index]] < line for index in pick) for pick in picks])
        margin = np.array([min(lowest[names[index]] for index in pick) / line for pick in picks])
        parts.append(f"a sharp copy flagged in {np.mean(false > 0):.0%}; lowest sharp copy / line: median {np.median(margin):.2f}, worst {margin.min():.2f}")
        lines.append(f"random {size} of {len(names)} photos ({draws} draws): " + "; ".join(parts))
    return lines


def _share(part: int, whole: int) -> str:
    """A percentage, or "-" where nothing was flagged (precision is undefined, not 0)."""
    return f"{part / whole:.0%}" if whole else "-"


def clive_table(rows: list[dict]) -> list[str]:
    lines = [f"clive-dev: {len(rows)} real phone photos (500 px) with mean opinion scores (0-100)", ""]
    header = f"{'reason':<8} {'flagged':>8} {'MOS flagged':>12} {'MOS others':>11}"
    lines += [header, "-" * len(header)]
    for reason in checks.REASONS:
        flagged = [row["mos"] for row in rows if reason in _judge(row)]
        others = [row["mos"] for row in rows if reason not in _judge(row)]
        mean_flagged = f"{statistics.fmean(flagged):.1f}" if flagged else "-"
        lines.append(f"{reason:<8} {len(flagged):>8} {mean_flagged:>12} {statistics.fmean(others):>11.1f}")
    any_flag = [row["mos"] for row in rows if _judge(row)]
    none = [row["mos"] for row in rows if not _judge(row)]
    lines.append(f"{'any':<8} {len(any_flag):>8} {statistics.fmean(any_flag) if any_flag else float('nan'):>12.1f} {statistics.fmean(none):>11.1f}")
    for key in ("sharpness", "exposure", "clipped", "noise"):
        pairs = [(row[key], row["mos"]) for row in rows if row[key] is not None]
        lines.append(f"Spearman rank correlation of {key} with MOS: {spearman(*np.asarray(pairs, dtype=np.float64).reshape(-1, 2).T):+.2f} (n={len(pairs)})")
    return lines


def cost_table(photos: Path, repeats: int = 5) -> list[str]:
    """CPU milliseconds per 24-MP JPEG: decoding for the model alone, with checks, one model call.

    The best of a few runs: other processes slow a run down (caches, memory bandwidth) even in
    CPU time, never speed it up.
    """
    import torch

    from aescull.model.network import ModelConfig, SPPNet
    from aescull.pipeline.decode import decode

    source = max((path for path in photos.iterdir() if path.suffix.lower() == ".jpg"), key=lambda path: path.stat().st_size)
    with Image.open(source) as opened:
        big = opened.convert("RGB").resize((6000, 4000), Image.Resampling.BICUBIC)
    big = degrade.gaussian_noise(big, 2)  # texture at 100 %, so the file decodes like a real photo
    torch.set_num_threads(1)
    model = SPPNet(ModelConfig()).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "24mp.jpg"
        big.save(path, quality=92)
        size_mb = path.stat().st_size / 1e6

        def cpu_ms(work: Callable[[], object]) -> float:
            spent = []
            for _ in range(repeats):
                started = time.thread_time()
                work()
                spent.append((time.thread_time() - started) * 1000)
            return min(spent)

        plain = cpu_ms(lambda: decode(path, 512))
        with_checks = cpu_ms(lambda: decode(path, 512, checks=True))

        def full_decode() -> None:
            with Image.open(path) as image:
                image.load()

        full = cpu_ms(full_decode)
        with Image.open(path) as image:
            native = image.convert("RGB")
        measuring = cpu_ms(lambda: checks.measure(native))
        pixels = torch.from_numpy(decode(path, 512).pixels[None])
        with torch.inference_mode():
            inference = cpu_ms(lambda: model(pixels))
    return [
        f"Added cost per 24-MP JPEG (6000x4000, {size_mb:.1f} MB; CPU ms of one thread, best of {repeats}):",
        f"  decode for the model (draft 1/8 + resize)  {plain:7.0f} ms",
        f"  the same with checks                       {with_checks:7.0f} ms   (+{with_checks - plain:.0f} ms)",
        f"    of which: full-size decode {full:.0f} ms, checks.measure {measuring:.0f} ms",
        f"  one model call at 512 px, for comparison   {inference:7.0f} ms",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.checks_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding photos/ and clive-dev/ (such as ../shared/data)")
    parser.add_argument("--save", type=Path, help="write the measurements to this JSON file")
    parser.add_argument("--load", type=Path, help="read measurements from this JSON file instead of measuring")
    parser.add_argument("--no-cost", action="store_true", help="skip the timing of a 24-MP image")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.load:
        measured = json.loads(args.load.read_text(encoding="utf-8"))
    else:
        if not (args.data / "photos").is_dir():
            parser.error(f"no photos/ under {args.data} (give --data)")
        measured = {"photos": measure_photos(args.data / "photos", log)}
        if (args.data / "clive-dev" / "labels.csv").is_file():
            measured["clive"] = measure_clive(args.data / "clive-dev", log)
        if args.save:
            args.save.write_text(json.dumps(measured), encoding="utf-8")
    print(
        f"thresholds: blurry sharpness < {checks.BLURRY_BELOW}, dark exposure < {checks.DARK_BELOW} stops, "
        f"bright clipped > {checks.BRIGHT_ABOVE}, noisy noise > {checks.NOISY_ABOVE} levels\n"
    )
    print("\n".join(photo_table(measured["photos"])))
    if "clive" in measured:
        print("\n" + "\n".join(clive_table(measured["clive"])))
    if not args.no_cost and (args.data / "photos").is_dir():
        print("\n" + "\n".join(cost_table(args.data / "photos")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
