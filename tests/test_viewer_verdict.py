"""The viewer's "why" panel shows each session's verdict (py_core.insights, ADR 0507), in
real Chromium against a built site: the label, whether a rule overrode the model's label
(and which rule), the reasons (never a feature without data), the anomaly flag or "too
short to score", and the model's own label. The panel's content is checked against
`analyze()` in CPython for the same events (same code in Pyodide, same verdict).

Sessions in this module's own collector: a real visit to the demo shop that rage-clicks
the failing Pay button (recorder, worker, upload); and, sealed here, the rage-clicked
failing Pay button without any mouse movement, a calm session of the recorded corpus, and
a two-event visit.
"""

from __future__ import annotations

import gzip
import json
import secrets
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import Collector
from py_core import envelope
from py_core.features import MOUSE_FEATURES
from py_core.insights import analyze

expect.set_options(timeout=60_000)
pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
T0 = int(time.time() * 1000) - 3_600_000


def shop_page(ts: int) -> list[dict]:
    pay = {"i": 10, "t": 1, "n": "button", "a": {"id": "pay"}, "c": [{"i": 11, "t": 3, "x": "Pay"}]}
    body = {"i": 3, "t": 1, "n": "body", "a": {}, "c": [pay]}
    tree = {"i": 1, "t": 9, "c": [{"i": 2, "t": 1, "n": "html", "a": {}, "c": [body]}]}
    return [{"t": 0, "ts": ts, "u": "https://shop.example/checkout", "r": "", "ti": "Checkout", "w": 1024, "h": 768},
            {"t": 1, "ts": ts + 5, "n": tree, "sx": 0, "sy": 0}]


def failing_pay(t0: int, clicks: int = 11) -> list[dict]:
    """Pay clicked 11 times in under 3 s, every POST failing; no mouse movement at all."""
    return (shop_page(t0) + [{"t": 3, "ts": t0 + 2000 + k * 250, "i": 10, "x": 100, "y": 100} for k in range(clicks)]
            + [{"t": 10, "ts": t0 + 2100 + k * 250, "k": "fetch", "m": "POST", "u": "https://shop.example/api/pay",
                "s": 500, "d": 50} for k in range(clicks)])


def ingest(url: str, sid: str, events: list[dict], pub: str) -> None:
    env = envelope.seal({"schema": 1, "events": events}, pub, sid=sid, pid="p_" + sid, seq=0, ts=events[0]["ts"])
    req = urllib.request.Request(url + "/v1/ingest", data=json.dumps(env).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status in (200, 201)


def rage_on_pay(browser, url: str) -> str:
    """A real visit: add to cart, fill the checkout form, rage-click Pay (the demo's payment fails)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(url + "/demo/")
    page.click("#consent-yes")
    page.get_by_role("button", name="Add to cart").first.click()
    page.click("header >> text=Cart")
    page.click("text=Go to checkout")
    for name, value in (("name", "Ada Visitor"), ("email", "ada@example.org"),
                        ("card", "4111 1111 1111 1111"), ("phone", "+1 555 0100")):
        page.fill(f"input[name={name}]", value)
    page.wait_for_timeout(1500)
    page.click("#pay")
    expect(page.locator("#result")).to_contain_text("Payment failed")
    for _ in range(6):
        page.click("#pay", delay=20)
        page.wait_for_timeout(60)
    expect(page.locator("#result")).to_contain_text("Payment failed")
    page.wait_for_timeout(1200)
    sid = page.evaluate("Sightline.session.sid")
    status = page.evaluate("Sightline.flush()")
    assert status["raw"] == 0 and status["outbox"] == 0, status
    ctx.close()
    return sid


@pytest.fixture(scope="module")
def sessions(site_dir, tmp_path_factory, demo_key, browser):
    c = Collector(tmp_path_factory.mktemp("verdict") / "sightline.db", site_dir, secrets.token_urlsafe(16)).start()
    pub = demo_key["public"]
    calm = json.loads(gzip.decompress((ROOT / "tests" / "events" / "corpus" / "calm-00.json.gz").read_bytes()))
    c.events = {"s_failpay" + secrets.token_hex(4): failing_pay(T0),
                calm["sid"]: calm["events"],
                "s_short" + secrets.token_hex(4): shop_page(T0 + 600_000)}
    c.pay, c.calm, c.short = list(c.events)
    for name in [f"{p}-{k:02d}" for p in ("calm", "skimming", "confused") for k in (1, 2)]:  # enough to retrain on
        rec = json.loads(gzip.decompress((ROOT / "tests" / "events" / "corpus" / f"{name}.json.gz").read_bytes()))
        c.events[rec["sid"]] = rec["events"]
    for sid, events in c.events.items():
        ingest(c.url, sid, events, pub)
    c.visit = rage_on_pay(browser, c.url)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def viewer(browser, sessions, demo_key):
    ctx = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{sessions.url}/viewer/#key={demo_key['private']}&token={sessions.token}")
    page.bring_to_front()
    expect(page.locator("#progress")).to_be_hidden(timeout=120_000)
    expect(page.locator("#sessions tbody tr[data-sid]")).to_have_count(len(sessions.events) + 1)
    yield page
    ctx.close()


def why(page: Page, sid: str) -> dict:
    page.locator(f'#sessions tr[data-sid="{sid}"]').click()
    expect(page.locator("#session-title")).to_have_text(f"Session {sid}")
    panel = page.locator("#why")
    expect(panel.locator("[data-part=label]")).to_be_visible()
    return {part: panel.locator(f"[data-part={part}]").inner_text()
            for part in ("label", "source", "rule", "reasons", "anomaly", "anomaly-reasons", "model")
            if panel.locator(f"[data-part={part}]").count()}


def test_rule_override_is_shown_with_its_rule_and_no_mouse_reasons(viewer: Page, sessions):
    """The failing Pay button rage-clicked without a mouse: 'frustrated', a rule overrode the model (its label
    named), the rule and its 0.80 shown, and no mouse feature among the reasons; as analyze() says in CPython."""
    r = analyze(sessions.events[sessions.pay])
    v = r["verdict"]
    assert v["label"] == "frustrated" and v["rule"] and v["model_label"] != "frustrated"  # the case worth showing
    got = why(viewer, sessions.pay)
    assert got["label"].startswith("Verdict: frustrated")
    assert f"a rule overrode the model (model: {v['model_label']})" in got["source"]
    assert got["rule"] == f"{v['rule']}; frustration {r['frustration']['rule_score']:.2f}"
    for f in v["reasons"]:
        assert f["feature"].replace("_", " ") in got["reasons"]
    shown = got["reasons"] + " " + got.get("anomaly-reasons", "")
    for name in MOUSE_FEATURES:
        assert name.replace("_", " ") not in shown, shown
    assert got["model"] == f"Model: mostly {r['sentiment']['label']}"


def test_model_label_and_anomaly_flag_for_a_calm_session(viewer: Page, sessions):
    """A calm recorded session: the model's label (no rule), its reasons, 'not flagged' with typical values."""
    r = analyze(sessions.events[sessions.calm])
    v = r["verdict"]
    got = why(viewer, sessions.calm)
    assert got["label"] == f"Verdict: {v['label']} (the model's label)" and got["rule"] == ""
    assert got["reasons"] == ", ".join(
        f"{f['feature'].replace('_', ' ')} {f['value']:.0f}" if abs(f["value"]) >= 100 or float(f["value"]).is_integer()
        else f"{f['feature'].replace('_', ' ')} {f['value']:.2f}" for f in v["reasons"])
    assert got["anomaly"] == f"Anomaly {r['anomaly']['score']:.2f}: {'flagged' if v['anomalous'] else 'not flagged'}"
    assert got["anomaly-reasons"].count("typical") == len(v["anomaly_reasons"]) >= 1


def test_too_short_session_says_so(viewer: Page, sessions):
    """A two-event visit is 'too short to score', never flagged, whatever its anomaly score."""
    assert analyze(sessions.events[sessions.short])["verdict"]["too_short"]
    got = why(viewer, sessions.short)
    assert "too short to score" in got["anomaly"] and "flagged" not in got["anomaly"].replace("never flagged", "")


def test_recorded_rage_on_the_failing_pay_button(viewer: Page, sessions):
    """A real visit through the recorder and worker, rage-clicking the demo's failing Pay: the panel shows the
    verdict 'frustrated' and which signal decided it (rule or model)."""
    got = why(viewer, sessions.visit)
    assert got["label"].startswith("Verdict: frustrated"), got
    if "rule overrode" in got["source"]:
        assert "failing action" in got["rule"]


def test_failures_are_not_called_errors(viewer: Page, sessions):
    """Eleven failed requests and no JS error: the list's column is 'Failures' (11), the facts say 'JS errors: 0'
    beside 'Failed requests: 11', and the summary counts the requests, not errors."""
    r = analyze(sessions.events[sessions.pay])
    assert len(r["failed_requests"]) == 11 and not r["errors"]
    expect(viewer.locator("#sessions thead th[data-sort=errors]")).to_have_text("Failures")
    row = viewer.locator(f'#sessions tr[data-sid="{sessions.pay}"]')
    column = viewer.locator("#sessions thead th").all_inner_texts().index("Failures")
    expect(row.locator("td").nth(column)).to_have_text("11")
    row.click()
    facts = viewer.locator("#facts .fact")
    expect(facts.filter(has_text="JS errors")).to_have_text("JS errors: 0")
    expect(facts.filter(has_text="Failed requests")).to_have_text("Failed requests: 11")
    expect(viewer.locator("#summary")).to_have_text(r["summary"])
    assert "JS error" not in r["summary"] and "POST /api/pay failed (500) 11 times" in r["summary"]


def test_after_an_in_page_retrain_the_panel_reads_the_retrained_model(viewer: Page, sessions):
    """After 'Retrain on these sessions' the anomaly line is the retrained model's score and flag, its reasons still
    without mouse features for the mouse-less session, and a too-short session is still never flagged."""
    viewer.click("#tabs [data-view=errors]")
    viewer.click("#retrain")
    expect(viewer.locator("#model-state")).to_contain_text("retrained here on 10 sessions", timeout=180_000)
    viewer.click("#tabs [data-view=sessions]")
    got = why(viewer, sessions.pay)
    assert got["anomaly"].startswith("Anomaly ") and got["label"].startswith("Verdict: frustrated")
    row = viewer.locator(f'#sessions tr[data-sid="{sessions.pay}"]')
    column = viewer.locator("#sessions thead th").all_inner_texts().index("Anomaly")
    assert got["anomaly"].startswith(f"Anomaly {row.locator('td').nth(column).inner_text()}:")  # the list's new score
    for name in MOUSE_FEATURES:
        assert name.replace("_", " ") not in got["anomaly-reasons"], got
    assert "too short to score" in why(viewer, sessions.short)["anomaly"]
