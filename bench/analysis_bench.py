#!/usr/bin/env python3
"""Analysis time of a 30-minute session: Pyodide in a module Web Worker vs CPython.

    SIGHTLINE_SITE=/tmp/site-x python3 build.py build
    .venv/bin/python bench/analysis_bench.py [--minutes 30] [--runs 5]

The session is made of real recorded sessions (tests/events/corpus, every persona),
played one after another with their timestamps shifted until it lasts `--minutes`.
Both runtimes analyse the same events with the same py_core (CPython from the source
tree; Pyodide from site/py_core.zip, numpy loaded as the visitor's worker does), each
`--runs` times after one warm-up run; the median and the best are printed, with events
per second. JSON parsing in the worker is timed apart from analyze(). Then the size of
the sealed payload per one-second batch with the worker's compact insights, the full ones
and the foundation's facts-only ones.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM_ARGS, SITE, Collector  # noqa: E402
from py_core.insights import analyze  # noqa: E402

CORPUS = ROOT / "tests" / "events" / "corpus"

WORKER = """
const base = %s;
const { loadPyodide } = await import(base + 'pyodide/pyodide.mjs');
const t0 = performance.now();
const py = await loadPyodide({ indexURL: base + 'pyodide/' });
await py.loadPackage('numpy');
py.unpackArchive(await (await fetch(base + 'py_core.zip')).arrayBuffer(), 'zip');
py.runPython('from py_core.insights import analyze; import json');
const bootMs = performance.now() - t0;
self.onmessage = ({ data }) => {
  py.globals.set('events_json', data.events);
  const times = [], parse = [];
  for (let k = 0; k <= data.runs; k++) {
    const a = performance.now();
    py.runPython('events = json.loads(events_json)');
    const b = performance.now();
    py.runPython('result = analyze(events)');
    const c = performance.now();
    if (k) { parse.push(b - a); times.push(c - b); }  // run 0 warms up
  }
  self.postMessage({ bootMs, times, parse, summary: py.runPython('result["summary"]') });
};
self.postMessage({ ready: true });
"""


def long_session(minutes: float) -> list[dict]:
    """Recorded sessions end to end (1 s apart) until the whole lasts `minutes`."""
    sessions = [json.loads(gzip.decompress(p.read_bytes()))["events"] for p in sorted(CORPUS.glob("*.json.gz"))]
    if not sessions:
        sys.exit(f"no recorded sessions in {CORPUS}")
    out: list[dict] = []
    clock, k = 0, 0
    while clock < minutes * 60_000:
        events = sorted(sessions[k % len(sessions)], key=lambda e: e["ts"])
        k += 1
        first = events[0]["ts"]
        out += [{**e, "ts": e["ts"] - first + clock} for e in events]
        clock = out[-1]["ts"] + 1000
    return out


def bench_cpython(events: list[dict], runs: int) -> list[float]:
    analyze(events)  # warm-up (models loaded once per process, as in the worker)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        analyze(events)
        times.append((time.perf_counter() - t) * 1000)
    return times


def bench_pyodide(events: list[dict], runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("SIGHTLINE_CHROMIUM") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    with tempfile.TemporaryDirectory() as tmp:
        collector = Collector(Path(tmp) / "bench.db", SITE, secrets.token_urlsafe(8)).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(collector.url + "/blank.html")
                result = page.evaluate("""async ([code, events, runs]) => {
                  const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
                  const w = new Worker(url, { type: 'module' });
                  await new Promise((ok, fail) => { w.onmessage = ok; w.onerror = (e) => fail(new Error(e.message)); });
                  const out = new Promise((ok) => { w.onmessage = (m) => ok(m.data); });
                  w.postMessage({ events, runs });
                  return await out;
                }""", [WORKER % json.dumps(collector.url + "/"), json.dumps(events), runs])
                browser.close()
        finally:
            collector.stop()
    return result


FACTS = ("version", "events", "pages", "duration_ms", "clicks", "inputs", "errors", "failed_requests",
         "rage_clicks", "summary")  # what the foundation's analyze() returned


def payload_sizes() -> dict[str, list[int]]:
    """Gzipped bytes of {"events", "insights"} per one-second batch of every recorded session,
    for the worker's compact insights, the full ones, and facts only (the foundation's)."""
    sizes: dict[str, list[int]] = {"compact (sealed by the worker)": [], "full": [], "facts only (foundation)": []}
    for p in sorted(CORPUS.glob("*.json.gz")):
        events = sorted(json.loads(gzip.decompress(p.read_bytes()))["events"], key=lambda e: e["ts"])
        batches: dict[int, list[dict]] = {}
        for e in events:
            batches.setdefault((e["ts"] - events[0]["ts"]) // 1000, []).append(e)
        for batch in batches.values():
            full = analyze(batch)
            for name, insights in zip(sizes, (analyze(batch, compact=True), full, {k: full[k] for k in FACTS})):
                body = json.dumps({"events": batch, "insights": insights}, separators=(",", ":")).encode()
                sizes[name].append(len(gzip.compress(body, 6, mtime=0)))
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    events = long_session(args.minutes)
    span = (events[-1]["ts"] - events[0]["ts"]) / 60000
    print(f"session: {len(events):,} events over {span:.1f} min ({len(json.dumps(events)):,} bytes of JSON); "
          f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}")
    cp = bench_cpython(events, args.runs)
    py = bench_pyodide(events, args.runs)
    expected = analyze(events)["summary"]
    if py["summary"] != expected:
        sys.exit(f"Pyodide and CPython disagree:\n  {py['summary']}\n  {expected}")
    print(f"{'runtime':<28}{'median ms':>10}{'best ms':>10}{'events/s':>12}")
    for name, times in (("CPython analyze()", cp), ("Pyodide worker analyze()", py["times"]),
                        ("Pyodide worker json.loads", py["parse"])):
        med = statistics.median(times)
        print(f"{name:<28}{med:>10.0f}{min(times):>10.0f}{len(events) / med * 1000:>12,.0f}")
    print(f"Pyodide worker boot (pyodide + numpy + py_core): {py['bootMs']:.0f} ms; summary identical in both")
    sizes = payload_sizes()
    n = len(next(iter(sizes.values())))
    print(f"\nsealed payload per 1-s batch ({n} batches of the corpus), gzip -6 bytes:")
    print(f"{'insights':<32}{'median':>8}{'p90':>8}{'total':>10}")
    for name, values in sizes.items():
        values = sorted(values)
        print(f"{name:<32}{statistics.median(values):>8.0f}{values[int(0.9 * (len(values) - 1))]:>8}{sum(values):>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
