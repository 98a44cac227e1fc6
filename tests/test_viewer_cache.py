"""The viewer's incremental, cached loading (viewer/loader.js) in real Chromium against a
real collector process: the first open pages GET /v1/envelopes?since=; a reload reads what
this browser keeps in IndexedDB (sealed with a non-extractable AES-GCM key) and fetches only
what the collector stored since; erased sessions leave the cache; Forget deletes it."""

from __future__ import annotations

import gzip
import json
import secrets
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import Collector
from py_core import envelope

expect.set_options(timeout=90_000)
pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "events" / "corpus").glob("*.json.gz"))[:12]


@pytest.fixture(scope="module")
def collector(site_dir, tmp_path_factory):
    c = Collector(tmp_path_factory.mktemp("cache") / "sightline.db", site_dir, secrets.token_urlsafe(16)).start()
    yield c
    c.stop()


def post(c: Collector, path: str, body: dict, token: bool = False) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {c.token}"
    req = urllib.request.Request(c.url + path, data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def corpus_envs(demo_key) -> list[dict]:
    out = []
    for path in CORPUS:
        rec = json.loads(gzip.open(path).read())
        out.append(envelope.seal({"schema": 1, "events": rec["events"]}, demo_key["public"],
                                 sid=rec["sid"], pid="corpus-page-0", seq=0))
    return out


def cache(page: Page) -> dict:
    """What loader.js keeps, as the page sees it: records, cursors, the sealing key."""
    return page.evaluate("""async () => {
        const names = (await indexedDB.databases()).map((d) => d.name);
        if (!names.includes('sightline-cache')) return { exists: false };
        const db = await new Promise((ok, no) => { const r = indexedDB.open('sightline-cache');
            r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
        const all = (store) => new Promise((ok) => { const q = db.transaction(store).objectStore(store).getAll(); q.onsuccess = () => ok(q.result); });
        const keys = (store) => new Promise((ok) => { const q = db.transaction(store).objectStore(store).getAllKeys(); q.onsuccess = () => ok(q.result); });
        const recs = await all('sessions');
        const metaKeys = await keys('meta');
        const key = await new Promise((ok) => { const q = db.transaction('meta').objectStore('meta').get('key'); q.onsuccess = () => ok(q.result); });
        let exported; try { await crypto.subtle.exportKey('raw', key); exported = 'exported'; } catch (e) { exported = e.name; }
        const text = recs.map((r) => new TextDecoder('latin1').decode(r.ct)).join('');
        db.close();
        return { exists: true, sids: recs.map((r) => r.sid).sort(), fields: recs.length ? Object.keys(recs[0]).sort() : [],
                 cursors: metaKeys.filter((k) => String(k).startsWith('cursor:')).length,
                 key: { type: key.type, extractable: key.extractable, algorithm: key.algorithm.name, exported },
                 plain: ['"events"', '"ts"', 'http'].filter((w) => text.includes(w)) };
    }""")


def test_reload_fetches_only_what_is_new(browser, collector, demo_key):
    envs = corpus_envs(demo_key)
    for env in envs:
        assert post(collector, "/v1/ingest", env) == 201
    sids = sorted({e["sid"] for e in envs})
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url[len(collector.url):]) if r.url.startswith(collector.url + "/v1/") else None)

    page.goto(f"{collector.url}/viewer/")
    expect(page.locator("html")).to_have_attribute("data-ready", "1", timeout=120_000)
    page.fill("#keys", demo_key["private"])
    page.fill("#token", collector.token)
    page.check("#keep")
    page.click("#connect")
    expect(page.locator("#progress")).to_be_hidden()
    expect(page.locator("#sessions tbody tr[data-sid]")).to_have_count(len(sids))
    first = json.loads(page.evaluate("async () => (await import('./loader.js')).lastSync()"))
    assert first["fetched"] == len(envs) and first["cached"] == 0, first
    assert [u for u in seen if u.startswith("/v1/envelopes")] == ["/v1/envelopes?since=&limit=1000"]
    assert not [u for u in seen if u.startswith("/v1/sessions/")], seen  # no per-session fetches
    kept = cache(page)
    assert kept["exists"] and kept["sids"] == sids and kept["cursors"] == 1, kept
    assert kept["fields"] == ["ct", "iv", "scope", "sid"] and kept["plain"] == [], kept
    assert kept["key"] == {"type": "secret", "extractable": False, "algorithm": "AES-GCM", "exported": "InvalidAccessError"}

    # Two new envelopes: a second page of a session already cached, and a new session.
    grown = sids[0]
    events_before = int(page.locator(f'tr[data-sid="{grown}"] td').nth(3).inner_text())
    rec = json.loads(gzip.open(CORPUS[0]).read())
    assert rec["sid"] == grown or any(e["sid"] == grown for e in envs)
    more = envelope.seal({"schema": 1, "events": [dict(e, ts=e["ts"] + 3_600_000) for e in rec["events"][:5]]},
                         demo_key["public"], sid=grown, pid="corpus-page-1", seq=0)
    fresh_rec = json.loads(gzip.open(sorted((ROOT / "tests" / "events" / "corpus").glob("*.json.gz"))[20]).read())
    fresh = envelope.seal({"schema": 1, "events": fresh_rec["events"]}, demo_key["public"],
                          sid="cache-new-sess01", pid="corpus-page-0", seq=0)
    assert post(collector, "/v1/ingest", more) == 201 and post(collector, "/v1/ingest", fresh) == 201

    seen.clear()
    page.reload()
    expect(page.locator('tr[data-sid="cache-new-sess01"]')).to_have_count(1)
    expect(page.locator("#progress")).to_be_hidden()
    expect(page.locator("#sessions tbody tr[data-sid]")).to_have_count(len(sids) + 1)
    second = json.loads(page.evaluate("async () => (await import('./loader.js')).lastSync()"))
    assert second["fetched"] == 2 and second["cached"] == len(envs) and second["requests"] == 2, second
    feed = [u for u in seen if u.startswith("/v1/envelopes")]
    assert len(feed) == 1 and not feed[0].startswith("/v1/envelopes?since=&"), feed  # from the kept cursor
    assert not [u for u in seen if u.startswith("/v1/sessions/")], seen
    assert [u for u in seen if u.startswith("/v1/sessions?")] == ["/v1/sessions?limit=10000&offset=0"]
    assert int(page.locator(f'tr[data-sid="{grown}"] td').nth(3).inner_text()) == events_before + 5

    # Erased on the collector: gone from the list and from this browser's cache on reload.
    assert post(collector, "/v1/erase", {"sessions": [grown]}, token=True) == 200
    page.reload()
    expect(page.locator("#sessions tbody tr[data-sid]")).to_have_count(len(sids))
    expect(page.locator(f'tr[data-sid="{grown}"]')).to_have_count(0)
    third = json.loads(page.evaluate("async () => (await import('./loader.js')).lastSync()"))
    assert third["fetched"] == 0 and third["dropped"] == 1, third
    assert grown not in cache(page)["sids"]

    page.click("#forget")
    expect(page.locator("#connect-panel")).to_be_visible()
    assert cache(page) == {"exists": False}
    ctx.close()


def test_not_kept_means_nothing_cached(browser, collector, demo_key):
    """A viewer link (Keep not ticked) loads through the feed but writes nothing to IndexedDB."""
    for env in corpus_envs(demo_key)[:3]:
        assert post(collector, "/v1/ingest", env) in (200, 201)  # 200: already stored by the test above
    ctx = browser.new_context()
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{collector.url}/viewer/#key={demo_key['private']}&token={collector.token}")
    expect(page.locator("#progress")).to_be_hidden()
    expect(page.locator("#list-panel")).to_be_visible()
    assert page.locator("#sessions tbody tr[data-sid]").count() >= 1
    assert cache(page) == {"exists": False}
    ctx.close()
