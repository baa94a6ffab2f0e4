from __future__ import annotations

import difflib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from aescull.fsutil import atomic_write
from aescull.library import xmp
from tests.support.sidecars import BILLION_LAUGHS, EXIFTOOL_SIDECAR, XXE, top_level_values
from tests.support.library import LIGHTROOM_SIDECAR

FIELDS = {
    xmp.RATING: "4",
    xmp.PICK_LABEL: "3",
    xmp.SCORE: "0.712300",
    xmp.MODEL: "aescull-spp <test> & co",
    xmp.MODEL_VERSION: "1.0",
}


def only_insertions_apart_from(original: bytes, merged: bytes, replaced: set[bytes]) -> bool:
    """True when ``merged`` is ``original`` plus insertions, except for the given replaced spans."""
    matcher = difflib.SequenceMatcher(a=original, b=merged, autojunk=False)
    for tag, a_start, a_end, _, _ in matcher.get_opcodes():
        if tag in ("replace", "delete") and original[a_start:a_end] not in replaced:
            return False
    return True


def test_fresh_sidecar_carries_all_fields() -> None:
    assert top_level_values(xmp.merge(None, FIELDS)) == {(xmp.RDF_NS, "about"): "", **FIELDS}


def test_rewriting_present_values_is_byte_identical() -> None:
    assert xmp.merge(LIGHTROOM_SIDECAR, {xmp.RATING: "2"}) == LIGHTROOM_SIDECAR


def test_existing_rating_attribute_is_changed_in_place_and_nothing_else() -> None:
    merged = xmp.merge(LIGHTROOM_SIDECAR, {xmp.RATING: "5"})
    assert merged == LIGHTROOM_SIDECAR.replace(b'xmp:Rating="2"', b'xmp:Rating="5"')


def test_merge_keeps_every_foreign_field_and_byte() -> None:
    merged = xmp.merge(LIGHTROOM_SIDECAR, FIELDS)
    values = top_level_values(merged)
    assert values[xmp.RATING] == "4"
    assert values[("http://example.com/my-studio/1.0/", "Client")] == "ACME & Sons"
    assert values[("http://ns.adobe.com/camera-raw-settings/1.0/", "Exposure2012")] == "+0.35"
    assert values[(xmp.AESCULL_NS, "Model")] == "aescull-spp <test> & co"
    assert b"<rdf:li>beach</rdf:li>" in merged
    assert only_insertions_apart_from(LIGHTROOM_SIDECAR, merged, replaced={b"2"})


def test_element_style_rating_is_edited_where_it_is() -> None:
    merged = xmp.merge(EXIFTOOL_SIDECAR, FIELDS)
    assert merged.count(b"<xmp:Rating>") == 1 and b'xmp:Rating="' not in merged
    assert b"<xmp:Rating>4</xmp:Rating>" in merged
    assert merged.startswith(b"<?xpacket begin='\xef\xbb\xbf'") and merged.endswith(b"<?xpacket end='w'?>")
    assert only_insertions_apart_from(EXIFTOOL_SIDECAR, merged, replaced={b"3"})


def test_namespace_bound_to_another_prefix_is_reused() -> None:
    original = LIGHTROOM_SIDECAR.replace(b"xmlns:xmp=", b"xmlns:xap=").replace(b"xmp:", b"xap:")
    merged = xmp.merge(original, {xmp.RATING: "1"})
    assert merged == original.replace(b'xap:Rating="2"', b'xap:Rating="1"')


def test_foreign_use_of_the_aescull_prefix_is_not_hijacked() -> None:
    original = LIGHTROOM_SIDECAR.replace(b'xmlns:my="http://example.com/my-studio/1.0/"', b'xmlns:aescull="http://example.com/other/"').replace(b"my:Client", b"aescull:Client")
    merged = xmp.merge(original, FIELDS)
    values = top_level_values(merged)
    assert values[("http://example.com/other/", "Client")] == "ACME & Sons"
    assert values[xmp.SCORE] == "0.712300"
    assert b'xmlns:aescull1="http://ns.aescull.org/1.0/"' in merged


def test_packet_without_a_description_gets_one() -> None:
    bare = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"></rdf:RDF></x:xmpmeta>'
    assert top_level_values(xmp.merge(bare, FIELDS))[xmp.RATING] == "4"


@pytest.mark.parametrize("hostile", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_entity_declarations_are_refused_before_parsing(hostile: bytes) -> None:
    with pytest.raises(xmp.SidecarError, match="DOCTYPE or ENTITY"):
        xmp.merge(hostile, FIELDS)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<a><b></a>", "well-formed"),
        (b"<root/>", "rdf:RDF"),
        (b"", "well-formed"),
        (LIGHTROOM_SIDECAR.decode().encode("utf-16"), "UTF-8"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?>' + LIGHTROOM_SIDECAR, "ISO-8859-1"),
        (b"<x>\xff\xfe</x>", "UTF-8"),
    ],
)
def test_unusable_sidecars_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(xmp.SidecarError, match=reason):
        xmp.merge(data, FIELDS)


def test_atomic_write_replaces_keeps_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "IMG.jpg.xmp"
    target.write_bytes(LIGHTROOM_SIDECAR)
    target.chmod(0o600)
    atomic_write(target, b"new", mtime_ns=1_500_000_000_000_000_000)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_mtime_ns == 1_500_000_000_000_000_000
    assert sorted(os.listdir(tmp_path)) == ["IMG.jpg.xmp"]


def test_sidecar_names_follow_the_style_and_reuse_another_case(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.jpg"
    assert xmp.sidecar_path(photo, "ext") == tmp_path / "IMG_1.jpg.xmp"
    assert xmp.sidecar_path(photo, "stem") == tmp_path / "IMG_1.xmp"
    (tmp_path / "IMG_1.XMP").write_bytes(b"")
    assert xmp.sidecar_path(photo, "stem") == tmp_path / "IMG_1.XMP"
    with pytest.raises(ValueError):
        xmp.sidecar_path(photo, "sidecar")


def test_a_folder_listed_once_for_many_photos_finds_the_same_sidecars(tmp_path: Path) -> None:
    (tmp_path / "IMG_2.XMP").write_bytes(b"")
    (tmp_path / "IMG_3.JPG.xmp").mkdir()  # not a sidecar: a folder so spelled is never reused
    (tmp_path / "IMG_4.jpg.xmp").write_bytes(b"")
    photos = [tmp_path / f"IMG_{number}.jpg" for number in range(1, 6)]
    listings: dict = {}
    for style in ("ext", "stem"):
        assert [xmp.sidecar_path(photo, style, listings) for photo in photos] == [xmp.sidecar_path(photo, style) for photo in photos]
    assert xmp.sidecar_path(photos[1], "stem", listings) == tmp_path / "IMG_2.XMP"
    assert xmp.sidecar_path(photos[2], "ext", listings) == tmp_path / "IMG_3.jpg.xmp"
    assert list(listings) == [tmp_path]


needs_exiftool = pytest.mark.skipif(
    shutil.which("exiftool") is None,
    reason="exiftool not installed (Debian package libimage-exiftool-perl; .ci/run installs it)",
)


def exiftool(path: Path) -> dict:
    result = subprocess.run(["exiftool", "-j", "-G1", "-XMP:all", str(path)], capture_output=True, check=True, text=True)
    return json.loads(result.stdout)[0]


@needs_exiftool
def test_exiftool_reads_the_fields_of_a_fresh_sidecar(tmp_path: Path) -> None:
    target = tmp_path / "IMG.jpg.xmp"
    atomic_write(target, xmp.merge(None, {**FIELDS, xmp.RATING: "-1", xmp.PICK_LABEL: "1"}))
    tags = exiftool(target)
    assert tags["XMP-xmp:Rating"] == -1
    assert tags["XMP-digiKam:PickLabel"] == 1
    assert tags["XMP-aescull:Score"] == 0.7123
    assert tags["XMP-aescull:Model"] == "aescull-spp <test> & co"
    assert str(tags["XMP-aescull:ModelVersion"]) == "1.0"


@needs_exiftool
def test_exiftool_sees_foreign_fields_survive_a_merge(tmp_path: Path) -> None:
    before_path, after_path = tmp_path / "before.xmp", tmp_path / "after.xmp"
    before_path.write_bytes(LIGHTROOM_SIDECAR)
    after_path.write_bytes(xmp.merge(LIGHTROOM_SIDECAR, FIELDS))
    before, after = exiftool(before_path), exiftool(after_path)
    del before["SourceFile"], after["SourceFile"]
    assert after["XMP-my:Client"] == "ACME & Sons"
    assert after["XMP-dc:Subject"] == ["holiday", "beach"]
    assert after["XMP-xmp:Rating"] == 4
    changed = {key for key in before if before[key] != after.get(key)}
    assert changed == {"XMP-xmp:Rating"}
