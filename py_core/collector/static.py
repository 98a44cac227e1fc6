"""The static site as `sightline serve --site DIR` serves it (docs/deploy.md).

build.py writes a .br (brotli 11) and a .gz (gzip -9) beside every file that compresses;
servestatic (the ASGI successor of WhiteNoise) picks the smallest one the client accepts,
with ``Content-Encoding`` and ``Vary: Accept-Encoding``, and never sends a compressed
file to a client that did not ask for it.

Caching:

- ``runtime/`` holds only content-hashed or versioned names (the visitor's Pyodide, its
  trimmed stdlib, its py_core): ``public, max-age=31536000, immutable``;
- HTML: ``no-cache`` (always revalidated; a 304 when unchanged);
- everything else (sightline.js, sightline-worker.js, the viewer, ...): a short
  ``public, max-age=300``, then revalidated.

ETags are taken from the content (not the file's mtime), so a rebuild that changes
nothing keeps every cached copy valid. The file list is read once at start-up; files
whose name starts with a dot are never served.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from wsgiref.headers import Headers

from servestatic import ServeStaticASGI
from servestatic.responders import Redirect
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

IMMUTABLE_DIR = "runtime"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT_MAX_AGE = 300
HTML = "no-cache"


def is_immutable(url: str) -> bool:
    """Whether ``url`` (a path on the site) is a content-hashed or versioned runtime name."""
    return url.startswith(f"/{IMMUTABLE_DIR}/")


def cache_control(url: str, content_type: str) -> str:
    if is_immutable(url):
        return IMMUTABLE
    if content_type.startswith("text/html"):
        return HTML
    return f"public, max-age={SHORT_MAX_AGE}"


def _content_etag(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f'"{digest.hexdigest()[:32]}"'


def _headers(headers: Headers, path: str, url: str) -> None:
    headers["Cache-Control"] = cache_control(url, headers.get("Content-Type") or "")
    headers["ETag"] = _content_etag(path)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)


def static_site(site_dir: str | os.PathLike[str]) -> ServeStaticASGI:
    """An ASGI app serving ``site_dir`` at the root of its mount (404 for anything else)."""
    root = Path(site_dir).resolve()
    if not root.is_dir():
        raise ValueError(f"{site_dir}: not a directory")
    app = ServeStaticASGI(
        _not_found,
        root=str(root),
        prefix="/",
        index_file=True,
        max_age=SHORT_MAX_AGE,
        allow_all_origins=False,  # the collector's CORS middleware decides, as for every route
        add_headers_function=_headers,
    )
    files = app.files
    for url in list(files):
        hidden = any(part.startswith(".") for part in url.split("/"))
        if hidden:
            del files[url]
        elif url.endswith("/index.html") and isinstance(files[url], Redirect):
            # /demo/index.html is served as itself (links name it), not redirected to /demo/.
            files[url] = files[url[: -len("index.html")]]
    return app
