"""Crash test: SIGKILL a real collector mid-stream of ingests, restart it, lose nothing.

Four client threads stream sealed envelopes over HTTP, retrying with backoff on network
errors, 429 and 5xx (the documented client contract, docs/envelope.md). The test kills
the `sightline serve` process with SIGKILL while requests are in flight, twice, and
restarts it on the same port and store. Then: every envelope acknowledged before a kill
is stored and byte-identical; the retrying clients deliver everything else; nothing is
stored twice. Runs on SQLite and on a real PostgreSQL. PostgreSQL itself is crashed too,
and the real recorder in Chromium (site/) is run across a collector SIGKILL.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from py_core import envelope, keys

ROOT = Path(__file__).resolve().parent.parent
TOKEN = secrets.token_urlsafe(16)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `sightline serve` process that can be killed and restarted on the same port and store."""

    def __init__(self, db: str, log: Path):
        self.db, self.log, self.port = db, log, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "py_core.cli", "serve", "--db", self.db, "--port", str(self.port),
                 "--token", TOKEN, "--no-rate-limit", "--log-level", "warning"],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=1)
                return
            except OSError:
                assert time.monotonic() < deadline, "collector did not come up"
                time.sleep(0.05)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(30) == -signal.SIGKILL

    def session(self, sid: str) -> list[dict]:
        req = urllib.request.Request(f"{self.url}/v1/sessions/{sid}", headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())["envelopes"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise


@pytest.fixture
def servers():
    """Servers a test starts; any still running at the end (a failed test) are killed."""
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(30)


class RetryingClient(threading.Thread):
    """Delivers its envelopes in order, each until acknowledged (201 or 200 duplicate)."""

    def __init__(self, port: int, envs: list[dict], acked: dict, lock: threading.Lock):
        super().__init__(daemon=True)
        self.port, self.envs, self.acked, self.lock = port, envs, acked, lock
        self.failures: list[int | None] = []  # statuses of failed attempts (None: network error)
        self.statuses: list[int] = []
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> int | None:
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request("POST", "/v1/ingest", body=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
            response = self.conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None

    def run(self) -> None:
        for env in self.envs:
            body, delay = json.dumps(env).encode(), 0.02
            while True:
                status = self.post(body)
                if status in (200, 201):
                    self.statuses.append(status)
                    with self.lock:
                        self.acked[env["id"]] = status
                    break
                assert status is None or status == 429 or status >= 500, f"unexpected status {status}"
                self.failures.append(status)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)


def test_sigkill_mid_stream_loses_no_acknowledged_envelope(store_target, tmp_path, servers):
    """After SIGKILLs mid-stream, acknowledged envelopes are intact and retries deliver the rest, once each."""
    pair = keys.generate()
    envs = [envelope.seal({"events": [{"t": 3, "ts": i, "n": "x" * (i % 50)}]}, pair.public,
                          sid=f"sess-crash{i % 7}", pid=f"page-crash{i % 3}", seq=i, ts=1_700_000_000_000 + i)
            for i in range(360)]
    server = Server(store_target, tmp_path / "serve.log")
    servers.append(server)
    server.start()
    acked: dict[str, int] = {}
    lock = threading.Lock()
    clients = [RetryingClient(server.port, envs[i::4], acked, lock) for i in range(4)]
    for c in clients:
        c.start()
    checked = 0
    for round_ in range(2):
        target = (round_ + 1) * len(envs) // 4
        deadline = time.monotonic() + 120
        while len(acked) < target:
            assert time.monotonic() < deadline, f"stalled at {len(acked)} acknowledged"
            time.sleep(0.005)
        server.kill()
        with lock:
            before_kill = dict(acked)  # every ack a client holds was sent before the process died
        server.start()
        stored = {e["id"]: e for sid in {e["sid"] for e in envs} for e in server.session(sid)}
        for env in envs:
            if env["id"] in before_kill:
                got = dict(stored[env["id"]])
                assert got.pop("received") > 0 and got == env, env["id"]
        checked += len(before_kill)
    for c in clients:
        c.join(180)
        assert not c.is_alive(), "a client did not finish delivering"
    assert checked > len(envs) // 4 and any(None in c.failures for c in clients)  # the kills cut requests
    assert len(acked) == len(envs)
    stored = [e for sid in sorted({e["sid"] for e in envs}) for e in server.session(sid)]
    assert len(stored) == len(envs) == len({e["id"] for e in stored})
    by_id = {e["id"]: e for e in envs}
    for got in stored:
        got = dict(got)
        got.pop("received")
        assert got == by_id[got["id"]]
        assert envelope.open_envelope(got, {pair.kid: pair.private})["events"][0]["ts"] == got["seq"]
    server.kill()
    assert "Traceback" not in server.log.read_text()


def test_postgres_crash_mid_stream_is_503_then_retries_deliver(postgres, tmp_path, servers):
    """PostgreSQL crashing (immediate restart) under a stream of ingests: 5xx or resets, never loss or double storage."""
    pair = keys.generate()
    envs = [envelope.seal({"events": [{"t": 3, "ts": i}]}, pair.public, sid=f"sess-pgcr{i % 5}", pid="page-pgcr0",
                          seq=i, ts=1_700_000_000_000 + i) for i in range(240)]
    server = Server(postgres.new_database(), tmp_path / "serve.log")
    servers.append(server)
    server.start()
    acked: dict[str, int] = {}
    lock = threading.Lock()
    clients = [RetryingClient(server.port, envs[i::4], acked, lock) for i in range(4)]
    for c in clients:
        c.start()
    deadline = time.monotonic() + 120
    while len(acked) < len(envs) // 3:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    postgres.restart("immediate")
    with lock:
        before = dict(acked)
    for c in clients:
        c.join(180)
        assert not c.is_alive(), "a client did not finish delivering"
    assert len(acked) == len(envs) and len(before) < len(envs)
    stored = [e for sid in sorted({e["sid"] for e in envs}) for e in server.session(sid)]
    by_id = {e["id"]: e for e in envs}
    assert len(stored) == len(envs) == len({e["id"] for e in stored})
    for got in stored:
        got = dict(got)
        got.pop("received")
        assert got == by_id[got["id"]]
    server.kill()
    assert any(503 in c.failures for c in clients)  # the crash was seen, and answered as retryable


@pytest.mark.browser
def test_real_recorder_retries_deliver_across_collector_sigkill(page, site_dir, tmp_path, demo_key):
    """The real recorder (Chromium, site/) keeps recording while its collector is SIGKILLed; after the
    restart its own retries deliver every batch, once, and what was acknowledged before is intact."""
    from conftest import Collector

    collector = Collector(tmp_path / "rec.db", site_dir, TOKEN).start()
    try:
        page.set_default_timeout(60_000)
        page.goto(collector.url + "/demo/")
        page.click("#consent-yes")
        for i in range(6):
            page.mouse.move(100 + 40 * i, 200 + 10 * i)
            page.wait_for_timeout(150)
        assert page.evaluate("Sightline.flush()")["outbox"] == 0
        sid = page.evaluate("Sightline.session.sid")
        before = {e["id"]: e for e in collector.get(f"/v1/sessions/{sid}")["envelopes"]}
        assert before
        page.mouse.move(50, 60)
        os.kill(collector.proc.pid, signal.SIGKILL)
        collector.proc.wait(30)
        page.get_by_role("button", name="Add to cart").first.click()
        for i in range(8):  # batches recorded while the collector is down
            page.mouse.move(300 + 20 * i, 100 + 30 * i)
            page.wait_for_timeout(200)
        down = page.evaluate("Sightline.flush()")
        assert down["outbox"] + down["raw"] > 0, down
        collector.start()  # same port, same store
        deadline = time.monotonic() + 90
        while (status := page.evaluate("Sightline.flush()"))["outbox"] + status["raw"] > 0:
            assert time.monotonic() < deadline, status
            page.wait_for_timeout(500)
        after = collector.get(f"/v1/sessions/{sid}")["envelopes"]
    finally:
        collector.stop()
    by_id = {e["id"]: e for e in after}
    assert len(by_id) == len(after) > len(before)
    for env_id, env in before.items():
        assert by_id[env_id] == env  # acknowledged before the kill: there, byte for byte
    pages: dict[str, list[int]] = {}
    for env in after:
        pages.setdefault(env["pid"], []).append(env["seq"])
    assert all(sorted(seqs) == list(range(len(seqs))) for seqs in pages.values()), pages  # no gap, no repeat
    private = {demo_key["kid"]: keys.b64u_decode(demo_key["private"])}
    events = [ev for env in after for ev in envelope.open_envelope(
        {k: v for k, v in env.items() if k != "received"}, private)["events"]]
    assert any(ev.get("t") == 3 for ev in events)  # the click made while the collector was down
