"""py_core.worker_api: what the visitor's worker runs on every batch."""

import json

from py_core.events import SCHEMA_VERSION, EventType as T
from py_core.worker_api import process_batch


def batch(events, **extra):
    return json.dumps({"events": events, "sid": "s" * 16, "pid": "p" * 16, "seq": 3, **extra})


SNAPSHOT = {"t": T.SNAPSHOT, "ts": 1_000, "n": {"i": 1, "t": 9, "c": [
    {"i": 2, "t": 1, "n": "p", "a": {"title": "mail bob@example.com"}, "c": [
        {"i": 3, "t": 3, "x": "Call +44 20 7946 0018 or write to bob@example.com"}]}]}}


def test_snapshot_text_and_attributes_are_masked():
    """Text nodes and attribute values lose their personal data, keeping their length."""
    out = json.loads(process_batch(batch([SNAPSHOT])))
    p = out["events"][0]["n"]["c"][0]
    text = p["c"][0]["x"]
    assert "bob@example.com" not in json.dumps(out) and "7946" not in text
    assert len(text) == len(SNAPSHOT["n"]["c"][0]["c"][0]["x"])
    assert p["a"]["title"].startswith("mail ") and "*" in p["a"]["title"]


def test_mutations_urls_and_errors_are_masked():
    """Added nodes, text changes, URLs and error messages are masked too."""
    events = [
        {"t": T.META, "ts": 1, "u": "https://shop.test/u/ann@example.org?token=abcdef123456", "w": 800, "h": 600},
        {"t": T.MUTATION, "ts": 2, "rm": [], "ad": [[1, None, {"i": 9, "t": 3, "x": "ann@example.org"}]],
         "at": [[2, {"value": "ann@example.org"}]], "tx": [[3, "card 4111 1111 1111 1111"]]},
        {"t": T.ERROR, "ts": 3, "m": "no user ann@example.org", "s": "at f (https://shop.test/a.js:1:2)"},
        {"t": T.NETWORK, "ts": 4, "k": "fetch", "m": "GET", "u": "https://api.test/x?email=ann@example.org", "s": 500, "d": 12},
    ]
    out = process_batch(batch(events))
    assert "ann@example.org" not in out and "4111 1111" not in out and "abcdef123456" not in out
    payload = json.loads(out)
    assert payload["events"][3]["s"] == 500  # a status is not text
    assert payload["events"][0]["u"].startswith("https://shop.test/u/")


def test_payload_carries_batch_identity_and_insights():
    """The sealed payload names its batch and carries that batch's insights."""
    clicks = [{"t": T.CLICK, "ts": 100 + 100 * k, "i": 4, "x": 10, "y": 10} for k in range(4)]
    out = json.loads(process_batch(batch([{"t": T.META, "ts": 0, "u": "https://a.test/"}] + clicks)))
    assert (out["sid"], out["pid"], out["seq"], out["schema"]) == ("s" * 16, "p" * 16, 3, 2) and SCHEMA_VERSION == 2
    assert out["insights"]["clicks"] == 4
    assert out["insights"]["rage_clicks"][0]["count"] == 4
