"""Envelope storage for the collector: a small protocol, its SQLite implementation, and
:func:`open_store`, which picks a backend from a path or URL.

The store keeps envelopes as opaque data: the clear header fields it needs to list and
order sessions, the ciphertext text, the server receive time and the sealed size.
Backends: :class:`SQLiteStore` (embedded default, WAL) and
:class:`py_core.collector.postgres.PostgresStore` (``postgresql://`` URLs). Both pass the
same test suite (``tests/test_store.py``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Literal, Protocol

from py_core.envelope import VERSION, Envelope

__all__ = ["CursorError", "PutResult", "SQLiteStore", "Store", "StoreError", "open_store"]

PutResult = Literal["stored", "duplicate", "conflict", "erased"]

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    id TEXT PRIMARY KEY,
    sid TEXT NOT NULL,
    pid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    kid TEXT NOT NULL,
    ct TEXT NOT NULL,
    received INTEGER NOT NULL,
    size INTEGER NOT NULL,
    rev INTEGER
);
CREATE INDEX IF NOT EXISTS envelopes_sid ON envelopes (sid, ts, pid, seq);
CREATE INDEX IF NOT EXISTS envelopes_received ON envelopes (received);
"""
# Version 2 (docs/adr/0406): ``rev``, a commit-ordered change number (the ``since`` cursor),
# its counter in ``meta``, and ``erased``: SHA-256 of erased session ids, so a re-sent
# envelope of an erased session is refused (410) instead of stored again.
_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS erased (sid_hash BLOB PRIMARY KEY, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS envelopes_rev ON envelopes (rev);
"""
#: How long (ms) an erased session id's hash is kept to refuse re-sent envelopes.
ERASED_KEEP_MS = 30 * 86_400_000


def sid_hash(sid: str) -> bytes:
    """What the store keeps of an erased session id: its SHA-256, not the id."""
    import hashlib

    return hashlib.sha256(sid.encode("utf-8")).digest()


def encode_cursor(kind: str, *parts) -> str:
    return kind + ".".join(str(p) for p in parts)


class StoreError(RuntimeError):
    """A store that cannot be opened (bad URL, server unreachable, missing driver)."""


class CursorError(ValueError):
    """A ``since`` cursor this store did not hand out."""


def open_store(target: str | os.PathLike) -> "Store":
    """A store for ``target``: a ``postgresql://`` (or ``postgres://``) URL, else a SQLite path."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        from py_core.collector.postgres import PostgresStore

        return PostgresStore(text)
    if "://" in text:
        raise StoreError(f"unsupported store URL scheme in {text.split('://')[0]!r}: use a SQLite path or postgresql://")
    try:
        return SQLiteStore(text)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open SQLite database {text}: {exc}") from None


class Store(Protocol):
    """What the collector needs from storage. Implementations must be thread-safe."""

    def put(self, env: Envelope, received: int) -> PutResult:
        """Store an envelope once: "stored", "duplicate" (same id, same content), "conflict",
        or "erased" (its session was erased: not stored)."""

    def changes(self, since: str = "", limit: int = 1000) -> tuple[list[dict], str]:
        """Envelopes committed after cursor ``since`` ("" = from the start), in commit order,
        at most ``limit``, and the cursor to pass next. Never skips or repeats one, whatever
        is inserted meanwhile. ``CursorError`` for a cursor this store did not make."""

    def erase(self, sids: list[str], now: int) -> int:
        """Delete every envelope of these sessions and remember their hashes; returns how
        many envelopes were deleted (0 when already erased: idempotent)."""

    def expire(self, before: int, now: int) -> int:
        """Delete envelopes received before ``before`` (server ms) and tombstones older
        than ERASED_KEEP_MS; returns how many envelopes were deleted."""

    def sessions(self, limit: int = 1000, offset: int = 0) -> list[dict]:
        """Session summaries ``{sid, first_ts, last_ts, envelopes, bytes, pages}``, newest first."""

    def recent(self, since: int, limit: int = 200) -> list[dict]:
        """Summaries of the sessions the collector received an envelope for at or after
        ``since`` (server ms), plus ``last_received``; most recently received first."""

    def session(self, sid: str) -> list[dict]:
        """Envelope objects of one session plus ``received``, ordered by (ts, pid, seq); [] if unknown."""

    def count(self) -> int:
        """Number of stored envelopes."""

    def close(self) -> None:
        """Release resources."""


class _Pending:
    """One queued write of :class:`SQLiteStore`: its row, then its result or error."""

    __slots__ = ("row", "result", "error", "done")

    def __init__(self, row: tuple):
        self.row, self.result, self.error, self.done = row, None, None, False


class SQLiteStore:
    """SQLite store in WAL mode with synchronous=FULL: an acknowledged envelope is on disk.

    One connection shared behind a lock, so it is safe from uvicorn's thread pool.
    Writes are group-committed: ``put`` queues its row, and whichever caller holds the
    lock next writes every queued row in one transaction (one fsync), then each caller
    returns its own result once that commit is done. Under concurrency many envelopes
    share an fsync; alone, a put is one transaction as before (docs/adr/0405).
    ``path`` may be ``":memory:"`` for tests.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # the connection
        self._queue_lock = threading.Lock()  # the pending writes
        self._pending: list[_Pending] = []
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=30000")
            found = self._db.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                self._db.close()
                raise StoreError(f"{self.path} has schema version {found}, newer than this collector's {SCHEMA_VERSION}")
            # Deleted content is overwritten with zeros, not left in free pages (erasure).
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(envelopes)")}
            self._db.execute("BEGIN IMMEDIATE")
            if "rev" not in columns:  # version 1: number the existing rows in rowid order
                self._db.execute("ALTER TABLE envelopes ADD COLUMN rev INTEGER")
            for statement in _SCHEMA_2.strip().split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("UPDATE envelopes SET rev = rowid WHERE rev IS NULL")
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('rev', (SELECT COALESCE(MAX(rev), 0) FROM envelopes))")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._db.execute("COMMIT")

    def put(self, env: Envelope, received: int) -> PutResult:
        """Insert unless the id exists; compare content when it does. Returns after the commit."""
        item = _Pending((env.id, env.sid, env.pid, env.seq, env.ts, env.kid, env.ct, received, env.sealed_size, 0))
        with self._queue_lock:
            self._pending.append(item)
        with self._lock:
            if not item.done:  # nobody committed it while we waited: commit everything queued
                with self._queue_lock:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        if item.error is not None:
            raise item.error
        return item.result

    def _commit(self, batch: list["_Pending"]) -> None:
        """Write ``batch`` in one transaction; every item gets a result, or all get the error."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            # Change numbers are handed out inside the write transaction, and writes are
            # serialized: a reader that sees rev N committed sees every rev below it.
            rev = self._db.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()[0]
            erased = None
            for item in batch:
                if erased is None:
                    erased = self._db.execute("SELECT 1 FROM erased LIMIT 1").fetchone() is not None
                if erased and self._db.execute("SELECT 1 FROM erased WHERE sid_hash = ?",
                                               (sid_hash(item.row[1]),)).fetchone():
                    item.result = "erased"
                    continue
                row = item.row[:9] + (rev + 1,)
                if self._db.execute("INSERT OR IGNORE INTO envelopes VALUES (?,?,?,?,?,?,?,?,?,?)", row).rowcount == 1:
                    rev += 1
                    item.result = "stored"
                    continue
                existing = self._db.execute(
                    "SELECT sid, pid, seq, ts, kid, ct FROM envelopes WHERE id = ?", (item.row[0],)).fetchone()
                item.result = "duplicate" if existing == item.row[1:7] else "conflict"
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'rev'", (rev,))
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            for item in batch:
                item.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            for item in batch:
                item.done = True

    def sessions(self, limit: int = 1000, offset: int = 0) -> list[dict]:
        """Session summaries, newest (by last client ts) first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT sid, MIN(ts), MAX(ts), COUNT(*), SUM(size), COUNT(DISTINCT pid)"
                " FROM envelopes GROUP BY sid ORDER BY MAX(ts) DESC, sid LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        keys = ("sid", "first_ts", "last_ts", "envelopes", "bytes", "pages")
        return [dict(zip(keys, row)) for row in rows]

    def recent(self, since: int, limit: int = 200) -> list[dict]:
        """Sessions received at or after ``since`` (server clock: a visitor's clock may be off)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT sid, MIN(ts), MAX(ts), COUNT(*), SUM(size), COUNT(DISTINCT pid), MAX(received)"
                " FROM envelopes WHERE sid IN (SELECT DISTINCT sid FROM envelopes WHERE received >= ?)"
                " GROUP BY sid ORDER BY MAX(received) DESC, sid LIMIT ?",
                (since, limit),
            ).fetchall()
        keys = ("sid", "first_ts", "last_ts", "envelopes", "bytes", "pages", "last_received")
        return [dict(zip(keys, row)) for row in rows]

    def session(self, sid: str) -> list[dict]:
        """All envelopes of a session as received, plus ``received`` (server ms)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kid, sid, pid, seq, ts, ct, received FROM envelopes"
                " WHERE sid = ? ORDER BY ts, pid, seq, id",
                (sid,),
            ).fetchall()
        keys = ("id", "kid", "sid", "pid", "seq", "ts", "ct", "received")
        return [{"v": VERSION, **dict(zip(keys, row))} for row in rows]

    def changes(self, since: str = "", limit: int = 1000) -> tuple[list[dict], str]:
        """Envelopes with a change number above the cursor's, in that order."""
        if since == "":
            after = 0
        elif since.startswith("s") and since[1:].isdigit() and len(since) < 20:
            after = int(since[1:])
        else:
            raise CursorError("not a cursor of this store")
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kid, sid, pid, seq, ts, ct, received, rev FROM envelopes"
                " WHERE rev > ? ORDER BY rev LIMIT ?", (after, limit)).fetchall()
        keys = ("id", "kid", "sid", "pid", "seq", "ts", "ct", "received")
        out = [{"v": VERSION, **dict(zip(keys, row[:8]))} for row in rows]
        return out, encode_cursor("s", rows[-1][8] if rows else after)

    def erase(self, sids: list[str], now: int) -> int:
        """Delete these sessions' envelopes (overwritten: secure_delete), keep their hashes,
        then checkpoint and truncate the WAL so no copy of the rows stays in it."""
        deleted = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sid in sids:
                    deleted += self._db.execute("DELETE FROM envelopes WHERE sid = ?", (sid,)).rowcount
                    self._db.execute("INSERT OR IGNORE INTO erased VALUES (?, ?)", (sid_hash(sid), now))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._checkpoint()
        return deleted

    def expire(self, before: int, now: int) -> int:
        """Delete envelopes received before ``before``, in chunks (writers wait per chunk only)."""
        deleted = 0
        while True:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    n = self._db.execute("DELETE FROM envelopes WHERE rowid IN (SELECT rowid FROM envelopes"
                                         " WHERE received < ? LIMIT 2000)", (before,)).rowcount
                    if n < 2000:
                        self._db.execute("DELETE FROM erased WHERE at < ?", (now - ERASED_KEEP_MS,))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            deleted += n
            if n < 2000:
                break
        if deleted:
            with self._lock:
                self._checkpoint()
        return deleted

    def _checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it to zero bytes (old row images gone)."""
        if self.path != ":memory:":
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def count(self) -> int:
        """Number of stored envelopes."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0]

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._db.close()
