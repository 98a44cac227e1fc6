"""Alerts: decided on the device, checked and relayed by a real collector to a local webhook receiver."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from py_core import alerts
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


def test_metrics_read_what_insights_has():
    """Counts come from lists; frustration/anomaly scores are read when present, numbers or {score}."""
    assert alerts.metrics({"errors": [1, 2], "failed_requests": [], "rage_clicks": [1]}) == {
        "errors": 2.0, "failed_requests": 0.0, "rage_clicks": 1.0}
    assert alerts.metrics({"frustration": {"score": 0.7}, "anomaly": 0.9}) == {"frustration": 0.7, "anomaly": 0.9}
    assert alerts.metrics({"anomaly_score": 0.5, "frustration": "high"}) == {"anomaly": 0.5}


def test_decide_fires_once_and_carries_only_allowed_fields():
    """A crossed rule yields one alert with allowed context only; fired rules stay quiet."""
    got = alerts.decide({"errors": 3, "anomaly": 0.5}, POLICY.public(), context={"page": "/demo/", "sid": "secret-sid-1"})
    assert got == [{"rule": "errors", "metric": "errors", "value": 3.0, "threshold": 2.0, "page": "/demo/"}]
    assert alerts.decide({"errors": 3}, POLICY, fired=["errors"]) == []
    assert alerts.decide({"errors": 1}, POLICY) == []


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
    assert post(c.url + "/v1/alerts", alert) == (202, {"ok": True, "duplicate": False, "delivered": [204, 204]})
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


def test_device_check_accumulates_over_batches():
    """Counts add up across batches, scores keep their maximum, each rule fires once."""
    policy = json.dumps({"rules": [{"name": "errors", "metric": "errors", "at_least": 2},
                                   {"name": "odd", "metric": "anomaly", "at_least": 0.8}], "fields": ["sid", "page"]})
    first = {"sid": "sess-device-1", "events": [{"t": 0, "ts": 1, "u": "https://s.test/shop/index.html?q=1", "w": 400}],
             "insights": {"errors": [{}], "anomaly": 0.9}}
    out = json.loads(alerts.device_check("{}", json.dumps(first), policy))
    assert out["alerts"] == [{"rule": "odd", "metric": "anomaly", "value": 0.9, "threshold": 0.8,
                              "sid": "sess-device-1", "page": "/shop/"}]
    second = {"sid": "sess-device-1", "events": [], "insights": {"errors": [{}], "anomaly": 0.1}}
    out = json.loads(alerts.device_check(json.dumps(out["state"]), json.dumps(second), policy))
    assert [a["rule"] for a in out["alerts"]] == ["errors"] and out["alerts"][0]["value"] == 2.0
    assert out["state"]["totals"]["anomaly"] == 0.9 and out["state"]["fired"] == ["odd", "errors"]
    assert json.loads(alerts.device_check(json.dumps(out["state"]), json.dumps(second), policy))["alerts"] == []
