"""What a recorded visit costs the visitor: Sightline (per processing mode) against @rrweb/record
2.1.6 and against no recorder, side by side in one run, in real Chromium.

    SIGHTLINE_SITE=/tmp/site-x python3 build.py build
    SIGHTLINE_SITE=/tmp/site-x .venv/bin/python bench/visitor_cost.py [--runs 3] [--modes device,light,auto] [--quick]

The site is served by a real `sightline serve` process (py_core.cli) on a free port, wrapped in
an ASGI middleware that counts every request and response at the collector (method, path,
status, header and body bytes, arrival time): the bytes that crossed the wire between this
Chromium and the site, including the worker's requests and beacons. Playwright's context-level
CDP network events (Network.loadingFinished encodedDataLength on the page and on its worker
targets) are kept as a cross-check. Every visit runs on an emulated network (CDP
Network.emulateNetworkConditions on the page, which Chromium applies to its dedicated workers
too): 10 Mbit/s down and up, 40 ms RTT, unless --no-throttle.

Variants, interleaved within each run: `none` (the same pages without a recorder), `rrweb`
(record.umd.min.cjs, recording into memory), and Sightline with `data-process=<mode>` for each
--modes entry. All of them show a consent bar on the first page (Sightline: its own
sightline-banner.js with the default data-consent=required; the others a bar with the same ids),
which the script accepts after the page's idle window.

Per variant and run:
- first visit: a fresh persistent profile, 5 pages (demo shop index, cart, checkout, the guide
  fixture bench/pages/guide.html, index again), about --page-seconds each: a quiet window after
  the load event (LCP and TBT are read at its end), then fixed clicks, typing and scrolling;
  then about:blank (no flush, which would force a Python pass: what left is what the visit sent
  by itself, pagehide beacons included, within --trail seconds);
- repeat visit: the browser restarted on the same profile (HTTP cache, IndexedDB, consent kept);
- private visit: a new non-persistent (incognito) context of a fresh browser, 5 pages;
- 1-page visit: a fresh profile, one page of --short-seconds, then about:blank (no flush: only what
  leaves by itself, pagehide beacons included, within --trail seconds).
Measured: bytes before consent and after it, runtime requests (Pyodide files, py_core.zip,
snapshots) and bytes apart; Pyodide boots (pyodide.asm.wasm fetches in the worker's resource
timing; full boots and snapshot restores from the worker's own counters, self.sightlineStats,
read page by page without starting anything);
CPU time of the whole Chromium process tree (/proc utime+stime, reaped children included) and of
the recorder's worker threads (`DedicatedWorker` threads; Pyodide + Python + the worker's JS);
peak summed RSS of renderer processes; long tasks, LCP and TBT per page; the sealed envelope
bytes POSTed to /v1/ingest against rrweb's events gzipped per page; consent to the first
envelope at the collector. Medians with min-max over runs; paired per run against `none`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RRWEB = ROOT / "node_modules" / "@rrweb" / "record" / "dist" / "record.umd.min.cjs"
GUIDE = ROOT / "bench" / "pages" / "guide.html"
RESULTS = ROOT / "bench" / "results" / "visitor_cost.json"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
MODES = ("device", "light", "auto")
PLAN = ("index", "cart", "checkout", "guide", "index")  # the 5-page visit
RUNTIME = re.compile(r"pyodide|py_core|\.wasm|\.whl|stdlib|snapshot|runtime", re.I)
THROTTLE = {"offline": False, "latency": 40, "downloadThroughput": 10e6 / 8, "uploadThroughput": 10e6 / 8}

# ------------------------------------------------------------------ the collector, counted
# `python bench/visitor_cost.py --collector LOG -- <sightline serve args>` runs py_core.cli's
# serve with its ASGI app wrapped; GET /__bench/log?from=N returns the rows since N.


class CountingApp:
    def __init__(self, app):
        self.app, self.rows = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == "/__bench/log":
            start = int((scope.get("query_string") or b"from=0").decode().partition("=")[2] or 0)
            body = json.dumps(self.rows[start:]).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]})
            return await send({"type": "http.response.body", "body": body})
        line = len(scope["method"]) + len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string") or b"") + 13
        # [arrived, method, path, status, request header bytes, request body, response header bytes, response body, done]
        row = [time.time(), scope["method"], scope["path"], 0,
               line + sum(len(k) + len(v) + 4 for k, v in scope["headers"]) + 2, 0, 0, 0, 0.0]

        async def rcv():
            m = await receive()
            if m["type"] == "http.request":
                row[5] += len(m.get("body", b""))
            return m

        async def snd(m):
            if m["type"] == "http.response.start":
                row[3] = m["status"]
                # status line + headers + uvicorn's date header + the blank line
                row[6] = 17 + sum(len(k) + len(v) + 4 for k, v in m.get("headers", ())) + 37 + 2
            elif m["type"] == "http.response.body":
                row[7] += len(m.get("body", b""))
            await send(m)

        try:
            await self.app(scope, rcv, snd)
        finally:
            row[8] = time.time()
            self.rows.append(row)


def run_collector(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    import py_core.collector.app as app_module
    from py_core import cli

    create = app_module.create_app
    app_module.create_app = lambda *a, **k: CountingApp(create(*a, **k))
    return cli.main(argv)


class Collector:
    """A real `sightline serve` (counted) on a free port, serving the bench site."""

    def __init__(self, site: Path, work: Path):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "collector.log"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--collector", "--", "serve",
               "--db", str(work / "bench.db"), "--host", "127.0.0.1", "--port", str(self.port),
               "--token=bench", "--site", str(site), "--demo", "--no-rate-limit", "--log-level", "warning"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("collector did not start within 30 s")
        self.seen = 0

    def rows(self, since: int) -> list:
        with urllib.request.urlopen(f"{self.url}/__bench/log?from={since}", timeout=10) as r:
            return json.loads(r.read())

    def mark(self) -> int:
        """The number of rows logged so far (rows(mark) later returns what came after)."""
        self.seen += len(self.rows(self.seen))
        return self.seen

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ------------------------------------------------------------------ the bench site
BENCH_BAR = """<script>
window.__rr = [];
function __rrStart() { if (window.__rrOn || !window.rrwebRecord) return; window.__rrOn = 1;
  (rrwebRecord.record || rrwebRecord)({ emit(e) { __rr.push(e); } }); }
if (localStorage.getItem('vc-consent') === '1') __rrStart();
else document.addEventListener('DOMContentLoaded', () => {
  const bar = document.createElement('div'); bar.id = 'consent';
  bar.innerHTML = '<p>May we record this visit to improve the shop? Personal data is masked on your device.</p>'
    + '<button type="button" id="consent-yes">Allow</button> <button type="button" id="consent-no" class="secondary">No thanks</button>';
  bar.querySelector('#consent-yes').onclick = () => { localStorage.setItem('vc-consent', '1'); bar.remove(); __rrStart(); };
  document.body.append(bar);
});
</script>"""


def recorder_tag(variant: str, key: str) -> str:
    if variant == "none":
        return BENCH_BAR
    if variant == "rrweb":
        return '<script src="/bench-vc/rrweb-record.js"></script>\n' + BENCH_BAR
    return (f'<script src="../sightline.js" data-endpoint="/" data-key="{key}" data-process="{variant}"></script>\n'
            '<script src="../sightline-banner.js" defer data-id="consent" data-text="May we record this visit to '
            'improve the shop? Personal data is masked on your device."></script>')


def build_site(site: Path, work: Path, variants: list[str]) -> Path:
    """A copy of the built site (hard links) with the demo pages once per variant: /demo/vc-<variant>-<page>.html."""
    out = work / "site"
    try:
        shutil.copytree(site, out, copy_function=os.link)
    except OSError:
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(site, out)
    (out / "bench-vc").mkdir()
    shutil.copy(RRWEB, out / "bench-vc" / "rrweb-record.js")
    index = (site / "demo" / "index.html").read_text()
    m = re.search(r'sightline\.js"[^>]*data-key="([^"]+)"', index)
    if not m:
        sys.exit(f"{site}/demo/index.html has no sightline.js tag with data-key")
    key = m.group(1)
    sources = {p: (site / "demo" / f"{p}.html").read_text() for p in ("index", "cart", "checkout")}
    sources["guide"] = GUIDE.read_text()
    tag_lines = re.compile(r'^<script src="\.\./sightline(-banner)?\.js"[^\n]*\n', re.M)
    for v in variants:
        for name, html in sources.items():
            html = tag_lines.sub("", html).replace("<!--RECORDER-->\n", "")
            html = html.replace("</head>", recorder_tag(v, key) + "\n</head>", 1)
            for p in ("index", "cart", "checkout"):
                html = html.replace(f'href="{p}.html"', f'href="vc-{v}-{p}.html"')
            html = html.replace("Checkout</a></header>", f'Checkout</a><a href="vc-{v}-guide.html">Guide</a></header>', 1)
            (out / "demo" / f"vc-{v}-{name}.html").write_text(html)
    return out


# ------------------------------------------------------------------ /proc sampling
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _stat_fields(text: str) -> list[str]:
    return text[text.rfind(")") + 2:].split() if text else []


def _children(pid: int) -> list[int]:
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:  # the process has ended
        return out
    for tid in tids:
        out += [int(x) for x in _read(f"/proc/{pid}/task/{tid}/children").split()]
    return out


class Sampler(threading.Thread):
    """Samples the Chromium processes under this process: CPU (utime+stime+cutime+cstime), renderer RSS,
    and the CPU of each DedicatedWorker thread (kept after the thread ends)."""

    def __init__(self, interval: float = 0.25):
        super().__init__(daemon=True)
        self.interval, self.lock = interval, threading.Lock()
        self.kind: dict[int, str] = {}
        self.workers: dict[tuple[int, int], float] = {}  # (pid, tid) -> latest CPU-s of the thread
        self.peak_rss = 0
        self.stopped = False

    def chromium(self) -> list[int]:
        todo, found = [os.getpid()], []
        while todo:
            pid = todo.pop()
            for c in _children(pid):
                todo.append(c)
                if self.kind.get(c) != "renderer":  # read again: a fork shows its parent's command line at first
                    # Chromium rewrites its children's command lines as one space-separated string.
                    cmd = _read(f"/proc/{c}/cmdline").replace("\0", " ").split(" ")
                    exe = os.path.basename(cmd[0])
                    self.kind[c] = ("renderer" if "--type=renderer" in cmd else "chromium") if "chrom" in exe else "other"
                if self.kind[c] != "other":
                    found.append(c)
        return found

    def cpu(self) -> float:
        total = 0.0
        for pid in self.chromium():
            f = _stat_fields(_read(f"/proc/{pid}/stat"))
            if f:
                total += sum(int(x) for x in f[11:15]) / TICK
        return total

    def sample(self):
        rss = 0
        for pid in self.chromium():
            if self.kind[pid] != "renderer":
                continue
            statm = _read(f"/proc/{pid}/statm").split()
            rss += int(statm[1]) * PAGE if len(statm) > 1 else 0
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                if not _read(f"/proc/{pid}/task/{tid}/comm").startswith("DedicatedWorker"):
                    continue
                f = _stat_fields(_read(f"/proc/{pid}/task/{tid}/stat"))
                if f:
                    with self.lock:
                        self.workers[(pid, int(tid))] = (int(f[11]) + int(f[12])) / TICK
        with self.lock:
            self.peak_rss = max(self.peak_rss, rss)

    def run(self):
        while not self.stopped:
            try:
                self.sample()
            except (OSError, ValueError, IndexError) as exc:  # a process ended mid-read: skip this sample
                self.errors = getattr(self, "errors", 0) + 1
                self.last_error = repr(exc)
            time.sleep(self.interval)

    def begin(self) -> dict:
        if not self.is_alive():
            raise RuntimeError("the /proc sampler thread has stopped")
        self.sample()
        with self.lock:
            self.peak_rss, self.workers = 0, {}
        self.sample()
        return {"cpu": self.cpu()}

    def end(self, start: dict) -> dict:
        self.sample()
        with self.lock:
            return {"cpu_s": self.cpu() - start["cpu"], "worker_cpu_s": sum(self.workers.values()),
                    "peak_renderer_mb": self.peak_rss / 2**20}


# ------------------------------------------------------------------ in the page
INIT = """
window.__long = [];
window.__lcp = 0; window.__fcp = 0;
try {
  new PerformanceObserver((l) => { for (const e of l.getEntries()) __long.push([e.startTime, e.duration]); })
    .observe({ type: 'longtask', buffered: true });
  new PerformanceObserver((l) => { for (const e of l.getEntries()) __lcp = e.startTime; })
    .observe({ type: 'largest-contentful-paint', buffered: true });
  new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.name === 'first-contentful-paint') __fcp = e.startTime; })
    .observe({ type: 'paint', buffered: true });
} catch (e) {}
"""

# LCP as last reported before any input; TBT: sum of (duration - 50 ms) of long tasks from FCP
# to the end of the quiet window (the load phase; the visitor has not touched the page yet).
LOAD_METRICS = """() => {
  const end = performance.now();
  const tbt = __long.filter(([s]) => s >= __fcp && s <= end).reduce((a, [, d]) => a + Math.max(0, d - 50), 0);
  const nav = performance.getEntriesByType('navigation')[0];
  return { lcp: __lcp, fcp: __fcp, tbt, load: nav ? nav.loadEventEnd : null };
}"""

PAGE_END = """() => ({
  long: __long.length, long_ms: __long.reduce((a, [, d]) => a + d, 0),
  rr: window.__rr && window.__rr.length ? JSON.stringify(window.__rr) : null,
  rr_n: window.__rr ? window.__rr.length : 0,
})"""

WORKER_WASM = """() => performance.getEntriesByType('resource').filter((e) => /pyodide\\.asm\\.wasm/.test(e.name)).length"""


def actions(page, name: str, first: bool, repeat: int) -> None:
    """The fixed script of one page view (no randomness)."""
    mv = page.mouse.move
    if name == "index":
        for s in range(20):
            mv(120 + s * 30, 260 + (s % 5) * 20)
            page.wait_for_timeout(40)
        page.mouse.wheel(0, 300)
        page.wait_for_timeout(400)
        cards = (1, 2) if repeat == 0 else (4,)
        for k in cards:
            page.hover(f"#products .card:nth-child({k}) button")
            page.wait_for_timeout(300)
            page.click(f"#products .card:nth-child({k}) button")
            page.wait_for_timeout(500)
        page.mouse.wheel(0, -300)
    elif name == "cart":
        for s in range(15):
            mv(200 + s * 25, 200 + s * 8)
            page.wait_for_timeout(50)
        page.mouse.wheel(0, 200)
        page.wait_for_timeout(600)
        page.hover("#clear")
        page.wait_for_timeout(400)
    elif name == "checkout":
        page.click("input[name=name]")
        page.keyboard.type("Ada Lovelace", delay=60)
        page.click("input[name=email]")
        page.keyboard.type("ada@example.org", delay=50)
        page.click("input[name=card]")
        page.keyboard.type("4242424242424242", delay=50)
        page.click("input[name=phone]")
        page.keyboard.type("+44 20 7946 0000", delay=50)
        page.wait_for_timeout(300)
        page.click("#pay")
        page.wait_for_selector("#result.error, #result.ok", timeout=15000)
    elif name == "guide":
        for s in range(8):
            page.mouse.wheel(0, 450)
            page.wait_for_timeout(250)
        for k in (1, 2, 3):
            page.click(f"details:nth-of-type({k}) summary")
            page.wait_for_timeout(300)
        page.click("#q")
        page.keyboard.type("reading lamp", delay=70)
        page.mouse.wheel(0, -2000)


NEXT = {"cart": "header a[href$='-cart.html']", "checkout": "p a[href$='-checkout.html'] button",
        "guide": "header a[href$='-guide.html']", "index": "header a[href$='-index.html']:not(.brand)"}


def visit(ctx, base: str, variant: str, plan: tuple, args, coll: Collector, sampler: Sampler,
          kind: str) -> dict:
    """One scripted visit in an open context; returns its figures."""
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    if not args.no_throttle:
        cdp.send("Network.emulateNetworkConditions", THROTTLE)
    cdp_bytes = [0]
    cdp.on("Network.loadingFinished", lambda e: cdp_bytes.__setitem__(0, cdp_bytes[0] + e["encodedDataLength"]))
    pw = {"n": 0, "bytes": 0}

    def finished(req):
        pw["n"] += 1
        pw.setdefault("reqs", []).append((time.time(), req))

    ctx.on("requestfinished", finished)
    mark = coll.mark()
    start = sampler.begin()
    out = {"pages": [], "consent_at": None, "before_consent": None, "wasm_fetches": 0, "rr_gz": 0, "rr_raw": 0,
           "rr_events": 0, "status": None, "worker": {}}
    seen_index = 0
    t_begin = time.time()
    for i, name in enumerate(plan):
        if i == 0:
            page.goto(f"{base}/demo/vc-{variant}-{name}.html", wait_until="load")
        else:
            with page.expect_navigation(wait_until="load", timeout=60000):
                page.click(NEXT[name])
        t_load = time.time()
        page.wait_for_timeout(args.idle * 1000)
        load = page.evaluate(LOAD_METRICS)
        if page.locator("#consent-yes").count():
            out["before_consent"] = traffic(coll.rows(mark))
            out["consent_at"] = time.time()
            page.click("#consent-yes")
        actions(page, name, i == 0, seen_index)
        seen_index += name == "index"
        rest = args.page_seconds - (time.time() - t_load)
        if rest > 0:
            page.wait_for_timeout(rest * 1000)
        end = page.evaluate(PAGE_END)
        for w in page.workers:
            try:
                out["wasm_fetches"] += w.evaluate(WORKER_WASM)
                st = w.evaluate("self.sightlineStats || null")  # read only: starts nothing
                if st:
                    for k in ("boots", "restores", "passes", "pythonMs", "light"):
                        out["worker"][k] = out["worker"].get(k, 0) + (st.get(k) or 0)
            except Exception:  # the worker ended
                pass
        if end["rr"]:
            raw = end["rr"].encode()
            out["rr_raw"] += len(raw)
            out["rr_gz"] += len(gzip.compress(raw, 6))
            out["rr_events"] += end["rr_n"]
        out["pages"].append({"page": name, **load, "long": end["long"], "long_ms": end["long_ms"]})
    out.update(sampler.end(start))
    out["seconds"] = time.time() - t_begin
    # No Sightline.flush() at the end: in device mode it would force a Python pass the
    # visitor's own visit does not make. What left is what the visit sent by itself
    # (pagehide included); the worker's counters were read page by page (read only).
    out["status"] = out["worker"] or None
    page.goto("about:blank")
    time.sleep(args.trail)
    rows = coll.rows(mark)
    out["traffic"] = traffic(rows)
    ingest = [r for r in rows if r[2] == "/v1/ingest" and r[1] == "POST"]
    out["envelopes"] = len(ingest)
    out["ingest_body"] = sum(r[5] for r in ingest)
    out["post_body_other"] = sum(r[5] for r in rows if r[1] == "POST" and r[2] != "/v1/ingest")
    ok = [r[8] for r in ingest if 200 <= r[3] < 300]
    out["first_upload_s"] = (min(ok) - out["consent_at"]) if ok and out["consent_at"] else None
    if out["consent_at"]:
        out["recorded_s"] = out["seconds"] - (out["consent_at"] - t_begin)
    else:
        out["recorded_s"] = out["seconds"]
    out["page_target_bytes"] = cdp_bytes[0]  # this session sees the page target only
    # CDP (Playwright's sessions on the page and its workers): encodedDataLength of completed responses.
    wire = {"bytes": 0, "runtime_bytes": 0, "runtime_requests": 0, "runtime_fetches": 0, "requests": 0, "before_consent": 0}
    for t, req in pw.get("reqs", []):
        try:
            sz = req.sizes()
        except Exception:
            continue
        n = sz["responseBodySize"] + sz["responseHeadersSize"]
        wire["requests"] += 1
        wire["bytes"] += n
        if out["consent_at"] and t < out["consent_at"]:
            wire["before_consent"] += n
        if RUNTIME.search(req.url.split("?")[0]):
            wire["runtime_fetches"] += 1  # HTTP cache hits included (they report 0 bytes)
            wire["runtime_requests"] += n > 0
            wire["runtime_bytes"] += n
    out["cdp"] = wire
    s = out["status"]
    if isinstance(s, dict) and "boots" in s:
        out["boots"], out["restores"] = s.get("boots"), s.get("restores")
        out["python_ms"] = s.get("pythonMs")
    else:
        out["boots"], out["restores"] = out["wasm_fetches"], None
    ctx.remove_listener("requestfinished", finished)
    return out


def traffic(rows: list) -> dict:
    """Bytes that crossed the wire at the collector (request + response, headers + bodies)."""
    t = {"requests": 0, "bytes": 0, "down": 0, "up": 0, "runtime_requests": 0, "runtime_bytes": 0}
    for _, method, path, status, qh, qb, rh, rb, _ in rows:
        t["requests"] += 1
        t["down"] += rh + rb
        t["up"] += qh + qb
        if RUNTIME.search(path):
            t["runtime_requests"] += 1
            t["runtime_bytes"] += rh + rb
    t["bytes"] = t["down"] + t["up"]
    return t


# ------------------------------------------------------------------ runs
def one_run(p, base: str, variant: str, args, coll: Collector, sampler: Sampler, chromium) -> dict:
    res = {}
    profile = Path(tempfile.mkdtemp(prefix="vc-profile-"))
    opts = dict(executable_path=chromium, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 800})
    try:
        for kind in ("first", "repeat"):
            ctx = p.chromium.launch_persistent_context(str(profile), **opts)
            ctx.add_init_script(INIT)
            res[kind] = visit(ctx, base, variant, PLAN, args, coll, sampler, kind)
            ctx.close()
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        ctx.add_init_script(INIT)
        res["private"] = visit(ctx, base, variant, PLAN, args, coll, sampler, "private")
        ctx.close()
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
        profile = Path(tempfile.mkdtemp(prefix="vc-profile-"))
        ctx = p.chromium.launch_persistent_context(str(profile), **opts)
        ctx.add_init_script(INIT)
        short = argparse.Namespace(**{**vars(args), "page_seconds": args.short_seconds,
                                      "idle": min(args.idle, 1.0)})
        res["short"] = visit(ctx, base, variant, ("index",), short, coll, sampler, "short")
        ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return res


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--collector"]:
        return run_collector(argv[2:] if argv[1:2] == ["--"] else argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES), help="Sightline data-process modes, comma-separated")
    ap.add_argument("--quick", action="store_true", help="1 run, 5-second pages, 4-second 1-page visit (a smoke test)")
    ap.add_argument("--page-seconds", type=float, default=12.0, help="length of each page view of the 5-page visit")
    ap.add_argument("--short-seconds", type=float, default=8.0, help="length of the 1-page visit")
    ap.add_argument("--idle", type=float, default=3.0, help="quiet seconds after the load event before any input")
    ap.add_argument("--trail", type=float, default=3.0, help="seconds after leaving the last page, for beacons")
    ap.add_argument("--no-throttle", action="store_true", help="no network emulation")
    ap.add_argument("--site", type=Path, default=Path(os.environ.get("SIGHTLINE_SITE") or ROOT / "site"))
    ap.add_argument("--json", type=Path, default=RESULTS, help="where the figures go (default: %(default)s)")
    ap.add_argument("--note", default="", help="conditions to keep with the figures (e.g. 'loaded machine')")
    ap.add_argument("--raw", type=Path, help="also keep every visit's figures here (default: a temporary file)")
    ap.add_argument("--from-raw", type=Path, help="print and write the figures of an earlier --raw file, run nothing")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        ap.error(f"--modes: expected a comma-separated subset of {','.join(MODES)}, got {args.modes!r}")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.from_raw:
        raw = json.loads(args.from_raw.read_text())
        summary = summarize(raw["runs"], raw["variants"])
        print(report(summary, raw["variants"], raw["meta"]))
        args.json.write_text(json.dumps({"meta": raw["meta"], "summary": summary}, separators=(",", ":")) + "\n")
        return 0
    if args.quick:
        args.runs, args.page_seconds, args.short_seconds, args.idle, args.trail = 1, 5.0, 4.0, 1.5, 2.0
    site = args.site.resolve()
    if not (site / "sightline.js").exists():
        sys.exit(f"{site}/sightline.js is missing: run `SIGHTLINE_SITE={site} python3 build.py build` first")
    if not RRWEB.exists():
        sys.exit(f"{RRWEB} is missing: run `npm ci`")
    from playwright.sync_api import sync_playwright

    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the collector and clean up on `kill`
    variants = ["none", "rrweb", *modes]
    work = Path(tempfile.mkdtemp(prefix="visitor-cost-"))
    chromium = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    runs: dict[str, list] = {v: [] for v in variants}
    load_before = os.getloadavg()
    started = time.time()
    coll = Collector(build_site(site, work, variants), work)
    sampler = Sampler()
    sampler.start()
    try:
        with sync_playwright() as p:
            for run in range(args.runs):
                for v in variants:  # interleaved: drift in machine load hits every variant alike
                    t0 = time.time()
                    runs[v].append(one_run(p, coll.url, v, args, coll, sampler, chromium))
                    print(f"run {run + 1}/{args.runs} {v}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        sampler.stopped = True
        coll.stop()
        shutil.rmtree(work, ignore_errors=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "runs": args.runs, "modes": modes,
            "page_seconds": args.page_seconds, "short_seconds": args.short_seconds, "idle_s": args.idle,
            "throttle": None if args.no_throttle else "10 Mbit/s down and up, 40 ms RTT (CDP)",
            "chromium": subprocess.run([chromium or "chromium", "--version"], capture_output=True, text=True).stdout.strip()
            if chromium else "playwright", "nproc": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "minutes": round((time.time() - started) / 60, 1), "note": args.note,
            "site_commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                          text=True).stdout.strip() or "unknown (not a git checkout)"}
    raw_path = args.raw or Path(tempfile.mkstemp(prefix="visitor-cost-", suffix=".raw.json")[1])
    raw_path.write_text(json.dumps({"meta": meta, "variants": variants, "runs": runs}))
    print(f"every visit's figures: {raw_path}", file=sys.stderr)
    summary = summarize(runs, variants)
    print(report(summary, variants, meta))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "summary": summary}, separators=(",", ":")) + "\n")
    print(f"\nfigures written to {args.json}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ figures
def stat(xs: list) -> dict | None:
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def summarize(runs: dict, variants: list) -> dict:
    base = runs["none"]
    out = {}
    for v in variants:
        rs = runs[v]
        s: dict = {}
        for kind in ("first", "repeat", "private", "short"):
            vis = [r[kind] for r in rs]
            nv = [b[kind] for b in base]
            pages = len(vis[0]["pages"])
            k = {
                "bytes": stat([x["traffic"]["bytes"] - (x["before_consent"] or {"bytes": 0})["bytes"] * (kind == "first")
                               for x in vis]),
                "bytes_total": stat([x["traffic"]["bytes"] for x in vis]),
                "requests": stat([x["traffic"]["requests"] for x in vis]),
                "runtime_requests": stat([x["traffic"]["runtime_requests"] for x in vis]),
                "runtime_bytes": stat([x["traffic"]["runtime_bytes"] for x in vis]),
                "cdp_bytes": stat([x["cdp"]["bytes"] - x["cdp"]["before_consent"] * (kind == "first") for x in vis]),
                "cdp_bytes_total": stat([x["cdp"]["bytes"] for x in vis]),
                "cdp_runtime_requests": stat([x["cdp"]["runtime_requests"] for x in vis]),
                "cdp_runtime_bytes": stat([x["cdp"]["runtime_bytes"] for x in vis]),
                "page_target_bytes": stat([x["page_target_bytes"] for x in vis]),
                "boots": stat([x["boots"] for x in vis]),
                "restores": stat([x["restores"] for x in vis]),
                "cpu_s": stat([x["cpu_s"] for x in vis]),
                "cpu_added_s": stat([x["cpu_s"] - b["cpu_s"] for x, b in zip(vis, nv)]),
                "cpu_added_per_page_s": stat([(x["cpu_s"] - b["cpu_s"]) / pages for x, b in zip(vis, nv)]),
                "worker_cpu_s": stat([x["worker_cpu_s"] for x in vis]),
                "peak_renderer_mb": stat([x["peak_renderer_mb"] for x in vis]),
                "renderer_mb_added": stat([x["peak_renderer_mb"] - b["peak_renderer_mb"] for x, b in zip(vis, nv)]),
                "long_tasks": stat([sum(p["long"] for p in x["pages"]) for x in vis]),
                "long_task_ms": stat([sum(p["long_ms"] for p in x["pages"]) for x in vis]),
                "lcp_ms": [stat([x["pages"][i]["lcp"] for x in vis]) for i in range(pages)],
                "tbt_ms": [stat([x["pages"][i]["tbt"] for x in vis]) for i in range(pages)],
                "envelopes": stat([x["envelopes"] for x in vis]),
                "ingest_body": stat([x["ingest_body"] for x in vis]),
                "ingest_per_min": stat([x["ingest_body"] * 60 / x["recorded_s"] for x in vis]),
                "post_body_other": stat([x["post_body_other"] for x in vis]),
                "rr_gz": stat([x["rr_gz"] for x in vis]),
                "rr_gz_per_min": stat([x["rr_gz"] * 60 / x["recorded_s"] for x in vis]),
                "rr_raw": stat([x["rr_raw"] for x in vis]),
                "first_upload_s": stat([x["first_upload_s"] for x in vis]),
                "uploads_in_visit": sum(1 for x in vis if x["first_upload_s"] is not None),
                "seconds": stat([x["seconds"] for x in vis]),
                "recorded_s": stat([x["recorded_s"] for x in vis]),
            }
            if kind == "first":
                k["before_consent"] = stat([(x["before_consent"] or {}).get("bytes") for x in vis])
                k["before_consent_requests"] = stat([(x["before_consent"] or {}).get("requests") for x in vis])
                k["cdp_before_consent"] = stat([x["cdp"]["before_consent"] if x["consent_at"] else None for x in vis])
            statuses = [x["status"] for x in vis if x["status"]]
            if statuses:
                k["status_last"] = statuses[-1]
            s[kind] = k
        out[v] = s
    return out


def fmt(st: dict | None, f: str = "{:,.0f}", scale: float = 1) -> str:
    if not st:
        return "–"
    med = f.format(st["median"] * scale)
    if st["n"] > 1 and st["min"] != st["max"]:
        return f"{med} ({f.format(st['min'] * scale)}–{f.format(st['max'] * scale)})"
    return med


def report(s: dict, variants: list, meta: dict) -> str:
    name = {"none": "no recorder", "rrweb": "@rrweb/record 2.1.6"} | {m: f"Sightline `{m}`" for m in MODES}
    L = [f"## Visitor cost ({meta['date']}, {meta['runs']} run(s), site {meta['site_commit']}, {meta['chromium']}, "
         f"{meta['nproc']} cores, load average {meta['loadavg_before'][0]} before / {meta['loadavg_after'][0]} after, "
         f"network: {meta['throttle'] or 'not throttled'})", "",
         f"5-page visit of {meta['page_seconds']:g} s pages; 1-page visit of {meta['short_seconds']:g} s. "
         "Medians (min–max) over runs. Bytes as counted at the collector (request + response, headers + bodies).", ""]
    for title, pre in (("Bytes on the wire: CDP encodedDataLength of completed responses, page and worker targets", "cdp_"),
                       ("Bytes at the collector: every request and response, headers and bodies, aborted transfers included",
                        "")):
        L += [f"### {title}", "",
              "| variant | before consent | first visit (after consent) | runtime requests / bytes, first | repeat visit | "
              "runtime requests, repeat | private 5-page visit | runtime requests, private | 1-page visit |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for v in variants:
            f, r, p, sh = (s[v][k] for k in ("first", "repeat", "private", "short"))
            total = "cdp_bytes_total" if pre else "bytes_total"
            L.append(f"| {name[v]} | {fmt(f[pre + 'before_consent'])} | {fmt(f[pre + 'bytes'])} | "
                     f"{fmt(f[pre + 'runtime_requests'])} / {fmt(f[pre + 'runtime_bytes'])} | {fmt(r[total])} | "
                     f"{fmt(r[pre + 'runtime_requests'])} | {fmt(p[total])} | {fmt(p[pre + 'runtime_requests'])} | "
                     f"{fmt(sh[total])} |")
        L.append("")
    L += ["### CPU, memory, long tasks", "",
          "| variant | Pyodide boots first / repeat / private / 1-page | worker-thread CPU-s per visit (first) | "
          "CPU-s added per page view first / repeat / private | CPU-s added, 1-page visit | peak renderer MB added (first) | "
          "long tasks per visit (first) | long-task ms (first) |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for v in variants:
        f, r, p, sh = (s[v][k] for k in ("first", "repeat", "private", "short"))
        boots = " / ".join(fmt(x["boots"]) for x in (f, r, p, sh))
        rest = [x["restores"] for x in (f, r, p, sh)]
        if any(rest):
            boots += " (restores " + " / ".join(fmt(x) for x in rest) + ")"
        L.append(f"| {name[v]} | {boots} | {fmt(f['worker_cpu_s'], '{:.2f}')} | "
                 f"{' / '.join(fmt(x['cpu_added_per_page_s'], '{:.2f}') for x in (f, r, p))} | "
                 f"{fmt(sh['cpu_added_s'], '{:.2f}')} | {fmt(f['renderer_mb_added'], '{:.0f}')} | "
                 f"{fmt(f['long_tasks'])} | {fmt(f['long_task_ms'])} |")
    pages = len(s[variants[0]]["first"]["lcp_ms"])
    L += ["", "### LCP / TBT per page, first visit and repeat visit (ms)", "",
          "| variant | visit | " + " | ".join(f"page {i + 1} ({PLAN[i]})" for i in range(pages)) + " |",
          "| --- | --- |" + " ---: |" * pages]
    for v in variants:
        for kind in ("first", "repeat"):
            k = s[v][kind]
            L.append(f"| {name[v]} | {kind} | " + " | ".join(
                f"{fmt(k['lcp_ms'][i])} / {fmt(k['tbt_ms'][i])}" for i in range(pages)) + " |")
    L += ["", "### What leaves the device (first visit, 5 pages)", "",
          "| variant | recorded s | envelopes | sealed bytes POSTed to /v1/ingest | per minute | rrweb events gzip per minute | "
          "ratio to rrweb | consent → first upload (s) | 1-page visit: envelopes / bytes |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rr = s.get("rrweb", {}).get("first", {}).get("rr_gz_per_min")
    for v in variants:
        f, sh = s[v]["first"], s[v]["short"]
        per_min = f["rr_gz_per_min"] if v == "rrweb" else f["ingest_per_min"]
        ratio = (per_min["median"] / rr["median"]) if per_min and rr and rr["median"] else None
        fu = fmt(f["first_upload_s"], "{:.1f}") if f["uploads_in_visit"] else "none in the visit"
        L.append(f"| {name[v]} | {fmt(f['recorded_s'], '{:.0f}')} | {fmt(f['envelopes'])} | "
                 f"{fmt(f['rr_gz'] if v == 'rrweb' else f['ingest_body'])}{' (gzip, kept in memory)' if v == 'rrweb' else ''} | "
                 f"{fmt(per_min)} | {fmt(rr) if v != 'none' else '–'} | {f'{ratio:.2f}' if ratio is not None else '–'} | "
                 f"{fu if v in MODES else '–'} | {fmt(sh['envelopes'])} / {fmt(sh['ingest_body'])} |")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
