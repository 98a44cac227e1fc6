"""Envelope stores (py_core.collector.store, .postgres): one suite, run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from py_core import envelope, keys
from py_core.collector.store import SQLiteStore, StoreError, open_store


@pytest.fixture(scope="module")
def pair():
    return keys.generate()


@pytest.fixture
def store(store_target):
    s = open_store(store_target)
    yield s
    s.close()


def env_of(pair, sid="sess-0001", pid="page_0001", seq=0, ts=1_700_000_000_000, payload=None):
    return envelope.validate(envelope.seal(payload or {"events": [{"t": 3, "ts": ts}]}, pair.public,
                                           sid=sid, pid=pid, seq=seq, ts=ts))


def test_put_stores_once_then_duplicate_then_conflict(store, pair):
    """put answers stored, then duplicate for the same content, conflict for other content under the id."""
    env = env_of(pair)
    assert store.put(env, 10) == "stored" and store.put(env, 11) == "duplicate"
    other = env_of(pair, seq=1)
    forged = envelope.Envelope(**{**other.to_dict(), "id": env.id})
    assert store.put(forged, 12) == "conflict"
    assert store.count() == 1 and store.session(env.sid) == [{**env.to_dict(), "received": 10}]


def test_sessions_summary_order_and_paging(store, pair):
    """sessions() counts envelopes, bytes and pages; newest last_ts first, ties by sid in byte order."""
    sent = [env_of(pair, "sess-old1", "page_a001", 0, 1000), env_of(pair, "sess-old1", "page_a001", 1, 2000),
            env_of(pair, "sess-old1", "page_b001", 0, 3000), env_of(pair, "sess-new1", "page_c001", 0, 5000),
            env_of(pair, "sess-Tie1", "page_d001", 0, 3000), env_of(pair, "sess-tie1", "page_e001", 0, 3000)]
    for env in sent:
        assert store.put(env, 1) == "stored"
    rows = store.sessions()
    assert [r["sid"] for r in rows] == ["sess-new1", "sess-Tie1", "sess-old1", "sess-tie1"]
    old = rows[2]
    assert old == {"sid": "sess-old1", "first_ts": 1000, "last_ts": 3000, "envelopes": 3,
                   "bytes": sum(e.sealed_size for e in sent[:3]), "pages": 2}
    assert all(type(v) is int for r in rows for k, v in r.items() if k != "sid")
    assert [r["sid"] for r in store.sessions(limit=2, offset=1)] == ["sess-Tie1", "sess-old1"]
    assert store.sessions(limit=5, offset=10) == []


def test_recent_goes_by_the_collector_clock(store, pair):
    """recent() lists sessions with an envelope received since a server time, whatever the
    visitor's clock said (a device an hour behind is still live), most recent first."""
    assert store.put(env_of(pair, "sess-skew1", "page_a001", 0, ts=1_000), 9_000) == "stored"
    assert store.put(env_of(pair, "sess-skew1", "page_a001", 1, ts=2_000), 20_000) == "stored"
    assert store.put(env_of(pair, "sess-done1", "page_b001", 0, ts=10**12), 5_000) == "stored"
    assert store.put(env_of(pair, "sess-next1", "page_c001", 0, ts=500), 15_000) == "stored"
    rows = store.recent(10_000)
    assert [r["sid"] for r in rows] == ["sess-skew1", "sess-next1"]
    assert rows[0] == {"sid": "sess-skew1", "first_ts": 1_000, "last_ts": 2_000, "envelopes": 2,
                       "bytes": rows[0]["bytes"], "pages": 1, "last_received": 20_000}
    assert all(type(v) is int for r in rows for k, v in r.items() if k != "sid")
    assert [r["sid"] for r in store.recent(0, limit=1)] == ["sess-skew1"] and store.recent(20_001) == []


def test_session_orders_by_ts_pid_seq_and_keeps_bytes(store, pair):
    """session() returns each envelope exactly as stored, ordered by (ts, pid, seq, id), plus received."""
    sent = [env_of(pair, pid="page_b001", seq=0, ts=2000), env_of(pair, pid="page_a001", seq=1, ts=2000),
            env_of(pair, pid="page_a001", seq=0, ts=2000), env_of(pair, pid="page_a001", seq=2, ts=1000),
            env_of(pair, pid="page_B001", seq=0, ts=2000)]
    for i, env in enumerate(sent):
        store.put(env, 100 + i)
    got = store.session("sess-0001")
    assert [(e["ts"], e["pid"], e["seq"]) for e in got] == [
        (1000, "page_a001", 2), (2000, "page_B001", 0), (2000, "page_a001", 0), (2000, "page_a001", 1),
        (2000, "page_b001", 0)]
    by_id = {e.id: (i, e) for i, e in enumerate(sent)}
    for row in got:
        i, env = by_id[row["id"]]
        assert row == {**env.to_dict(), "received": 100 + i} and list(row)[:8] == list(envelope.FIELDS)
        assert envelope.open_envelope(envelope.validate({k: v for k, v in row.items() if k != "received"}),
                                      {pair.kid: pair.private})["events"][0]["ts"] == env.ts
    assert store.session("sess-none") == []


def test_extreme_values_round_trip(store, pair):
    """Largest seq and ts and a 4 MiB ct round-trip unchanged."""
    env = env_of(pair, seq=envelope.MAX_SEQ, ts=envelope.MAX_TS)
    big = envelope.Envelope(**{**env_of(pair, seq=1).to_dict(), "ct": "A" * envelope.MAX_CT_CHARS})
    assert store.put(env, 2**53 - 1) == "stored" and store.put(big, 0) == "stored"
    rows = {r["id"]: r for r in store.session(env.sid)}
    assert rows[env.id]["seq"] == envelope.MAX_SEQ and rows[env.id]["ts"] == envelope.MAX_TS
    assert rows[env.id]["received"] == 2**53 - 1 and rows[big.id]["ct"] == big.ct
    assert store.sessions()[0]["bytes"] == env.sealed_size + big.sealed_size


def test_durable_across_close_and_reopen(store_target, pair):
    """What one store instance acknowledged, a new instance on the same target sees."""
    s = open_store(store_target)
    envs = [env_of(pair, seq=i) for i in range(5)]
    assert [s.put(e, 7) for e in envs] == ["stored"] * 5
    s.close()
    s = open_store(store_target)
    try:
        assert s.count() == 5 and [r["id"] for r in s.session("sess-0001")] == [e.id for e in envs]
        assert s.put(envs[0], 8) == "duplicate"
    finally:
        s.close()


def test_concurrent_puts_store_each_once(store, pair):
    """Many threads putting overlapping envelopes store each exactly once."""
    envs = [env_of(pair, seq=i) for i in range(40)]
    results: list[str] = []
    lock = threading.Lock()

    def worker(chunk):
        for env in chunk:
            got = [store.put(env, 1), store.put(env, 2)]
            with lock:
                results.extend(got)

    threads = [threading.Thread(target=worker, args=(envs[i % 8::8] + envs[(i + 1) % 8::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("stored") == 40 and results.count("duplicate") == 120 and store.count() == 40


def test_two_instances_share_one_target(store_target, pair):
    """Two store instances on one target (two collector processes) see each other's writes and de-duplicate."""
    a, b = open_store(store_target), open_store(store_target)
    try:
        env = env_of(pair)
        assert a.put(env, 1) == "stored" and b.put(env, 2) == "duplicate"
        assert b.count() == 1 and a.session(env.sid) == b.session(env.sid)
    finally:
        a.close()
        b.close()


def test_open_store_dispatch_and_errors(tmp_path):
    """open_store takes a SQLite path or postgresql:// URL and fails clearly on anything else."""
    s = open_store(tmp_path / "x.db")
    assert isinstance(s, SQLiteStore)
    s.close()
    with pytest.raises(StoreError, match="unsupported store URL scheme"):
        open_store("mysql://localhost/db")
    with pytest.raises(StoreError, match="cannot open SQLite"):
        open_store(tmp_path / "x.db" / "inside-a-file.db")


def test_unreachable_postgres_is_a_clear_error_without_password():
    """A PostgreSQL URL nobody answers fails fast with StoreError, the password redacted."""
    from py_core.collector.postgres import PostgresStore

    with pytest.raises(StoreError) as info:
        PostgresStore("postgresql://u:hunter2@127.0.0.1:1/db", timeout=2)
    assert "cannot open PostgreSQL store postgresql://u:***@127.0.0.1:1/db" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_sqlite_store_is_wal_with_full_sync(tmp_path, pair):
    """SQLiteStore runs in WAL mode with synchronous=FULL, and its table has the documented columns."""
    path = tmp_path / "s.db"
    s = SQLiteStore(path)
    assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    s.close()
    cols = [row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(envelopes)")]
    assert cols == ["id", "sid", "pid", "seq", "ts", "kid", "ct", "received", "size", "rev"]


def test_postgres_schema_and_durability_settings(postgres):
    """PostgresStore creates its table with C collation and runs with synchronous_commit on."""
    import psycopg

    from py_core.collector.postgres import PostgresStore

    url = postgres.new_database()
    PostgresStore(url).close()
    with psycopg.connect(url) as conn:
        cols = conn.execute("SELECT column_name, collation_name FROM information_schema.columns"
                            " WHERE table_name = 'sightline_envelopes' AND table_schema = current_schema()"
                            " ORDER BY ordinal_position").fetchall()
        assert [c for c, _ in cols] == ["id", "sid", "pid", "seq", "ts", "kid", "ct", "received", "size", "xid"]
        assert dict(cols)["sid"] == "C" and dict(cols)["pid"] == "C"
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert conn.execute("SELECT value FROM sightline_meta WHERE key='schema_version'").fetchone()[0] == "2"


def _files_contain(root, needles: list[bytes]) -> dict[bytes, bool]:
    from pathlib import Path

    found = dict.fromkeys(needles, False)
    for path in Path(root).parent.rglob("*") if Path(root).is_file() else Path(root).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                found[needle] |= needle in data
    return found


def test_storage_holds_no_plaintext(store_target, request, pair):
    """The bytes the store writes (SQLite files, PostgreSQL's data directory) never contain the payload's text."""
    from starlette.testclient import TestClient

    from py_core.collector.app import create_app

    secrets_ = [b"4111 1111 1111 1111", b"jane.doe@example.com", b"PLAINTEXT-CANARY-7f3a"]
    payload = {"events": [{"t": 5, "ts": 1, "text": s.decode()} for s in secrets_]}
    store = open_store(store_target)
    try:
        with TestClient(create_app(store, token="t" * 16, rate_limit=None)) as client:
            for seq in range(20):
                env = envelope.seal(payload, pair.public, sid="sess-plain1", pid="page-plain1", seq=seq)
                assert client.post("/v1/ingest", json=env).status_code == 201
        if store_target.startswith("postgresql://"):
            import psycopg

            postgres = request.getfixturevalue("postgres")
            with psycopg.connect(postgres.url, autocommit=True) as admin:
                admin.execute("CHECKPOINT")
            root = postgres.data
        else:
            root = store_target
        found = _files_contain(root, [*secrets_, b"sess-plain1"])
    finally:
        store.close()
    assert found.pop(b"sess-plain1"), "control: the clear sid must be found, else the scan saw nothing"
    assert not any(found.values()), found


def test_sqlite_group_commit_shares_transactions_and_fails_whole(tmp_path, pair):
    """Concurrent SQLite puts share commits; a failing commit fails every put in it and a retry then stores."""
    s = SQLiteStore(tmp_path / "g.db")
    commits: list[str] = []
    s._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    envs = [env_of(pair, seq=i) for i in range(64)]
    barrier = threading.Barrier(32)
    results: list[str] = []

    def worker(chunk):
        barrier.wait()
        results.extend(s.put(e, 1) for e in chunk)

    threads = [threading.Thread(target=worker, args=(envs[i::32],)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["stored"] * 64 and s.count() == 64 and len(commits) < 64
    s._db.execute("PRAGMA query_only=ON")  # every write now fails inside the transaction
    with pytest.raises(sqlite3.OperationalError):
        s.put(env_of(pair, seq=100), 2)
    s._db.execute("PRAGMA query_only=OFF")
    assert s.put(env_of(pair, seq=100), 3) == "stored" and s.count() == 65
    s.close()


def test_sqlite_and_postgres_answer_alike(postgres, tmp_path, pair):
    """Differential: random sequences of puts (new, repeated, conflicting) and reads give identical answers on both backends."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pool = [env_of(pair, sid=f"sess-{'AaBb'[i % 4]}{i % 3:04d}", pid=f"page-{'xY'[i % 2]}{i % 5:04d}",
                   seq=i % 6, ts=1000 + (i * 37) % 11) for i in range(24)]
    forged = [envelope.Envelope(**{**pool[i + 1].to_dict(), "id": pool[i].id}) for i in range(0, 24, 6)]
    op = st.one_of(st.tuples(st.just("put"), st.sampled_from(pool + forged)),
                   st.tuples(st.just("sessions"), st.tuples(st.integers(1, 5), st.integers(0, 8))),
                   st.tuples(st.just("session"), st.sampled_from(sorted({e.sid for e in pool}) + ["sess-none1"])))
    counter = iter(range(10**6))

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops=st.lists(op, min_size=1, max_size=30))
    def run(ops):
        n = next(counter)
        a = SQLiteStore(tmp_path / f"d{n}.db")
        b = open_store(postgres.new_database())
        try:
            for received, (kind, arg) in enumerate(ops):
                if kind == "put":
                    assert a.put(arg, received) == b.put(arg, received)
                elif kind == "sessions":
                    assert a.sessions(*arg) == b.sessions(*arg)
                    assert a.recent(arg[1], arg[0]) == b.recent(arg[1], arg[0])
                else:
                    assert a.session(arg) == b.session(arg)
            assert a.count() == b.count()
        finally:
            a.close()
            b.close()

    run()


def test_newer_schema_is_refused(tmp_path, request):
    """A store written by a newer collector (higher schema version) is refused, not silently used."""
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(path)
    import psycopg

    url = request.getfixturevalue("postgres").new_database()
    open_store(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE sightline_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(url)


def _drain(store, limit: int) -> list[str]:
    """Every envelope id ``changes`` lists from the start, ``limit`` per page."""
    ids, cursor = [], ""
    while True:
        rows, cursor = store.changes(cursor, limit)
        ids += [r["id"] for r in rows]
        if len(rows) < limit:
            return ids


def test_postgres_changes_go_by_transaction_number_across_a_power_of_ten(postgres, pair):
    """Regression (ADR 0406): the PostgreSQL cursor sorted its page by the transaction id's
    text, so once the ids of unread rows crossed a power of ten ("9999" > "10000") a page's
    last row moved the cursor past unread rows (skips) or back before read ones (repeats).
    The server's transaction counter is advanced to just below a power of ten here
    (subtransactions that write: each takes a transaction id), so the 8 rows straddle it."""
    import psycopg

    url = postgres.new_database()
    store = open_store(url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TEMP TABLE burn (x int)")
            # this statement takes id x; the DO block takes x + 1, then one per subtransaction
            x = int(conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
            boundary = 10 ** len(str(x + 6))
            burn = boundary - 6 - x  # the first put takes boundary - 4
            conn.execute(f"DO $$ BEGIN FOR i IN 1..{burn} LOOP BEGIN INSERT INTO burn VALUES (1);"
                         " EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$")
            envs = [env_of(pair, seq=i) for i in range(8)]
            for e in envs:
                assert store.put(e, 1) == "stored"
            xids = sorted(int(x) for (x,) in conn.execute("SELECT xid::text FROM sightline_envelopes"))
        assert xids[0] < boundary <= xids[-1], (xids, boundary)
        for limit in (1, 2, 3, 7, 100):
            assert _drain(store, limit) == [e.id for e in envs], limit
    finally:
        store.close()


def test_postgres_changes_wait_for_an_older_open_transaction(postgres, pair):
    """A row whose transaction started (took its id) before others committed but commits
    after them is not passed by the cursor: nothing at or after the oldest open transaction
    is listed until it ends, then all rows come in transaction order, none skipped."""
    import psycopg

    url = postgres.new_database()
    store = open_store(url)
    slow, fast = env_of(pair, sid="slow-0001"), [env_of(pair, sid="fast-0001", seq=i) for i in range(3)]
    try:
        with psycopg.connect(url) as held:  # not autocommit: one open transaction
            held.execute(
                "INSERT INTO sightline_envelopes (id, sid, pid, seq, ts, kid, ct, received, size)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (slow.id, slow.sid, slow.pid, slow.seq, slow.ts, slow.kid, slow.ct, 1, slow.sealed_size))
            for e in fast:
                assert store.put(e, 2) == "stored"
            rows, cursor = store.changes("", 10)
            assert rows == [] and cursor == ""
            held.commit()
        rows, cursor = store.changes(cursor, 10)
        assert [r["id"] for r in rows] == [slow.id] + [e.id for e in fast]
        assert store.changes(cursor, 10) == ([], cursor)
    finally:
        store.close()
