"""Alerts: decided on the device, checked and relayed by a real collector to a local webhook receiver."""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import Collector
from py_core import alerts, worker_api
from py_core.events import EventType as T
from py_core.insights import analyze
from py_core.collector import relay as relay_mod
from team_helpers import Receiver, start_collector

POLICY = alerts.Policy.from_json({
    "rules": [{"name": "errors", "metric": "errors", "at_least": 2},
              {"name": "anomalous", "metric": "anomaly", "at_least": 0.8}],
    "fields": ["page"]})


def test_policy_rejects_unknown_metrics_fields_and_hooks():
    """A bad policy fails at load with a message naming the fault."""
    for bad, words in [({"rules": [{"name": "x", "metric": "mood", "at_least": 1}]}, "metric"),
                       ({"rules": [], "fields": ["email"]}, "fields"),
                       ({"rules": [], "webhooks": [{"format": "teams", "url": "https://x"}]}, "webhook"),
                       ({"rules": [{"name": "x", "metric": "errors", "at_least": float("nan")}]}, "finite"),
                       ({"rules": [], "oops": 1}, "unknown")]:
        with pytest.raises(alerts.AlertError, match=words):
            alerts.Policy.from_json(bad)
    assert "webhooks" not in POLICY.public() and POLICY.public()["fields"] == ["page"]


def test_metrics_read_the_verdict_not_the_raw_model_outputs():
    """Counts come from lists; scores only from the verdict: a rule's score when it overrode, no anomaly when too short."""
    assert alerts.metrics({"errors": [1, 2], "failed_requests": [], "rage_clicks": [1]}) == {
        "errors": 2.0, "failed_requests": 0.0, "rage_clicks": 1.0}
    assert alerts.metrics({"frustration": {"score": 0.7}, "anomaly": {"score": 0.9}}) == {}  # no verdict, no scores
    verdict = {"label": "frustrated", "rule": "rage_click on a failing action", "too_short": False, "anomalous": True}
    assert alerts.metrics({"verdict": verdict, "frustration": {"score": 0.04, "rule_score": 0.8},
                           "anomaly": {"score": 0.62, "anomalous": True}}) == {
        "frustrated": 1.0, "anomalous": 1.0, "frustration": 0.8, "anomaly": 0.62}
    short = {"label": "skimming", "rule": "", "too_short": True, "anomalous": False}
    assert alerts.metrics({"verdict": short, "frustration": {"score": 0.01, "rule_score": 0.9},
                           "anomaly": {"score": 0.95, "anomalous": True}}) == {"frustrated": 0.0, "anomalous": 0.0}
    early = {"label": "frustrated", "rule": "", "too_short": True, "anomalous": False}  # a first pass: 3 events
    assert alerts.metrics({"verdict": early, "frustration": {"score": 0.86}}) == {"frustrated": 0.0, "anomalous": 0.0}
    ruled = {**early, "rule": "repeated failing action"}
    assert alerts.metrics({"verdict": ruled, "frustration": {"score": 0.1, "rule_score": 0.8}}) == {
        "frustrated": 1.0, "anomalous": 0.0, "frustration": 0.8}


def test_decide_fires_once_and_carries_only_allowed_fields():
    """A crossed rule yields one alert with allowed context only; fired rules stay quiet."""
    got = alerts.decide({"errors": 3, "anomaly": 0.5}, POLICY.public(), context={"page": "/demo/", "sid": "secret-sid-1"})
    assert got == [{"rule": "errors", "metric": "errors", "value": 3.0, "threshold": 2.0, "page": "/demo/"}]
    assert alerts.decide({"errors": 3}, POLICY, fired=["errors"]) == []
    assert alerts.decide({"errors": 1}, POLICY) == []


# --- the example policy of docs/viewer.md, decided from the verdict ------------------------

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000_000


def docs_policy() -> dict:
    """The example policy exactly as docs/viewer.md shows it (its first JSON block under "## Alerts")."""
    text = (ROOT / "docs" / "viewer.md").read_text(encoding="utf-8")
    block = re.search(r"^## Alerts$.*?^```json\n(.*?)^```$", text, re.S | re.M)
    assert block, "docs/viewer.md has no example policy"
    return alerts.Policy.from_json(json.loads(block.group(1))).public()


def corpus(persona: str) -> list[dict]:
    return [json.loads(gzip.decompress(p.read_bytes())) for p in sorted((ROOT / "tests" / "events" / "corpus").glob(f"{persona}-*.json.gz"))]


def shop_page(ts: int) -> list[dict]:
    buy = {"i": 10, "t": 1, "n": "button", "a": {"id": "pay"}, "c": [{"i": 1010, "t": 3, "x": "Pay"}]}
    tree = {"i": 1, "t": 9, "c": [{"i": 2, "t": 1, "n": "html", "a": {}, "c": [{"i": 3, "t": 1, "n": "body", "a": {}, "c": [buy]}]}]}
    return [{"t": T.META, "ts": ts, "u": "https://shop.test/checkout", "w": 1000, "h": 600}, {"t": T.SNAPSHOT, "ts": ts, "n": tree}]


def failing_pay(clicks: int = 11) -> list[dict]:
    """The issue's visitor: a Pay button rage-clicked while every POST fails (no mouse data; the model says engaged)."""
    return (shop_page(T0) + [{"t": T.CLICK, "ts": T0 + 2000 + k * 250, "x": 100, "y": 100, "i": 10} for k in range(clicks)]
            + [{"t": T.NETWORK, "ts": T0 + 2100 + k * 250, "m": "POST", "u": "https://shop.test/api/pay", "s": 500, "d": 50}
               for k in range(clicks)])


def fired(events: list[dict], policy) -> list[str]:
    return [a["rule"] for a in alerts.decide(alerts.metrics(analyze(events)), policy)]


def test_example_policy_fires_on_no_calm_session_and_on_every_frustrated_one():
    """With the docs' example policy: the corpus's calm visitors and a 2-event visit raise nothing; every
    frustrated visitor and the rage-clicked failing Pay button (model: engaged, P(frustrated) 0.04) raise 'frustrated'."""
    policy = docs_policy()
    assert [r["metric"] for r in policy["rules"]] == ["errors", "frustration"]
    calm = corpus("calm")
    assert len(calm) >= 20
    for s in calm:
        assert fired(s["events"], policy) == [], s["sid"]
    assert fired(shop_page(T0), policy) == []
    frustrated = corpus("frustrated")
    assert len(frustrated) >= 20
    for s in frustrated:
        assert "frustrated" in fired(s["events"], policy), s["sid"]
    r = analyze(failing_pay())
    assert r["sentiment"]["label"] != "frustrated" and r["frustration"]["score"] < 0.6  # the model alone misses it
    assert "frustrated" in fired(failing_pay(), policy)


def test_score_rules_read_the_verdict_score_and_skip_too_short_sessions():
    """A 0.6 frustration rule fires on the failing Pay button (the rule's 0.8, not the model's 0.04); a raw anomaly
    rule does not fire on a 2-event visit, which the anomaly model scores above 0.5 for its lack of data."""
    policy = {"rules": [{"name": "frustration", "metric": "frustration", "at_least": 0.6},
                        {"name": "odd", "metric": "anomaly", "at_least": 0.5}], "fields": []}
    assert fired(failing_pay(), policy) == ["frustration", "odd"]
    short = analyze(shop_page(T0))
    assert short["anomaly"]["score"] >= 0.5 and short["verdict"]["too_short"]
    assert fired(shop_page(T0), policy) == []


def test_the_worker_pass_alerts_from_the_whole_session_verdict():
    """worker_api.process_visit (what the device runs) posts the example policy's 'frustrated' alert for the failing
    Pay button, with the page path, and nothing for a calm corpus session."""
    policy = docs_policy()

    def visit(sid: str, events: list[dict]) -> list[dict]:
        req = {"batches": [{"sid": sid, "pid": "p1", "seq": 0, "events": events}], "history": {}, "policy": policy, "fired": {}}
        return json.loads(worker_api.process_visit(json.dumps(req)))["alerts"]

    [alert] = [a for a in visit("sess-pay-11", failing_pay()) if a["rule"] == "frustrated"]
    assert alert["metric"] == "frustration" and alert["value"] == 0.8 and alert["threshold"] == 0.6
    assert alert.get("page", "/checkout") == "/checkout"
    calm = corpus("calm")[0]
    assert visit(calm["sid"], calm["events"]) == []
    assert relay_mod.validate_alert(alert, alerts.Policy.from_json(policy))["rule"] == "frustrated"  # the collector takes it


def test_collector_check_refuses_what_the_site_does_not_allow():
    """Extra fields, unknown rules and values below the threshold are refused."""
    ok = {"rule": "errors", "metric": "errors", "value": 2, "threshold": 2.0, "page": "/a/b.html"}
    assert alerts.validate_alert(ok, POLICY) == ok
    for bad, words in [({**ok, "sid": "abcdefgh12"}, "not allowed"), ({**ok, "rule": "nope"}, "unknown rule"),
                       ({**ok, "value": 1}, "does not cross"), ({**ok, "page": "/x?email=a@b.c"}, "path"),
                       ({**ok, "metric": "anomaly"}, "watches"), ("[]", "object")]:
        with pytest.raises(alerts.AlertError, match=words):
            alerts.validate_alert(bad, POLICY)


def test_payload_formats():
    """Slack gets text + Block Kit; Discord gets content + an embed with mentions disabled."""
    a = {"rule": "errors", "metric": "errors", "value": 3.0, "threshold": 1.0, "page": "/demo/<x>", "sid": "abcdefgh12"}
    s = alerts.slack_payload(a, "Shop")
    assert s["text"].startswith("Shop: a session crossed") and "&lt;x&gt;" in json.dumps(s["blocks"])
    assert [b["type"] for b in s["blocks"]] == ["header", "section", "context"]
    d = alerts.discord_payload(a, "Shop")
    assert d["allowed_mentions"] == {"parse": []} and d["embeds"][0]["title"] == "Shop alert: errors"
    assert {"name": "Session", "value": "abcdefgh12", "inline": True} in d["embeds"][0]["fields"]


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    receiver = Receiver()
    c = start_collector(tmp_path_factory.mktemp("alerts"), None, receiver.url)
    yield c, receiver
    c.stop()
    receiver.close()


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_collector_relays_to_slack_and_discord_once(relay):
    """A valid alert reaches both webhooks in their formats, once per session and rule."""
    c, receiver = relay
    with urllib.request.urlopen(c.url + "/v1/alerts/policy", timeout=10) as r:
        public = json.loads(r.read())
    assert public["fields"] == ["sid", "page"] and "webhooks" not in public
    [alert] = alerts.decide({"errors": 2.0}, public, context={"sid": "sess-relay-1", "page": "/demo/checkout.html"})
    assert post(c.url + "/v1/alerts", alert) == (202, {"ok": True, "duplicate": False, "delivered": [204, 204],
                                                       "held": False})
    got = receiver.wait_for(2)
    by = {r["path"]: r["json"] for r in got}
    assert "sess-relay-1" in json.dumps(by["/slack"]["blocks"]) and by["/slack"]["text"].startswith("Demo shop")
    assert by["/discord"]["embeds"][0]["title"] == "Demo shop alert: errors"
    assert post(c.url + "/v1/alerts", alert) == (200, {"ok": True, "duplicate": True})
    assert len(receiver.requests) == 2


def test_collector_refuses_disallowed_alerts(relay):
    """An alert with a field the site does not allow is a 400 and reaches nobody."""
    c, receiver = relay
    before = len(receiver.requests)
    status, body = post(c.url + "/v1/alerts", {"rule": "errors", "metric": "errors", "value": 5, "threshold": 1,
                                              "sid": "sess-relay-2", "email": "a@b.c"})
    assert status == 400 and body["error"] == "bad_alert" and "email" in body["detail"]
    assert post(c.url + "/v1/alerts", {"rule": "errors"})[0] == 400
    req = urllib.request.Request(c.url + "/v1/alerts", data=b"[" * 2000, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400 and json.loads(err.value.read())["error"] == "bad_json"
    big = urllib.request.Request(c.url + "/v1/alerts", data=b" " * 5000, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(big, timeout=10)
    assert err.value.code == 400
    assert len(receiver.requests) == before


VERDICT = {"label": "engaged", "rule": "", "too_short": False, "anomalous": True}


def test_device_check_accumulates_over_batches():
    """Counts add up across batches, scores keep their maximum, each rule fires once."""
    policy = json.dumps({"rules": [{"name": "errors", "metric": "errors", "at_least": 2},
                                   {"name": "odd", "metric": "anomaly", "at_least": 0.8}], "fields": ["sid", "page"]})
    first = {"sid": "sess-device-1", "events": [{"t": 0, "ts": 1, "u": "https://s.test/shop/index.html?q=1", "w": 400}],
             "insights": {"errors": [{}], "anomaly": {"score": 0.9}, "verdict": VERDICT}}
    out = json.loads(alerts.device_check("{}", json.dumps(first), policy))
    assert out["alerts"] == [{"rule": "odd", "metric": "anomaly", "value": 0.9, "threshold": 0.8,
                              "sid": "sess-device-1", "page": "/shop/"}]
    second = {"sid": "sess-device-1", "events": [], "insights": {"errors": [{}], "anomaly": {"score": 0.1}, "verdict": VERDICT}}
    out = json.loads(alerts.device_check(json.dumps(out["state"]), json.dumps(second), policy))
    assert [a["rule"] for a in out["alerts"]] == ["errors"] and out["alerts"][0]["value"] == 2.0
    assert out["state"]["totals"]["anomaly"] == 0.9 and out["state"]["fired"] == ["odd", "errors"]
    assert json.loads(alerts.device_check(json.dumps(out["state"]), json.dumps(second), policy))["alerts"] == []


# --- the open alert route: never a 5xx, and webhook posts bounded per rule and per site ------


def _policy_collector(tmp, policy: dict) -> Collector:
    """A real `sightline serve` with ``policy`` as its $SIGHTLINE_ALERTS file."""
    path = tmp / "alerts.json"
    path.write_text(json.dumps(policy))
    old = os.environ.get("SIGHTLINE_ALERTS")
    os.environ["SIGHTLINE_ALERTS"] = str(path)
    try:
        return Collector(tmp / "alerts.db", None, secrets.token_urlsafe(16)).start()
    finally:
        if old is None:
            del os.environ["SIGHTLINE_ALERTS"]
        else:
            os.environ["SIGHTLINE_ALERTS"] = old


def post_raw(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


HUGE = "1" + "0" * 400  # a 401-digit integer: no float can hold it
BAD_ALERTS = [
    '{"rule": "errors", "metric": "\\ud800", "value": 1, "threshold": 1}',  # lone surrogate as metric
    '{"rule": "errors", "metric": "errors", "value": 1, "threshold": 1, "\\udc00": 1}',  # ... as a field name
    '{"rule": "\\udfff", "metric": "errors", "value": 1, "threshold": 1}',
    '{"rule": "errors", "metric": "errors", "value": 1, "threshold": 1, "page": "/\\ud800"}',
    f'{{"rule": "errors", "metric": "errors", "value": {HUGE}, "threshold": 1}}',
    f'{{"rule": "errors", "metric": "errors", "value": 1, "threshold": {HUGE}}}',
    f'{{"rule": "errors", "metric": "errors", "value": -{HUGE}, "threshold": -{HUGE}}}',
    '{"rule": "errors", "metric": "errors", "value": 1e999, "threshold": 1}',
    '{"rule": "errors", "metric": "errors", "value": NaN, "threshold": 1}',
    '{"rule": {"a": [1, {"b": null}]}, "metric": ["errors"], "value": [1], "threshold": {"x": 1}}',
    '{"rule": "errors", "metric": "errors", "value": 1, "threshold": 1, "sid": {"$gt": ""}}',
    '{"rule": "errors", "metric": "errors", "value": 1, "threshold": 1, "bucket": ["mobile"]}',
    '{"rule": "errors", "metric": "errors", "value": 1, "threshold": 1, "bucket": {"mobile": 1}}',
    '{"rule": ["errors"], "metric": "errors", "value": 1, "threshold": 1}',
    '{"rule": "errors", "metric": "errors", "value": true, "threshold": 1}',
    '[[[[[[[[[[]]]]]]]]]]', '"\\ud800"', 'null', '1' + '0' * 1000, '{"\\ud800": "\\udc00"}',
]


@pytest.fixture(scope="module")
def open_route(tmp_path_factory):
    receiver = Receiver()
    c = _policy_collector(tmp_path_factory.mktemp("open-alerts"), {
        "site": "Shop", "fields": ["sid", "page", "bucket"],
        "rules": [{"name": "errors", "metric": "errors", "at_least": 1},
                  {"name": "frustrated", "metric": "frustration", "at_least": 0.6}],
        "webhooks": [{"format": "slack", "url": receiver.url + "/slack"},
                     {"format": "discord", "url": receiver.url + "/discord"}]})
    yield c, receiver
    c.stop()
    receiver.close()


@pytest.mark.parametrize("body", BAD_ALERTS)
def test_alert_route_is_4xx_for_every_bad_input(open_route, body):
    """With a policy loaded, lone surrogates, 401-digit integers and nested junk are a 4xx JSON error, never a 500."""
    c, receiver = open_route
    status, answer = post_raw(c.url + "/v1/alerts", body.encode("utf-8"))
    assert 400 <= status < 500 and answer["error"] in ("bad_alert", "bad_json"), (status, answer)
    answer["detail"].encode("ascii")  # the message quotes no raw client text
    assert receiver.requests == []
    assert "Traceback" not in c.log.read_text()


def test_validate_alert_raises_only_alert_errors():
    """The collector's check never lets an OverflowError or TypeError out, whatever the values."""
    policy = alerts.Policy.from_json({"rules": [{"name": "errors", "metric": "errors", "at_least": 1}],
                                      "fields": ["sid", "page", "bucket"]})
    base = {"rule": "errors", "metric": "errors", "value": 1, "threshold": 1}
    for key, value in [("value", 10 ** 400), ("threshold", 10 ** 400), ("value", -10 ** 400), ("value", float("inf")),
                       ("metric", "\ud800"), ("\udc00", 1), ("rule", ["errors"]), ("bucket", [1]), ("bucket", {}),
                       ("page", {"a": 1}), ("value", None), ("threshold", "1")]:
        with pytest.raises(alerts.AlertError) as err:
            relay_mod.validate_alert({**base, key: value}, policy)
        str(err.value).encode("ascii")
    assert relay_mod.validate_alert({**base, "value": 10 ** 300}, policy)["value"] == 1e300


def test_varying_the_session_id_does_not_multiply_webhook_posts(tmp_path):
    """25 alerts of one rule from 25 made-up session ids: 3 posts per webhook (the default budget), the rest held."""
    receiver = Receiver()
    c = _policy_collector(tmp_path, {"fields": ["sid"], "rules": [{"name": "errors", "metric": "errors", "at_least": 1}],
                                     "webhooks": [{"format": "slack", "url": receiver.url + "/slack"},
                                                  {"format": "discord", "url": receiver.url + "/discord"}]})
    try:
        answers = [post_raw(c.url + "/v1/alerts", json.dumps(
            {"rule": "errors", "metric": "errors", "value": 1, "threshold": 1, "sid": f"sess-spam{i:04d}"}).encode())
            for i in range(25)]
        assert [a[0] for a in answers] == [202] * 25
        assert [a[1].get("held") for a in answers] == [False] * 3 + [True] * 22
        time.sleep(0.5)
        assert len(receiver.requests) == 3 * 2  # Slack and Discord, 3 posts each
        assert relay_mod.DEFAULT_LIMITS["per_rule"] == (3, 600.0)
    finally:
        c.stop()
        receiver.close()


def test_webhook_budget_per_rule_and_per_site_reports_held_alerts(tmp_path):
    """Per rule and per site limits from the policy file; the next post says how many were held."""
    receiver = Receiver()
    c = _policy_collector(tmp_path, {
        "site": "Shop", "fields": ["sid"], "limits": {"per_rule": [2, 3], "per_site": [3, 3]},
        "rules": [{"name": "errors", "metric": "errors", "at_least": 1},
                  {"name": "frustrated", "metric": "frustration", "at_least": 0.6}],
        "webhooks": [{"format": "slack", "url": receiver.url + "/slack"}]})
    try:
        def alert(rule, metric, i):
            return post_raw(c.url + "/v1/alerts", json.dumps({"rule": rule, "metric": metric, "value": 1,
                                                              "threshold": 1 if rule == "errors" else 0.6,
                                                              "sid": f"sess-budget{i:03d}"}).encode())[1]["held"]

        assert [alert("errors", "errors", i) for i in range(6)] == [False, False, True, True, True, True]
        assert [alert("frustrated", "frustration", i) for i in range(2)] == [False, True]  # the site's 3rd, then full
        assert len(receiver.wait_for(3)) == 3
        time.sleep(3.2)
        assert alert("errors", "errors", 99) is False
        last = receiver.wait_for(4)[-1]["json"]
        assert "4 more sessions crossed this rule since the last message" in json.dumps(last)
        assert len(receiver.requests) == 4
    finally:
        c.stop()
        receiver.close()


def test_post_budget_slides():
    """PostBudget: per-rule and per-site windows slide; held counts are returned once, with the next post."""
    now = [0.0]
    budget = relay_mod.PostBudget({"per_rule": (1, 10.0), "per_site": (2, 10.0)}, clock=lambda: now[0])
    assert budget.take("a") == (True, 0)
    assert budget.take("a") == (False, 1) and budget.take("a") == (False, 2)
    assert budget.take("b") == (True, 0) and budget.take("c") == (False, 1)  # the site is full
    now[0] = 10.0
    assert budget.take("a") == (True, 2) and budget.take("a") == (False, 1)


def test_bad_limits_in_a_policy_file_are_refused(tmp_path):
    path = tmp_path / "p.json"
    for limits in ({"per_rule": [0, 5]}, {"per_rule": [1]}, {"per_day": [1, 1]}, {"per_site": [1, -1]}, [1, 2]):
        path.write_text(json.dumps({"rules": [], "limits": limits}))
        with pytest.raises(alerts.AlertError, match="limits"):
            relay_mod.load_policy(str(path))


def test_device_side_alerts_module_carries_no_webhook_code():
    """py_core.alerts (shipped to visitors' workers) imports without urllib.request; the relay names still resolve."""
    import subprocess

    code = ("import sys; import py_core.alerts as a; assert 'urllib.request' not in sys.modules, 'urllib'; "
            "assert 'py_core.collector.relay' not in sys.modules; print(a.validate_alert is __import__("
            "'py_core.collector.relay', fromlist=['x']).validate_alert)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr
