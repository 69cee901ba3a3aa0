"""The user's local research documents (`--document`): read with limits, text only.

A document is any file the user can read (it is their machine); the service mode will restrict
this to an upload folder. Accepted: UTF-8 text, Markdown, and HTML (its visible text is kept).
Refused with a message naming the file and the rule: too large (MOVIE_MAX_DOCUMENT_MB, default
5), binary data (PDF, images, archives...), or not UTF-8.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

from resources.domain.errors import InvalidInput

DEFAULT_MAX_DOCUMENT_MB = 5.0
_HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


def max_document_bytes() -> int:
    raw = os.environ.get("MOVIE_MAX_DOCUMENT_MB", str(DEFAULT_MAX_DOCUMENT_MB))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise InvalidInput(f"MOVIE_MAX_DOCUMENT_MB must be a positive number, got {raw!r}")
    return int(value * 1024 * 1024)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def read_document(raw: str) -> tuple[str, str]:
    """(absolute path, text) of one document, or InvalidInput naming the file and the rule."""
    path = Path(raw).expanduser()
    if not path.is_file():
        raise InvalidInput(f"documents: {raw!r} is not a readable file")
    limit = max_document_bytes()
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)  # never more than the limit in memory
    except OSError as error:
        raise InvalidInput(f"documents: {raw!r} cannot be read: {error.strerror}") from None
    if len(data) > limit:
        raise InvalidInput(
            f"documents: {raw!r} is larger than {limit / 1048576:g} MB "
            "(raise MOVIE_MAX_DOCUMENT_MB to allow it)"
        )
    if data.startswith(b"%PDF"):
        raise InvalidInput(f"documents: {raw!r} is a PDF; export it as text or Markdown first")
    if b"\x00" in data:
        raise InvalidInput(f"documents: {raw!r} is binary data; only text documents are read")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"documents: {raw!r} is not UTF-8 text (bad byte at offset {error.start}); "
            "save it as UTF-8"
        ) from None
    if path.suffix.lower() in _HTML_SUFFIXES:
        parser = _VisibleText()
        parser.feed(text)
        text = "\n".join(parser.parts)
    # Control characters would reach captions and terminals; keep line structure only.
    text = "".join(c for c in text if c in "\n\t" or c >= " " and c != "\x7f")
    return str(path.resolve()), text


def read_documents(paths: list[str]) -> list[tuple[str, str]]:
    return [read_document(raw) for raw in paths]
