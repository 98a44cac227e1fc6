"""The whole data path in real Chromium: demo shop -> worker -> collector -> viewer."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

expect.set_options(timeout=60_000)  # Pyodide boots in a few seconds on a 2-core machine

from py_core import keys
from py_core.envelope import open_envelope

pytestmark = pytest.mark.browser

# Personal data typed into the checkout form: none of it may reach the collector.
NAME, EMAIL, CARD, PHONE = "Zelda Quintero", "zelda.q@example.org", "4242 4242 4242 4242", "+44 20 7946 0018"


def shop_session(page: Page, site_url: str) -> str:
    """Consent, browse three pages, fill the checkout form, hit the failing button."""
    page.goto(site_url + "/demo/")
    page.click("#consent-yes")
    page.get_by_role("button", name="Add to cart").first.click()
    page.get_by_role("button", name="Add to cart").nth(1).click()
    page.mouse.move(200, 300)
    page.mouse.move(400, 350)
    page.click("header >> text=Cart")
    expect(page.locator("#cart-items tr")).to_have_count(2)
    page.click("text=Go to checkout")
    page.fill("input[name=name]", NAME)
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=card]", CARD)
    page.fill("input[name=phone]", PHONE)
    page.click("#pay")
    expect(page.locator("#result")).to_contain_text("Payment failed")
    sid = page.evaluate("Sightline.session.sid")
    status = page.evaluate("Sightline.flush()")
    assert status["raw"] == 0 and status["outbox"] == 0, status
    assert status["bootMs"] and status["bootMs"] > 0
    return sid


def test_demo_session_reaches_viewer(page: Page, browser, site_url, collector, demo_key):
    """A shop visit is masked, sealed, stored as ciphertext, then decrypted and replayed."""
    page.set_default_timeout(60_000)
    sid = shop_session(page, site_url)

    # The collector holds one session of sealed envelopes.
    sessions = {s["sid"]: s for s in collector.get("/v1/sessions")["sessions"]}
    assert sid in sessions
    envelopes = collector.get(f"/v1/sessions/{sid}")["envelopes"]
    assert len({e["pid"] for e in envelopes}) == 3  # three page loads
    raw = json.dumps(envelopes)
    private = {demo_key["kid"]: keys.b64u_decode(demo_key["private"])}
    payloads = [open_envelope({k: v for k, v in e.items() if k != "received"}, private) for e in envelopes]
    plain = json.dumps(payloads)
    for secret in (NAME, EMAIL, CARD, PHONE, CARD.replace(" ", ""), "zelda", "Quintero"):
        assert secret not in raw
        assert secret.lower() not in plain.lower(), f"{secret!r} left the device"
    events = [e for p in payloads for e in p["events"]]
    types = {e["t"] for e in events}
    assert {0, 1, 3, 4, 10} <= types  # meta, snapshot, click, input, network

    # The viewer decrypts, summarises and replays it.
    viewer = browser.new_page()
    viewer.set_default_timeout(60_000)
    viewer.goto(f"{site_url}/viewer/#key={demo_key['private']}&token={collector.token}")
    expect(viewer.locator("html")).to_have_attribute("data-ready", "1")
    assert "key=" not in viewer.url  # secrets leave the address bar
    viewer.locator(f'tr[data-sid="{sid}"]').click()
    summary = viewer.locator("#summary")
    expect(summary).to_contain_text("Visited 3 pages")
    expect(summary).to_contain_text("POST /demo/api/checkout failed (500)")
    frame = viewer.frame_locator("#replay-frame")
    expect(frame.locator("h1")).to_have_text("Products")
    viewer.locator("#player input[type=range]").evaluate(
        "el => { el.value = el.max; el.dispatchEvent(new Event('input')); }")
    expect(frame.locator("h1")).to_have_text("Checkout")
    expect(frame.locator("#result")).to_contain_text("Payment failed")
    value = frame.locator("input[name=email]").input_value()
    assert value and re.fullmatch(r"\*+", value), value
    viewer.close()
