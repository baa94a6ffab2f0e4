"""The report in a real browser: headless Chromium opens it from a file URL, with no network."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from typer.testing import CliRunner

from aescull.cli.app import app
from tests.support.chromium import SKIP_REASON, dump_dom, find_chromium, screenshot
from tests.support.images import save_photo
from aescull.report.render import PAGE_SIZE
from tests.support.pages import HOSTILE_NAMES, Page, paged_report

pytestmark = pytest.mark.skipif(find_chromium() is None, reason=SKIP_REASON)
PHOTOS = 7


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, plumbing_weights: Path) -> dict[str, Path]:
    """The same small library as an embedded report and as a report with a thumbnails folder."""
    root = tmp_path_factory.mktemp("browser")
    library = root / "lib"
    for index in range(PHOTOS - len(HOSTILE_NAMES) - 1):
        save_photo(library / f"photo_{index:02d}.jpg", 480, 320, seed=index)
    for seed, name in enumerate(HOSTILE_NAMES, start=50):
        save_photo(library / name, 320, 480, seed=seed)
    (library / "broken.jpg").write_bytes(b"not a jpeg")
    built = {}
    for place in ("embed", "folder"):
        target = root / f"{place}.html"
        result = CliRunner().invoke(app, ["report", str(library), "-o", str(target), "--below", "0.5", "--thumbnails", place,
                                          "--no-cache", "--weights", str(plumbing_weights)])
        assert result.exit_code == 1, result.stderr  # broken.jpg is a failed row
        built[place] = target
    return built


def test_dom_has_one_tile_per_photo_a_histogram_and_no_injected_markup(reports: dict[str, Path]) -> None:
    dom = dump_dom(reports["embed"].as_uri())
    page = Page(dom)
    assert len(page.tiles) == PHOTOS
    assert {"histogram", "threshold"} <= set(page.svg_ids)
    assert page.scripts == 1
    assert "data-pwned" not in dom  # the onerror in a file name never ran
    assert any(HOSTILE_NAMES[0] in caption for caption in page.captions)
    assert re.search(r'<output id="shown">7 of 7 shown</output>', dom)  # the script ran


def test_view_in_the_address_sorts_and_filters(reports: dict[str, Path]) -> None:
    written = Page(reports["embed"].read_text(encoding="utf-8"))
    scores = sorted(float(str(tile["data-score"])) for tile in written.tiles if tile.get("data-score"))
    cut = scores[len(scores) // 2]
    page = Page(dump_dom(reports["embed"].as_uri() + f"#sort=name&min={cut}&failed=0"))
    names = [str(tile["data-name"]) for tile in page.tiles]
    assert names == sorted(names)
    visible = [tile for tile in page.tiles if "hidden" not in tile]
    assert visible and all(float(str(tile["data-score"])) >= cut for tile in visible)
    assert len(visible) == sum(score >= cut for score in scores)
    assert all("hidden" in tile for tile in page.tiles if "failed" in str(tile["class"]))


@pytest.mark.parametrize("place", ["embed", "folder"])
def test_screenshot_shows_the_photos(reports: dict[str, Path], place: str, tmp_path: Path) -> None:
    shot = screenshot(reports[place].as_uri(), tmp_path / "shot.png", width=1000, height=900)
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (1000, 900)
        assert ImageStat.Stat(rgb.convert("L")).var[0] > 200
        # Text and the histogram alone give a few hundred colours; noisy photo thumbnails give thousands.
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 5000


def test_a_page_in_the_address_shows_that_page_of_the_current_order(tmp_path: Path) -> None:
    count = PAGE_SIZE * 2 + 50
    report = tmp_path / "big.html"
    report.write_text(paged_report(count), encoding="utf-8")
    page = Page(dump_dom(report.as_uri() + "#sort=worst&page=2"))
    visible = [str(tile["data-name"]) for tile in page.tiles if "hidden" not in tile]
    worst_first = [f"shoot/img_{index:05d}.jpg" for index in reversed(range(count))]
    assert visible == worst_first[PAGE_SIZE : 2 * PAGE_SIZE]
    assert f"{PAGE_SIZE + 1}–{2 * PAGE_SIZE} of {count} · page 2 of 3" in "".join(page.texts)
    matching = sum(1 - index / count >= 0.3 for index in range(count))
    assert PAGE_SIZE < matching < 2 * PAGE_SIZE
    last = Page(dump_dom(report.as_uri() + "#min=0.3&page=9"))  # past the end: the last page
    assert len([tile for tile in last.tiles if "hidden" not in tile]) == matching - PAGE_SIZE
