"""A loopback HTTP server for the artifact store, so the Dagster UI can show previews.

The UI refuses file:// links, so every artifact also gets a stable http URL,
`<base>/artifacts/<sha256><suffix>` (content-addressed: the URL of a revision never changes).
Only names of that shape are served, from the store's own folder, and only on loopback.
Byte ranges are honoured because browsers seek in video and audio with them.
`<base>/thumbnails/<W>x<H>/<sha256><suffix>` is an image scaled down to fit W x H pixels (JPEG),
so the UI's metadata panel shows a whole picture instead of its top-left corner.
"""

from __future__ import annotations

import functools
import mimetypes
import re
import shutil
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

_NAME = re.compile(r"^/artifacts/([0-9a-f]{64})(\.[a-z0-9]{1,8})$")
_THUMBNAIL = re.compile(
    r"^/thumbnails/(\d{2,4})x(\d{2,4})/([0-9a-f]{64})(\.(?:png|jpg|jpeg|webp))$"
)
MAX_THUMBNAIL_SIDE = 1600
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _handler(root: Path) -> type[BaseHTTPRequestHandler]:
    class ArtifactHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet: the UI polls
            return None

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            thumbnail = _THUMBNAIL.match(urlparse(self.path).path)
            if thumbnail:
                self._thumbnail(thumbnail, body)
                return
            match = _NAME.match(urlparse(self.path).path)
            path = root / "sha256" / match[1][:2] / f"{match[1]}{match[2]}" if match else None
            if path is None or not path.is_file():
                self.send_error(HTTPStatus.NOT_FOUND, "no such artifact")
                return
            size = path.stat().st_size
            start, end = 0, size - 1
            status = HTTPStatus.OK
            wanted = _RANGE.match(self.headers.get("Range", ""))
            if wanted and (wanted[1] or wanted[2]):
                if wanted[1]:
                    start = int(wanted[1])
                    end = min(int(wanted[2]), size - 1) if wanted[2] else size - 1
                else:  # "bytes=-N": the last N bytes
                    start = max(0, size - int(wanted[2]))
                if start > end:
                    self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.end_headers()
                    return
                status = HTTPStatus.PARTIAL_CONTENT
            self.send_response(status)
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(end - start + 1))
            self.send_header("Accept-Ranges", "bytes")
            # Content-addressed: the bytes behind a URL never change.
            self.send_header("Cache-Control", "public, max-age=31536000, immutable")
            if status == HTTPStatus.PARTIAL_CONTENT:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if body:
                with open(path, "rb") as handle:
                    handle.seek(start)
                    try:
                        shutil.copyfileobj(_Limited(handle, end - start + 1), self.wfile)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the browser stopped reading (a seek); nothing to clean up

        def _thumbnail(self, match: re.Match, body: bool) -> None:
            path = root / "sha256" / match[3][:2] / f"{match[3]}{match[4]}"
            box = (int(match[1]), int(match[2]))
            if not path.is_file() or not all(16 <= side <= MAX_THUMBNAIL_SIDE for side in box):
                self.send_error(HTTPStatus.NOT_FOUND, "no such artifact")
                return
            try:
                data = _scaled(str(path), box)
            except OSError:
                self.send_error(HTTPStatus.NOT_FOUND, "not an image")
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "public, max-age=31536000, immutable")
            self.end_headers()
            if body:
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

    return ArtifactHandler


@functools.lru_cache(maxsize=256)
def _scaled(path: str, box: tuple[int, int]) -> bytes:
    """The image at `path` scaled down to fit `box` (never up), as JPEG bytes."""
    import io

    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail(box)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=85)
    return out.getvalue()


class _Limited:
    """A file object that reads at most `left` bytes."""

    def __init__(self, handle, left: int) -> None:
        self.handle, self.left = handle, left

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        return data


class ArtifactServer:
    """Serves `root` (the local store folder) on 127.0.0.1:`port` in a background thread."""

    def __init__(self, root: Path, port: int, host: str = "127.0.0.1") -> None:
        self.httpd = ThreadingHTTPServer((host, port), _handler(Path(root)))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def __enter__(self) -> ArtifactServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
