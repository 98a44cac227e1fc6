"""Insights are computed on the visitor's device: the real worker (Pyodide + numpy) seals them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from py_core import keys
from py_core.envelope import open_envelope

pytestmark = pytest.mark.browser


def test_worker_seals_signals_and_model_scores(page: Page, site_url, collector, demo_key):
    """A rage-click burst on the demo shop is detected in the worker and sealed with scores and reasons."""
    page.set_default_timeout(90_000)
    page.add_init_script("try { localStorage.setItem('sl-consent', '1') } catch (e) {}")
    page.goto(site_url + "/demo/")
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    page.evaluate("Sightline.flush()")  # the burst below starts a batch of its own
    box = page.locator(".card h3").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for k in range(4):
        page.mouse.click(x + k, y)
    sid = page.evaluate("Sightline.session.sid")
    status = page.evaluate("Sightline.flush()")
    assert status["raw"] == 0 and status["outbox"] == 0, status
    private = {demo_key["kid"]: keys.b64u_decode(demo_key["private"])}
    payloads = [open_envelope({k: v for k, v in e.items() if k != "received"}, private)
                for e in collector.get(f"/v1/sessions/{sid}")["envelopes"]]
    sealed = [p["insights"] for p in payloads if p.get("insights")]
    rage = [m for i in sealed for m in i.get("signals", ()) if m["kind"] == "rage_click"]
    # A batch carries no snapshot, so the worker names the node by id; the viewer, with the
    # whole session, names it by tag and text.
    assert len(rage) == 1 and rage[0]["count"] == 4 and isinstance(rage[0]["node"], int)
    burst = next(i for i in sealed if any(m["kind"] == "rage_click" for m in i["signals"]))
    assert 0 < burst["anomaly"]["score"] <= 1 and len(burst["anomaly"]["top_features"]) == 3
    assert abs(sum(burst["sentiment"]["probabilities"].values()) - 1) < 1e-3
    assert "rage click" in burst["summary"]
