"""The recorder's offline-first queue (recorder/queue.js, recorder/worker.js) in real Chromium.

Pages of the built site record into a second, real `sightline serve` process (the ingest
collector) that the tests stop, SIGKILL and restart; the browser goes offline through
Playwright's switch, reloads, crashes its renderer through CDP (`Page.crash`), runs
several tabs at once and works under a tiny storage quota (CDP
`Storage.overrideQuotaForOrigin`). Every assertion is on what that collector holds.
"""

from __future__ import annotations

import json
import secrets
import signal
import sqlite3
from collections import Counter, defaultdict
from urllib.parse import quote

import pytest
from conftest import Collector, poll
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from py_core import keys
from py_core.envelope import open_envelope

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)

PYODIDE_MS = 60_000  # Pyodide boots in seconds, but the machine is shared


# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def ingest(tmp_path):
    """A collector process of its own (no site), restartable on the same port and database."""
    c = Collector(tmp_path / "ingest.db", None, secrets.token_urlsafe(12)).start()
    yield c
    c.stop()


def restart(c: Collector) -> Collector:
    """Start a stopped collector again: same port, same database."""
    return c.start()


def kill(c: Collector) -> None:
    """SIGKILL the collector process: no shutdown, connections refused from now on."""
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait(10)


@pytest.fixture
def recorder(context, site_url):
    """open(endpoint, label) -> a page of the built site (tests/html/queue.html) recording into `endpoint`.

    A real page, not a routed one: Playwright's request interception would also hold the
    page's beacons, which must leave as they would for a visitor.
    """

    def open_page(endpoint, label="page", page=None):
        page = page or context.new_page()
        page.set_default_timeout(PYODIDE_MS)
        page.goto(f"{site_url}/tests/html/queue.html?endpoint={quote(endpoint, safe='')}&label={label}")
        page.wait_for_function("window.Sightline && Sightline.session.recording")
        return page

    return open_page


def track(page, tab: str, start: int, count: int, flush=True) -> dict | None:
    """Record `count` custom events q{i} (one batch each), then drain the worker."""
    return page.evaluate(
        """async ([tab, start, count, flush]) => {
            let status = null;
            for (let i = start; i < start + count; i++) {
                Sightline.track('q', { tab, i });
                if (flush) status = await Sightline.flush();
            }
            return status;
        }""", [tab, start, count, flush])


def status(page) -> dict:
    return page.evaluate("Sightline.flush()")


def envelopes(c: Collector, sid: str) -> list[dict]:
    try:
        return c.get(f"/v1/sessions/{sid}")["envelopes"]
    except Exception:  # 404 before the first envelope
        return []


def opened(envs: list[dict], demo_key: dict) -> list[tuple[dict, dict]]:
    private = {demo_key["kid"]: keys.b64u_decode(demo_key["private"])}
    return [(e, open_envelope({k: v for k, v in e.items() if k != "received"}, private)) for e in envs]


def wait_for(fn, timeout=PYODIDE_MS / 1000, every=0.25):
    """Poll fn() until it returns something truthy; its last value."""
    return poll(fn, timeout, every)


def tracked(payloads: list[dict], tab: str) -> list[int]:
    """The q{i} events of one tab, in delivery order of their batches."""
    return [e["p"]["i"] for p in payloads for e in p["events"]
            if e.get("t") == 11 and e.get("n") == "q" and e["p"].get("tab") == tab]


def assert_exactly_once_in_order(envs: list[dict]) -> dict[str, list[int]]:
    """No id or (pid, seq) twice; per page, seqs arrive in order. Returns pid -> seqs."""
    assert len({e["id"] for e in envs}) == len(envs)
    assert max(Counter((e["pid"], e["seq"]) for e in envs).values(), default=1) == 1
    per_page = defaultdict(list)
    for e in sorted(envs, key=lambda e: (e["received"], e["ts"])):
        per_page[e["pid"]].append(e["seq"])
    for pid, seqs in per_page.items():
        assert seqs == sorted(seqs), (pid, seqs)
    return per_page


def crash_renderer(browser, page) -> None:
    """Crash the page's renderer process with CDP `Page.crash`; returns once it is dead.

    Sent through a browser-level session (Target.sendMessageToTarget), which answers at
    once; a page-level session would wait forever for the dead renderer's reply.
    """
    cdp = browser.new_browser_cdp_session()
    [target] = [t for t in cdp.send("Target.getTargets")["targetInfos"]
                if t["type"] == "page" and t["url"] == page.url]
    session = cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": False})["sessionId"]
    for attempt in range(6):  # a loaded machine can be slow to act on it: ask again
        cdp.send("Target.sendMessageToTarget", {"sessionId": session,
                                                "message": json.dumps({"id": attempt + 1, "method": "Page.crash"})})
        if wait_for(lambda: is_crashed(page), timeout=10):
            return
    raise AssertionError("the renderer did not crash")


def is_crashed(page) -> bool:
    try:
        page.evaluate("1")
        return False
    except PlaywrightError as err:
        assert "crashed" in str(err), err
        return True


def stored_rows(c: Collector, sid: str) -> int:
    with sqlite3.connect(c.db) as db:
        return db.execute("SELECT count(*) FROM envelopes WHERE sid = ?", (sid,)).fetchone()[0]


# ----------------------------------------------------------------------------- tests


def test_offline_then_online_delivers_everything_once(context, recorder, ingest, demo_key):
    """Batches recorded offline (before Pyodide could even load) sync in order once back online."""
    page = recorder(ingest.url)
    sid = page.evaluate("Sightline.session.sid")
    context.set_offline(True)
    st = track(page, "a", 0, 12)
    assert st["raw"] + st["outbox"] >= 12, st
    assert envelopes(ingest, sid) == []
    context.set_offline(False)
    assert wait_for(lambda: status(page)["raw"] + status(page)["outbox"] == 0)
    envs = envelopes(ingest, sid)
    per_page = assert_exactly_once_in_order(envs)
    [seqs] = per_page.values()
    assert seqs == list(range(len(seqs)))  # no batch missing
    assert tracked([p for _, p in opened(envs, demo_key)], "a") == list(range(12))
    assert stored_rows(ingest, sid) == len(envs)


def test_collector_down_reload_and_restart(context, recorder, ingest, demo_key):
    """The collector is SIGKILLed; the page reloads twice; after restart every batch is there once."""
    page = recorder(ingest.url, "one")
    sid = page.evaluate("Sightline.session.sid")
    track(page, "r", 0, 3)
    assert wait_for(lambda: len(envelopes(ingest, sid)) >= 3)
    kill(ingest)
    track(page, "r", 3, 5)
    page.reload()
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    track(page, "r", 8, 5)
    page.reload()
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    st = track(page, "r", 13, 2)
    assert st["raw"] + st["outbox"] > 0, st
    restart(ingest)
    assert wait_for(lambda: (lambda s: s["raw"] + s["outbox"] == 0)(status(page)))
    envs = envelopes(ingest, sid)
    per_page = assert_exactly_once_in_order(envs)
    assert len(per_page) == 3
    for seqs in per_page.values():
        assert seqs == list(range(len(seqs)))
    ordered = sorted(opened(envs, demo_key), key=lambda ep: (ep[0]["ts"], ep[0]["seq"]))
    assert sorted(tracked([p for _, p in ordered], "r")) == list(range(15))
    assert stored_rows(ingest, sid) == len(envs)


def test_crashed_renderer_loses_nothing_it_stored(browser, context, recorder, ingest, demo_key):
    """A renderer crashed through CDP mid-flush: the next page delivers every stored batch once."""
    page = recorder(ingest.url, "crash")
    sid = page.evaluate("Sightline.session.sid")
    pid = page.evaluate("Sightline.session.pid")
    kill(ingest)
    st = track(page, "c", 0, 8)  # drained: stored in IndexedDB, collector unreachable
    assert st["raw"] + st["outbox"] >= 8, st
    # More batches, not awaited, then the crash: whatever the worker stored must arrive once.
    page.evaluate("() => { for (let i = 8; i < 40; i++) { Sightline.track('q', {tab: 'c', i}); Sightline.flush(); } }")
    crash_renderer(browser, page)
    restart(ingest)
    after = recorder(ingest.url, "after-crash")
    after_sid = after.evaluate("Sightline.session.sid")
    assert wait_for(lambda: (lambda s: s["raw"] + s["outbox"] == 0)(status(after)))
    envs = envelopes(ingest, sid)
    per_page = assert_exactly_once_in_order(envs)
    seqs = per_page[pid]
    assert seqs == list(range(len(seqs)))  # stored batches form a prefix: none lost in between
    got = tracked([p for e, p in sorted(opened(envs, demo_key), key=lambda ep: ep[0]["seq"])], "c")
    assert got[:8] == list(range(8)) and got == list(range(len(got)))
    assert after_sid != sid and envelopes(ingest, after_sid)  # a new tab, its own session
    page.close()


def test_several_tabs_write_at_once(context, recorder, ingest, demo_key):
    """Three tabs of the same site record at once; each tab's batches arrive once and in order."""
    pages = [recorder(ingest.url, f"tab{k}") for k in range(3)]
    sids = [p.evaluate("Sightline.session.sid") for p in pages]
    assert len(set(sids)) == 3
    for k, p in enumerate(pages):  # start all three loops, then wait for all of them
        p.evaluate("""(tab) => { window.__done = (async () => {
            for (let i = 0; i < 10; i++) {
                Sightline.track('q', { tab, i });
                await Sightline.flush();
                await new Promise((r) => setTimeout(r, Math.random() * 20));
            }
        })(); }""", f"t{k}")
    for p in pages:
        p.evaluate("window.__done")
    for k, (p, sid) in enumerate(zip(pages, sids)):
        assert wait_for(lambda: (lambda s: s["raw"] + s["outbox"] == 0)(status(p)))
        envs = envelopes(ingest, sid)
        per_page = assert_exactly_once_in_order(envs)
        [seqs] = per_page.values()
        assert seqs == list(range(len(seqs)))
        payloads = [pl for _, pl in sorted(opened(envs, demo_key), key=lambda ep: ep[0]["seq"])]
        assert tracked(payloads, f"t{k}") == list(range(10))
        assert stored_rows(ingest, sid) == len(envs)


def test_pending_batches_are_sealed_at_rest(context, recorder, ingest):
    """IndexedDB holds raw batches as AES-GCM ciphertext under a non-extractable key."""
    # Pyodide cannot load (aborted by the context's router), so batches stay in "raw" (device mode).
    context.route("**/runtime/**", lambda route: route.abort())
    context.route("**/pyodide/**", lambda route: route.abort())
    page = recorder(ingest.url, "rest")
    marker = "plaintext-marker-" + secrets.token_hex(4)
    page.evaluate("(m) => Sightline.track('secret', { m })", marker)
    page.evaluate("() => Sightline.flush()")
    found = page.evaluate("""async (marker) => {
        const db = await new Promise((ok, err) => {
            const r = indexedDB.open('sightline'); r.onsuccess = () => ok(r.result); r.onerror = () => err(r.error);
        });
        const all = (store) => new Promise((ok) => {
            const r = db.transaction(store).objectStore(store).getAll(); r.onsuccess = () => ok(r.result);
        });
        const key = await new Promise((ok) => {
            const r = db.transaction('meta').objectStore('meta').get('atRestKey'); r.onsuccess = () => ok(r.result);
        });
        const raw = await all('raw'), outbox = await all('outbox');
        const td = new TextDecoder('latin1');
        const text = JSON.stringify(outbox) + raw.map((r) => JSON.stringify({ ...r, data: td.decode(r.data) })).join('');
        let exported = 'refused';
        try { await crypto.subtle.exportKey('raw', key); exported = 'exported'; } catch (e) { /* non-extractable */ }
        return { raw: raw.length, sealed: raw.every((r) => r.data instanceof ArrayBuffer && r.iv && !('events' in r)),
                 leaks: text.includes(marker), extractable: key.extractable, algorithm: key.algorithm.name,
                 exported };
    }""", marker)
    assert found == {"raw": found["raw"], "sealed": True, "leaks": False, "extractable": False,
                     "algorithm": "AES-GCM", "exported": "refused"}
    assert found["raw"] >= 1


def test_a_long_page_never_stalls_on_the_keepalive_budget(recorder, ingest, demo_key):
    """Well over 64 KiB of envelopes from one page all upload at once: no request is left
    charged against Chromium's keepalive budget (an unread keepalive response stalled the
    queue after about 16 envelopes of 4 KB until garbage collection freed it)."""
    page = recorder(ingest.url, "long")
    sid = page.evaluate("Sightline.session.sid")
    status(page)
    st = page.evaluate("""async () => {
        const W = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima'.split(' ');
        let st;
        for (let i = 0; i < 30; i++) {
            const words = Array.from({ length: 4000 }, () => W[Math.floor(Math.random() * W.length)]).join(' ');
            Sightline.track('q', { tab: 'long', i, words });
            st = await Sightline.flush();
            if (st.outbox) return { ...st, stalledAt: i };
        }
        return st;
    }""")
    assert st["outbox"] == 0 and st["raw"] == 0 and "stalledAt" not in st, st
    got = tracked([p for _, p in opened(envelopes(ingest, sid), demo_key)], "long")
    assert got == list(range(30))


def test_full_store_evicts_oldest_and_counts_it(context, recorder, ingest, site_url, demo_key):
    """Under a tiny quota the oldest pending batches are evicted, counted, and the count is delivered."""
    # The quota is read when the database opens: set it before the recorder's page loads.
    cdp = context.new_cdp_session(context.new_page())
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": site_url, "quotaSize": 200_000})
    page = recorder(ingest.url, "quota")
    sid = page.evaluate("Sightline.session.sid")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    status(page)  # Pyodide booted and the first batches delivered while there is room
    kill(ingest)
    # 40 batches of 6,000 random words each (about 36 KB, 4 KB sealed): far more than 200 KB.
    st = page.evaluate("""async () => {
        const W = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu red green blue'.split(' ');
        let st;
        for (let i = 0; i < 40; i++) {
            const words = Array.from({ length: 6000 }, () => W[Math.floor(Math.random() * W.length)]).join(' ');
            Sightline.track('q', { tab: 'big', i, words });
            st = await Sightline.flush();
        }
        return st;
    }""")
    assert st["evicted"] > 0, st
    restart(ingest)
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": site_url})  # back to the default
    assert wait_for(lambda: (lambda s: s["raw"] + s["outbox"] == 0)(status(page))), status(page)
    assert errors == []
    pairs = sorted(opened(envelopes(ingest, sid), demo_key), key=lambda ep: ep[0]["seq"])
    assert_exactly_once_in_order([e for e, _ in pairs])
    got = tracked([p for _, p in pairs], "big")
    missing = sorted(set(range(40)) - set(got))
    assert missing and got == sorted(got) and got[-1] == 39  # the oldest went, the newest stayed
    dropped = [p["dropped"] for _, p in pairs if p.get("dropped")]
    assert len(missing) <= sum(d["batches"] for d in dropped) == st["evicted"] + st["lost"]
    assert sum(d["events"] for d in dropped) >= len(missing)

    # The viewer shows the count as a fact of the session.
    viewer = context.new_page()
    viewer.goto(f"{site_url}/viewer/")
    expect(viewer.locator("html")).to_have_attribute("data-ready", "1")
    viewer.fill("#keys", demo_key["private"])
    viewer.fill("#token", ingest.token)
    viewer.fill("#collector", ingest.url)
    viewer.click("#connect")
    viewer.locator(f'tr[data-sid="{sid}"]').click()
    total = sum(d["batches"] for d in dropped)
    expect(viewer.locator("#facts")).to_contain_text(f"Dropped on device (storage full): {total} batches")
    expect(viewer.locator("#facts")).to_contain_text("Processing: device")  # the mode the visit used


def test_pagehide_sends_what_it_can_and_keeps_the_rest(context, recorder, ingest, demo_key):
    """At pagehide sealed envelopes leave as beacons; buffered events wait; all arrive exactly once."""
    page = recorder(ingest.url, "leave")
    sid, pid = page.evaluate("[Sightline.session.sid, Sightline.session.pid]")
    status(page)  # Pyodide booted, the first batches delivered
    kill(ingest)
    st = track(page, "s", 0, 4)  # sealed into the outbox, collector unreachable
    assert st["outbox"] >= 4, st
    restart(ingest)  # back, but the worker's next retry is seconds away (backoff)
    page.evaluate("() => { for (let i = 0; i < 5; i++) Sightline.track('q', { tab: 'h', i }); }")  # buffered
    page.goto("about:blank")  # pagehide: beacons for the sealed envelopes; the buffered batch is posted
    sealed = wait_for(lambda: len(tracked([p for _, p in opened(envelopes(ingest, sid), demo_key)], "s")) == 4,
                      timeout=10)
    assert sealed  # delivered without any page of the site open
    buffered = tracked([p for _, p in opened(envelopes(ingest, sid), demo_key)], "h")
    recorder(ingest.url, "back", page=page)  # the same tab comes back: carried or stored batches go
    assert wait_for(lambda: (lambda s: s["raw"] + s["outbox"] == 0)(status(page)))
    envs = envelopes(ingest, sid)
    per_page = assert_exactly_once_in_order(envs)
    assert per_page[pid] == list(range(len(per_page[pid])))
    ordered = [p for e, p in sorted(opened(envs, demo_key), key=lambda ep: (ep[0]["pid"] != pid, ep[0]["seq"]))]
    assert tracked(ordered, "s") == list(range(4)) and tracked(ordered, "h") == list(range(5))
    assert stored_rows(ingest, sid) == len(envs)
    print(f"pagehide: 4 of 4 sealed batches sent as beacons; {len(buffered)} of 5 buffered events "
          "left before the return, all 5 after")
