"""Masking throughput inside Pyodide, in a module Web Worker in Chromium, vs CPython, same run.

    SIGHTLINE_SITE=/tmp/site-x python3 build.py build   # or use an existing build
    .venv/bin/python bench/masking_pyodide.py [--site DIR] [--rounds 3] [--port N]

Serves the built site on a loopback port, starts a module worker that boots Pyodide from
the site (as the recorder's worker does), unpacks py_core.zip, and masks every line of
bench/corpus/corpus.jsonl with py_core.masking.mask_text; reports characters per second
(best of N rounds, timed inside the worker with performance.now()). The same corpus is
then masked on CPython in this process for comparison.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from py_core.masking import mask_text  # noqa: E402

CORPUS = Path(__file__).with_name("corpus") / "corpus.jsonl"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

WORKER = """
const { loadPyodide } = await import(BASE + 'pyodide/pyodide.mjs');
const py = await loadPyodide({ indexURL: BASE + 'pyodide/' });
py.unpackArchive(await (await fetch(BASE + 'py_core.zip')).arrayBuffer(), 'zip');
const bench = py.runPython(`
import json, time
from py_core.masking import mask_text
def bench(lines_json, rounds):
    lines = json.loads(lines_json)
    best = float('inf')
    for _ in range(rounds):
        t0 = time.perf_counter()
        for line in lines:
            mask_text(line)
        best = min(best, time.perf_counter() - t0)
    return json.dumps({'chars': sum(map(len, lines)), 'seconds': best})
bench
`);
self.onmessage = ({ data }) => {
  const t0 = performance.now();
  const out = JSON.parse(bench(data.lines, data.rounds));
  out.wallMs = performance.now() - t0;
  self.postMessage(out);
};
self.postMessage('ready');
"""


def serve(site: Path, port: int = 0) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: D102 - no access log on stdout
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=Path(os.environ.get("SIGHTLINE_SITE") or ROOT / "site"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--port", type=int, default=0, help="loopback port to serve the site on (0: any free one)")
    args = ap.parse_args()
    if not (args.site / "py_core.zip").exists():
        sys.exit(f"{args.site} is not a built site: run `python3 build.py build` first")
    from playwright.sync_api import sync_playwright

    lines = [json.loads(x)["text"] for x in CORPUS.read_text(encoding="utf-8").splitlines() if x]
    server, base = serve(args.site, args.port)
    try:
        with sync_playwright() as pw:
            exe = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
            browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(base + "blank.html")
            result = page.evaluate("""async ([src, lines, rounds]) => {
              const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
              const w = new Worker(url, { type: 'module' });
              const next = () => new Promise((ok, no) => { w.onmessage = (e) => ok(e.data); w.onerror = (e) => no(e.message); });
              if (await next() !== 'ready') throw new Error('worker did not boot');
              w.postMessage({ lines, rounds });
              return await next();
            }""", [f"const BASE = {json.dumps(base)};\n" + WORKER, json.dumps(lines), args.rounds])
            version = browser.version
            browser.close()
    finally:
        server.shutdown()

    chars = sum(map(len, lines))
    best = float("inf")
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for line in lines:
            mask_text(line)
        best = min(best, time.perf_counter() - t0)
    print(f"corpus: {len(lines)} lines, {chars:,} chars; best of {args.rounds} rounds")
    print(f"| runtime | chars/s | seconds per corpus |\n| --- | ---: | ---: |")
    print(f"| Pyodide 0.27.7 in a module worker (Chromium {version}) | "
          f"{result['chars'] / result['seconds']:,.0f} | {result['seconds']:.3f} |")
    print(f"| CPython {sys.version.split()[0]} | {chars / best:,.0f} | {best:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
