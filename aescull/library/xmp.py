"""XMP sidecars: refuse unsafe ones, merge aescull's few fields in, write atomically.

An existing sidecar belongs to the user and to their editor (Lightroom, darktable, digiKam), so it is
never re-serialised: the bytes are edited in place, only where aescull's own properties live
(``xmp:Rating``, ``digiKam:PickLabel`` and the ``aescull:`` namespace), and every other byte is kept.
"""

from __future__ import annotations

import os
import re
import xml.parsers.expat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
DIGIKAM_NS = "http://www.digikam.org/ns/1.0/"
AESCULL_NS = "http://ns.aescull.org/1.0/"
PREFERRED_PREFIXES = {XMP_NS: "xmp", DIGIKAM_NS: "digiKam", AESCULL_NS: "aescull", RDF_NS: "rdf"}
SIDECAR_STYLES = ("ext", "stem")
OTHER_STYLE = {"ext": "stem", "stem": "ext"}

# (namespace URI, local name): the only properties aescull ever writes.
RATING = (XMP_NS, "Rating")
LABEL = (XMP_NS, "Label")  # a colour label by name: Lightroom, darktable and digiKam read it
PICK_LABEL = (DIGIKAM_NS, "PickLabel")
SCORE = (AESCULL_NS, "Score")
MODEL = (AESCULL_NS, "Model")
MODEL_VERSION = (AESCULL_NS, "ModelVersion")
REASONS = (AESCULL_NS, "Reasons")  # comma-separated, as --reject takes them
FACES = (AESCULL_NS, "Faces")
EYES_CLOSED = (AESCULL_NS, "EyesClosed")
VERDICT = (AESCULL_NS, "Verdict")  # pick, keep or reject (aescull tag --verdict)
VERDICT_REASONS = (AESCULL_NS, "VerdictReasons")  # comma-separated

Key = tuple[str, str]

FRESH_PACKET = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="aescull">\n'
    b' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    b'  <rdf:Description rdf:about=""\n    />\n'
    b" </rdf:RDF>\n"
    b"</x:xmpmeta>\n"
)

_TEMPORARY_MARK = ".aescull-tmp-"
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")
_ATTRIBUTE = re.compile(rb"""\s([^\s=/>]+)\s*=\s*(["'])(.*?)\2""", re.DOTALL)


class SidecarError(ValueError):
    """The existing sidecar cannot be merged safely, so it is left exactly as it is."""


def sidecar_path(photo: Path, style: str = "ext", listings: dict[Path, dict[str, list[str]]] | None = None) -> Path:
    """``IMG.jpg.xmp`` (darktable, digiKam) or ``IMG.xmp`` (Lightroom, Capture One).

    An existing sidecar spelled in another case (``IMG.XMP``) is reused rather than shadowed by a
    second file the editor would not read. Finding one lists the folder; ``listings`` (folder ->
    lower-case name -> the names so spelled, filled as folders are met) lists each folder once for all the photos
    of one plan, where a 2,000-photo folder was otherwise listed a few times per photo.
    """
    if style not in SIDECAR_STYLES:
        raise ValueError(f"sidecar style must be one of {', '.join(SIDECAR_STYLES)}, got {style!r}")
    wanted = photo.with_name(photo.name + ".xmp") if style == "ext" else photo.with_suffix(".xmp")
    if wanted.exists() or not wanted.parent.is_dir():
        return wanted
    listings = {} if listings is None else listings
    if wanted.parent not in listings:
        names: dict[str, list[str]] = {}
        for entry in os.scandir(wanted.parent):
            names.setdefault(entry.name.lower(), []).append(entry.name)
        listings[wanted.parent] = names
    for spelled in listings[wanted.parent].get(wanted.name.lower(), ()):
        if wanted.with_name(spelled).is_file():
            return wanted.with_name(spelled)
    return wanted


def sidecar_styles(photo: Path, style: str, listings: dict[Path, dict[str, list[str]]] | None = None) -> tuple[str, ...]:
    """The styles of the photo's sidecars a rating goes into: the chosen one, and the other one
    where that sidecar exists already (Lightroom's ``IMG.xmp`` beside a darktable library), so
    two editors never show two ratings for one photo."""
    other = OTHER_STYLE[style]
    return (style, other) if sidecar_path(photo, other, listings).exists() else (style,)


def check_safe(data: bytes) -> None:
    """Refuse what could make a parser expand entities or fetch files, and encodings we cannot edit.

    A sidecar has no business with a DTD, so any DOCTYPE or ENTITY is refused outright, before
    parsing, instead of trusting a parser's limits on expansion (billion laughs, XXE).
    """
    if _FORBIDDEN.search(data):
        raise SidecarError("contains a DOCTYPE or ENTITY declaration (refused: possible entity expansion attack)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise SidecarError("is not UTF-8 (UTF-16/32 sidecars are not supported)")
    declared = _DECLARED_ENCODING.match(data.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).lower().replace(b"-", b"") != b"utf8":
        raise SidecarError(f"declares encoding {declared.group(1).decode('ascii', 'replace')}; only UTF-8 is supported")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SidecarError(f"is not valid UTF-8: {error}") from None


def merge(existing: bytes | None, updates: Mapping[Key, str]) -> bytes:
    """The sidecar bytes with ``updates`` set; everything else byte-for-byte as it was.

    A property already present (as an attribute or an element of a top-level ``rdf:Description``)
    has its value replaced where it is; a missing one becomes an attribute of the first top-level
    ``rdf:Description``, with a namespace declaration when its namespace is not in scope there.
    """
    data = FRESH_PACKET if existing is None else existing
    check_safe(data)
    document = _scan(data)
    edits: list[tuple[int, int, bytes]] = []
    found: set[Key] = set()
    for description in document.descriptions:
        for key, (start, end) in description.attribute_values.items():
            if key in updates:
                edits.append((start, end, _attribute_text(updates[key])))
                found.add(key)
        for key, qname, start, tag_end, end_tag_start in description.child_elements:
            if key not in updates:
                continue
            text = _element_text(updates[key])
            if end_tag_start is None:
                slash = data.rindex(b"/", start, tag_end)
                edits.append((slash, tag_end, b">%s</%s>" % (text, qname)))
            else:
                edits.append((tag_end, end_tag_start, text))
            found.add(key)
    missing = [key for key in updates if key not in found]
    if missing:
        edits.append(_insertion(data, document, missing, updates))
    merged = data
    for start, end, replacement in sorted(edits, reverse=True):
        merged = merged[:start] + replacement + merged[end:]
    _scan(merged)
    return merged


def read(data: bytes, keys: Iterable[Key]) -> dict[Key, str]:
    """The values of these simple properties where :func:`merge` would write them (attributes or
    elements of the top-level descriptions); refuses what ``merge`` refuses, so a reader never
    trusts a sidecar the writer would not touch."""
    from html import unescape

    check_safe(data)
    wanted = set(keys)
    found: dict[Key, str] = {}
    for description in _scan(data).descriptions:
        for key, (start, end) in description.attribute_values.items():
            if key in wanted:
                found.setdefault(key, unescape(data[start:end].decode("utf-8")))
        for key, _, _, tag_end, end_tag_start in description.child_elements:
            if key in wanted and end_tag_start is not None:
                found.setdefault(key, unescape(data[tag_end:end_tag_start].decode("utf-8")).strip())
    return found




@dataclass
class _Description:
    """A top-level ``rdf:Description``: where aescull's properties may live, with byte offsets."""

    start: int
    tag_end: int
    self_closing: bool
    scope: dict[str, str]
    attribute_values: dict[Key, tuple[int, int]] = field(default_factory=dict)
    # (key, qname, start, start tag end, end tag start or None for <q/>) of each property element.
    child_elements: list[tuple[Key, bytes, int, int, int | None]] = field(default_factory=list)


@dataclass
class _Document:
    rdf_start: int | None = None
    rdf_tag_end: int = 0
    rdf_self_closing: bool = False
    rdf_scope: dict[str, str] = field(default_factory=dict)
    descriptions: list[_Description] = field(default_factory=list)


def _scan(data: bytes) -> _Document:
    """Parse with expat (no DTD allowed) and record where top-level descriptions and their properties are."""
    document = _Document()
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.namespace_prefixes = True
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_: object) -> None:
        raise SidecarError("contains a DOCTYPE or ENTITY declaration (refused: possible entity expansion attack)")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    scopes: list[dict[str, str]] = [{}]
    pending_declarations: dict[str, str] = {}
    # One entry per open element: (namespace key, qname, start offset, self-closing, description or None).
    stack: list[tuple[Key, bytes, int, bool, _Description | None]] = []

    def declare(prefix: str | None, uri: str | None) -> None:
        pending_declarations[prefix or ""] = uri or ""

    def start(name: str, attributes: dict[str, str]) -> None:
        scope = {**scopes[-1], **pending_declarations}
        pending_declarations.clear()
        scopes.append(scope)
        key, qname = _split(name)
        offset = parser.CurrentByteIndex
        tag_end, self_closing = _tag_end(data, offset)
        description = None
        parent_key = stack[-1][0] if stack else None
        if key == (RDF_NS, "RDF") and document.rdf_start is None:
            document.rdf_start, document.rdf_tag_end, document.rdf_self_closing = offset, tag_end, self_closing
            document.rdf_scope = scope
        elif key == (RDF_NS, "Description") and parent_key == (RDF_NS, "RDF"):
            description = _Description(offset, tag_end, self_closing, scope)
            values = {match.group(1): match.span(3) for match in _ATTRIBUTE.finditer(data, offset, tag_end)}
            for attribute_name in attributes:
                attribute_key, attribute_qname = _split(attribute_name)
                if attribute_qname in values:
                    description.attribute_values[attribute_key] = values[attribute_qname]
            document.descriptions.append(description)
        stack.append((key, qname, offset, self_closing, description))

    def end(name: str) -> None:
        key, qname, offset, self_closing, _ = stack.pop()
        scopes.pop()
        if stack and stack[-1][4] is not None:
            end_tag_start = None if self_closing else parser.CurrentByteIndex
            stack[-1][4].child_elements.append((key, qname, offset, _tag_end(data, offset)[0], end_tag_start))

    parser.StartNamespaceDeclHandler = declare
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as error:
        raise SidecarError(f"is not well-formed XML: {error}") from None
    if document.rdf_start is None:
        raise SidecarError("has no rdf:RDF element, so it is not an XMP packet")
    return document


def _split(expat_name: str) -> tuple[Key, bytes]:
    """expat's ``"uri local prefix"`` triplet into the namespace key and the name as written."""
    parts = expat_name.split(" ")
    if len(parts) == 1:
        return ("", parts[0]), parts[0].encode()
    uri, local = parts[0], parts[1]
    qname = f"{parts[2]}:{local}" if len(parts) == 3 else local
    return (uri, local), qname.encode()


def _tag_end(data: bytes, start: int) -> tuple[int, bool]:
    """Offset just past the start tag beginning at ``start``, and whether it is ``<.../>``."""
    quote = None
    for index in range(start + 1, len(data)):
        byte = data[index : index + 1]
        if quote is not None:
            if byte == quote:
                quote = None
        elif byte in (b'"', b"'"):
            quote = byte
        elif byte == b">":
            return index + 1, data[index - 1 : index] == b"/"
    raise SidecarError("has an unterminated tag")


# xml.sax.saxutils is imported on first use: it pulls in urllib and http.client, about 30 ms
# of every `aescull` start-up, `--help` included.
def _element_text(value: str) -> bytes:
    from xml.sax.saxutils import escape

    return escape(value, {"\r": "&#13;"}).encode()  # a raw CR would be read back as LF


def _attribute_text(value: str) -> bytes:
    from xml.sax.saxutils import escape

    return escape(value, {'"': "&quot;", "\n": "&#10;", "\t": "&#9;", "\r": "&#13;"}).encode()  # raw, a parser reads them as spaces


def _insertion(data: bytes, document: _Document, missing: list[Key], updates: Mapping[Key, str]) -> tuple[int, int, bytes]:
    """The edit that adds the missing properties (and namespace declarations) as attributes."""
    needed = [uri for uri, _ in missing]
    if document.descriptions:
        target = document.descriptions[0]
        scope = target.scope
    elif document.rdf_self_closing:
        raise SidecarError("has an empty <rdf:RDF/>, with no place to add a description")
    else:
        scope = document.rdf_scope
        needed.insert(0, RDF_NS)
    prefixes = _choose_prefixes(scope, needed)
    declarations = [(f"xmlns:{prefixes[uri]}", uri) for uri in dict.fromkeys(needed) if scope.get(prefixes[uri]) != uri]
    properties = [(f"{prefixes[uri]}:{local}", updates[(uri, local)]) for uri, local in missing]
    if not document.descriptions:
        rdf = prefixes[RDF_NS]
        attributes = [(f"{rdf}:about", ""), *declarations, *properties]
        text = b"".join(b' %s="%s"' % (name.encode(), _attribute_text(value)) for name, value in attributes)
        return document.rdf_tag_end, document.rdf_tag_end, b"\n<%s:Description%s/>" % (rdf.encode(), text)
    separator = _attribute_separator(data[target.start : target.tag_end])
    text = b"".join(separator + b'%s="%s"' % (name.encode(), _attribute_text(value)) for name, value in [*declarations, *properties])
    close_at = target.tag_end - (2 if target.self_closing else 1)
    while close_at > target.start and data[close_at - 1 : close_at].isspace():
        close_at -= 1
    return close_at, close_at, text


def _choose_prefixes(scope: Mapping[str, str], uris: list[str]) -> dict[str, str]:
    """Reuse the prefix already bound to a namespace; else the usual one, numbered if it is taken."""
    bound = {uri: prefix for prefix, uri in scope.items() if prefix}
    chosen: dict[str, str] = {}
    for uri in uris:
        if uri in chosen:
            continue
        if uri in bound:
            chosen[uri] = bound[uri]
            continue
        base = PREFERRED_PREFIXES.get(uri, "ns")
        candidate, number = base, 1
        while candidate in scope or candidate in chosen.values():
            candidate, number = f"{base}{number}", number + 1
        chosen[uri] = candidate
    return chosen


def _attribute_separator(tag: bytes) -> bytes:
    """Match the tag's layout: one attribute per line (as Lightroom and exiftool write) or spaces."""
    lines = tag.split(b"\n")
    if len(lines) == 1:
        return b" "
    last_attribute_line = next((line for line in reversed(lines[1:]) if b"=" in line), lines[-1])
    indent = last_attribute_line[: len(last_attribute_line) - len(last_attribute_line.lstrip())]
    return b"\n" + indent
