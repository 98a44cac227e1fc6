#!/usr/bin/env python3
"""Record the labelled training corpus: scripted personas visit the demo shop in real Chromium.

    SIGHTLINE_SITE=/tmp/site-x python3 build.py build
    .venv/bin/python tools/record_corpus.py --per-persona 12 --out tests/events/corpus

Each session is recorded by the real recorder (shim -> worker -> masking -> HPKE ->
collector), then fetched from the collector and decrypted with the demo key, so the
corpus holds exactly the masked events the product stores. Four personas (calm,
frustrated, confused, skimming) act with randomised timing, paths and viewport sizes;
the seed makes a run repeatable in its choices (not in the browser's exact timing).
Output: one ``<persona>-<n>.json.gz`` per session, ``{"label", "sid", "seed", "events"}``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM_ARGS, DEMO_KEY, SITE, Collector  # noqa: E402
from py_core import keys  # noqa: E402
from py_core.envelope import open_envelope  # noqa: E402

PERSONAS = ("calm", "frustrated", "confused", "skimming")


class Visit:
    """One persona's visit: a page and a random generator, with human-ish primitives."""

    def __init__(self, page, base: str, rng: random.Random):
        self.page, self.base, self.rng = page, base, rng
        self.x, self.y = 100.0, 100.0

    def wait(self, lo: float, hi: float) -> None:
        self.page.wait_for_timeout(int(1000 * self.rng.uniform(lo, hi)))

    def move(self, x: float, y: float, steps: int = 12, jitter: float = 0.0, pause: float = 0.02) -> None:
        """Move the mouse along a (possibly wobbly) straight line in `steps` samples."""
        x0, y0 = self.x, self.y
        for k in range(1, steps + 1):
            f = k / steps
            jx = self.rng.gauss(0, jitter) if jitter and k < steps else 0
            jy = self.rng.gauss(0, jitter) if jitter and k < steps else 0
            self.page.mouse.move(x0 + (x - x0) * f + jx, y0 + (y - y0) * f + jy)
            self.page.wait_for_timeout(int(1000 * pause))
        self.x, self.y = x, y

    def center(self, selector: str, nth: int = 0):
        box = self.page.locator(selector).nth(nth).bounding_box()
        if box is None:
            return None
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def to(self, selector: str, nth: int = 0, **kw) -> tuple[float, float] | None:
        loc = self.page.locator(selector).nth(nth)
        loc.scroll_into_view_if_needed()
        c = self.center(selector, nth)
        if c:
            self.move(*c, **kw)
        return c

    def click(self, selector: str, nth: int = 0, times: int = 1, gap: float = 0.1, **kw) -> None:
        c = self.to(selector, nth, **kw)
        if not c:
            return
        for _ in range(times):
            self.page.mouse.click(c[0] + self.rng.uniform(-3, 3), c[1] + self.rng.uniform(-3, 3))
            self.page.wait_for_timeout(int(1000 * gap * self.rng.uniform(0.6, 1.4)))

    def go(self, name: str) -> None:
        """Follow a header link (a real navigation, so a new page load)."""
        label = {"index": "Products", "cart": "Cart", "checkout": "Checkout"}[name]
        with self.page.expect_navigation():
            self.click(f"header a:has-text('{label}')", steps=self.rng.randint(6, 14))
        self.page.wait_for_load_state("load")

    def scroll(self, dy: float, steps: int = 5, pause: float = 0.08) -> None:
        for _ in range(steps):
            self.page.mouse.wheel(0, dy / steps)
            self.page.wait_for_timeout(int(1000 * pause))

    def back(self) -> None:
        with self.page.expect_navigation():
            self.page.go_back()


def calm(v: Visit) -> None:
    """Reads, moves smoothly, adds a few products, checks out (or leaves politely)."""
    r = v.rng
    v.wait(0.8, 2.0)
    v.scroll(r.uniform(150, 400), steps=6, pause=0.12)
    v.wait(0.5, 1.5)
    for nth in r.sample(range(4), r.randint(1, 3)):
        v.click("#products button", nth, steps=r.randint(14, 24), pause=0.03)
        v.wait(0.6, 1.6)
    if r.random() < 0.3:  # calm visitors sometimes click a product's name once, too
        v.click(".card h3", r.randrange(4), steps=r.randint(14, 24), pause=0.03)
        v.wait(0.5, 1.0)
    v.go("cart")
    v.wait(1.0, 2.5)
    if r.random() < 0.7:
        v.click("text=Go to checkout", steps=18, pause=0.03)
        v.page.wait_for_load_state("load")
        for field, text in (("name", "Ada Example"), ("email", "ada@example.org"), ("card", "4000 0000 0000 0002")):
            v.click(f"input[name={field}]", steps=12, pause=0.03)
            v.page.keyboard.type(text, delay=r.randint(60, 120))
            v.wait(0.3, 0.8)
        v.click("#pay", steps=14, pause=0.03)
        v.page.locator("#result").filter(has_text="Payment").wait_for()
        v.wait(1.0, 2.0)
    else:
        v.wait(0.5, 1.0)
        v.go("index")
        v.wait(1.0, 2.0)


def frustrated(v: Visit) -> None:
    """Rage clicks, clicks on things that do nothing, thrashes the cursor, retries Pay."""
    r = v.rng
    v.wait(0.2, 0.6)
    v.click("#products button", r.randrange(4), steps=5, pause=0.01)
    v.click(".card h3", r.randrange(4), times=r.randint(2, 6), gap=r.uniform(0.1, 0.3), steps=4, pause=0.01)  # not a link
    for _ in range(r.randint(2, 4)):  # thrash
        v.move(r.uniform(50, 700), r.uniform(50, 350), steps=4, jitter=25, pause=0.01)
    v.click(".swatch", r.randrange(4), times=r.randint(3, 5), gap=0.1, steps=4, pause=0.01)
    v.scroll(r.uniform(300, 600), steps=3, pause=0.03)
    v.scroll(-r.uniform(300, 600), steps=3, pause=0.03)
    if r.random() < 0.25:  # gives up before checkout: frustration on the product page only
        v.click("#products button", r.randrange(4), times=r.randint(3, 5), gap=0.12, steps=4, pause=0.01)
        v.wait(0.3, 0.8)
        return
    v.go("checkout")
    v.wait(0.2, 0.5)
    v.click("input[name=name]", steps=5, pause=0.01)
    v.page.keyboard.type("Bo Tester", delay=r.randint(20, 50))
    v.click("input[name=email]", steps=4, pause=0.01)
    v.page.keyboard.type("bo@example.org", delay=r.randint(20, 50))
    v.click("input[name=card]", steps=4, pause=0.01)
    v.page.keyboard.type("4000000000000002", delay=r.randint(15, 40))
    v.click("#pay", times=r.randint(3, 6), gap=0.15, steps=5, pause=0.01)
    v.page.locator("#result").filter(has_text="Payment").wait_for()
    for _ in range(r.randint(2, 4)):
        v.move(r.uniform(50, 700), r.uniform(50, 350), steps=4, jitter=30, pause=0.01)
    v.click("#pay", times=r.randint(2, 4), gap=0.12, steps=3, pause=0.01)
    if r.random() < 0.6:
        v.back()
        v.wait(0.2, 0.5)
    v.wait(0.3, 0.8)


def confused(v: Visit) -> None:
    """Hesitates, wanders, goes back and forth, re-enters fields, abandons the form."""
    r = v.rng
    v.wait(1.5, 3.0)
    for _ in range(r.randint(2, 3)):  # hover around without acting
        v.move(r.uniform(80, 650), r.uniform(80, 350), steps=r.randint(20, 35), jitter=4, pause=0.05)
        v.wait(0.8, 2.0)
    v.scroll(r.uniform(200, 350), steps=4, pause=0.15)
    v.wait(0.5, 1.2)
    v.scroll(-r.uniform(150, 300), steps=4, pause=0.15)
    v.click("p", 0, steps=20, pause=0.04)  # a paragraph that does nothing
    v.wait(1.0, 2.0)
    v.go("cart")
    v.wait(1.5, 3.0)
    v.go("index")  # U-turn
    v.wait(1.0, 2.0)
    v.click("#products button", r.randrange(4), steps=25, jitter=3, pause=0.05)
    v.wait(1.0, 2.0)
    v.go("checkout")
    v.wait(1.5, 2.5)
    for field, text in (("name", "Cy Unsure"), ("email", "cy@example"), ("name", "Cy Unsure-Smith")):
        v.click(f"input[name={field}]", steps=20, pause=0.04)
        v.wait(0.8, 1.8)
        v.page.keyboard.press("Control+A")
        v.page.keyboard.type(text, delay=r.randint(120, 220))
        v.wait(1.0, 2.0)
    v.move(r.uniform(100, 600), r.uniform(100, 300), steps=30, jitter=5, pause=0.05)
    v.wait(1.0, 2.0)
    if r.random() < 0.3:  # finds the way in the end: fills the card and pays
        v.click("input[name=card]", steps=20, pause=0.04)
        v.page.keyboard.type("4000 0000 0000 0002", delay=r.randint(120, 220))
        v.wait(0.8, 1.5)
        v.click("#pay", steps=20, pause=0.04)
        v.page.locator("#result").filter(has_text="Payment").wait_for()
        v.wait(1.0, 2.0)
    elif r.random() < 0.5:
        v.back()  # leaves the form unfinished
        v.wait(1.0, 2.0)
    else:
        v.go("cart")
        v.wait(1.0, 2.0)


def skimming(v: Visit) -> None:
    """Scrolls fast through pages, few clicks, short dwell, no form."""
    r = v.rng
    for name in r.sample(["cart", "checkout", "index"], r.randint(2, 3)):
        v.wait(0.2, 0.6)
        v.scroll(r.uniform(600, 1200), steps=3, pause=0.03)
        v.wait(0.1, 0.4)
        v.scroll(-r.uniform(200, 600), steps=2, pause=0.03)
        if r.random() < 0.4:
            v.click("#products button", r.randrange(4), steps=5, pause=0.01) if v.page.locator("#products button").count() else None
        v.go(name) if not v.page.url.endswith(f"{name}.html") else None
    v.scroll(r.uniform(400, 900), steps=3, pause=0.03)
    v.wait(0.3, 0.8)


ACTIONS = {"calm": calm, "frustrated": frustrated, "confused": confused, "skimming": skimming}


def record(browser, base: str, persona: str, seed: int) -> str:
    """Run one persona in a fresh context (a new visitor); return its session id."""
    rng = random.Random(seed)
    ctx = browser.new_context(viewport={"width": rng.choice([800, 960, 1100]), "height": rng.choice([420, 520, 640])})
    ctx.add_init_script("try { localStorage.setItem('sl-consent', '1') } catch (e) {}")
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(base + "/demo/")
        page.wait_for_function("window.Sightline && Sightline.session.recording")
        ACTIONS[persona](Visit(page, base, rng))
        sid = page.evaluate("Sightline.session.sid")
        status = page.evaluate("Sightline.flush()")
        if status.get("raw") or status.get("outbox"):
            raise RuntimeError(f"{persona}/{seed}: queue not drained: {status}")
        return sid
    finally:
        ctx.close()


def fetch_events(collector: Collector, sid: str, private: dict) -> list[dict]:
    """The session's masked events, decrypted from what the collector stores."""
    events = []
    for env in collector.get(f"/v1/sessions/{sid}")["envelopes"]:
        payload = open_envelope({k: v for k, v in env.items() if k != "received"}, private)
        events.extend(payload["events"])
    return events


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-persona", type=int, default=12)
    ap.add_argument("--first", type=int, default=0, help="index of the first session (to extend a corpus)")
    ap.add_argument("--seed", type=int, default=6000)
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "events" / "corpus")
    ap.add_argument("--personas", default=",".join(PERSONAS))
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    key = json.loads(DEMO_KEY.read_text())
    private = {key["kid"]: keys.b64u_decode(key["private"])}
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("SIGHTLINE_CHROMIUM") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    with tempfile.TemporaryDirectory() as tmp:
        collector = Collector(Path(tmp) / "corpus.db", SITE, secrets.token_urlsafe(16)).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                for n in range(args.first, args.first + args.per_persona):
                    for persona in args.personas.split(","):
                        seed = args.seed + 1000 * PERSONAS.index(persona) + n
                        sid = record(browser, collector.url, persona, seed)
                        events = fetch_events(collector, sid, private)
                        doc = {"label": persona, "sid": sid, "seed": seed, "events": events}
                        path = args.out / f"{persona}-{n:02d}.json.gz"
                        path.write_bytes(gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), 9, mtime=0))
                        print(f"{path.name}: {len(events)} events", flush=True)
                browser.close()
        finally:
            collector.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
