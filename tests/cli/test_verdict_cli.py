"""The verdict from the command line: score, rank, a bare cull, tag and report, as a photographer runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import ImageFilter

from aescull.judge import faces
from tests.support.cli import invoke, rows, subprocess_env
from tests.support.images import sharp_scene
from tests.support.sets import save_bracket, save_shot
from training import degrade

ARGS = ["--max-side", "256", "--no-cache", "--weak", "0"]  # the score alone rejects nothing: the other rules are under test
BRACKET = {"BRK_0001.jpg", "BRK_0002.jpg", "BRK_0003.jpg"}


@pytest.fixture(scope="module")
def shoot_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A burst (a sharp frame, a badly blurred one, a second sharp one), a −2/0/+2 bracket, a
    sharp single and a far too dark single, minutes apart."""
    root = tmp_path_factory.mktemp("verdict") / "shoot"
    base = sharp_scene(520, 348, seed=11)
    burst = [base.crop((0, 0, 480, 320)), base.crop((8, 4, 488, 324)).filter(ImageFilter.GaussianBlur(5)), base.crop((14, 9, 494, 329))]
    for index, frame in enumerate(burst):
        save_shot(root / f"BST_{index + 1:04d}.jpg", frame, 0.15 * index)
    save_bracket(root, 60.0)
    save_shot(root / "single.jpg", sharp_scene(480, 320, seed=4), 180.0)
    save_shot(root / "dark.jpg", degrade.exposure(sharp_scene(480, 320, seed=6), -4.0), 300.0)
    return root


@pytest.fixture
def shoot(shoot_template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "shoot"
    shutil.copytree(shoot_template, root, copy_function=shutil.copy2)
    return root


def judged(out: str) -> dict[str, tuple[str, str]]:
    return {Path(row["path"]).name: (row["verdict"], row["verdict_reasons"]) for row in rows(out)}


def fingerprint(folder: Path) -> dict[str, bytes]:
    """The photos and sidecars (the journal and the lock are aescull's own)."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.name.startswith(".aescull")}


def test_score_verdict_judges_every_shot_with_its_reasons(shoot: Path) -> None:
    code, out, err = invoke(["score", "shoot", "--verdict", *ARGS], cwd=shoot.parent)
    assert code == 0, err
    header = out.splitlines()[0].split(",")
    assert header[-2:] == ["verdict", "verdict_reasons"] and {"group", "set", "sharpness", "reasons"} <= set(header)
    verdicts = judged(out)
    assert verdicts["BST_0002.jpg"] == ("reject", "blurry")
    assert sorted(verdicts[name] for name in ("BST_0001.jpg", "BST_0003.jpg")) == [("pick", ""), ("reject", "duplicate")]
    assert len({verdicts[name] for name in BRACKET}) == 1 and verdicts["BRK_0001.jpg"][0] != "reject"
    assert verdicts["dark.jpg"][0] == "reject" and "dark" in verdicts["dark.jpg"][1]
    assert verdicts["single.jpg"][0] in ("pick", "keep")
    assert "verdict" not in err


def test_a_bare_cull_moves_the_rejects_and_undo_brings_them_back(shoot: Path) -> None:
    before = fingerprint(shoot)
    _, out, _ = invoke(["score", "shoot", "--verdict", *ARGS], cwd=shoot.parent)
    rejects = {name for name, (verdict, _) in judged(out).items() if verdict == "reject"}
    code, out, err = invoke(["cull", "shoot", *ARGS], cwd=shoot.parent)
    assert code == 0, err
    assert out == "" and f"culled {len(rejects)}" in err
    assert {path.name for path in (shoot / "_culled").iterdir()} == rejects
    assert BRACKET <= {path.name for path in shoot.iterdir()}
    code, _, err = invoke(["undo", "shoot"], cwd=shoot.parent)
    assert code == 0, err
    assert fingerprint(shoot) == before


def test_cull_acts_on_saved_verdicts_and_refuses_rows_without_them(shoot: Path, tmp_path: Path) -> None:
    saved = tmp_path / "rows.jsonl"
    invoke(["score", "shoot", "--verdict", *ARGS, "-o", str(saved)], cwd=shoot.parent)
    rejects = {Path(row["path"]).name for row in map(json.loads, saved.read_text().splitlines()) if row["verdict"] == "reject"}
    code, out, err = invoke(["cull", "--from", str(saved), "--list"], cwd=shoot.parent)
    assert code == 0, err
    assert {Path(row["path"]).name for row in rows(out)} == rejects and "verdict" in out.splitlines()[0]
    plain = tmp_path / "plain.csv"
    invoke(["score", "shoot", "--max-side", "256", "--no-cache", "-o", str(plain)], cwd=shoot.parent)
    before = fingerprint(shoot)
    code, out, err = invoke(["cull", "--from", str(plain)], cwd=shoot.parent)
    assert code == 2 and out == "" and "score --verdict" in err
    assert fingerprint(shoot) == before


def test_rank_verdict_lists_picks_then_keeps_then_rejects(shoot: Path) -> None:
    code, out, err = invoke(["rank", "shoot", "--verdict", *ARGS], cwd=shoot.parent)
    assert code == 0, err
    order = [row["verdict"] for row in rows(out)]
    assert order == sorted(order, key=["pick", "keep", "reject"].index) and order[0] == "pick" and order[-1] == "reject"
    code, out, _ = invoke(["rank", "shoot", "--verdict", "--top", "2", *ARGS], cwd=shoot.parent)
    assert len(rows(out)) == 2


exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool (libimage-exiftool-perl) is not installed")


def read_with_exiftool(sidecars: list[Path]) -> dict[str, dict[str, object]]:
    done = subprocess.run(["exiftool", "-j", "-XMP:Rating", "-XMP:Label", "-XMP:PickLabel", "-XMP-aescull:all", *map(str, sidecars)],
                          capture_output=True, text=True, check=True)
    return {Path(entry["SourceFile"]).name: entry for entry in json.loads(done.stdout)}


@exiftool
def test_tag_verdict_writes_what_editors_read_and_leaves_a_users_label_alone(shoot: Path) -> None:
    _, out, _ = invoke(["score", "shoot", "--verdict", *ARGS], cwd=shoot.parent)
    verdicts = judged(out)
    pick = next(name for name, (verdict, _) in verdicts.items() if verdict == "pick")
    reject = next(name for name, (verdict, _) in verdicts.items() if verdict == "reject")
    keep = next((name for name, (verdict, _) in verdicts.items() if verdict == "keep" and name != "single.jpg"), None)
    own_label = shoot / "single.jpg.xmp"
    own_label.write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                         '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Label="Purple"/></rdf:RDF></x:xmpmeta>')
    before = fingerprint(shoot)
    code, out, err = invoke(["tag", "shoot", "--verdict", *ARGS], cwd=shoot.parent)
    assert code == 0, err
    read = read_with_exiftool(sorted(shoot.glob("*.xmp")))
    assert (read[f"{reject}.xmp"]["Rating"], read[f"{reject}.xmp"]["Label"], read[f"{reject}.xmp"]["PickLabel"]) == (-1, "Red", 1)
    assert read[f"{reject}.xmp"]["Verdict"] == "reject" and read[f"{reject}.xmp"]["VerdictReasons"] == verdicts[reject][1].replace(";", ",")
    assert (read[f"{pick}.xmp"]["Label"], read[f"{pick}.xmp"]["PickLabel"]) == ("Green", 3) and 1 <= read[f"{pick}.xmp"]["Rating"] <= 5
    if keep is not None:
        assert read[f"{keep}.xmp"]["PickLabel"] == 0 and "Label" not in read[f"{keep}.xmp"]
    assert read["single.jpg.xmp"]["Label"] == "Purple"
    code, _, err = invoke(["tag", "shoot", "--verdict", *ARGS[:-1], "1"], cwd=shoot.parent)  # --weak 1: every shot is weak now
    assert code == 0, err
    again = read_with_exiftool([shoot / f"{pick}.xmp", own_label])
    assert (again[f"{pick}.xmp"]["Label"], again[f"{pick}.xmp"]["Rating"]) == ("Red", -1)
    assert again["single.jpg.xmp"]["Label"] == "Purple"
    for _ in range(2):
        assert invoke(["undo", "shoot"], cwd=shoot.parent)[0] == 0
    assert fingerprint(shoot) == before


def test_tag_verdict_does_not_mix_with_the_threshold_rules(shoot: Path) -> None:
    code, out, err = invoke(["tag", "shoot", "--verdict", "--reject-below", "0.5", *ARGS], cwd=shoot.parent)
    assert code == 2 and out == "" and "--verdict" in err
    assert not list(shoot.glob("*.xmp"))


def test_report_verdict_shows_the_sections_in_order(shoot: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    code, _, err = invoke(["report", "shoot", "--verdict", "-o", str(page), *ARGS], cwd=shoot.parent)
    assert code == 0, err
    text = page.read_text()
    badges = [text[index + len('class="verdict v-'):].split('"', 1)[0] for index in _find_all(text, 'class="verdict v-')]
    assert badges == sorted(badges, key=["pick", "keep", "reject"].index) and len(badges) == 8
    assert '<option value="verdict">' in text and "blurry" in text and "duplicate" in text


def _find_all(text: str, needle: str) -> list[int]:
    found, start = [], text.find(needle)
    while start != -1:
        found.append(start)
        start = text.find(needle, start + 1)
    return found


def test_without_the_faces_extra_the_verdict_says_what_it_leaves_out(shoot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(path: object = None) -> None:
        raise faces.FacesUnavailable("mediapipe is not installed")

    monkeypatch.setattr(faces, "check_ready", unavailable)
    code, out, err = invoke(["score", "shoot", "--verdict", *ARGS], cwd=shoot.parent)
    assert code == 0, err
    assert "aescull[faces]" in err and "faces" not in out.splitlines()[0].split(",")
    assert all(row["verdict"] for row in rows(out))


def test_subprocess_score_verdict_keeps_rows_on_stdout_and_notes_on_stderr(shoot: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "aescull", "score", ".", "--verdict", *ARGS], cwd=shoot, env=subprocess_env(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert len(rows(done.stdout)) == 8 and all(row["verdict"] in ("pick", "keep", "reject") for row in rows(done.stdout))
    assert "8 of 8 files scored" in done.stderr and "BST_" not in done.stderr
