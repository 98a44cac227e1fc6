"""`sightline serve --site` serves the built site precompressed and cached (docs/deploy.md):
real HTTP requests against a real `sightline serve` process on the built site/."""

from __future__ import annotations

import gzip
import http.client
import json
from urllib.parse import urlsplit

import brotli
import pytest

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def runtime(site_dir) -> dict:
    return json.loads((site_dir / "sightline-runtime.json").read_text())


@pytest.fixture(scope="module")
def get(collector):
    host = urlsplit(collector.url)

    def request(path: str, method: str = "GET", **headers: str):
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        try:
            # http.client sends no Accept-Encoding unless told: each test says what it accepts.
            conn.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    return request


def test_brotli_negotiated_with_vary(get, site_dir):
    status, headers, body = get("/sightline.js", Accept_Encoding="gzip, deflate, br")
    raw = (site_dir / "sightline.js").read_bytes()
    assert status == 200 and headers["content-encoding"] == "br"
    assert "accept-encoding" in headers["vary"].lower()
    assert brotli.decompress(body) == raw and len(body) < len(raw)
    assert int(headers["content-length"]) == len(body)
    assert headers["content-type"].startswith("text/javascript")


def test_gzip_when_brotli_is_not_accepted(get, site_dir):
    for accept in ("gzip", "gzip, br;q=0", "deflate, gzip;q=0.5"):
        status, headers, body = get("/sightline-worker.js", Accept_Encoding=accept)
        assert status == 200 and headers["content-encoding"] == "gzip", accept
        assert gzip.decompress(body) == (site_dir / "sightline-worker.js").read_bytes()
        assert "accept-encoding" in headers["vary"].lower()


def test_no_precompressed_file_to_a_client_that_does_not_accept_it(get, site_dir):
    raw = (site_dir / "sightline.js").read_bytes()
    for headers_sent in ({}, {"Accept_Encoding": "identity"}, {"Accept_Encoding": "br;q=0, gzip;q=0"},
                         {"Accept_Encoding": "xbr, gzipped"}):
        status, headers, body = get("/sightline.js", **headers_sent)
        assert status == 200 and "content-encoding" not in headers, headers_sent
        assert body == raw and "accept-encoding" in headers["vary"].lower()
    # The siblings themselves are not addressable.
    assert get("/sightline.js.br", Accept_Encoding="br")[0] == 404
    assert get("/sightline.js.gz")[0] == 404


def test_runtime_is_immutable_and_wasm_typed(get, site_dir, runtime):
    wasm = runtime["pyodide"] + "pyodide.asm.wasm"
    status, headers, body = get("/" + wasm, Accept_Encoding="br, gzip")
    assert status == 200 and headers["content-type"] == "application/wasm"
    assert headers["cache-control"] == IMMUTABLE and headers["content-encoding"] == "br"
    assert brotli.decompress(body) == (site_dir / wasm).read_bytes()
    assert len(body) < 0.3 * (site_dir / wasm).stat().st_size  # about 2.27 of 10.1 MB
    for key, kind in (("stdlib", "application/zip"), ("core", "application/zip"), ("lock", "application/json")):
        status, headers, _ = get("/" + runtime[key], Accept_Encoding="br")
        assert status == 200 and headers["cache-control"] == IMMUTABLE, key
        assert headers["content-type"].startswith(kind), (key, headers["content-type"])
    status, headers, _ = get("/" + runtime["pyodide"] + "pyodide.mjs", Accept_Encoding="br")
    assert headers["content-type"].startswith("text/javascript") and headers["cache-control"] == IMMUTABLE


def test_shim_worker_and_html_get_a_short_cache(get):
    for path in ("/sightline.js", "/sightline-worker.js", "/pyodide/pyodide.asm.wasm", "/py_core.zip"):
        _, headers, _ = get(path, Accept_Encoding="br")
        assert headers["cache-control"] == "public, max-age=300", path
        assert "immutable" not in headers["cache-control"]
    for path in ("/", "/viewer/", "/demo/index.html"):
        status, headers, body = get(path, Accept_Encoding="gzip")
        assert status == 200 and headers["content-type"].startswith("text/html"), path
        assert headers["cache-control"] == "no-cache" and headers["etag"], path
    status, headers, _ = get("/viewer")
    assert status == 302 and headers["location"] == "viewer/"


def test_etag_revalidation_answers_304(get):
    for path in ("/sightline.js", "/viewer/"):
        _, headers, _ = get(path, Accept_Encoding="br")
        status, again, body = get(path, Accept_Encoding="br", If_None_Match=headers["etag"])
        assert status == 304 and body == b"", path
        assert again["etag"] == headers["etag"] and again["cache-control"] == headers["cache-control"]
        assert "accept-encoding" in again["vary"].lower()
        status, _, body = get(path, Accept_Encoding="br", If_None_Match='"stale"')
        assert status == 200 and body


def test_etag_is_the_content_not_the_mtime(get, site_dir):
    import hashlib

    _, headers, _ = get("/sightline.js")
    assert headers["etag"] == '"%s"' % hashlib.sha256((site_dir / "sightline.js").read_bytes()).hexdigest()[:32]


def test_head_missing_hidden_and_methods(get):
    status, headers, body = get("/sightline.js", method="HEAD", Accept_Encoding="br")
    assert status == 200 and body == b"" and headers["content-encoding"] == "br"
    assert get("/no-such-file.js")[0] == 404
    assert get("/.sightline-build")[0] == 404  # build.py's marker is never served
    assert get("/sightline.js", method="POST")[0] == 405
    assert get("/v1/health")[0] == 200  # the API still answers before the site
