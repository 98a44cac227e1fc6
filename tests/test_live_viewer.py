"""Live sessions in Chromium: the viewer follows a visit while it happens, a few seconds behind."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

expect.set_options(timeout=60_000)
pytestmark = pytest.mark.browser


def test_viewer_follows_a_visit_live(browser, site_url, collector, demo_key):
    """The viewer watches a session and shows the visitor's next page soon after its batch is stored."""
    visitor = browser.new_context(viewport={"width": 1100, "height": 800}).new_page()
    visitor.set_default_timeout(60_000)
    visitor.goto(site_url + "/demo/")
    visitor.click("#consent-yes")
    visitor.get_by_role("button", name="Add to cart").first.click()
    sid = visitor.evaluate("Sightline.session.sid")
    assert visitor.evaluate("Sightline.flush()")["outbox"] == 0

    viewer = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
    viewer.set_default_timeout(60_000)
    viewer.goto(f"{site_url}/viewer/#key={demo_key['private']}&token={collector.token}")
    viewer.bring_to_front()
    expect(viewer.locator("#progress")).to_be_hidden()
    viewer.click("#tabs [data-view=live]")
    viewer.locator(f'button[data-live="{sid}"]').click()
    frame = viewer.frame_locator("#live-player iframe")
    expect(frame.locator("h1")).to_have_text("Products")
    expect(viewer.locator("#live-state")).to_contain_text("Live:")

    visitor.click("header >> text=Cart")
    expect(visitor.locator("#cart-items tr")).to_have_count(1)
    assert visitor.evaluate("Sightline.flush()")["outbox"] == 0
    stored = time.time()
    expect(frame.locator("h1")).to_have_text("Your cart", timeout=15_000)
    assert time.time() - stored < 5.0  # the stream polls every 0.5 s; decrypting and rebuilding is the rest
    expect(frame.locator("#cart-items tr")).to_have_count(1)
    viewer.context.close()
    visitor.context.close()
