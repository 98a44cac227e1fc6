"""Sightline's recorder against @rrweb/record 2.1.6, side by side in one Chromium run.

    python3 build.py build && .venv/bin/python bench/recorder_bench.py [--runs 3] [--json out.json]

Measures, for the same workload pages (bench/pages/) and the same scripted actions:

- the gzip -9 size of each shipped recorder script;
- main-thread time a recorder adds to a mutation-heavy workload (a fixed number of frames,
  so every variant does the same work), after the recorder's start-up: CDP Performance.getMetrics
  TaskDuration and ScriptDuration deltas over the workload, minus the same run's deltas
  without a recorder (median over --runs runs, each variant in a fresh context of one browser);
- long tasks (50 ms or more, PerformanceObserver 'longtask') during the workload, per variant;
- bytes of a scripted session (the same actions for both): every event each recorder
  produced, as JSON, gzip -9 compressed the same way; per minute on the mean of the two
  sessions' durations.

Sightline runs as deployed: site/sightline.js with its real worker (Pyodide boots in it).
Its events are read at the postMessage boundary by keeping a reference to each posted batch
(no copy on the main thread); rrweb's by its emit callback pushing to an array. rrweb runs
with its defaults. Figures depend on the machine; compare the columns, not absolute values.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("SIGHTLINE_SITE") or ROOT / "site").resolve()
PAGES = ROOT / "bench" / "pages"
RRWEB = ROOT / "node_modules" / "@rrweb" / "record" / "dist" / "record.umd.min.cjs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VARIANTS = ("none", "sightline", "rrweb")

# Installed before any page script: keeps Sightline's posted batches, counts long tasks.
INIT = """
window.__sl = [];
const post = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (m) { if (m && m.op === 'batch') __sl.push(m.events); return post.apply(this, arguments); };
window.__long = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) __long.push([e.startTime, e.duration]); })
  .observe({ type: 'longtask', buffered: true });
"""


def recorder_tag(variant: str, key: str) -> str:
    if variant == "sightline":
        return f'<script src="/sightline.js" data-key="{key}" data-consent="granted"></script>'
    if variant == "rrweb":
        return ('<script src="/rrweb-record.js"></script><script>window.__rr = [];'
                '(rrwebRecord.record || rrwebRecord)({ emit(e) { __rr.push(e); } });</script>')
    return ""


class Handler(http.server.SimpleHTTPRequestHandler):
    """The built site, the rrweb bundle at /rrweb-record.js, and bench pages with a recorder injected."""

    key = ""

    def log_message(self, *a):  # quiet
        pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/rrweb-record.js":
            return self._send(RRWEB.read_bytes(), "text/javascript")
        if path.startswith("/bench/"):
            page = (PAGES / path.removeprefix("/bench/")).read_text()
            variant = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("rec", "none")
            return self._send(page.replace("<!--RECORDER-->", recorder_tag(variant, self.key)).encode(), "text/html")
        return super().do_GET()

    def _send(self, body: bytes, ctype: str):
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def metrics(cdp) -> dict:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def events_of(page, variant: str) -> list:
    if variant == "sightline":
        return page.evaluate("() => { Sightline.flush(); return __sl.flat(); }")
    if variant == "rrweb":
        return page.evaluate("__rr")
    return []


def warm_up(page, variant: str) -> None:
    """Wait until the recorder runs in its steady state (Sightline: its worker has booted Pyodide)."""
    page.wait_for_timeout(1500)
    if variant == "sightline":
        page.evaluate("Sightline.flush()")  # resolves once the worker has processed what it holds


def mutation_run(browser, base: str, variant: str, frames: int) -> dict:
    """Main-thread cost and long tasks of the mutation workload with one recorder."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.add_init_script(INIT)
    page.goto(f"{base}/bench/mutations.html?rec={variant}")
    warm_up(page, variant)  # the recorder's start-up (snapshot, worker boot) is not the workload
    cdp = ctx.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
    t0 = page.evaluate("performance.now()")
    before = metrics(cdp)
    wall = page.evaluate(f"workload({frames})")
    page.wait_for_timeout(1200)  # let batched/deferred recorder work of the workload run
    after = metrics(cdp)
    long = page.evaluate(f"__long.filter(([s]) => s >= {t0}).map(([, d]) => d)")
    events = events_of(page, variant)
    ctx.close()
    return {
        "task_ms": (after["TaskDuration"] - before["TaskDuration"]) * 1000,
        "script_ms": (after["ScriptDuration"] - before["ScriptDuration"]) * 1000,
        "long_tasks": len(long), "longest_ms": max(long, default=0), "wall_ms": wall,
        "bytes_gz": len(gzip.compress(json.dumps(events, separators=(",", ":")).encode(), 9)),
    }


def session_run(browser, base: str, variant: str) -> dict:
    """Bytes a recorder produces for one scripted session (same actions for every variant)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.add_init_script(INIT)
    start = time.monotonic()
    page.goto(f"{base}/bench/session.html?rec={variant}")
    page.wait_for_timeout(500)
    for k in range(6):  # browse the list: mouse, scroll, open cards
        for s in range(20):
            page.mouse.move(100 + s * 30, 150 + k * 40 + s * 5)
            page.wait_for_timeout(20)
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(200)
        page.click(f"#p{k * 5} button")
    page.click("text=FAQ")
    for k in range(5):
        page.click(f"text=Question {k}?")
        page.wait_for_timeout(150)
    page.click("text=Checkout")
    page.fill("input[name=name]", "Ada Lovelace")
    page.type("input[name=email]", "ada@example.org", delay=40)
    page.type("textarea[name=addr]", "12 Analytical Way, London", delay=30)
    page.check("input[name=gift]")
    page.select_option("select[name=c]", "FR")
    page.click("#pay")
    page.click("text=Products")
    for s in range(30):
        page.mouse.move(600 - s * 10, 300 + s * 4)
        page.wait_for_timeout(25)
    page.wait_for_timeout(1200)
    seconds = time.monotonic() - start
    events = events_of(page, variant)
    ctx.close()
    raw = json.dumps(events, separators=(",", ":")).encode()
    gz = len(gzip.compress(raw, 9))
    return {"seconds": seconds, "events": len(events), "bytes_raw": len(raw), "bytes_gz": gz}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--frames", type=int, default=300, help="frames of the mutation workload per run")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args(argv)
    if not (SITE / "sightline.js").exists():
        sys.exit(f"{SITE}/sightline.js is missing: run `python3 build.py build` first")
    Handler.key = json.loads((ROOT / ".sightline" / "demo-key.json").read_text())["public"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sizes = {"sightline": len(gzip.compress((SITE / "sightline.js").read_bytes(), 9)),
             "rrweb": len(gzip.compress(RRWEB.read_bytes(), 9))}
    chromium = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    results: dict = {"size_gz": sizes, "mutations": {v: [] for v in VARIANTS}, "session": {}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for run in range(args.runs):
            for variant in VARIANTS:  # interleaved, so drift in machine load hits all alike
                results["mutations"][variant].append(mutation_run(browser, base, variant, args.frames))
        for variant in ("sightline", "rrweb"):
            results["session"][variant] = session_run(browser, base, variant)
        browser.close()
    server.shutdown()
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def report(r: dict, args) -> None:
    med = {v: {k: statistics.median(x[k] for x in runs) for k in runs[0]} for v, runs in r["mutations"].items()}
    base = med["none"]
    print(f"Recorder benchmark: {args.runs} runs, mutation workload of {args.frames} frames, one Chromium")
    print(f"{'':38}{'Sightline':>12}{'rrweb 2.1.6':>14}{'ratio':>8}")
    row = lambda name, a, b, fmt: print(f"{name:38}{fmt.format(a):>12}{fmt.format(b):>14}{(a / b if b else 0):>8.2f}")
    row("script size, gzip -9 (bytes)", r["size_gz"]["sightline"], r["size_gz"]["rrweb"], "{:,.0f}")
    # Paired per run (each run's variants ran back to back), then the median over runs.
    runs = r["mutations"]
    paired = lambda v, k: statistics.median(x[k] - b[k] for x, b in zip(runs[v], runs["none"]))
    row("main-thread TaskDuration added (ms)", paired("sightline", "task_ms"), paired("rrweb", "task_ms"), "{:,.0f}")
    row("main-thread ScriptDuration added (ms)", paired("sightline", "script_ms"), paired("rrweb", "script_ms"), "{:,.0f}")
    row("long tasks added (paired per run)", paired("sightline", "long_tasks"), paired("rrweb", "long_tasks"), "{:.0f}")
    row("long tasks during workload (median)", med["sightline"]["long_tasks"], med["rrweb"]["long_tasks"], "{:.0f}")
    row("longest task (ms, median)", med["sightline"]["longest_ms"], med["rrweb"]["longest_ms"], "{:.0f}")
    row("workload events, gzip -9 (bytes)", med["sightline"]["bytes_gz"], med["rrweb"]["bytes_gz"], "{:,.0f}")
    s = r["session"]
    # Per minute on one duration for both (their mean): the same actions, so the same session.
    minute = 60 / statistics.mean(s[v]["seconds"] for v in ("sightline", "rrweb"))
    row("scripted session, gzip -9 (bytes)", s["sightline"]["bytes_gz"], s["rrweb"]["bytes_gz"], "{:,.0f}")
    row("  the same, per minute of session", s["sightline"]["bytes_gz"] * minute, s["rrweb"]["bytes_gz"] * minute, "{:,.0f}")
    row("  uncompressed JSON (bytes)", s["sightline"]["bytes_raw"], s["rrweb"]["bytes_raw"], "{:,.0f}")
    print(f"baseline without a recorder: TaskDuration {base['task_ms']:.0f} ms, ScriptDuration "
          f"{base['script_ms']:.0f} ms, long tasks {base['long_tasks']:.0f}")
    print(f"workload wall time (median ms): none {base['wall_ms']:.0f}, sightline {med['sightline']['wall_ms']:.0f}, "
          f"rrweb {med['rrweb']['wall_ms']:.0f}; session length {s['sightline']['seconds']:.1f} s / "
          f"{s['rrweb']['seconds']:.1f} s, events {s['sightline']['events']} / {s['rrweb']['events']}")


if __name__ == "__main__":
    sys.exit(main())
