"""The viewer's views in real Chromium, on sessions recorded from the demo shop.

The corpus: visits driven through the real recorder, worker and collector at desktop
and mobile widths, plus the recorded sessions in tests/events/corpus sealed with the
demo key and posted to the same collector's /v1/ingest. With SIGHTLINE_SCREENSHOTS=1
the screenshots are written to docs/images/ (the README shows them).
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import Collector
from py_core import envelope

expect.set_options(timeout=60_000)
pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "events" / "corpus").glob("*.json.gz"))[:40]  # enough for every view, kept fast
SHOTS = ROOT / "docs" / "images" if os.environ.get("SIGHTLINE_SCREENSHOTS") else None
WIDTHS = {"desktop": (1280, 800), "mobile": (390, 760)}


def visit(browser, site_url: str, width: int, height: int, *, checkout: bool, rage: bool) -> str:
    """One shop visit in its own browser context; returns the session id once everything is uploaded."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(site_url + "/demo/")
    page.click("#consent-yes")
    page.get_by_role("button", name="Add to cart").first.click()
    page.mouse.move(width * 0.3, 300)
    page.mouse.move(width * 0.6, 420)
    page.mouse.wheel(0, 400)
    page.wait_for_timeout(300)
    if rage:
        for _ in range(4):
            page.locator("h1").click()
    page.get_by_role("button", name="Add to cart").nth(2).click()
    page.click("header >> text=Cart")
    expect(page.locator("#cart-items tr")).to_have_count(2)
    if checkout:
        page.click("text=Go to checkout")
        for name, value in (("name", "Ada Visitor"), ("email", "ada@example.org"),
                            ("card", "4111 1111 1111 1111"), ("phone", "+1 555 0100")):
            page.fill(f"input[name={name}]", value)
        page.wait_for_timeout(2000)  # the visitor hesitates: the session lasts a few seconds on any machine
        page.click("#pay")
        expect(page.locator("#result")).to_contain_text("Payment failed")
    sid = page.evaluate("Sightline.session.sid")
    status = page.evaluate("Sightline.flush()")
    assert status["raw"] == 0 and status["outbox"] == 0, status
    ctx.close()
    return sid


@pytest.fixture(scope="module")
def collector(site_dir, tmp_path_factory):
    """This module's own collector: the list, filters and journey graph are asserted on
    exactly the sessions sealed here, not on what other test modules left behind."""
    c = Collector(tmp_path_factory.mktemp("viewer") / "sightline.db", site_dir,
                  secrets.token_urlsafe(16)).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def site_url(collector) -> str:
    return collector.url


@pytest.fixture(scope="module")
def corpus(browser, site_url, collector, demo_key):
    """Sessions in the collector: two driven visits, then the recorded corpus (sealed here)."""
    driven = {
        "desktop": visit(browser, site_url, *WIDTHS["desktop"], checkout=True, rage=True),
        "mobile": visit(browser, site_url, *WIDTHS["mobile"], checkout=False, rage=False),
    }
    import urllib.request

    for path in CORPUS:
        rec = json.loads(gzip.open(path).read())
        env = envelope.seal({"schema": 1, "events": rec["events"]}, demo_key["public"],
                            sid=rec["sid"], pid="corpus-page-0", seq=0)
        req = urllib.request.Request(site_url + "/v1/ingest", data=json.dumps(env).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status in (200, 201)
    return driven


@pytest.fixture(scope="module")
def viewer(browser, site_url, collector, demo_key, corpus):
    """The viewer, connected, with every session decrypted."""
    ctx = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{site_url}/viewer/#key={demo_key['private']}&token={collector.token}")
    page.bring_to_front()  # a background page gets no animation frames: the replay would not play
    expect(page.locator("#progress")).to_be_hidden()
    expect(page.locator("#list-panel")).to_be_visible()
    yield page
    ctx.close()


def shot(page: Page, name: str, locator=None):
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        (locator or page).screenshot(path=str(SHOTS / f"{name}.png"))


def rows(page: Page) -> int:
    return page.locator("#sessions tbody tr[data-sid]").count()


def test_list_sorts_filters_and_searches(viewer: Page, corpus, collector):
    """Every session is listed; filters, sort and event search narrow and order it."""
    total = len(collector.get("/v1/sessions")["sessions"])
    assert total == 2 + len(CORPUS)
    expect(viewer.locator("#sessions tbody tr[data-sid]")).to_have_count(total)
    expect(viewer.locator("#list-count")).to_have_text(f"{total} of {total}")
    viewer.select_option("#f-device", "mobile")
    mobile = rows(viewer)
    assert 1 <= mobile < total and viewer.locator(f'tr[data-sid="{corpus["mobile"]}"]').count() == 1
    viewer.select_option("#f-device", "")
    viewer.check("#f-errors")
    with_errors = rows(viewer)
    assert viewer.locator(f'tr[data-sid="{corpus["desktop"]}"]').count() == 1
    assert viewer.locator(f'tr[data-sid="{corpus["mobile"]}"]').count() == 0 and with_errors < total
    viewer.uncheck("#f-errors")
    viewer.fill("#f-search", "/demo/api/checkout")
    hits = rows(viewer)
    assert viewer.locator(f'tr[data-sid="{corpus["mobile"]}"]').count() == 0 and hits >= 2
    viewer.fill("#f-search", "")
    viewer.click("th[data-sort=duration]")
    expect(viewer.locator("th[data-sort=duration]")).to_have_attribute("aria-sort", "descending")
    durations = viewer.locator("#sessions tbody tr td:nth-child(2)").all_inner_texts()
    secs = [int(m) * 60 + int(s) for m, s in (d.split(":") for d in durations)]
    assert secs == sorted(secs, reverse=True) and len(secs) == total
    viewer.click("th[data-sort=duration]")
    expect(viewer.locator("th[data-sort=duration]")).to_have_attribute("aria-sort", "ascending")
    viewer.click("th[data-sort=started]")
    shot(viewer, "session-list")


def test_replay_panels_markers_and_shortcuts(viewer: Page, corpus):
    """The replay has markers, synchronised panels and keyboard shortcuts."""
    viewer.locator(f'tr[data-sid="{corpus["desktop"]}"]').click()
    expect(viewer.locator("#summary")).to_contain_text("POST /demo/api/checkout failed (500)")
    expect(viewer.frame_locator("#replay-frame").locator("h1")).to_have_text("Products")
    for kind in ("click", "error", "page", "frustration"):
        assert viewer.locator(f"#player .replay-marker.{kind}").count() >= 1, kind
    expect(viewer.locator('[data-panel="network"] .count')).not_to_have_text("0")
    viewer.click('[data-panel="errors"]')
    error_row = viewer.locator('[data-rows="errors"] li[data-at]').first
    expect(error_row).to_contain_text("/demo/api/checkout")
    error_row.click()
    at = int(error_row.get_attribute("data-at"))
    expect(viewer.locator("#player")).to_have_attribute("data-time", str(at))
    expect(error_row).to_have_class("bad past current")
    expect(viewer.frame_locator("#replay-frame").locator("h1")).to_have_text("Checkout")
    viewer.click('[data-panel="custom"]')
    expect(viewer.locator('[data-rows="custom"] li[data-at]').first).to_contain_text("add_to_cart")
    viewer.locator("#summary").click()  # focus outside the player: the page-wide shortcuts
    viewer.keyboard.press("4")
    expect(viewer.locator("#player [data-role=speed]")).to_have_value("8")
    viewer.keyboard.press("p")
    assert int(viewer.locator("#player").get_attribute("data-time")) < at
    viewer.keyboard.press("1")
    viewer.keyboard.press("i")
    assert viewer.locator("#player [data-role=skip]").is_checked() is False
    viewer.keyboard.press("i")
    viewer.locator("#player [data-role=seek]").evaluate("el => { el.value = 0; el.dispatchEvent(new Event('input')); }")
    viewer.locator("#player [data-role=play]").click()
    expect(viewer.locator("#player [data-role=play]")).to_have_attribute("aria-label", "Pause")
    viewer.wait_for_function("Number(document.querySelector('#player').dataset.time) > 1500", timeout=30_000)
    viewer.locator("#player [data-role=play]").click()
    expect(viewer.locator("#player [data-role=play]")).to_have_attribute("aria-label", "Play")
    shot(viewer, "replay", viewer.locator("#session-panel"))


def test_findings_explain_the_session(viewer: Page, corpus):
    """Each failure is listed with the steps that led to it, a click seeks the replay to it,
    and the anomaly and sentiment scores come with the features behind them."""
    viewer.locator(f'tr[data-sid="{corpus["desktop"]}"]').click()
    failure = viewer.locator("#findings li.failure", has_text="Failed: POST /demo/api/checkout 500")
    expect(failure).to_have_count(1)
    expect(failure).to_contain_text("← ")
    expect(failure).to_contain_text("click")
    assert viewer.locator("#findings li[data-at]", has_text="Rage click").count() >= 1
    failure.click()
    expect(viewer.locator("#player")).to_have_attribute("data-time", failure.get_attribute("data-at"))
    expect(viewer.locator("#why [data-part=label]")).to_contain_text("Verdict: ")
    expect(viewer.locator("#why [data-part=anomaly]")).to_contain_text("Anomaly")
    expect(viewer.locator("#why [data-part=model]")).to_contain_text("Model: mostly")
    assert viewer.locator("#why [data-part=anomaly-reasons]").inner_text().count("typical") >= 1


def test_errors_are_correlated_across_sessions(viewer: Page, corpus):
    """The errors view groups failures by signature with the steps most often taken before
    them; 'Replay one' opens a session at that failure."""
    viewer.click("#tabs [data-view=errors]")
    row = viewer.locator('#error-table tbody tr[data-what="POST /demo/api/checkout 500"]')
    expect(row).to_have_count(1)
    times, sessions = (int(row.locator(f"td:nth-child({k})").inner_text()) for k in (2, 3))
    assert times >= sessions >= 1
    assert row.locator("ol li").count() >= 1
    shot(viewer, "errors", viewer.locator("section[data-view=errors]"))
    row.locator("button[data-open]").click()
    expect(viewer.locator("section[data-view=sessions]")).to_be_visible()
    at = viewer.locator("#findings li.failure", has_text="POST /demo/api/checkout 500").first.get_attribute("data-at")
    expect(viewer.locator("#player")).to_have_attribute("data-time", at)


def test_retrain_anomaly_model_in_the_browser(viewer: Page, corpus, collector):
    """scikit-learn in the viewer's Pyodide fits a model on the loaded sessions; the list is
    re-scored with it, and the downloaded model scores the same in CPython."""
    from py_core.anomaly import IsolationForestScorer, assess
    from py_core.training import features_of

    viewer.click("#tabs [data-view=errors]")
    viewer.click("#retrain")
    total = len(collector.get("/v1/sessions")["sessions"])
    expect(viewer.locator("#model-state")).to_contain_text(f"retrained here on {total} sessions", timeout=180_000)
    with viewer.expect_download() as download:
        viewer.click("#model-download")
    model = json.loads(Path(download.value.path()).read_text())
    scorer = IsolationForestScorer(model)
    viewer.click("#tabs [data-view=sessions]")
    for path in CORPUS[:5]:
        rec = json.loads(gzip.open(path).read())
        expected = assess(features_of(rec["events"]), scorer)["score"]
        cell = viewer.locator(f'tr[data-sid="{rec["sid"]}"] td:nth-child(7)')
        expect(cell).to_have_text(f"{expected:.2f}")


def test_annotations_are_sealed_and_shared(viewer: Page, browser, site_url, collector, demo_key, corpus):
    """A note is sealed in the browser, stored by the collector, and seen by a teammate's viewer."""
    sid = corpus["desktop"]
    viewer.locator(f'tr[data-sid="{sid}"]').click()
    viewer.locator("#player [data-role=seek]").evaluate("el => { el.value = 1000; el.dispatchEvent(new Event('input')); }")
    viewer.fill("#author", "ana")
    viewer.fill("#note-text", "Pay button hidden behind the banner")
    viewer.click("#note-add")
    expect(viewer.locator("#notes li[data-at]")).to_have_count(1)
    expect(viewer.locator("#player .replay-marker.note")).to_have_count(1)
    stored = collector.get(f"/v1/annotations?sid={sid}")["annotations"]
    assert len(stored) == 1 and "Pay button" not in json.dumps(stored) and stored[0]["pid"] == "annotation"
    from py_core import keys

    note = envelope.open_envelope({k: v for k, v in stored[0].items() if k != "received"},
                                  {demo_key["kid"]: keys.b64u_decode(demo_key["private"])})
    assert note["text"] == "Pay button hidden behind the banner" and note["author"] == "ana" and note["at_ms"] == 1000
    mate = browser.new_page()
    mate.set_default_timeout(60_000)
    mate.goto(f"{site_url}/viewer/#key={demo_key['private']}&token={collector.token}")
    expect(mate.locator("#progress")).to_be_hidden()
    mate.locator(f'tr[data-sid="{sid}"]').click()
    expect(mate.locator("#notes li[data-at]")).to_contain_text("ana: Pay button hidden behind the banner")
    mate.locator("#notes li[data-at]").click()
    expect(mate.locator("#player")).to_have_attribute("data-time", "1000")
    mate.close()


def test_heatmap_is_anchored_and_split_by_width(viewer: Page, corpus):
    """Clicks are drawn on their elements of a replayed snapshot; widths split the views."""
    viewer.click("#tabs [data-view=heatmaps]")
    viewer.select_option("#h-page", "/demo/")
    expect(viewer.locator("#heat-info")).to_contain_text("placed inside their element")
    info = viewer.locator("#heat-info").inner_text()
    assert "0 placed" not in info and "0 on unknown" in info
    expect(viewer.locator("#heatmap")).not_to_have_attribute("data-drawn", "0")
    expect(viewer.locator("#heat-top")).to_contain_text("Add to cart")
    assert viewer.frame_locator(".heat-frame").locator("h1").inner_text() == "Products"
    shot(viewer, "heatmap-clicks", viewer.locator("section[data-view=heatmaps]"))
    viewer.select_option("#h-bucket", "mobile")
    expect(viewer.locator("#heat-info")).to_contain_text("widths 390 px")
    viewer.select_option("#h-bucket", "")
    viewer.select_option("#h-mode", "scroll")
    expect(viewer.locator("#status")).to_contain_text("scroll")
    assert int(viewer.locator("#heatmap").get_attribute("data-drawn")) >= 5
    viewer.select_option("#h-mode", "moves")
    expect(viewer.locator("#status")).to_contain_text("moves")
    assert int(viewer.locator("#heatmap").get_attribute("data-drawn")) >= 3


def test_journey_graph(viewer: Page):
    """The d3-force graph has the three shop pages, weighted edges and their drop-offs."""
    viewer.click("#tabs [data-view=journeys]")
    expect(viewer.locator("#journeys svg .journey-node.page")).to_have_count(3)
    assert viewer.locator("#journeys .journey-node.element").count() >= 1
    assert int(viewer.locator("#journeys").get_attribute("data-links")) >= 4
    labels = viewer.locator("#journeys .journey-label").evaluate_all("els => els.map((e) => e.textContent)")
    assert {"/demo/", "/demo/cart.html", "/demo/checkout.html"} <= set(labels)
    expect(viewer.locator("#journey-table tbody tr")).to_have_count(3)
    box = viewer.locator("#journeys svg").bounding_box()
    for n in viewer.locator("#journeys .journey-node.page").all():
        b = n.bounding_box()
        assert box["x"] <= b["x"] and b["x"] + b["width"] <= box["x"] + box["width"] + 1  # laid out inside
    shot(viewer, "journeys", viewer.locator("section[data-view=journeys]"))


def test_scroll_paths_3d(viewer: Page):
    """three.js draws one line per page view; filters reduce them; the view rotates."""
    viewer.click("#tabs [data-view=scroll3d]")
    expect(viewer.locator("#scroll3d canvas")).to_have_count(1)
    everything = int(viewer.locator("#scroll3d").get_attribute("data-lines"))
    assert everything >= 2 + len(CORPUS)
    viewer.select_option("#s-page", "/demo/checkout.html")
    expect(viewer.locator("#scroll3d")).not_to_have_attribute("data-lines", str(everything))
    assert 0 < int(viewer.locator("#scroll3d").get_attribute("data-lines")) < everything
    viewer.select_option("#s-page", "")
    viewer.wait_for_timeout(300)
    shot(viewer, "scroll-3d", viewer.locator("section[data-view=scroll3d]"))
    canvas = viewer.locator("#scroll3d canvas")
    before = canvas.screenshot()
    b = canvas.bounding_box()
    viewer.mouse.move(b["x"] + 300, b["y"] + 250)
    viewer.mouse.down()
    viewer.mouse.move(b["x"] + 420, b["y"] + 230, steps=8)
    viewer.mouse.up()
    viewer.wait_for_timeout(300)
    assert canvas.screenshot() != before  # dragging rotated the camera


def test_bad_token_and_wrong_key_are_reported(browser, site_url, collector, demo_key, corpus):
    """A wrong token is a clear error with the form kept; sessions sealed for another key are counted, not shown."""
    from py_core import keys

    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{site_url}/viewer/#key={demo_key['private']}&token=not-the-token")
    expect(page.locator("#status")).to_contain_text("Could not connect")
    expect(page.locator("#status")).to_have_class("status error")
    expect(page.locator("#connect-panel")).to_be_visible()
    other = keys.b64u_encode(keys.generate().private)
    page.goto(f"{site_url}/viewer/#key={other}&token={collector.token}")  # same page: read on hashchange, no reload
    expect(page.locator("#status")).to_contain_text("could not be opened")
    expect(page.locator("#sessions tbody")).to_contain_text("No sessions match.")
    page.close()
