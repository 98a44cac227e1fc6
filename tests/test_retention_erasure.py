"""Retention, erasure, the `since` cursor and the bounded ingest queue, against real
`sightline serve` processes on both stores (SQLite and a real PostgreSQL server)."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, free_port, poll
from py_core import envelope, keys
from py_core.collector.store import open_store

TOKEN = secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def pair():
    return keys.generate()


class Serve:
    """One `sightline serve` process on ``db`` with extra options."""

    def __init__(self, db: str, log: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "py_core.cli", "serve", "--db", db, "--port", str(self.port),
                 f"--token={TOKEN}", "--no-rate-limit", *extra],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=1)
                return
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    def call(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> tuple[int, dict, dict]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {TOKEN}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read()), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read()), dict(exc.headers)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def serve(store_target, tmp_path):
    started: list[Serve] = []

    def start(*extra: str) -> Serve:
        s = Serve(store_target, tmp_path / f"serve{len(started)}.log", *extra)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def sealed(pair, sid: str, seq: int, text: str = "x", pid: str = "page-0001") -> dict:
    return envelope.seal({"events": [{"t": 5, "ts": seq, "text": text}]}, pair.public, sid=sid, pid=pid, seq=seq)


def test_erase_by_session_is_complete_idempotent_and_refuses_resends(serve, store_target, pair, request, tmp_path):
    """`sightline erase` deletes every envelope of the named sessions and nothing else; the
    erased session's re-sent envelopes get 410 and are not stored; erasing again deletes 0;
    the log carries counts, no session id; on SQLite no byte of the erased ciphertext is
    left in the database directory (file, WAL)."""
    c = serve()
    gone, kept = "gone-sid-0001", "kept-sid-0001"
    envs = {sid: [sealed(pair, sid, seq, f"{sid} canary {seq}") for seq in range(6)] for sid in (gone, kept)}
    for sid in envs:
        for env in envs[sid]:
            assert c.call("POST", "/v1/ingest", env, auth=False)[0] == 201
    run = lambda *a: subprocess.run([sys.executable, "-m", "py_core.cli", "erase", "--url", c.url,
                                     f"--token={TOKEN}", *a], cwd=ROOT, capture_output=True, text=True)
    assert c.call("POST", "/v1/erase", {"sessions": [gone]}, auth=False)[0] == 401
    done = run("--session", gone, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "sessions": 1, "envelopes": 6}
    assert c.call("GET", f"/v1/sessions/{gone}")[0] == 404
    assert len(c.call("GET", f"/v1/sessions/{kept}")[1]["envelopes"]) == 6
    assert {s["sid"] for s in c.call("GET", "/v1/sessions")[1]["sessions"]} == {kept}
    page = c.call("GET", "/v1/envelopes?since=")[1]["envelopes"]
    assert {e["sid"] for e in page} == {kept}
    # a device still holding a batch of the erased session re-sends it: refused for good
    status, body, _ = c.call("POST", "/v1/ingest", envs[gone][0], auth=False)
    assert (status, body["error"]) == (410, "erased")
    status, body, _ = c.call("POST", "/v1/ingest", sealed(pair, gone, 99), auth=False)
    assert status == 410
    assert c.call("GET", f"/v1/sessions/{gone}")[0] == 404
    again = run("--session", gone)
    assert again.returncode == 0 and "0 envelope(s) deleted" in again.stdout
    log = c.log.read_text()
    assert "erased 1 session(s): 6 envelope(s) deleted" in log
    # the erasure's own lines name no session (the access log above has this test's GETs)
    assert not [line for line in log.splitlines() if "erased" in line and gone in line]
    if not store_target.startswith("postgresql://"):
        c.stop()  # the files as the process leaves them
        needles = [e["ct"][40:120].encode() for e in envs[gone]]
        found = {}
        for path in Path(store_target).parent.iterdir():
            data = path.read_bytes()
            for n in needles:
                found[n] = found.get(n, False) or n in data
        assert not any(found.values()), "erased ciphertext left in " + str(list(Path(store_target).parent.iterdir()))
        kept_needle = envs[kept][0]["ct"][40:120].encode()
        assert any(kept_needle in p.read_bytes() for p in Path(store_target).parent.iterdir())


def test_retention_deletes_expired_envelopes_on_schedule(serve, store_target, pair):
    """--retain-days 1: envelopes received more than a day ago are deleted by the running
    collector (checked every 0.5 s here), newer ones are kept."""
    store = open_store(store_target)
    now = int(time.time() * 1000)
    old = [envelope.validate(sealed(pair, "old-sess-001", seq)) for seq in range(5)]
    for env in old:
        assert store.put(env, now - 2 * 86_400_000) == "stored"
    store.close()
    c = serve("--retain-days", "1", "--retain-check", "0.5")
    fresh = sealed(pair, "new-sess-001", 0)
    assert c.call("POST", "/v1/ingest", fresh, auth=False)[0] == 201
    assert poll(lambda: c.call("GET", "/v1/sessions/old-sess-001")[0] == 404, 20)
    assert [s["sid"] for s in c.call("GET", "/v1/sessions")[1]["sessions"]] == ["new-sess-001"]
    assert "retention: deleted 5 envelope(s) older than 1 days" in c.log.read_text()


def test_retention_zero_keeps_everything(serve, store_target, pair):
    store = open_store(store_target)
    assert store.put(envelope.validate(sealed(pair, "ancient-0001", 0)), 1000) == "stored"
    store.close()
    c = serve("--retain-days", "0", "--retain-check", "0.2")
    time.sleep(1.0)
    assert c.call("GET", "/v1/sessions/ancient-0001")[0] == 200


def test_since_paging_with_concurrent_inserts_never_skips_or_repeats(serve, pair, store_target, request):
    """Two collector processes on one store take envelopes from 8 writer threads while a
    reader pages /v1/envelopes?since= (limit 7): after the writers stop and the reader
    drains, it has seen every acknowledged envelope exactly once. (On PostgreSQL this once
    skipped and repeated envelopes whenever unread transaction ids crossed a power of ten:
    the page was sorted by the id's text; test_store has the deterministic regression.)"""
    a, b = serve(), serve()
    if store_target.startswith("postgresql://"):
        import psycopg

        # The server's transaction counter to 150 below a power of ten (subtransactions
        # that write take one id each), so the 400 inserts cross it in every run.
        with psycopg.connect(store_target, autocommit=True) as conn:
            conn.execute("CREATE TEMP TABLE burn (x int)")
            x = int(conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
            boundary = 10 ** len(str(x + 152))
            conn.execute(f"DO $$ BEGIN FOR i IN 1..{boundary - 152 - x} LOOP BEGIN INSERT INTO burn VALUES (1);"
                         " EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$")
    sealed_envs = [sealed(pair, f"page-sess-{i % 13:03d}", i) for i in range(400)]
    acked: list[str] = []
    lock = threading.Lock()

    def writer(k: int) -> None:
        for i, env in enumerate(sealed_envs[k::8]):
            target = a if (i + k) % 2 else b
            status = target.call("POST", "/v1/ingest", env, auth=False)[0]
            assert status == 201
            with lock:
                acked.append(env["id"])

    seen: list[str] = []
    cursor = ""
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        status, page, _ = a.call("GET", f"/v1/envelopes?since={cursor}&limit=7")
        assert status == 200
        seen += [e["id"] for e in page["envelopes"]]
        cursor = page["next"]
    for t in threads:
        t.join()
    # PostgreSQL lists a transaction's rows once every older transaction has ended (an
    # autovacuum ANALYZE may hold some back briefly): drain until all are there, or 30 s.
    deadline = time.time() + 30
    while True:
        page = b.call("GET", f"/v1/envelopes?since={cursor}&limit=7")[1]
        seen += [e["id"] for e in page["envelopes"]]
        cursor = page["next"]
        if not page["more"] and (len(set(seen)) >= len(acked) or time.time() > deadline):
            break
        if not page["more"]:
            time.sleep(0.2)
    assert len(acked) == 400
    assert len(seen) == len(set(seen)), "an envelope was listed twice"
    assert set(seen) == set(acked), f"{len(set(acked) - set(seen))} acknowledged envelopes never listed"
    assert a.call("GET", "/v1/envelopes?since=bogus")[0] == 400
    assert a.call("GET", f"/v1/envelopes?since={cursor}")[1] == {"envelopes": [], "next": cursor, "more": False}


def test_full_ingest_queue_answers_503_busy_and_loses_nothing(store_target, pair):
    """With max_pending=2 and the store held up, a third concurrent ingest is answered 503
    busy with Retry-After at once and not stored; the two queued ones are acknowledged only
    once committed, and are there."""
    import httpx

    from py_core.collector.app import create_app

    store = open_store(store_target)
    gate = threading.Event()
    entered = threading.Semaphore(0)
    real_put = store.put

    def held_put(env, received):  # the real store, made slow: writes wait for the gate
        entered.release()
        gate.wait(30)
        return real_put(env, received)

    store.put = held_put
    app = create_app(store, token=TOKEN, rate_limit=None, site_rate_limit=None, max_pending=2)
    envs = [sealed(pair, "queue-sess-01", seq) for seq in range(3)]

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = [asyncio.create_task(client.post("/v1/ingest", json=e)) for e in envs[:2]]
            for _ in range(2):
                await asyncio.to_thread(entered.acquire, True, 10)
            assert not any(t.done() for t in first)  # nothing acknowledged before its commit
            third = await client.post("/v1/ingest", json=envs[2])
            gate.set()
            return [await t for t in first], third

    # In a thread of its own: after a browser test, Playwright's sync API keeps an event
    # loop running in this one, and asyncio.run() refuses to start inside it.
    out: list = []
    runner = threading.Thread(target=lambda: out.append(asyncio.run(go())))
    runner.start()
    runner.join(60)
    assert out, "the ingest queue test did not finish"
    answers, third = out[0]
    try:
        assert [r.status_code for r in answers] == [201, 201]
        assert third.status_code == 503 and third.json()["error"] == "busy" and third.headers["retry-after"] == "1"
        assert {e["id"] for e in store.session("queue-sess-01")} == {e["id"] for e in envs[:2]}
    finally:
        store.close()


def test_live_stream_of_an_erased_session_ends(serve, pair):
    """A viewer watching a session live gets `event: erased` and the stream ends when the
    session is erased (the collector keeps nothing of it for the stream)."""
    c = serve()
    sid = "live-erase-01"
    assert c.call("POST", "/v1/ingest", sealed(pair, sid, 0), auth=False)[0] == 201
    req = urllib.request.Request(c.url + f"/v1/live/{sid}?max=20", headers={"Authorization": f"Bearer {TOKEN}"})
    lines: list[str] = []

    def read() -> None:
        with urllib.request.urlopen(req, timeout=30) as r:
            for raw in r:
                lines.append(raw.decode().rstrip("\n"))

    t = threading.Thread(target=read)
    t.start()
    assert poll(lambda: any(x == "event: envelope" for x in lines), 10)
    assert c.call("POST", "/v1/erase", {"sessions": [sid]})[0] == 200
    t.join(15)
    assert not t.is_alive()
    assert "event: erased" in lines and "event: end" not in lines
