"""Viewer benchmark: aggregation time across sessions (CPython) and vendored library sizes.

    python3 build.py build && .venv/bin/python bench/viewer_bench.py [--copies 10] [--runs 5]

Sessions are the recorded demo-shop corpus (tests/events/corpus), copied ``--copies``
times under new session ids. Each aggregation (py_core.aggregate) is timed ``--runs``
times; the median is printed per 100 sessions. Sizes compare what build.py ships in
site/vendor/ (esbuild bundles from npm) with the upstream minified files in node_modules.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from py_core import aggregate  # noqa: E402


def load(copies: int) -> list[dict]:
    base = [json.loads(gzip.open(p).read()) for p in sorted((ROOT / "tests/events/corpus").glob("*.json.gz"))]
    return [{"sid": f"{s['sid']}-{k}", "events": s["events"]} for k in range(copies) for s in base]


def timed(fn, runs: int) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    return len(data), len(gzip.compress(data, 9))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--site", default=str(ROOT / "site"))
    args = ap.parse_args()
    sessions = load(args.copies)
    n = len(sessions)
    events = sum(len(s["events"]) for s in sessions)
    print(f"{n} sessions, {events} events (corpus x {args.copies}), median of {args.runs} runs, CPython {sys.version.split()[0]}")
    cached = [{**s, "views": aggregate.page_views(s)} for s in sessions]  # what the viewer keeps per session
    for name, fn in [
        ("page_views (all sessions)", lambda: [aggregate.page_views(s) for s in sessions]),
        ("heatmap /demo/ (all widths)", lambda: aggregate.heatmap(sessions, "/demo/")),
        ("journeys", lambda: aggregate.journeys(sessions)),
        ("scroll_paths", lambda: aggregate.scroll_paths(sessions)),
        ("heatmap /demo/, cached views", lambda: aggregate.heatmap(cached, "/demo/")),
        ("journeys, cached views", lambda: aggregate.journeys(cached)),
        ("scroll_paths, cached views", lambda: aggregate.scroll_paths(cached)),
    ]:
        sec = timed(fn, args.runs)
        print(f"  {name:32s} {sec * 1000:8.1f} ms   {sec * 1000 * 100 / n:7.1f} ms per 100 sessions")
    site = Path(args.site)
    print("vendored (site/vendor) vs upstream minified (node_modules), bytes raw / gzip -9:")
    three = ROOT / "node_modules/three/build"
    for ours, theirs, label in [
        (site / "vendor/d3/d3.js", [ROOT / "node_modules/d3/dist/d3.min.js"], "node_modules/d3/dist/d3.min.js"),
        (site / "vendor/three/three.js", [three / "three.module.js", three / "three.core.js"],
         "three.module.js + three.core.js (unminified; no minified ESM build ships)"),
    ]:
        if ours.exists() and all(p.exists() for p in theirs):
            a = size(ours)
            data = b"".join(p.read_bytes() for p in theirs)
            print(f"  {ours.relative_to(site)}: {a[0]:,} / {a[1]:,}    {label}: {len(data):,} / {len(gzip.compress(data, 9)):,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
