"""Viewer load benchmark in Chromium: time to decrypt, analyse and list N sessions, then draw each view.

    python3 build.py build && .venv/bin/python bench/viewer_load.py [--copies 2] [--reopen] [--port 9410]

Starts a real collector on the built site/, seals the recorded corpus (tests/events/corpus,
copied ``--copies`` times) with the demo key and posts it to /v1/ingest, then opens the
viewer in Chromium and times, from navigation: Python ready, every session listed
(progress bar gone), and each view drawn (heatmap of /demo/ incl. measuring clicks,
journeys, 3D). With ``--reopen`` the key is kept in the browser (the form's "Keep" box, so
viewer/loader.js keeps what it opened in IndexedDB), a few sessions more are posted, the page
is reloaded, and the reopen is timed too; each load's requests to /v1/ and their response
bytes are counted. One run; the machine is shared, so these are ceilings.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import CHROMIUM_ARGS, Collector  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from py_core import envelope  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--site", default=os.environ.get("SIGHTLINE_SITE") or str(ROOT / "site"))
    ap.add_argument("--reopen", action="store_true", help="keep the key, post 5 sessions more, reload, time it")
    ap.add_argument("--port", type=int, default=None, help="the collector's port (default: a free one)")
    args = ap.parse_args()
    key = json.loads((ROOT / ".sightline/demo-key.json").read_text())
    c = Collector(Path(tempfile.mkdtemp()) / "bench.db", Path(args.site), secrets.token_urlsafe(12), port=args.port).start()
    corpus = sorted((ROOT / "tests/events/corpus").glob("*.json.gz"))

    def post(rec: dict, sid: str) -> None:
        env = envelope.seal({"schema": 1, "events": rec["events"]}, key["public"], sid=sid, pid="bench-page-0", seq=0)
        req = urllib.request.Request(c.url + "/v1/ingest", data=json.dumps(env).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        for _ in range(100):  # the collector's ingest rate limit: wait as a device would
            try:
                urllib.request.urlopen(req, timeout=10).read()
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
                time.sleep(float(exc.headers.get("Retry-After") or 1))
        raise RuntimeError("ingest kept answering 429")

    try:
        n = events = 0
        for k in range(args.copies):
            for p in corpus:
                rec = json.loads(gzip.open(p).read())
                post(rec, f"{rec['sid'][:50]}-{k}")
                n, events = n + 1, events + len(rec["events"])
        print(f"{n} sessions, {events} events, Chromium {'/usr/bin/chromium' if os.path.exists('/usr/bin/chromium') else 'playwright'}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None,
                                         args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            api = {"requests": 0, "bytes": 0}

            def count(r) -> None:
                if r.url.startswith(c.url + "/v1/"):
                    api["requests"] += 1
                    api["bytes"] += r.sizes()["responseBodySize"]

            page.on("requestfinished", count)
            t0 = time.perf_counter()
            if args.reopen:  # through the form, with "Keep" ticked: the loader keeps what it opened
                page.goto(f"{c.url}/viewer/")
                page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=180_000)
                ready = time.perf_counter() - t0
                page.fill("#keys", key["private"])
                page.fill("#token", c.token)
                page.check("#keep")
                page.click("#connect")
            else:
                page.goto(f"{c.url}/viewer/#key={key['private']}&token={c.token}")
                page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=180_000)
                ready = time.perf_counter() - t0
            page.wait_for_selector("#progress", state="hidden", timeout=600_000)
            listed = time.perf_counter() - t0
            print(f"  Python (Pyodide + PyScript) ready      {ready:6.1f} s")
            print(f"  {n} sessions decrypted, analysed, listed {listed:6.1f} s  ({(listed - ready) * 1000 / n:.0f} ms per session)")
            print(f"  first open: {api['requests']} request(s) to /v1/, {api['bytes']:,} response bytes")
            if args.reopen:
                for i, p in enumerate(corpus[:5]):
                    post(json.loads(gzip.open(p).read()), f"bench-new-{i:04d}")
                api.update(requests=0, bytes=0)
                t0 = time.perf_counter()
                page.reload()
                page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=180_000)
                ready2 = time.perf_counter() - t0
                page.wait_for_function(f"document.querySelectorAll('#sessions tbody tr[data-sid]').length === {n + 5}"
                                       " && document.getElementById('progress').hidden", timeout=600_000)
                reopened = time.perf_counter() - t0
                sync = json.loads(page.evaluate("async () => (await import('./loader.js')).lastSync()"))
                print(f"  reopen (5 sessions new): Python ready {ready2:6.1f} s, {n + 5} listed {reopened:6.1f} s;"
                      f" loader {sync['ms']} ms: {sync['cached']} envelopes from IndexedDB, {sync['fetched']} fetched")
                print(f"  reopen: {api['requests']} request(s) to /v1/, {api['bytes']:,} response bytes")
            for view, done in [("heatmaps", "#heatmap[data-drawn]"), ("journeys", "#journeys[data-nodes]"),
                               ("scroll3d", "#scroll3d[data-lines]")]:
                t = time.perf_counter()
                page.click(f"#tabs [data-view={view}]")
                page.wait_for_selector(done, timeout=600_000)
                print(f"  {view:38s} {time.perf_counter() - t:6.1f} s")
            browser.close()
    finally:
        c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
