"""A small generated photo library with the awkward parts of a real one, and ways to fingerprint it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PIL import Image

LIGHTROOM_SIDECAR = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 5.6-c140 79.160451">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:my="http://example.com/my-studio/1.0/"
   xmp:Rating="2"
   xmp:Label="Red"
   crs:Exposure2012="+0.35"
   photoshop:City="Lisbon"
   my:Client="ACME &amp; Sons">
   <dc:subject xmlns:dc="http://purl.org/dc/elements/1.1/">
    <rdf:Bag>
     <rdf:li>holiday</rdf:li>
     <rdf:li>beach</rdf:li>
    </rdf:Bag>
   </dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

# Relative path -> what the file is. Images get distinct pixels so every file hashes differently.
LAYOUT = {
    "a.jpg": "image",
    "a.CR2": "raw",
    "a.xmp": "lightroom",  # stem-style sidecar of the a.CR2 + a.jpg pair
    "a.mov": "video",  # Live Photo companion
    "b.jpg": "image",
    "b.jpg.xmp": "lightroom",  # ext-style sidecar
    "2023/trip/c.jpg": "image",
    "2023/trip/c.CR2": "raw",
    "2023/trip/d.png": "image",
    "2023/e.jpg": "image",
    "2023/f.jpg": "image",
}


def make_library(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for index, (relative, kind) in enumerate(sorted(LAYOUT.items())):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "image":
            Image.new("RGB", (96, 72), (index * 20 % 256, 90, 200 - index * 10)).save(path)
        elif kind == "raw":
            path.write_bytes(b"II*\x00fake-canon-raw-" + relative.encode() * 50)
        elif kind == "video":
            path.write_bytes(b"\x00\x00\x00\x18ftypqt  fake-live-photo")
        else:
            path.write_bytes(LIGHTROOM_SIDECAR.replace(b"ACME", relative.encode()))
        os.utime(path, ns=(1_600_000_000_000_000_000 + index, 1_600_000_000_000_000_000 + index))
    return root


def fingerprint(root: Path, with_mtimes: bool = False) -> dict[str, object]:
    """sha256 (and optionally mtime) of every file and the set of folders, aescull's own files aside."""
    result: dict[str, object] = {}
    for folder, folders, files in os.walk(root):
        for name in folders:
            result[os.path.relpath(os.path.join(folder, name), root) + "/"] = "folder"
        for name in files:
            if name in (".aescull-journal.jsonl", ".aescull.lock"):
                continue
            path = Path(folder, name)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            result[os.path.relpath(path, root)] = (digest, path.stat().st_mtime_ns) if with_mtimes else digest
    return result
