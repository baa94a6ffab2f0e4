"""Reading a rendered report back: its tiles, captions and pager, as a browser's DOM would give them."""

from __future__ import annotations

from html.parser import HTMLParser

from aescull.report.render import render
from aescull.report.tiles import Tile, ordered


HOSTILE_NAMES = ['<img src=x onerror="document.body.dataset.pwned=1">.jpg', "a\"'<script>alert(1)<script>&amp;.png"]


class Page(HTMLParser):
    """The parts of a report a person sees: tiles (in order), their images and captions."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tiles: list[dict[str, str | None]] = []
        self.images: list[dict[str, str | None]] = []
        self.scripts = 0
        self.svg_ids: list[str] = []
        self.texts: list[str] = []
        self.captions: list[str] = []
        self._in_caption = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "figure":
            self.tiles.append(attributes)
            self.captions.append("")
        elif tag == "img":
            self.images.append(attributes)
        elif tag == "script":
            self.scripts += 1
        elif tag == "figcaption":
            self._in_caption = True
        if attributes.get("id") and tag in ("svg", "line", "rect"):
            self.svg_ids.append(str(attributes["id"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._in_caption:
            self.captions[-1] += data + " "


def paged_report(count: int) -> str:
    """A report of ``count`` scored tiles, best first, without thumbnails (no photos needed)."""
    tiles = ordered(Tile(f"shoot/IMG_{index:05d}.jpg", 1.0 - index / count, None, None, (), None, ()) for index in range(count))
    return render(tiles, lambda tile: None, 0.5, "big shoot", "test")
