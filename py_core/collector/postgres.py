"""PostgreSQL envelope store, for sites that outgrow one machine's SQLite file.

    store = PostgresStore("postgresql://sightline@db.internal/sightline")

Same contract as :class:`py_core.collector.store.SQLiteStore` (and the same test
suite): one row per envelope, ``id`` as primary key, stored once. Several collector
processes may share one database; the schema is created on first use under an advisory
lock. Text columns use the ``"C"`` collation so orderings match SQLite's byte order.

Durability: every ``put`` is its own committed transaction, with the server's default
``synchronous_commit = on``; the collector answers 201 only after the commit returns.

Needs ``psycopg`` (3.x) and ``psycopg_pool``: ``pip install 'sightline[postgres]'``.
"""

from __future__ import annotations

from py_core.collector.store import ERASED_KEEP_MS, CursorError, PutResult, StoreError, encode_cursor, sid_hash
from py_core.envelope import VERSION, Envelope

__all__ = ["PostgresStore"]

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sightline_envelopes (
    id TEXT COLLATE "C" PRIMARY KEY,
    sid TEXT COLLATE "C" NOT NULL,
    pid TEXT COLLATE "C" NOT NULL,
    seq INTEGER NOT NULL,
    ts BIGINT NOT NULL,
    kid TEXT COLLATE "C" NOT NULL,
    ct TEXT NOT NULL,
    received BIGINT NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sightline_envelopes_sid ON sightline_envelopes (sid, ts, pid, seq);
CREATE INDEX IF NOT EXISTS sightline_envelopes_received ON sightline_envelopes (received);
CREATE TABLE IF NOT EXISTS sightline_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Version 2 (docs/adr/0406): ``xid``, the inserting transaction's id, orders changes for the
# ``since`` cursor (only transactions older than every running one are listed, so a cursor
# never passes a row that commits later); ``sightline_erased`` keeps SHA-256 of erased
# session ids so their re-sent envelopes are refused.
_SCHEMA_2 = """
ALTER TABLE sightline_envelopes ADD COLUMN IF NOT EXISTS xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS sightline_envelopes_xid ON sightline_envelopes (xid, id);
CREATE TABLE IF NOT EXISTS sightline_erased (sid_hash BYTEA PRIMARY KEY, at BIGINT NOT NULL);
"""


def _sid_lock(sid: str) -> int:
    """Advisory lock key of a session id: puts take it shared, erasure exclusive."""
    return int.from_bytes(sid_hash(sid)[:8], "big", signed=True)
# Serializes schema creation across collector processes sharing a database.
_SCHEMA_LOCK = 0x51_6874_6C6E  # "Sightln"


def _redact(url: str) -> str:
    """``url`` without its password, for messages."""
    head, sep, tail = url.partition("://")
    creds, at, host = tail.rpartition("@")
    if not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{host}" if ":" in creds else url


class PostgresStore:
    """Envelope store on PostgreSQL through a psycopg connection pool (thread-safe).

    ``pool_size`` bounds the connections this process opens; ``timeout`` is how long a
    request waits for one (then the collector answers 503, retryable).
    """

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 10.0):
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StoreError(f"the PostgreSQL backend needs psycopg and psycopg_pool: pip install 'sightline[postgres]' ({exc})") from None
        self.url = url
        self._psycopg = psycopg
        try:  # one direct connection first: it fails fast, with the server's own reason
            with psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout))) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute(_SCHEMA)
                conn.execute("INSERT INTO sightline_meta VALUES ('schema_version', %s) ON CONFLICT (key) DO NOTHING",
                             (str(SCHEMA_VERSION),))
                row = conn.execute("SELECT value FROM sightline_meta WHERE key = 'schema_version'").fetchone()
                if row[0] == "1":  # upgrade in place
                    conn.execute(_SCHEMA_2)
                    conn.execute("UPDATE sightline_meta SET value = %s WHERE key = 'schema_version'",
                                 (str(SCHEMA_VERSION),))
                    row = (str(SCHEMA_VERSION),)
                elif row[0] == str(SCHEMA_VERSION):
                    conn.execute(_SCHEMA_2)
        except Exception as exc:
            raise StoreError(f"cannot open PostgreSQL store {_redact(url)}: {str(exc).strip()}") from None
        if row[0] != str(SCHEMA_VERSION):
            raise StoreError(f"database schema version {row[0]} is not {SCHEMA_VERSION}")
        self._pool = ConnectionPool(url, min_size=1, max_size=max(1, pool_size), timeout=timeout,
                                    kwargs={"autocommit": True}, open=False, name="sightline")
        self._pool.open(wait=False)

    def put(self, env: Envelope, received: int) -> PutResult:
        """Insert unless the id exists; compare content when it does."""
        row = (env.id, env.sid, env.pid, env.seq, env.ts, env.kid, env.ct, received, env.sealed_size)
        with self._pool.connection() as conn:
            with conn.transaction():
                # shared with other puts, exclusive with an erasure of this session
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_sid_lock(env.sid),))
                cur = conn.execute(
                    "INSERT INTO sightline_envelopes (id, sid, pid, seq, ts, kid, ct, received, size)"
                    " SELECT %s,%s,%s,%s,%s,%s,%s,%s,%s"
                    " WHERE NOT EXISTS (SELECT 1 FROM sightline_erased WHERE sid_hash = %s)"
                    " ON CONFLICT (id) DO NOTHING RETURNING id", row + (sid_hash(env.sid),))
                stored = cur.fetchone() is not None
            if stored:
                return "stored"
            if conn.execute("SELECT 1 FROM sightline_erased WHERE sid_hash = %s", (sid_hash(env.sid),)).fetchone():
                return "erased"
            existing = conn.execute(
                "SELECT sid, pid, seq, ts, kid, ct FROM sightline_envelopes WHERE id = %s", (env.id,)
            ).fetchone()
        same = existing == (env.sid, env.pid, env.seq, env.ts, env.kid, env.ct)
        return "duplicate" if same else "conflict"

    def sessions(self, limit: int = 1000, offset: int = 0) -> list[dict]:
        """Session summaries, newest (by last client ts) first."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT sid, MIN(ts), MAX(ts), COUNT(*), SUM(size)::bigint, COUNT(DISTINCT pid)"
                " FROM sightline_envelopes GROUP BY sid ORDER BY MAX(ts) DESC, sid LIMIT %s OFFSET %s",
                (limit, offset),
            ).fetchall()
        keys = ("sid", "first_ts", "last_ts", "envelopes", "bytes", "pages")
        return [dict(zip(keys, row)) for row in rows]

    def recent(self, since: int, limit: int = 200) -> list[dict]:
        """Sessions received at or after ``since`` (server clock: a visitor's clock may be off)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT sid, MIN(ts), MAX(ts), COUNT(*), SUM(size)::bigint, COUNT(DISTINCT pid), MAX(received)"
                " FROM sightline_envelopes WHERE sid IN"
                " (SELECT DISTINCT sid FROM sightline_envelopes WHERE received >= %s)"
                " GROUP BY sid ORDER BY MAX(received) DESC, sid LIMIT %s",
                (since, limit),
            ).fetchall()
        keys = ("sid", "first_ts", "last_ts", "envelopes", "bytes", "pages", "last_received")
        return [dict(zip(keys, row)) for row in rows]

    def session(self, sid: str) -> list[dict]:
        """All envelopes of a session as received, plus ``received`` (server ms)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, kid, sid, pid, seq, ts, ct, received FROM sightline_envelopes"
                " WHERE sid = %s ORDER BY ts, pid, seq, id",
                (sid,),
            ).fetchall()
        keys = ("id", "kid", "sid", "pid", "seq", "ts", "ct", "received")
        return [{"v": VERSION, **dict(zip(keys, row))} for row in rows]

    def changes(self, since: str = "", limit: int = 1000) -> tuple[list[dict], str]:
        """Envelopes after the cursor in (inserting transaction, id) order, listing only
        transactions older than the oldest one still running: those are all final."""
        xid, last = "0", ""
        if since:
            head, _, tail = since.partition(".")
            if not (head.startswith("p") and head[1:].isdigit() and len(head) < 24):
                raise CursorError("not a cursor of this store")
            xid, last = head[1:], tail
        with self._pool.connection() as conn:
            # ORDER BY names the table's columns: an output column ``xid::text`` named
            # ``xid`` would win over them and sort as text ("1000" < "999"), which skipped
            # and repeated envelopes whenever pending ids crossed a power of ten.
            rows = conn.execute(
                "SELECT e.id, e.kid, e.sid, e.pid, e.seq, e.ts, e.ct, e.received, e.xid::text AS cursor_xid"
                " FROM sightline_envelopes e"
                " WHERE e.xid < pg_snapshot_xmin(pg_current_snapshot())"
                " AND (e.xid, e.id) > (%s::xid8, %s COLLATE \"C\")"
                " ORDER BY e.xid, e.id COLLATE \"C\" LIMIT %s", (xid, last, limit)).fetchall()
        keys = ("id", "kid", "sid", "pid", "seq", "ts", "ct", "received")
        out = [{"v": VERSION, **dict(zip(keys, row[:8]))} for row in rows]
        return out, (encode_cursor("p", rows[-1][8], rows[-1][0]) if rows else since)

    def erase(self, sids: list[str], now: int) -> int:
        """Delete these sessions' envelopes and keep their hashes (one transaction), then
        VACUUM the table so the dead rows' space is reclaimed."""
        deleted = 0
        with self._pool.connection() as conn:
            with conn.transaction():
                for sid in sids:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_sid_lock(sid),))
                    conn.execute("INSERT INTO sightline_erased VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                 (sid_hash(sid), now))
                    deleted += conn.execute("DELETE FROM sightline_envelopes WHERE sid = %s", (sid,)).rowcount
            if deleted:
                conn.execute("VACUUM sightline_envelopes")
        return deleted

    def expire(self, before: int, now: int) -> int:
        """Delete envelopes received before ``before`` in chunks, and old tombstones."""
        deleted = 0
        with self._pool.connection() as conn:
            while True:
                n = conn.execute("DELETE FROM sightline_envelopes WHERE id IN (SELECT id FROM sightline_envelopes"
                                 " WHERE received < %s LIMIT 2000)", (before,)).rowcount
                deleted += n
                if n < 2000:
                    break
            conn.execute("DELETE FROM sightline_erased WHERE at < %s", (now - ERASED_KEEP_MS,))
        return deleted

    def count(self) -> int:
        """Number of stored envelopes."""
        with self._pool.connection() as conn:
            return conn.execute("SELECT COUNT(*) FROM sightline_envelopes").fetchone()[0]

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()
