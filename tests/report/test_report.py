"""``aescull report``: what the HTML holds (parsed, no browser here; see test_report_browser.py),
where thumbnails come from, and the command's streams and exit codes."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import aescull.pipeline.decode
import aescull.pipeline.local
from aescull.report.render import PAGE_SIZE, histogram_svg
from aescull.report.tiles import Tile, ordered
from aescull.pipeline.local import score_paths
from tests.support.cli import invoke, subprocess_env
from tests.support.pages import HOSTILE_NAMES, Page, paged_report
from tests.support.images import photo_pixels, save_photo
from tests.support.images import save_oriented

@pytest.fixture()
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    save_photo(root / "wide.jpg", 640, 360, seed=1)
    save_photo(root / "square.png", 300, 300, seed=2)
    save_oriented(root / "portrait.jpg", Image.fromarray(photo_pixels(480, 640, seed=3)), 6, quality=90)
    return root


def thumbnail_sizes(page: Page) -> dict[str, tuple[int, int]]:
    """Each tile's name -> the pixel size of its embedded JPEG."""
    sizes = {}
    for tile, image in zip(page.tiles, page.images):
        source = str(image["src"])
        assert source.startswith("data:image/jpeg;base64,")
        with Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))) as thumb:
            assert thumb.format == "JPEG"
            sizes[Path(str(tile["data-name"])).name] = thumb.size
    return sizes


def test_thumbnails_come_from_the_scoring_decode_upright_and_do_not_change_scores(library: Path, plumbing_model: object) -> None:
    seen: dict[str, tuple[int, int, bytes]] = {}
    with_thumbs = list(score_paths([library], model=plumbing_model, max_side=512, workers=1,
                                   on_thumbnail=lambda path, thumb: seen.update({path.name: (thumb.width, thumb.height, thumb.jpeg)})))
    plain = list(score_paths([library], model=plumbing_model, max_side=512, workers=1))
    assert [record.score for record in with_thumbs] == [record.score for record in plain]
    assert {name: size[:2] for name, size in seen.items()} == {"wide.jpg": (400, 225), "square.png": (300, 300), "portrait.jpg": (300, 400)}
    for width, height, jpeg in seen.values():
        with Image.open(io.BytesIO(jpeg)) as thumb:
            assert thumb.format == "JPEG" and thumb.size == (width, height)
    # The portrait's stored pixels are sideways: upright, its top row is the top of photo_pixels.
    with Image.open(io.BytesIO(seen["portrait.jpg"][2])) as thumb:
        expected = Image.fromarray(photo_pixels(480, 640, seed=3)).resize((300, 400))
        assert _mean_abs_difference(thumb.convert("RGB"), expected) < 20
        assert _mean_abs_difference(thumb.convert("RGB"), expected.transpose(Image.Transpose.ROTATE_180)) > 30


def _mean_abs_difference(first: Image.Image, second: Image.Image) -> float:
    import numpy as np

    return float(np.abs(np.asarray(first, dtype=np.float32) - np.asarray(second, dtype=np.float32)).mean())


def test_report_decodes_each_photo_once_and_cache_hits_still_get_thumbnails(
    library: Path, plumbing_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_decode = aescull.pipeline.decode.decode

    def counting(path: Path, *args: object) -> object:
        calls.append(Path(path).name)
        return real_decode(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(aescull.pipeline.local, "decode", counting)
    monkeypatch.setattr(aescull.pipeline.decode, "decode", counting)
    cache = tmp_path / "cache.sqlite3"
    code, out, err = invoke(["report", str(library), "-o", str(tmp_path / "first.html"), "--cache", str(cache)], weights=plumbing_weights)
    assert code == 0, err
    assert sorted(calls) == ["portrait.jpg", "square.png", "wide.jpg"]
    calls.clear()
    code, _, err = invoke(["report", str(library), "-o", str(tmp_path / "second.html"), "--cache", str(cache)], weights=plumbing_weights)
    assert code == 0, err
    assert sorted(calls) == ["portrait.jpg", "square.png", "wide.jpg"]  # cache hits: opened only for their thumbnails
    first, second = (Page((tmp_path / name).read_text(encoding="utf-8")) for name in ("first.html", "second.html"))
    assert len(first.images) == len(second.images) == 3
    assert [tile["data-score"] for tile in first.tiles] == [tile["data-score"] for tile in second.tiles]


def test_report_command_writes_a_sorted_page_with_histogram_and_cull_line(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    code, out, err = invoke(["report", str(library), "-o", str(target), "--below", "0.5", "--no-cache"], weights=plumbing_weights)
    assert code == 0, err
    assert out == ""
    assert f"report {target}: 3 photos" in err and "thumbnails embedded" in err
    page = Page(target.read_text(encoding="utf-8"))
    assert len(page.tiles) == 3 and len(page.images) == 3
    scores = [float(str(tile["data-score"])) for tile in page.tiles]
    assert scores == sorted(scores, reverse=True)
    assert {"histogram", "threshold", "hist-range"} <= set(page.svg_ids)
    dimmed = ["below" in str(tile["class"]).split() for tile in page.tiles]
    assert dimmed == [score < 0.5 for score in scores]
    assert any(text.startswith("below 0.5: ") for text in page.texts)
    assert all(width <= 400 and height <= 400 for width, height in thumbnail_sizes(page).values())
    portrait_w, portrait_h = thumbnail_sizes(page)["portrait.jpg"]
    assert portrait_h > portrait_w  # EXIF orientation applied


def write_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    names = list(dict.fromkeys(name for row in rows for name in row))
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_from_rows_shows_reasons_groups_and_failures(tmp_path: Path, plumbing_weights: Path) -> None:
    photos = [save_photo(tmp_path / f"p{index}.jpg", 200, 150, seed=index) for index in range(5)]
    rows = write_rows(tmp_path / "scores.csv", [
        {"path": photos[0], "score": "0.9000", "group": "", "reasons": ""},
        {"path": photos[1], "score": "0.3000", "group": "b1", "reasons": "blurry;underexposed"},
        {"path": photos[2], "score": "0.7000", "group": "b1", "reasons": ""},
        {"path": photos[3], "score": "0.8000", "group": "", "reasons": "noisy", "sharpness": "12.5"},
        {"path": photos[4], "score": "", "error": "truncated file: image data ends early"},
    ])
    code, out, err = invoke(["report", "--from", str(rows), "-o", str(tmp_path / "r.html")], weights=plumbing_weights)
    assert code == 1  # a failed row, as `aescull score` would exit
    assert out == "" and "1 failed" in err
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    names = [Path(str(tile["data-name"])).name for tile in page.tiles]
    # The burst b1 sits at the place of its best shot (0.7), its weaker frame right after it.
    assert names == ["p0.jpg", "p3.jpg", "p2.jpg", "p1.jpg", "p4.jpg"]
    assert [tile.get("data-group") for tile in page.tiles] == [None, None, "b1", "b1", None]
    captions = dict(zip(names, page.captions))
    assert "blurry" in captions["p1.jpg"] and "underexposed" in captions["p1.jpg"] and "group b1 · 2" in captions["p1.jpg"]
    assert "noisy" in captions["p3.jpg"] and "sharpness: 12.5" in str(page.tiles[1]["title"])
    assert "truncated file" in captions["p4.jpg"] and "failed" in str(page.tiles[4]["class"])
    assert len(page.images) == 4  # a failed row's file is not opened again


def test_from_rows_whose_file_is_gone_get_a_tile_and_a_warning(tmp_path: Path, plumbing_weights: Path) -> None:
    kept = save_photo(tmp_path / "kept.jpg", 120, 90)
    rows = write_rows(tmp_path / "scores.csv", [{"path": kept, "score": "0.5"}, {"path": tmp_path / "gone.jpg", "score": "0.4"}])
    code, out, err = invoke(["report", "--from", str(rows), "-o", str(tmp_path / "r.html")], weights=plumbing_weights)
    assert code == 1 and out == ""
    assert "gone.jpg: no thumbnail: file not found" in err and "1 without preview" in err
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert len(page.tiles) == 2 and len(page.images) == 1 and "no preview" in page.texts


def test_raw_half_of_a_pair_shows_its_jpeg(tmp_path: Path, plumbing_weights: Path) -> None:
    save_photo(tmp_path / "lib" / "IMG_1.JPG", 160, 120)
    (tmp_path / "lib" / "IMG_1.CR2").write_bytes(b"II*\x00not-really-raw")
    code, _, err = invoke(["report", str(tmp_path / "lib"), "-o", str(tmp_path / "r.html"), "--no-cache"], weights=plumbing_weights)
    assert code == 0, err
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert len(page.images) == 2 and page.images[0]["src"] == page.images[1]["src"]


def test_hostile_file_names_are_escaped(tmp_path: Path, plumbing_weights: Path) -> None:
    for seed, name in enumerate(HOSTILE_NAMES):
        save_photo(tmp_path / "lib" / name, 96, 72, seed=seed)
    target = tmp_path / "<b>report&amp;.html"
    code, _, err = invoke(["report", str(tmp_path / "lib"), "-o", str(target), "--no-cache", "--thumbnails", "folder",
                           "--title", "</title><script>alert(2)</script>"], weights=plumbing_weights)
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    page = Page(text)
    assert page.scripts == 1  # only the report's own
    assert "onerror=" not in text.replace("onerror=&quot;", "")
    assert {Path(str(tile["data-name"])).name for tile in page.tiles} == {name.lower() for name in HOSTILE_NAMES}
    assert any(HOSTILE_NAMES[0] in caption for caption in page.captions)
    assert "</title><script>alert(2)</script>" in page.texts
    folder = tmp_path / "<b>report&amp;_thumbs"
    assert all(str(image["src"]).startswith("%3Cb%3Ereport%26amp%3B_thumbs/") for image in page.images)
    assert sorted(path.name for path in folder.iterdir()) == ["000001.jpg", "000002.jpg"]


def test_thumbnail_folder_is_replaced_or_removed_on_rerun_but_never_someone_elses(tmp_path: Path, plumbing_weights: Path) -> None:
    save_photo(tmp_path / "lib" / "a.jpg", 120, 90)
    target, folder = tmp_path / "r.html", tmp_path / "r_thumbs"
    args = ["report", str(tmp_path / "lib"), "-o", str(target), "--no-cache"]
    assert invoke([*args, "--thumbnails", "folder"], weights=plumbing_weights)[0] == 0
    assert [path.name for path in folder.iterdir()] == ["000001.jpg"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private mode: others read the page too
    assert Page(target.read_text(encoding="utf-8")).images[0]["src"] == "r_thumbs/000001.jpg"
    assert invoke([*args, "--thumbnails", "embed"], weights=plumbing_weights)[0] == 0
    assert not folder.exists()  # stale thumbnails of the earlier report are gone
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"mine")
    before = target.read_bytes()
    code, out, err = invoke([*args, "--thumbnails", "folder"], weights=plumbing_weights)
    assert code == 2 and out == "" and "holds files aescull did not write" in err
    assert (folder / "holiday.jpg").read_bytes() == b"mine" and target.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no spool left behind


@pytest.mark.parametrize(
    "args",
    [
        ["report", "x", "--from", "rows.csv", "-o", "r.html"],
        ["report", "x", "-o", "r.html", "--below", "1.5"],
        ["report", "x"],
        ["report", "x", "-o", "r.html", "--thumbnails", "zip"],
        ["report", "--from", "missing.csv", "-o", "r.html"],
    ],
)
def test_usage_errors_exit_2(args: list[str], plumbing_weights: Path) -> None:
    code, out, err = invoke(args, weights=plumbing_weights)
    assert code == 2 and out == "" and err


def test_missing_output_folder_is_a_clear_error(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    code, out, err = invoke(["report", str(library), "-o", str(tmp_path / "nope" / "r.html")], weights=plumbing_weights)
    assert code == 2 and out == "" and "does not exist" in err and "Traceback" not in err


def test_subprocess_reads_jsonl_rows_from_stdin(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    code, scored, err = invoke(["score", str(library), "-f", "jsonl", "--quiet"], weights=plumbing_weights)
    assert code == 0, err
    target = tmp_path / "piped.html"
    result = subprocess.run(
        [sys.executable, "-m", "aescull", "report", "-o", str(target), "--below", "0.5"],
        input=scored, env={**subprocess_env(tmp_path), "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and f"report {target}: 3 photos" in result.stderr
    page = Page(target.read_text(encoding="utf-8"))
    expected = sorted((json.loads(line)["score"] for line in scored.splitlines()), reverse=True)
    assert [float(str(tile["data-score"])) for tile in page.tiles] == expected and len(page.images) == 3


def test_histogram_counts_and_threshold() -> None:
    svg = histogram_svg([0.01, 0.02, 0.51, 0.99, 1.0], below=0.5, bins=4)
    assert "0.00–0.25: 2 photos" in svg and "0.25–0.50: 0 photos" in svg and "0.50–0.75: 1 photo<" in svg and "0.75–1.00: 2 photos" in svg
    assert 'id="threshold"' in svg and "below 0.5: 2" in svg
    assert svg.count('class="bar cut"') == 2
    assert 'id="threshold"' not in histogram_svg([0.3], below=None)


def test_order_keeps_a_group_at_its_best_shot_and_failures_last() -> None:
    def tile(path: str, score: float | None, group: str | None = None) -> Tile:
        return Tile(path, score, None if score is not None else "bad", group, (), None, ())

    tiles = [tile("a", 0.6), tile("b1", 0.2, "g"), tile("b2", 0.7, "g"), tile("c", None), tile("d", 0.65), tile("lone", 0.9, "solo")]
    assert [t.path for t in ordered(tiles)] == ["lone", "b2", "b1", "d", "a", "c"]


def test_a_big_report_holds_every_tile_but_shows_only_the_first_page() -> None:
    page = Page(paged_report(PAGE_SIZE * 2 + 50))
    assert len(page.tiles) == PAGE_SIZE * 2 + 50
    shown = [tile for tile in page.tiles if "hidden" not in tile]
    assert [tile["data-name"] for tile in shown] == [tile["data-name"] for tile in page.tiles[:PAGE_SIZE]]
    small = paged_report(PAGE_SIZE)
    assert all("hidden" not in tile for tile in Page(small).tiles)
    assert '<nav class="pager" id="pager-top" aria-label="pages" hidden>' in small
