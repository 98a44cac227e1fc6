"""How long the visitor's worker takes to boot Pyodide + py_core, and to deliver a first batch.

    python3 build.py build && .venv/bin/python bench/worker_boot.py [--runs 3]

Starts a real collector serving the built site/, opens the demo shop in Chromium with a
fresh profile each run (cold HTTP cache), consents, and reads the worker's own figures
(Sightline.flush() resolves with bootMs once everything is uploaded).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM_ARGS, SITE, Collector  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    c = Collector(Path(tempfile.mkdtemp()) / "bench.db", SITE, "bench").start()
    boots, firsts = [], []
    try:
        with sync_playwright() as p:
            for _ in range(args.runs):
                b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = b.new_page()
                page.goto(c.url + "/demo/")
                t0 = time.perf_counter()
                page.click("#consent-yes")
                status = page.evaluate("Sightline.flush()")
                firsts.append((time.perf_counter() - t0) * 1000)
                boots.append(status["bootMs"])
                b.close()
    finally:
        c.stop()
    print(f"runs: {args.runs}")
    print(f"worker Pyodide + py_core boot, ms: median {statistics.median(boots):.0f} (all: {boots})")
    print(f"consent -> first batch stored at the collector, ms: median {statistics.median(firsts):.0f}")


if __name__ == "__main__":
    main()
