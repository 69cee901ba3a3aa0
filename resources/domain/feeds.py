"""Feeds as topic sources: one entry of an RSS or Atom feed (parsed with feedparser) becomes a
movie's prompt and a research document that keeps the entry's link as its source.

A feed is read from an http(s) URL or a local file. Fetching is ours (urllib, with a timeout and
a size limit) and parsing is feedparser's, so a slow or huge feed fails with a clear message
instead of hanging a run.
"""

from __future__ import annotations

import hashlib
import html
import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from pydantic import BaseModel

from resources.domain.errors import InvalidInput, ProviderError
from resources.runtime.settings import movie_home
from resources.storage.projects import movie_id_for
from resources.storage.store import atomic_write_bytes

MAX_FEED_BYTES = 5 * 1024 * 1024
FETCH_TIMEOUT_S = 20.0
# First line of a research document made from a feed entry; the research cites this link.
SOURCE_PREFIX = "Source: "


class FeedError(ProviderError):
    """The feed could not be fetched or has no such entry."""


class FeedEntry(BaseModel):
    feed_title: str
    title: str
    link: str
    summary: str
    published: str | None = None

    def movie_id(self) -> str:
        """Stable per entry: the same story read again is the same movie."""
        return movie_id_for(f"{self.title}\n{self.link}")


def _fetch(url: str) -> bytes:
    if urlparse(url).scheme in ("http", "https"):
        request = urllib.request.Request(url, headers={"User-Agent": "movie-build feed reader"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
                data = response.read(MAX_FEED_BYTES + 1)
        except urllib.error.HTTPError as error:
            raise FeedError(f"feed {url}: HTTP {error.code} {error.reason}", error.code) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise FeedError(f"feed {url}: cannot be fetched ({reason})") from None
    else:
        path = Path(url.removeprefix("file://")).expanduser()
        if not path.is_file():
            raise InvalidInput(f"feed: {url!r} is neither an http(s) URL nor a readable file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_FEED_BYTES + 1)
    if len(data) > MAX_FEED_BYTES:
        raise FeedError(f"feed {url}: larger than {MAX_FEED_BYTES // 1048576} MB", 413)
    return data


def _plain(text: str) -> str:
    """Entry text without markup: summaries often carry HTML."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text or "")).split())


def read_feed(url: str) -> list[FeedEntry]:
    import feedparser

    parsed = feedparser.parse(_fetch(url))
    if not parsed.entries:
        problem = f" ({parsed.bozo_exception})" if parsed.get("bozo") else ""
        raise FeedError(f"feed {url}: no entries{problem}", 422)
    feed_title = _plain(parsed.feed.get("title", "")) or urlparse(url).netloc or Path(url).name
    entries = []
    for item in parsed.entries:
        title = _plain(item.get("title", ""))
        if not title:
            continue
        entries.append(
            FeedEntry(
                feed_title=feed_title,
                title=title,
                link=item.get("link", "") or url,
                summary=_plain(item.get("summary", "") or item.get("description", "")),
                published=item.get("published") or item.get("updated"),
            )
        )
    return entries


def feed_entry(url: str, index: int) -> FeedEntry:
    entries = read_feed(url)
    if index >= len(entries):
        raise FeedError(f"feed {url}: entry {index} asked for, the feed has {len(entries)}", 404)
    return entries[index]


def entry_document(entry: FeedEntry) -> Path:
    """The entry as a research document (MOVIE_HOME/feeds/<slug>.txt), written atomically; its
    first line names the link, which the research keeps as the source."""
    body = "\n".join(
        [
            f"{SOURCE_PREFIX}{entry.link}",
            f"{entry.title}.",
            f"From {entry.feed_title}" + (f", {entry.published}." if entry.published else "."),
            "",
            entry.summary,
            "",
        ]
    )
    digest = hashlib.sha256(body.encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "-", entry.title.lower()).strip("-")[:40] or "entry"
    path = movie_home() / "feeds" / f"{slug}-{digest}.txt"
    if not path.exists():
        atomic_write_bytes(path, body.encode())
    return path


def document_link(text: str) -> str | None:
    """The http(s) link a research document names on its first line, if it names one."""
    first = text.split("\n", 1)[0]
    link = first.removeprefix(SOURCE_PREFIX).strip()
    if first.startswith(SOURCE_PREFIX) and urlparse(link).scheme in ("http", "https"):
        return link
    return None
