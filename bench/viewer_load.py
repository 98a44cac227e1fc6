"""Viewer load benchmark in Chromium: time to decrypt, analyse and list N sessions, then draw each view.

    python3 build.py build && .venv/bin/python bench/viewer_load.py [--copies 2]

Starts a real collector on the built site/, seals the recorded corpus (tests/events/corpus,
copied ``--copies`` times) with the demo key and posts it to /v1/ingest, then opens the
viewer in Chromium and times, from navigation: Python ready, every session listed
(progress bar gone), and each view drawn (heatmap of /demo/ incl. measuring clicks,
journeys, 3D). One run; the machine is shared, so these are ceilings.
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
    args = ap.parse_args()
    key = json.loads((ROOT / ".sightline/demo-key.json").read_text())
    c = Collector(Path(tempfile.mkdtemp()) / "bench.db", Path(args.site), secrets.token_urlsafe(12)).start()
    try:
        n = events = 0
        for k in range(args.copies):
            for p in sorted((ROOT / "tests/events/corpus").glob("*.json.gz")):
                rec = json.loads(gzip.open(p).read())
                env = envelope.seal({"schema": 1, "events": rec["events"]}, key["public"],
                                    sid=f"{rec['sid'][:50]}-{k}", pid="bench-page-0", seq=0)
                req = urllib.request.Request(c.url + "/v1/ingest", data=json.dumps(env).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=10).read()
                n, events = n + 1, events + len(rec["events"])
        print(f"{n} sessions, {events} events, Chromium {'/usr/bin/chromium' if os.path.exists('/usr/bin/chromium') else 'playwright'}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None,
                                         args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            t0 = time.perf_counter()
            page.goto(f"{c.url}/viewer/#key={key['private']}&token={c.token}")
            page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=180_000)
            ready = time.perf_counter() - t0
            page.wait_for_selector("#progress", state="hidden", timeout=600_000)
            listed = time.perf_counter() - t0
            print(f"  Python (Pyodide + PyScript) ready      {ready:6.1f} s")
            print(f"  {n} sessions decrypted, analysed, listed {listed:6.1f} s  ({(listed - ready) * 1000 / n:.0f} ms per session)")
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
