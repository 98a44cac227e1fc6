"""Processing modes (docs/processing.md) in real Chromium against the built site and a real
collector: which mode a device gets, when Python runs, what it seals, what is left for
pagehide, and how often the interpreter boots in one visit.

Every assertion is on what the collector holds (decrypted with the team's key) or on the
worker's own status; nothing is mocked. The CI machine has 2 cores, so a capable device is
emulated with an init script (hardwareConcurrency, deviceMemory) where a test needs one.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import quote

import pytest
from conftest import Collector, poll

from py_core import keys
from py_core.envelope import open_envelope
from py_core.events import one_per_batch
from py_core.insights import analyze

pytestmark = pytest.mark.browser

SLOW_MS = 90_000  # Pyodide boots in seconds, but the machine is shared
CAPABLE = ("Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 8 });"
           "Object.defineProperty(Navigator.prototype, 'deviceMemory', { get: () => 8 });")
WEAK_MEMORY = ("Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 8 });"
               "Object.defineProperty(Navigator.prototype, 'deviceMemory', { get: () => 2 });")
SAVE_DATA = CAPABLE + "Object.defineProperty(NetworkInformation.prototype, 'saveData', { get: () => true });"
RUNTIME = ("/runtime/", "/pyodide/", "py_core")


@pytest.fixture
def ingest(tmp_path):
    c = Collector(tmp_path / "ingest.db", None, secrets.token_urlsafe(12)).start()
    yield c
    c.stop()


def visit_url(site_url: str, ingest: Collector, process: str | None) -> str:
    q = f"endpoint={quote(ingest.url + '/', safe='')}"
    return f"{site_url}/tests/html/visit.html?{q}" + (f"&process={process}" if process else "")


def new_page(browser, init: str | None = None, requests: list | None = None):
    ctx = browser.new_context()
    if init:
        ctx.add_init_script(init)
    page = ctx.new_page()
    page.set_default_timeout(SLOW_MS)
    if requests is not None:
        page.on("request", lambda r: requests.append((time.time(), r.url)))  # the worker's requests too
    return page


def payloads(ingest: Collector, sid: str, demo_key: dict, every: bool = False) -> list[dict]:
    """The session's payloads as the viewer reads them: one per batch, Python's form over a
    light copy (py_core.events.one_per_batch); `every` keeps both copies."""
    try:
        envs = ingest.get(f"/v1/sessions/{sid}")["envelopes"]
    except Exception:  # 404 before the first envelope
        return []
    private = {demo_key["kid"]: keys.b64u_decode(demo_key["private"])}
    envs.sort(key=lambda e: (e["received"], e["ts"]))
    opened = [open_envelope({k: v for k, v in e.items() if k != "received"}, private) for e in envs]
    return opened if every else one_per_batch(opened)


def wait_until(fn, timeout=SLOW_MS / 1000, every=0.5):
    return poll(fn, timeout, every)


def runtime_requests(requests) -> list[str]:
    return [u for _, u in requests if any(r in u for r in RUNTIME)]


def worker_fetches(page) -> list[tuple[float, str]]:
    """(start time in s since the epoch, URL) of every runtime file the page's recorder
    worker fetched, from the worker's own resource timing (the page's request events do
    not see a worker's requests)."""
    out = []
    for w in page.workers:
        if "sightline-worker" not in w.url:
            continue
        out += [(t / 1000, u) for t, u in w.evaluate(
            "performance.getEntriesByType('resource').map((e) => [performance.timeOrigin + e.startTime, e.name])")
            if any(r in u for r in RUNTIME)]
    return out


# ----------------------------------------------------------------------------- mode choice


@pytest.mark.parametrize("init, network, expected", [
    (CAPABLE, None, "device"),
    (SAVE_DATA, None, "light"),  # the visitor asked to save data
    (CAPABLE, {"latency": 400, "downloadThroughput": 50_000, "uploadThroughput": 20_000}, "light"),  # 3g
    (WEAK_MEMORY, None, "light"),  # 2 GB
    (None, None, "light"),  # this machine as it is: 2 cores
], ids=["capable", "save-data", "3g", "2gb", "2-cores"])
def test_auto_mode_follows_what_the_device_can_afford(browser, site_url, ingest, init, network, expected):
    """auto: device where the visitor can afford Python, light on data saver, a slow network, little memory or few cores."""
    page = new_page(browser, init)
    if network:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, **network})
    page.goto(visit_url(site_url, ingest, None))  # no data-process: auto
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    assert page.evaluate("Sightline.session.mode") == expected
    page.context.close()


def test_the_choice_holds_for_the_whole_visit_and_is_recorded(browser, site_url, ingest, demo_key):
    """Decided once per visit: a slower network on the second page keeps the first page's
    mode, and every page's META says which mode recorded it (the viewer shows it)."""
    page = new_page(browser, SAVE_DATA.replace("() => true", "() => !!window.__slow"))
    page.goto(visit_url(site_url, ingest, "auto"))
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    assert page.evaluate("Sightline.session.mode") == "device"
    sid = page.evaluate("Sightline.session.sid")
    page.context.add_init_script("window.__slow = true")  # the next page would choose light
    page.click("#next")
    page.wait_for_function("window.Sightline && Sightline.session.recording && /n=1/.test(location.search)")
    assert page.evaluate("Sightline.session.mode") == "device"
    page.evaluate("Sightline.flush()")
    metas = [e for p in payloads(ingest, sid, demo_key) for e in p["events"] if e["t"] == 0]
    assert len(metas) == 2 and {m.get("pm") for m in metas} == {"device"}
    page.context.close()


# ----------------------------------------------------------------------------- light


def test_light_mode_runs_no_python_and_masks_everything_to_its_shape(browser, site_url, ingest, demo_key):
    """light: no runtime request, no boot; text, attribute and input values leave as their shape."""
    requests: list = []
    page = new_page(browser, CAPABLE, requests)
    page.goto(visit_url(site_url, ingest, "light"))
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    page.fill("#name", "Ada Lovelace")
    page.click("#book")
    st = page.evaluate("Sightline.flush()")
    assert st["mode"] == "light" and st["boots"] == 0 and st["restores"] == 0, st
    assert st["raw"] == 0 and st["outbox"] == 0, st
    assert runtime_requests(requests) == [], runtime_requests(requests)
    sid = page.evaluate("Sightline.session.sid")
    got = payloads(ingest, sid, demo_key)
    plain = json.dumps(got, ensure_ascii=False)
    assert got and {p["mode"] for p in got} == {"light"}
    for word in ("Book a table", "Pick a time", "Ada Lovelace", "Booked for"):
        assert word not in plain, word
    assert "**** * *****" in plain  # "Book a table": each character masked, spaces kept
    inputs = [e for p in got for e in p["events"] if e["t"] == 4]
    assert inputs and all(set(str(e.get("v", ""))) <= {"*", " "} for e in inputs)
    assert any(e["t"] == 3 for p in got for e in p["events"])  # the click is there, for analysis
    page.context.close()


# ----------------------------------------------------------------------------- device


def test_device_mode_waits_for_load_and_idle_and_seals_the_whole_session_verdict(browser, site_url, ingest, demo_key):
    """device: nothing of the runtime before the load event; Python starts by itself once
    the visitor is idle; the verdict it seals equals analyze() of every event sealed."""
    requests: list = []
    page = new_page(browser, CAPABLE, requests)
    page.goto(visit_url(site_url, ingest, "device"))
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    load_end = page.evaluate("performance.timeOrigin + performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000
    sid = page.evaluate("Sightline.session.sid")
    page.fill("#name", "Ada Lovelace")
    for _ in range(3):
        page.click("#book")
    # No flush: the worker decides. The visitor is idle from here on.
    got = wait_until(lambda: [p for p in payloads(ingest, sid, demo_key) if p.get("scope") == "session"])
    assert got, "Python never ran on an idle page"
    fetched = worker_fetches(page)
    assert fetched and min(t for t, _ in fetched) >= load_end, (load_end, fetched[:3])
    every = payloads(ingest, sid, demo_key)
    assert {p["mode"] for p in every} == {"device"}
    assert "Ada Lovelace" not in json.dumps(every)
    events = [e for p in every for e in p["events"]]
    verdict = got[-1]["insights"]
    assert verdict == json.loads(json.dumps(analyze(events)))  # the whole session, as the viewer sees it
    assert verdict["clicks"] == 3 and verdict["pages"]
    page.context.close()


def test_pagehide_sends_a_visit_that_never_idled_in_light_form(browser, site_url, ingest, demo_key):
    """A busy 1-page visit that leaves before any idle moment: Python never runs, and its
    events still reach the collector, masked to their shape, with no page of the site open."""
    requests: list = []
    page = new_page(browser, CAPABLE, requests)
    page.goto(visit_url(site_url, ingest, "device"))
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    sid = page.evaluate("Sightline.session.sid")
    left = {}
    for i in range(12):  # about 4 s of a visitor who never stops
        page.mouse.move(100 + 10 * i, 200 + 5 * i)
        page.evaluate(f"Sightline.track('step', {{ i: {i} }})")
        left[i] = time.time()
        page.wait_for_timeout(300)
    assert worker_fetches(page) == []  # never idle: Python never started
    gone = time.time()
    page.goto("about:blank")
    steps = lambda: sorted(e["p"]["i"] for p in payloads(ingest, sid, demo_key)  # noqa: E731
                           for e in p["events"] if e["t"] == 11 and e.get("n") == "step")
    # Sealed in light form at once, beaconed at pagehide: everything but the last batch
    # interval (posted at pagehide itself, it waits sealed at rest for the next page).
    early = [i for i, t in left.items() if t < gone - 1.5]
    assert wait_until(lambda: set(early) <= set(steps()), timeout=20), (early, steps())
    assert {p["mode"] for p in payloads(ingest, sid, demo_key)} == {"light"}
    # The visitor comes back: the raw batches kept on the device are masked by Python now,
    # and that form supersedes the light copies (one per batch, nothing lost, none twice).
    page.goto(visit_url(site_url, ingest, "device"))
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    page.evaluate("Sightline.flush()")
    assert steps() == list(range(12))
    first = [p for p in payloads(ingest, sid, demo_key) if p["events"] and p["events"][0]["t"] == 0]
    assert {p["mode"] for p in first} == {"device"}  # the first page is readable after all
    every = payloads(ingest, sid, demo_key, every=True)
    assert len(every) == len({(p["pid"], p["seq"], p["mode"]) for p in every})  # exactly once per form
    page.context.close()


def worker_stats(page) -> dict:
    """The recorder worker's counters, read without starting anything (a flush forces a pass)."""
    [w] = [w for w in page.workers if "sightline-worker" in w.url]
    return w.evaluate("self.sightlineStats")


def test_python_runs_about_once_per_visit(browser, site_url, ingest, demo_key):
    """Three pages of one visit: Python boots once, on the first idle moment; the next page,
    idle too, does not start it again within the minute (its batches leave in light form);
    one later pass (a snapshot restore) masks and analyses the backlog of every page, and
    Python's forms supersede the light copies."""
    page = new_page(browser, CAPABLE)
    page.goto(visit_url(site_url, ingest, "device"))
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    sid = page.evaluate("Sightline.session.sid")
    page.click("#book")
    assert wait_until(lambda: any(p.get("scope") == "session" for p in payloads(ingest, sid, demo_key)))
    first = worker_stats(page)
    assert (first["boots"], first["restores"], first["passes"]) == (1, 0, 1), first
    page.click("#next")
    page.wait_for_function("window.Sightline && Sightline.session.recording && location.search.includes('n=1')")
    page.click("#book")
    page.wait_for_timeout(6000)  # idle for twice the idle threshold
    second = worker_stats(page)
    assert (second["boots"], second["restores"], second["passes"]) == (0, 0, 0), second
    page.click("#next")
    page.wait_for_function("window.Sightline && Sightline.session.recording && location.search.includes('n=2')")
    page.click("#book")
    st = page.evaluate("Sightline.flush()")  # the visit's next pass, here forced
    assert (st["boots"], st["restores"]) == (0, 1), st
    every = payloads(ingest, sid, demo_key)
    assert len({p["pid"] for p in every}) == 3 and {p["mode"] for p in every} == {"device"}
    assert any(p["mode"] == "light" for p in payloads(ingest, sid, demo_key, every=True))  # page 2 left light first
    last = [p for p in every if p.get("scope") == "session"][-1]["insights"]
    assert last["clicks"] == 5  # #book on each page, #next twice
    assert last == json.loads(json.dumps(analyze([e for p in every for e in p["events"]])))
    page.context.close()
