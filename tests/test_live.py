"""Live sessions and sealed annotations through a real collector process."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import httpx
import pytest

from py_core import envelope, keys
from team_helpers import Receiver, start_collector


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    receiver = Receiver()
    c = start_collector(tmp_path_factory.mktemp("live"), None, receiver.url)
    pair = keys.generate()
    yield c, pair
    c.stop()
    receiver.close()


def call(c, method, path, body=None, token=True):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {c.token}"
    req = urllib.request.Request(c.url + path, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def batch(pair, sid, seq):
    return envelope.seal({"schema": 1, "events": [{"t": 11, "ts": 1_700_000_000_000 + seq, "n": f"step{seq}", "p": {}}]},
                         pair.public, sid=sid, pid="page-live-01", seq=seq)


def test_annotations_are_stored_sealed_and_listed(team):
    """A sealed note is stored once, listed per session, and opens only with the team's key."""
    c, pair = team
    note = envelope.seal({"schema": 1, "kind": "annotation", "at_ms": 1200, "text": "Checkout button hidden", "author": "ana"},
                         pair.public, sid="sess-notes-1", pid="annotation", seq=0)
    assert call(c, "POST", "/v1/annotations", note)[0] == 201
    assert call(c, "POST", "/v1/annotations", note)[1]["duplicate"] is True
    status, body = call(c, "GET", "/v1/annotations?sid=sess-notes-1")
    [stored] = body["annotations"]
    assert status == 200 and "Checkout" not in json.dumps(stored)
    opened = envelope.open_envelope({k: v for k, v in stored.items() if k != "received"}, {pair.kid: pair.private})
    assert opened["text"] == "Checkout button hidden" and opened["at_ms"] == 1200
    assert call(c, "GET", "/v1/annotations?sid=other-session")[1]["annotations"] == []


def test_annotations_refuse_bad_input(team):
    """No token, a batch envelope, a broken envelope or a bad sid are 4xx and store nothing."""
    c, pair = team
    note = envelope.seal({"text": "x"}, pair.public, sid="sess-notes-2", pid="annotation", seq=0)
    assert call(c, "POST", "/v1/annotations", note, token=False)[0] == 401
    assert call(c, "POST", "/v1/annotations", batch(pair, "sess-notes-2", 0))[1]["error"] == "bad_field:pid"
    assert call(c, "POST", "/v1/annotations", {**note, "ct": "!"})[0] == 400
    assert call(c, "GET", "/v1/annotations?sid=a%20b")[0] == 400
    assert call(c, "GET", "/v1/annotations?sid=sess-notes-2")[1]["annotations"] == []


def test_live_stream_delivers_batches_as_they_arrive(team):
    """The SSE stream sends stored batches, then each new one within a couple of seconds."""
    c, pair = team
    sid = "sess-live-01"
    assert call(c, "POST", "/v1/ingest", batch(pair, sid, 0), token=False)[0] == 201
    got, stamps = [], []

    def listen():
        with httpx.stream("GET", f"{c.url}/v1/live/{sid}?max=15", headers={"Authorization": f"Bearer {c.token}"},
                          timeout=20) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "envelope":
                    got.append(json.loads(line[6:]))
                    stamps.append(time.time())
                    if len(got) == 3:
                        return

    t = threading.Thread(target=listen)
    t.start()
    time.sleep(1.0)
    sent = []
    for seq in (1, 2):
        sent.append(time.time())
        assert call(c, "POST", "/v1/ingest", batch(pair, sid, seq), token=False)[0] == 201
        time.sleep(0.5)
    t.join(20)
    assert [e["seq"] for e in got] == [0, 1, 2]
    assert max(stamps[1] - sent[0], stamps[2] - sent[1]) < 3.0
    opened = envelope.open_envelope({k: v for k, v in got[2].items() if k != "received"}, {pair.kid: pair.private})
    assert opened["events"][0]["n"] == "step2"
    status, body = call(c, "GET", "/v1/live")
    assert status == 200 and sid in {s["sid"] for s in body["sessions"]}  # sealed just now


def test_live_needs_the_token(team):
    """The live list and stream are reads: no token, no data."""
    c, _ = team
    assert call(c, "GET", "/v1/live", token=False)[0] == 401
    assert call(c, "GET", "/v1/live/sess-live-01", token=False)[0] == 401
