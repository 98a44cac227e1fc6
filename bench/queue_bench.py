"""What sealing pending batches at rest costs: recorder/queue.js against a plain idb put.

    python3 build.py build && .venv/bin/python bench/queue_bench.py [--batches 300] [--runs 3]

Bundles recorder/queue.js with esbuild (as the worker bundle does), serves it from a
temporary directory on 127.0.0.1, and in headless Chromium stores the same batches
(50 events, about 9 KB of JSON each) two ways, each into a fresh database:
  peer   `idb` put of the clear batch (what the foundation's worker did)
  queue  `queue.addRaw`: AES-256-GCM under the non-extractable key, then put
and then reads and deletes them oldest first (`getAll` vs `queue.nextRaw`, which decrypts). Prints the median
per-batch milliseconds of the runs, side by side.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM_ARGS  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

ENTRY = """
import { openDB } from 'idb';
import * as queue from '../recorder/queue.js';
window.bench = { openDB, queue };
"""

RUN = """async ([n, mode]) => {
  const events = Array.from({ length: 50 }, (_, i) => i % 10 === 0
    ? { t: 2, ts: Date.now() + i, rm: [], ad: [[4, null, { i: 100 + i, t: 3, x: 'Some product text, quite ordinary '.repeat(3) }]], at: [], tx: [] }
    : { t: 6, ts: Date.now() + i, p: Array.from({ length: 20 }, (_, k) => [k * 3, k * 2, k * 50]) });
  const batch = (seq) => ({ sid: 's_benchbench', pid: 'p_benchbench', seq, events, endpoint: 'http://127.0.0.1/', key: 'k' });
  let write, read;
  if (mode === 'peer') {
    const db = await bench.openDB('peer-' + Math.random(), 1, { upgrade(d) { d.createObjectStore('raw', { keyPath: ['pid', 'seq'] }); } });
    let t = performance.now();
    for (let s = 0; s < n; s++) await db.put('raw', batch(s));
    write = performance.now() - t;
    t = performance.now();
    for (let s = 0; s < n; s++) { const [r] = await db.getAll('raw', null, 1); await db.delete('raw', [r.pid, r.seq]); }
    read = performance.now() - t;
  } else {
    await bench.queue.purge();
    await bench.queue.atRestKey();
    let t = performance.now();
    for (let s = 0; s < n; s++) await bench.queue.addRaw(batch(s));
    write = performance.now() - t;
    t = performance.now();
    for (let s = 0; s < n; s++) { const r = await bench.queue.nextRaw(); await (await bench.queue.db()).delete('raw', [r.pid, r.seq]); }
    read = performance.now() - t;
  }
  return { write: write / n, read: read / n, bytes: JSON.stringify(events).length };
}"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="sightline-queue-bench-"))
    (out / "src").mkdir()
    entry = ROOT / "bench" / ".queue_entry.js"
    entry.write_text(ENTRY)
    try:
        subprocess.run([ROOT / "node_modules" / ".bin" / "esbuild", entry, "--bundle", "--format=esm",
                        f"--outfile={out / 'queue-bench.js'}"], check=True, cwd=ROOT, capture_output=True)
    finally:
        entry.unlink()
    (out / "index.html").write_text('<!doctype html><script type="module" src="queue-bench.js"></script>')
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results = {"peer": [], "queue": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            page.wait_for_function("window.bench")
            for _ in range(args.runs):
                for mode in ("peer", "queue"):  # interleaved, so load on the machine hits both
                    results[mode].append(page.evaluate(RUN, [args.batches, mode]))
            browser.close()
    finally:
        server.shutdown()
    size = results["peer"][0]["bytes"]
    print(f"{args.batches} batches of 50 events ({size:,} bytes of JSON) per run, {args.runs} runs, median of runs")
    print(f"{'':32}{'store ms/batch':>16}{'read+delete ms/batch':>22}")
    for mode, label in (("peer", "peer: idb put, clear"), ("queue", "queue.js: sealed at rest")):
        w = statistics.median(r["write"] for r in results[mode])
        r = statistics.median(r["read"] for r in results[mode])
        print(f"{label:32}{w:>16.2f}{r:>22.2f}")


if __name__ == "__main__":
    main()
