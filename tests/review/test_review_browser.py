"""The review in a real browser: headless Chromium opens the page, a person's keys are pressed, and
the sidecars are read back with exiftool; `aescull undo` then puts every byte back.

Screenshots of the grid, the loupe and the burst compare are saved under pytest's base temporary
folder, in review-shots/ (the path is printed).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aescull.library import xmp
from aescull.review.catalog import Catalog
from aescull.review.server import ReviewServer
from aescull.rows.columns import row_values
from aescull.rows.record import ScoreRecord
from tests.support.chromium import SKIP_REASON, DevTools, find_chromium
from tests.support.cli import invoke
from tests.support.images import save_photo
from tests.support.library import fingerprint
from tests.support.reviewing import SHARP_BOX, make_review_library, records_for, running_review, serving

pytestmark = [
    pytest.mark.skipif(find_chromium() is None, reason=SKIP_REASON),
    pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed (Debian package libimage-exiftool-perl; .ci/run installs it)"),
]
IDLE = "document.body.dataset.ready && !document.querySelector('.pending')"


@pytest.fixture(scope="module")
def browser() -> Iterator[DevTools]:
    opened = DevTools(1280, 900)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def shots_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "review-shots"
    folder.mkdir(exist_ok=True)
    print(f"review screenshots in {folder}")
    return folder


def exiftool(sidecar: Path) -> dict[str, object]:
    done = subprocess.run(["exiftool", "-j", "-G1", "-XMP:all", str(sidecar)], capture_output=True, check=True, text=True, timeout=60)
    return json.loads(done.stdout)[0]


def current(browser: DevTools) -> str:
    return str(browser.evaluate("document.querySelector('.tile.current').dataset.name"))


def go_to(browser: DevTools, name: str) -> None:
    """Walk to the shot with the arrow keys, as a person would."""
    names = browser.evaluate("[...document.querySelectorAll('.tile')].map(tile => tile.dataset.name)")
    assert isinstance(names, list) and name in names, names
    steps = names.index(name) - names.index(current(browser))
    for _ in range(abs(steps)):
        browser.press("ArrowRight" if steps > 0 else "ArrowLeft")
    assert current(browser) == name


def tile_state(browser: DevTools, name: str) -> dict[str, object]:
    state = browser.evaluate(
        f"(() => {{ const tile = document.querySelector('.tile[data-name=\"{name}\"]'); return {{classes: tile.className, "
        "flag: tile.querySelector('.flag').textContent, stars: tile.querySelector('.stars').textContent}; })()"
    )
    assert isinstance(state, dict)
    return state


def choose(browser: DevTools, control: str, value: str) -> None:
    browser.evaluate(f"(() => {{ const menu = document.getElementById('{control}'); menu.value = '{value}'; "
                     "menu.dispatchEvent(new Event('change')); })()")


def visible_names(browser: DevTools) -> list[str]:
    names = browser.evaluate("[...document.querySelectorAll('.tile')].map(tile => tile.dataset.name)")
    assert isinstance(names, list)
    return [str(name) for name in names]


def test_keys_decide_exiftool_reads_the_sidecars_and_undo_puts_every_byte_back(
    tmp_path: Path, plumbing_weights: Path, browser: DevTools, shots_folder: Path
) -> None:
    library = make_review_library(tmp_path)
    before = fingerprint(library, with_mtimes=True)
    arguments = ["lib", "--weights", str(plumbing_weights), "--no-cache", "--checks"]
    with running_review(arguments, tmp_path) as review:
        browser.navigate(review.url)
        browser.wait_until(IDLE)
        assert "outside.jpg" not in visible_names(browser) and "secret.jpg" not in visible_names(browser)
        assert tile_state(browser, "a.jpg")["stars"] == "★★☆☆☆"  # what Lightroom's a.xmp says
        assert fingerprint(library, with_mtimes=True) == before  # looking writes nothing

        go_to(browser, "a.jpg")
        browser.press("x")
        browser.wait_until(IDLE)
        assert "reject" in str(tile_state(browser, "a.jpg")["classes"])
        go_to(browser, "b.jpg")
        browser.press("p")
        go_to(browser, "sharp.jpg")
        browser.press("4")
        go_to(browser, "a.jpg")
        browser.press("u")  # a slip of X undone: the stars come back
        go_to(browser, "IMG_0002.jpg")
        browser.press("x")
        browser.wait_until(IDLE)
        browser.capture(shots_folder / "grid.png")
        assert tile_state(browser, "a.jpg") | {"classes": ""} == {"classes": "", "flag": "", "stars": "★★☆☆☆"}
        assert tile_state(browser, "b.jpg")["flag"] == "✓ picked" and tile_state(browser, "sharp.jpg")["stars"] == "★★★★☆"

        browser.navigate(review.url)  # what the page shows after a reload is what the sidecars say
        browser.wait_until(IDLE)
        assert "reject" in str(tile_state(browser, "IMG_0002.jpg")["classes"]) and tile_state(browser, "b.jpg")["flag"] == "✓ picked"

        for sidecar in ("a.jpg.xmp", "a.CR2.xmp", "a.xmp"):  # the whole shot, Lightroom's sidecar too
            tags = exiftool(library / sidecar)
            assert (tags["XMP-xmp:Rating"], tags["XMP-digiKam:PickLabel"]) == (2, 0), sidecar
        assert exiftool(library / "a.xmp")["XMP-photoshop:City"] == "Lisbon"  # the rest of it kept
        picked = exiftool(library / "b.jpg.xmp")
        assert (picked["XMP-xmp:Rating"], picked["XMP-digiKam:PickLabel"]) == (2, 3)
        assert exiftool(library / "sharp.jpg.xmp")["XMP-xmp:Rating"] == 4
        rejected = exiftool(library / "burst" / "IMG_0002.jpg.xmp")
        assert (rejected["XMP-xmp:Rating"], rejected["XMP-digiKam:PickLabel"]) == (-1, 1)
        assert 0 <= float(str(rejected["XMP-aescull:Score"])) <= 1

        review.process.send_signal(signal.SIGINT)
        assert review.process.wait(timeout=60) == 130
        with pytest.raises(ConnectionRefusedError):  # nothing listens any more
            socket.create_connection(("127.0.0.1", review.port), timeout=10)
    said = review.stderr.decode()
    assert "outside.jpg: its file lies outside" in said and "interrupted" in said and "undo with: aescull undo" in said
    code, _, summary = invoke(["undo", "lib"], tmp_path)
    assert code == 0, summary
    assert fingerprint(library, with_mtimes=True) == before


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    return make_review_library(tmp_path)


def test_the_loupe_opens_at_100_percent_on_the_sharpest_region(library: Path, browser: DevTools, shots_folder: Path) -> None:
    with serving(Catalog(records_for(library), library)) as server:
        browser.navigate(server.url)
        browser.wait_until(IDLE)
        go_to(browser, "sharp.jpg")
        browser.press("z")
        part = browser.wait_until("(() => { const image = document.getElementById('loupe-image');"
                                  " return image.complete && image.naturalWidth && {...image.dataset, shown: image.width, natural: image.naturalWidth}; })()")
        assert isinstance(part, dict)
        x, y, w, h = (int(part[name]) for name in ("x", "y", "w", "h"))
        assert part["natural"] == w == part["shown"]  # one photo pixel per screen pixel
        # Centred on the sharp patch as far as the photo's border allows: the patch is in view, whole.
        assert x <= SHARP_BOX[0] and SHARP_BOX[2] <= x + w and y <= SHARP_BOX[1] and SHARP_BOX[3] <= y + h
        assert (x, y) != ((1600 - w) // 2, (1200 - h) // 2)  # not the frame's centre
        assert "sharpest region" in str(browser.evaluate("document.getElementById('loupe-caption').textContent"))
        browser.capture(shots_folder / "loupe.png")
        browser.press("x")  # the keys decide in the loupe too
        browser.wait_until(IDLE)
        browser.press("Escape")
        assert browser.evaluate("document.getElementById('loupe').hidden") is True
        assert "reject" in str(tile_state(browser, "sharp.jpg")["classes"])


def test_compare_shows_a_burst_side_by_side_and_decides_on_the_chosen_frame(library: Path, browser: DevTools, shots_folder: Path) -> None:
    burst = {f"IMG_000{index}.jpg": "moment" for index in (1, 2, 3)}
    with serving(Catalog(records_for(library, groups=burst), library)) as server:
        browser.navigate(server.url)
        browser.wait_until(IDLE)
        assert browser.evaluate("document.querySelectorAll('.moment .tile').length") == 3
        go_to(browser, "IMG_0001.jpg")
        browser.press("c")
        panels = browser.wait_until("[...document.querySelectorAll('#compare .panel')].map(panel => panel.dataset.name)")
        assert panels == ["IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg"]
        browser.press("ArrowRight")
        browser.press("x")
        browser.press("z")  # every frame at 100 % on the same point
        browser.wait_until("[...document.querySelectorAll('#compare .panel img')].every(image => image.complete && image.src.includes('/crop/'))")
        browser.capture(shots_folder / "compare.png")
        browser.press("Escape")
        browser.wait_until(IDLE)
        assert current(browser) == "IMG_0002.jpg" and "reject" in str(tile_state(browser, "IMG_0002.jpg")["classes"])
        assert "reject" not in str(tile_state(browser, "IMG_0001.jpg")["classes"])
        go_to(browser, "a.jpg")
        browser.press("c")  # not a burst: said, nothing opened
        assert browser.evaluate("document.getElementById('compare').hidden") is True
        assert "not part of a burst" in str(browser.evaluate("document.getElementById('status').textContent"))


def test_filters_by_decision_and_reason_and_groups_by_decision(library: Path, browser: DevTools) -> None:
    from aescull.judge.checks import Checks

    flagged = {"blurry.jpg": Checks.judged(0.2, -0.3, 0.0, 1.0), "b.jpg": Checks.judged(0.9, -2.5, 0.0, 1.0)}
    rows = records_for(library, checks={name: flagged.get(name, Checks.judged(0.9, -0.3, 0.0, 1.0)) for name in
                                        ("a.jpg", "b.jpg", "blurry.jpg", "sharp.jpg", "IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg")})
    with serving(Catalog(rows, library)) as server:
        browser.navigate(server.url)
        browser.wait_until(IDLE)
        go_to(browser, "sharp.jpg")
        browser.press("x")
        browser.wait_until(IDLE)
        choose(browser, "reason", "blurry")
        assert visible_names(browser) == ["blurry.jpg"]
        choose(browser, "reason", "flagged")
        assert sorted(visible_names(browser)) == ["b.jpg", "blurry.jpg"]
        choose(browser, "reason", "")
        choose(browser, "decision", "reject")
        assert visible_names(browser) == ["sharp.jpg"]
        assert "rejected" in str(browser.evaluate("document.getElementById('counts').textContent"))
        choose(browser, "decision", "")
        choose(browser, "group", "decision")
        sections = browser.evaluate("[...document.querySelectorAll('.section')].map(heading => heading.textContent)")
        assert sections == [f"unflagged · {len(server.review.catalog) - 1}", "rejected · 1"]
        assert visible_names(browser)[-1] == "sharp.jpg"
        assert "#group=decision" in str(browser.evaluate("location.hash"))  # the view is kept in the address


def test_a_verdict_column_shows_when_the_rows_have_it(library: Path, browser: DevTools) -> None:
    """The verdict issue adds a column; the review shows it, filters and groups by it, with no other change."""
    verdicts = {"a.jpg": "pick", "blurry.jpg": "reject"}

    def columns(row: ScoreRecord) -> dict[str, object]:
        return {**row_values(row), "verdict": verdicts.get(row.path.name, "keep")}

    with serving(Catalog(records_for(library), library, columns)) as server:
        browser.navigate(server.url)
        browser.wait_until(IDLE)
        assert browser.evaluate("document.getElementById('verdict-filter').hidden") is False
        chips = browser.evaluate("document.querySelector('.tile[data-name=\"blurry.jpg\"] .verdict').textContent")
        assert chips == "verdict reject"
        choose(browser, "verdict", "reject")
        assert visible_names(browser) == ["blurry.jpg"]
    with serving(Catalog(records_for(library), library)) as server:  # rows without one: nothing about verdicts
        browser.navigate(server.url)
        browser.wait_until(IDLE)
        assert browser.evaluate("document.getElementById('verdict-filter').hidden") is True
        assert browser.evaluate("document.querySelectorAll('.verdict').length") == 0


def test_apply_moves_the_rejected_shots_whole_and_undo_puts_them_back_first(library: Path, browser: DevTools, tmp_path: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    with serving(Catalog(records_for(library), library)) as server:
        browser.navigate(server.url)
        browser.wait_until(IDLE)
        go_to(browser, "a.jpg")
        browser.press("x")
        go_to(browser, "blurry.jpg")
        browser.press("x")
        browser.wait_until(IDLE)
        assert browser.evaluate("document.getElementById('apply').textContent") == "move 2 rejected to _culled/"
        browser.evaluate("document.getElementById('apply').click()")
        assert not (library / "_culled").exists()  # the first click only asks
        browser.evaluate("document.getElementById('apply').click()")
        browser.wait_until("document.getElementById('status').textContent.includes('moved')")
        assert "a.jpg" not in visible_names(browser) and "blurry.jpg" not in visible_names(browser)
    culled = sorted(path.name for path in (library / "_culled").iterdir())
    assert culled == ["a.CR2", "a.CR2.xmp", "a.jpg", "a.jpg.xmp", "a.xmp", "blurry.jpg", "blurry.jpg.xmp"]
    assert invoke(["undo", "lib"], tmp_path)[0] == 0  # the move
    assert (library / "a.jpg").exists() and not (library / "_culled").exists()
    assert xmp.read((library / "a.xmp").read_bytes(), [xmp.RATING]) == {xmp.RATING: "-1"}  # the decisions are still there
    assert invoke(["undo", "lib"], tmp_path)[0] == 0  # the decisions
    assert fingerprint(library, with_mtimes=True) == before


def test_a_large_library_is_paged_and_the_arrows_turn_the_pages(tmp_path: Path, browser: DevTools) -> None:
    save_photo(tmp_path / "IMG_00000.jpg", 120, 80)
    rows = [ScoreRecord(tmp_path / f"IMG_{index:05d}.jpg", round(1 - index / 1000, 4)) for index in range(450)]  # only the first exists
    with serving(Catalog(rows, tmp_path)) as server:
        assert isinstance(server, ReviewServer)
        browser.navigate(server.url)
        browser.wait_until(IDLE)
        assert browser.evaluate("document.querySelectorAll('.tile').length") == 200
        assert "1–200 of 450 · page 1 of 3" in str(browser.evaluate("document.getElementById('pager').textContent"))
        go_to(browser, "IMG_00199.jpg")
        browser.press("ArrowRight")  # past the page's last shot: the next page
        assert current(browser) == "IMG_00200.jpg"
        assert "201–400 of 450" in str(browser.evaluate("document.getElementById('pager').textContent"))
        browser.press("PageDown")
        assert current(browser) == "IMG_00400.jpg" and browser.evaluate("document.querySelectorAll('.tile').length") == 50
        browser.wait_until("!!document.querySelector('.tile[data-name=\"IMG_00401.jpg\"] .nothumb')")  # a missing file: no preview, no crash
