"""The no-leak proof: planted personal data in every channel, a full session, then search everywhere.

A page (tests/html/privacy-leak.html) carries distinct planted values in text nodes,
attributes, the title, input values, page and referrer URLs, pushState, fetch/XHR URLs
(one failing with a token in it), console messages, an uncaught error, a rejection,
custom event properties and identify. The session consents, records, goes offline and
back, reloads once and drains. Then every IndexedDB record (sampled while offline and at
the end), web storage, every upload body (raw and decrypted), every envelope the collector
returns (decrypted) and the collector's SQLite files are searched for each value in plain,
URL-encoded, JSON-escaped, HTML-escaped, base64 and compact (digits-only) forms.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from playwright.sync_api import Page

from py_core import keys
from py_core.envelope import open_envelope

pytestmark = pytest.mark.browser

PLANTED = [
    "title.person@example.org", "ophelia.marsh@example.net", "+44 20 7946 0321", "FR14 2004 1010 0505 0001 3M02 606",
    "NL91ABNA0417164300", "536-22-1847", "203.0.113.77", "2001:db8:85a3::8a2e:370:7334",
    "QmVhcmVyUGxhbnRlZFNpZ25hdHVyZTEyMzQ1Njc4OTA", "sk_live_51HqLyjWDarjtT1zdp7dcXYZ", "PlantedBearer7Token0Value",
    "placeholder.person@example.com", "+33 1 23 45 67 89", "219-09-9999", "img.person@example.org",
    "5555 5555 5555 4444", "HrefPlantedToken8812", "href.person@example.org", "mutation.person@example.org",
    "+34 912 345 678", "chardata.person@example.org", "console.person@example.org", "3782 822463 10005",
    "error.person@example.org", "+1 202 555 0147", "custom.person@example.org", "6011 1111 1111 1117",
    "GB82WEST12345698765432", "identify.person@example.org", "push.person@example.org", "NetPlantedApiKey5521",
    "RmFpbGluZ1JlcXVlc3RTaWduYXR1cmU", "FailPlantedToken7741", "xhr.person@example.org",
    "offline.person@example.org", "OfflinePlantedToken3390", "reload.person@example.org", "DE75512108001245126199",
    # typed into the form, the page URL and the referrer
    "typed.person@example.org", "4000 0566 5566 5556", "url.person@example.org", "UrlPlantedToken9034",
    "ref.person@example.org",
]
TYPED_EMAIL, TYPED_CARD = "typed.person@example.org", "4000 0566 5566 5556"
PAGE = "/tests/html/privacy-leak.html?email=url.person%40example.org&token=UrlPlantedToken9034"
REFERRER = "/blank.html?email=ref.person@example.org"

DUMP_DB = """async () => {
  const text = (v) => {
    if (v instanceof ArrayBuffer) v = new Uint8Array(v);
    if (ArrayBuffer.isView(v)) return 'bytes:' + Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), (b) => String.fromCharCode(b)).join('');
    if (typeof CryptoKey !== 'undefined' && v instanceof CryptoKey) return '[CryptoKey ' + v.algorithm.name + ' extractable=' + v.extractable + ']';
    if (v instanceof Blob) return '[Blob]';
    if (Array.isArray(v)) return v.map(text);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, text(x)]));
    return v;
  };
  const req = (r) => new Promise((ok, no) => { r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
  const out = [];
  for (const { name } of await indexedDB.databases()) {
    const db = await req(indexedDB.open(name));
    for (const store of db.objectStoreNames) {
      const s = db.transaction(store).objectStore(store);
      const [values, keys] = [await req(s.getAll()), await req(s.getAllKeys())];
      values.forEach((v, i) => out.push({ db: name, store, key: text(keys[i]), value: text(v) }));
    }
    db.close();
  }
  return out;
}"""
STORAGE = "() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })"


def forms(value: str) -> set[str]:
    """The encodings a planted value could hide in."""
    out = {value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1],
           json.dumps(value, ensure_ascii=True)[1:-1], html.escape(value), value.replace(" ", ""),
           base64.b64encode(value.encode()).decode().rstrip("="),
           base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 9 and not re.search(r"[a-z]{3}", value):
        out.add(digits)
    return {f.lower() for f in out if len(f) >= 8}


def leaks(haystack: str | bytes, where: str) -> list[str]:
    """Every (value, form) of PLANTED found in ``haystack``, case-insensitively."""
    text = haystack.decode("latin-1") if isinstance(haystack, bytes) else haystack
    low = text.lower()
    return [f"{where}: {v!r} as {f!r}" for v in PLANTED for f in forms(v) if f in low]


def as_mode(page: Page, site_url: str, mode: str) -> None:
    """Serve the deployed leak page with its script tag set to processing mode `mode`
    (only that document is intercepted; beacons and uploads go untouched)."""
    if mode == "device":
        return

    def swap(route):
        res = route.fetch()
        body = res.text()
        assert 'data-process="device"' in body
        route.fulfill(response=res, body=body.replace('data-process="device"', f'data-process="{mode}"'))

    page.route(site_url + "/tests/html/privacy-leak.html*", swap)


@pytest.mark.parametrize("mode", ["device", "light"])
def test_nothing_planted_leaves_or_rests_on_the_device(page: Page, site_url, collector, demo_key, mode):
    """Offline, online, reload: no planted value in IndexedDB, storage, uploads, envelopes or the collector DB,
    whether Python masks on the device or the worker masks everything to its shape (light mode)."""
    page.set_default_timeout(60_000)
    as_mode(page, site_url, mode)
    bodies: list[str] = []
    page.context.on("request", lambda r: bodies.append(r.post_data or "") if r.url.endswith("/v1/ingest") else None)

    # Arrive from a page whose URL carries an email (the referrer), then consent.
    page.goto(site_url + REFERRER)
    page.evaluate(f"location.assign({json.dumps(site_url + PAGE)})")
    page.wait_for_function("!!(window.Sightline && window.plant)")
    assert page.evaluate("document.referrer").endswith(REFERRER)
    assert page.evaluate("Sightline.consent(true)") is True
    sid = page.evaluate("Sightline.session.sid")
    page.fill("input[name=email]", TYPED_EMAIL)
    page.fill("input[name=card]", TYPED_CARD)
    page.evaluate("plant()")
    page.wait_for_timeout(1500)  # one batch interval: the planted events are in a batch
    early_db = page.evaluate(DUMP_DB)  # raw batches, queued while Pyodide boots
    page.evaluate("Sightline.flush()")  # Pyodide is up: offline, batches are masked and sealed

    # Offline: the queue holds everything at rest; nothing can leave.
    page.context.set_offline(True)
    page.evaluate("plantOffline()")
    page.wait_for_timeout(1500)
    offline_status = page.evaluate("Sightline.flush()")
    offline_db = page.evaluate(DUMP_DB)
    assert offline_status["outbox"] > 0, offline_status
    assert any(r["store"] == "outbox" for r in offline_db)

    # Back online, reload once, a little more, then drain everything to the collector.
    page.context.set_offline(False)
    page.reload()
    page.wait_for_load_state()
    page.wait_for_function("!!(window.Sightline && Sightline.session.recording && window.plantAfterReload)", polling=250)
    assert page.evaluate("Sightline.session.sid") == sid
    page.evaluate("plantAfterReload()")
    page.wait_for_function("Sightline.flush().then((s) => s.raw === 0 && s.outbox === 0)", polling=1000)
    final_db = page.evaluate(DUMP_DB)
    storage = page.evaluate(STORAGE)

    # What the collector holds for the session, decrypted with the team's key.
    private = {demo_key["kid"]: keys.b64u_decode(demo_key["private"])}
    stored = collector.get(f"/v1/sessions/{sid}")["envelopes"]
    payloads = [open_envelope({k: v for k, v in e.items() if k != "received"}, private) for e in stored]
    uploaded = [open_envelope(json.loads(b), private) for b in bodies if b]
    events = [e for p in payloads for e in p["events"]]

    # The session really carries every channel (so the search below is not vacuous).
    types = {e["t"] for e in events}
    assert {0, 1, 2, 4, 8, 9, 10, 11, 13} <= types, types
    assert len({e["pid"] for e in stored}) == 2 and uploaded  # two page loads; bodies were seen
    net = {e["u"]: e["s"] for e in events if e["t"] == 10}
    assert any("/no/such/reset/" in u and s == 404 for u, s in net.items()), net
    assert any(e["t"] == 9 and e.get("k") == "console" for e in events)
    assert {p.get("mode") for p in payloads} == {mode}
    plain = json.dumps(payloads, ensure_ascii=False)
    if mode == "device":
        assert any(e["t"] == 9 and e.get("k") == "error" and "Failed for *" in e["m"] for e in events)
        assert any(e["t"] == 0 and "email=" in e["u"] and "token=" in e["u"] for e in events)
        assert "Write to *" in plain and "Your account" in plain  # masked in place, the rest kept
    else:  # every text to its shape: the words go, their layout stays
        assert "Your account" not in plain and "**** *******" in plain
        assert any(e["t"] == 9 and e.get("k") == "error" and "Failed" not in e["m"] and "*" in e["m"] for e in events)

    assert leaks("x " + quote("zelda+" + PLANTED[0]) + " y", "self-check")  # the search itself finds encodings
    found = []
    found += leaks(json.dumps(early_db, ensure_ascii=False), "IndexedDB (raw queue)")
    found += leaks(json.dumps(offline_db, ensure_ascii=False), "IndexedDB (offline)")
    found += leaks(json.dumps(final_db, ensure_ascii=False), "IndexedDB (end)")
    found += leaks(storage, "web storage")
    found += leaks("\n".join(bodies), "upload bodies")
    found += leaks(json.dumps(uploaded, ensure_ascii=False), "upload bodies, decrypted")
    found += leaks(plain, "collector envelopes, decrypted")
    for f in sorted(Path(collector.db).parent.glob(Path(collector.db).name + "*")):
        found += leaks(f.read_bytes(), f"collector file {f.name}")
    assert not found, "\n".join(found)
