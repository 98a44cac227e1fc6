"""End-to-end encryption, browser side: tamper detection and key rotation in real Chromium.

The viewer's own module (site/viewer/decrypt.js) opens envelopes that Python sealed; the
viewer app (site/viewer/) reads a real collector holding a tampered and a re-labelled
envelope; and the recorder, given a rotated key in its script tag, seals new batches to
the new key while the viewer, holding both private keys, opens old and new sessions.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from py_core import keys
from py_core.envelope import open_envelope, seal

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)

PAGE = """<!doctype html><meta charset="utf-8"><title>rotation</title>
<script src="/sightline.js" data-endpoint="/" data-key="{key}" data-consent="granted"></script>
<body><h1>Rotation</h1></body>
"""


def events(marker: str, t0: int) -> list[dict]:
    """A tiny valid session: meta, a snapshot and a custom event carrying `marker`."""
    doc = {"i": 1, "t": 9, "c": [{"i": 2, "t": 1, "n": "html", "a": {}, "c": [
        {"i": 3, "t": 1, "n": "body", "a": {}, "c": [{"i": 4, "t": 1, "n": "h1", "a": {}, "c": [
            {"i": 5, "t": 3, "x": "Hello"}]}]}]}]}
    return [{"t": 0, "ts": t0, "u": "https://shop.example/", "r": "", "ti": "Shop", "w": 1024, "h": 768},
            {"t": 1, "ts": t0 + 1, "n": doc, "sx": 0, "sy": 0},
            {"t": 11, "ts": t0 + 500, "n": marker, "p": {"m": marker}}]


def ingest(url: str, env: dict) -> int:
    req = urllib.request.Request(url + "/v1/ingest", data=json.dumps(env).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def variants(text: str):
    """Every one-character change of `text` that keeps JSON string/number/name characters plausible."""
    for i, ch in enumerate(text):
        if ch.isdigit():
            yield i, text[:i] + str((int(ch) + 1) % 10) + text[i + 1:]
        elif ch.isalpha():
            yield i, text[:i] + ("b" if ch == "a" else "a") + text[i + 1:]
        elif ch in "-_":
            yield i, text[:i] + ("_" if ch == "-" else "-") + text[i + 1:]
        else:  # structure: { } " : ,
            yield i, text[:i] + "x" + text[i + 1:]


@pytest.fixture
def viewer_module(page, site_url):
    page.goto(site_url + "/blank.html")
    page.evaluate("async () => { window.dec = await import('/viewer/decrypt.js'); }")
    return page


def test_every_changed_byte_is_refused(viewer_module, demo_key):
    """Changing any one character of a sealed envelope makes the viewer's decrypt.js refuse it."""
    env = seal({"schema": 1, "events": events("m", 1_700_000_000_000)}, demo_key["public"],
               sid="s_" + secrets.token_urlsafe(8), pid="p_" + secrets.token_urlsafe(8), seq=3)
    text = json.dumps(env, separators=(",", ":"))
    tampered = [t for _, t in variants(text)]
    assert len(tampered) == len(text) > 200
    result = viewer_module.evaluate("""async ([key, good, bad]) => {
        await dec.loadKeys([key]);
        const ok = JSON.parse(await dec.openEnvelope(good));
        const opened = [];
        for (const [i, t] of bad.entries()) {
            try { await dec.openEnvelope(t); opened.push(i); } catch (e) { /* refused */ }
        }
        return { events: ok.events.length, opened };
    }""", [demo_key["private"], text, tampered])
    assert result == {"events": 3, "opened": []}


def test_unused_base64_bits_count_as_tampering(viewer_module, demo_key):
    """A ct whose last character differs only in unused bits decodes the same, yet is refused."""
    # A sealed size that is not a multiple of 3: the last base64 character has unused low bits.
    env = next(e for e in (seal({"events": [], "pad": "x" * i}, demo_key["public"], sid="s_abcdefgh",
                                pid="p_abcdefgh", seq=0) for i in range(12)) if len(e["ct"]) % 4 in (2, 3))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(env["ct"][-1])
    twin = dict(env, ct=env["ct"][:-1] + alphabet[last ^ 1])
    lenient = lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
    assert twin["ct"] != env["ct"] and lenient(twin["ct"]) == lenient(env["ct"])
    refused = viewer_module.evaluate("""async ([key, env]) => {
        await dec.loadKeys([key]);
        try { await dec.openEnvelope(env); return false; } catch (e) { return String(e.message); }
    }""", [demo_key["private"], json.dumps(twin)])
    assert refused and "canonical" in refused


def test_viewer_reports_tampered_envelopes_and_never_shows_them(browser, site_url, collector, demo_key):
    """A flipped ciphertext byte and a batch moved to another session are counted as unreadable, not shown."""
    t0 = int(time.time() * 1000) - 60_000
    sid_a, sid_b = "s_a" + secrets.token_urlsafe(8), "s_b" + secrets.token_urlsafe(8)
    kept_a, kept_b, moved, flipped = (f"marker{w}{secrets.token_hex(3)}" for w in ("keepa", "keepb", "moved", "flip"))
    pub = demo_key["public"]
    good_a = seal({"events": events(kept_a, t0)}, pub, sid=sid_a, pid="p_aaaaaaaa", seq=0, ts=t0)
    good_b = seal({"events": events(kept_b, t0 + 10)}, pub, sid=sid_b, pid="p_bbbbbbbb", seq=0, ts=t0 + 10)
    # An attacker with collector access re-labels a genuine batch of A as B's (new id, B's sid).
    genuine = seal({"events": events(moved, t0 + 20)[2:]}, pub, sid=sid_a, pid="p_aaaaaaaa", seq=1, ts=t0 + 20)
    relabelled = dict(genuine, sid=sid_b, pid="p_bbbbbbbb", id=secrets.token_urlsafe(16))
    # And flips one byte in the middle of another batch's ciphertext.
    other = seal({"events": events(flipped, t0 + 30)[2:]}, pub, sid=sid_b, pid="p_bbbbbbbb", seq=1, ts=t0 + 30)
    raw = bytearray(keys.b64u_decode(other["ct"]))
    raw[len(raw) // 2] ^= 0x01
    flipped_env = dict(other, ct=keys.b64u_encode(bytes(raw)))
    for env in (good_a, good_b, relabelled, flipped_env):
        assert ingest(collector.url, env) == 201  # the collector cannot tell: it holds ciphertext only
    private = {demo_key["kid"]: keys.b64u_decode(demo_key["private"])}
    for env in (relabelled, flipped_env):
        with pytest.raises(Exception, match="tampered"):
            open_envelope(env, private)

    viewer = browser.new_page()
    viewer.set_default_timeout(60_000)
    viewer.goto(f"{site_url}/viewer/#key={demo_key['private']}&token={collector.token}")
    expect(viewer.locator("html")).to_have_attribute("data-ready", "1")
    status = viewer.locator("#status")
    expect(status).to_contain_text("could not be opened")
    assert "error" in status.get_attribute("class")
    unreadable = int(status.text_content().split(" envelope(s) could not be opened")[0].split()[-1])
    assert unreadable >= 2
    search = viewer.locator("#f-search")
    rows = viewer.locator("#sessions tbody tr[data-sid]")
    for marker, expected in ((kept_a, sid_a), (kept_b, sid_b)):
        search.fill(marker.lower())
        expect(rows).to_have_count(1)
        assert rows.first.get_attribute("data-sid") == expected
    for marker in (moved, flipped):
        search.fill(marker.lower())
        expect(rows).to_have_count(0)
    search.fill("")
    viewer.locator(f'tr[data-sid="{sid_b}"]').click()
    facts = viewer.locator("#facts")
    expect(facts).to_contain_text("Unreadable envelopes: 2")
    viewer.close()


def test_key_rotation_recorder_and_viewer(context, browser, site_url, collector, demo_key, tmp_path):
    """A site rotates its key: old and new sessions open with both keys; the new key alone refuses the old."""
    new = keys.generate()
    new_public, new_private = keys.b64u_encode(new.public), keys.b64u_encode(new.private)
    current = {"key": demo_key["public"]}
    context.route(f"{site_url}/rot/*", lambda route: route.fulfill(
        content_type="text/html", body=PAGE.format(key=current["key"])))

    def record(label: str) -> str:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{site_url}/rot/{label}")
        page.wait_for_function("window.Sightline && Sightline.session.recording")
        page.evaluate("(m) => Sightline.track('rotation', { m })", label)
        st = page.evaluate("Sightline.flush()")
        assert st["raw"] == 0 and st["outbox"] == 0, st
        sid = page.evaluate("Sightline.session.sid")
        page.close()
        return sid

    old_sid = record("before")
    current["key"] = new_public  # the site publishes the new public key in its script tag
    new_sid = record("after")
    kid_of = lambda sid: {e["kid"] for e in collector.get(f"/v1/sessions/{sid}")["envelopes"]}
    assert kid_of(old_sid) == {demo_key["kid"]} and kid_of(new_sid) == {new.kid}

    viewer = browser.new_page()
    viewer.set_default_timeout(60_000)
    viewer.goto(f"{site_url}/viewer/#key={new_private}&key={demo_key['private']}&token={collector.token}")
    expect(viewer.locator("html")).to_have_attribute("data-ready", "1")
    expect(viewer.locator("#status")).to_contain_text("decrypted with key(s)")
    for sid in (old_sid, new_sid):
        expect(viewer.locator(f'tr[data-sid="{sid}"]')).to_have_count(1)
    viewer.close()

    only_new = browser.new_page()
    only_new.set_default_timeout(60_000)
    only_new.goto(f"{site_url}/viewer/#key={new_private}&token={collector.token}")
    expect(only_new.locator("html")).to_have_attribute("data-ready", "1")
    expect(only_new.locator("#status")).to_contain_text("could not be opened")
    expect(only_new.locator(f'tr[data-sid="{new_sid}"]')).to_have_count(1)
    expect(only_new.locator(f'tr[data-sid="{old_sid}"]')).to_have_count(0)
    only_new.close()
