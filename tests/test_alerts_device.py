"""Alerts end to end in Chromium: the visitor's worker decides, the collector relays to a local receiver."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from team_helpers import Receiver, start_collector

expect.set_options(timeout=60_000)
pytestmark = pytest.mark.browser

EMAIL, CARD = "rosa.alert@example.org", "4000 0566 5566 5556"


@pytest.fixture(scope="module")
def relay(site_dir, tmp_path_factory):
    receiver = Receiver()
    c = start_collector(tmp_path_factory.mktemp("alerts-device"), site_dir, receiver.url)
    yield c, receiver
    c.stop()
    receiver.close()


def test_failed_checkout_alerts_slack_and_discord(page: Page, relay):
    """A failing checkout crosses the rule on the device; Slack and Discord get sid and page only."""
    c, receiver = relay
    page.set_default_timeout(60_000)
    page.goto(c.url + "/demo/checkout.html")
    page.click("#consent-yes")
    for name, value in (("name", "Rosa Alert"), ("email", EMAIL), ("card", CARD), ("phone", "+1 555 0199")):
        page.fill(f"input[name={name}]", value)
    page.click("#pay")
    expect(page.locator("#result")).to_contain_text("Payment failed")
    sid = page.evaluate("Sightline.session.sid")
    status = page.evaluate("Sightline.flush()")
    assert status["outbox"] == 0, status
    got = receiver.wait_for(2, timeout=30)
    mine = [r for r in got if sid in json.dumps(r["json"])]
    assert {r["path"] for r in mine} == {"/slack", "/discord"}
    slack = next(r["json"] for r in mine if r["path"] == "/slack")
    discord = next(r["json"] for r in mine if r["path"] == "/discord")
    assert "failing-requests" in slack["text"] and "/demo/checkout.html" in json.dumps(slack["blocks"])
    assert discord["embeds"][0]["title"] == "Demo shop alert: failing-requests"
    everything = json.dumps(got).lower()
    for secret in (EMAIL, CARD, "rosa", "4000"):
        assert secret.lower() not in everything
    assert c.get("/v1/sessions/" + sid)["envelopes"]  # the session itself was stored sealed as usual
