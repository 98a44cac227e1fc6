"""Team features of the collector: annotations, live sessions, alert relay.

Routes (added to the app through ``create_app(extra_routes=...)``; docs/viewer.md):

- ``POST /v1/annotations`` (read token): one *sealed* annotation, an envelope exactly
  like a batch's (docs/envelope.md) with ``pid = "annotation"``; the viewer seals it
  with the site's public key, so the collector stores a note it cannot read.
  ``GET /v1/annotations?sid=...`` (read token) lists a session's sealed notes;
  without ``sid`` the newest ones of every session.
- ``GET /v1/live`` (read token): sessions with an envelope received in the last
  ``window`` seconds (default 120). ``GET /v1/live/{sid}?after=<received ms>`` (read
  token): a Server-Sent Events stream of that session's sealed envelopes as they are
  stored (``event: envelope``), starting after ``after``; a comment line every 10 s
  keeps proxies from closing it; it ends after ``max`` seconds (default 600).
- ``GET /v1/alerts/policy`` (open): the public part of the alert policy, so devices
  decide. ``POST /v1/alerts`` (open, size- and rate-limited): one alert a device
  decided; checked against the policy, de-duplicated per session and rule, relayed to
  the webhooks in Slack's / Discord's format within a post budget per rule and per site
  (py_core.collector.relay).

Every read route answers 401 with ``WWW-Authenticate: Bearer`` without the token.

Annotations and relayed-alert marks live in a small SQLite database of their own
(``SIGHTLINE_TEAM_DB``, else ``<collector db>-team.db`` next to a SQLite store, else
in memory), so the envelope store's schema is untouched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from py_core import alerts, envelope
from py_core.collector import relay

__all__ = ["ANNOTATION_PID", "TeamStore", "routes"]

log = logging.getLogger("sightline.team")

ANNOTATION_PID = "annotation"
MAX_ANNOTATION_BYTES = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS annotations (
    id TEXT PRIMARY KEY, sid TEXT NOT NULL, ts INTEGER NOT NULL, env TEXT NOT NULL, received INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS annotations_sid ON annotations (sid, ts);
CREATE TABLE IF NOT EXISTS alerts_sent (
    sid TEXT NOT NULL, rule TEXT NOT NULL, received INTEGER NOT NULL, PRIMARY KEY (sid, rule));
"""


def _error(status: int, code: str, detail: str = "", headers: dict | None = None) -> JSONResponse:
    # details may quote client input: keep them encodable (a lone surrogate becomes \\udXXX)
    detail = detail.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers={**_NO_STORE, **(headers or {})})


class TeamStore:
    """Sealed annotations and the (session, rule) pairs already alerted. Thread-safe."""

    def __init__(self, path: str = ":memory:"):
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def add_annotation(self, env: envelope.Envelope, received: int) -> str:
        """Store a sealed annotation once: "stored", "duplicate" or "conflict"."""
        body = json.dumps(env.to_dict(), separators=(",", ":"))
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO annotations VALUES (?,?,?,?,?)",
                                   (env.id, env.sid, env.ts, body, received))
            if cur.rowcount == 1:
                return "stored"
            row = self._db.execute("SELECT env FROM annotations WHERE id = ?", (env.id,)).fetchone()
        return "duplicate" if row and row[0] == body else "conflict"

    def annotations(self, sid: str | None = None, limit: int = 500) -> list[dict]:
        """Sealed annotations (envelopes plus ``received``), oldest first."""
        with self._lock:
            if sid:
                rows = self._db.execute("SELECT env, received FROM annotations WHERE sid = ? ORDER BY ts, id LIMIT ?",
                                        (sid, limit)).fetchall()
            else:
                rows = self._db.execute("SELECT env, received FROM (SELECT * FROM annotations ORDER BY received DESC"
                                        " LIMIT ?) ORDER BY ts, id", (limit,)).fetchall()
        return [{**json.loads(env), "received": received} for env, received in rows]

    def first_alert(self, sid: str, rule: str) -> bool:
        """Mark (sid, rule) alerted; True only the first time."""
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO alerts_sent VALUES (?,?,?)",
                                   (sid, rule, int(time.time() * 1000)))
            return cur.rowcount == 1

    def erase(self, sids) -> int:
        """Delete the sealed notes and alert marks of these sessions (secure_delete, WAL truncated)."""
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")
            n = 0
            for sid in sids:
                n += self._db.execute("DELETE FROM annotations WHERE sid = ?", (sid,)).rowcount
                self._db.execute("DELETE FROM alerts_sent WHERE sid = ?", (sid,))
            if self.path != ":memory:":
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _team_db_for(store) -> str:
    if os.environ.get("SIGHTLINE_TEAM_DB"):
        return os.environ["SIGHTLINE_TEAM_DB"]
    path = getattr(store, "path", None)
    if isinstance(path, str) and path != ":memory:" and "://" not in path:
        p = Path(path)
        return str(p.with_name(p.stem + "-team.db"))
    log.warning("team data (annotations, alert marks) kept in memory: set SIGHTLINE_TEAM_DB")
    return ":memory:"


class _Window:
    """A fixed-window counter per key: at most ``limit`` hits per ``seconds``."""

    def __init__(self, limit: int, seconds: float):
        self.limit, self.seconds, self.hits, self._lock = limit, seconds, {}, threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            start, n = self.hits.get(key, (now, 0))
            if now - start >= self.seconds:
                start, n = now, 0
            if len(self.hits) > 10_000:
                self.hits.clear()
            self.hits[key] = (start, n + 1)
            return n < self.limit


def routes(store, *, team_db: str | None = None, policy: alerts.Policy | str | None = None,
           poll_s: float = 0.5, sender=None, limits: dict | None = None,
           alert_rate: tuple[int, float] | None = (30, 60.0), erase_hooks: list | None = None) -> list[Route]:
    """The team routes around the collector's envelope ``store``.

    ``policy`` is an alerts.Policy, a path to a policy file, or None (then
    ``SIGHTLINE_ALERTS`` names the file; without one, alerts are refused with 404).
    ``sender(webhook, alert, site, more=N)`` posts one alert (injectable for tests of
    this module alone; the collector uses :func:`py_core.collector.relay.send`).
    ``alert_rate`` is ``(alerts, per seconds)`` accepted per client address, or None.
    ``limits`` overrides the webhook post budget (relay.DEFAULT_LIMITS; a policy file
    may carry its own ``"limits"``).
    """
    team = TeamStore(team_db or _team_db_for(store))
    if erase_hooks is not None:  # POST /v1/erase also deletes this session's notes and alert marks
        erase_hooks.append(team.erase)
    if policy is None and os.environ.get("SIGHTLINE_ALERTS"):
        policy = os.environ["SIGHTLINE_ALERTS"]
    if isinstance(policy, str):
        policy, file_limits = relay.load_policy(policy)
        limits = {**file_limits, **(limits or {})}
    sender = sender or relay.send
    budget = relay.PostBudget(limits)
    limiter = _Window(*alert_rate) if alert_rate else None

    def authorized(request: Request) -> bool:
        check = getattr(request.app.state, "token_check", None)
        return bool(check and check.request_ok(request))

    def unauthorized() -> JSONResponse:
        return _error(401, "unauthorized", "send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})

    async def read_json(request: Request, limit: int):
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise ValueError(f"body exceeds {limit} bytes")
        return body

    async def post_annotation(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        try:
            env = envelope.parse(await read_json(request, MAX_ANNOTATION_BYTES))
        except envelope.EnvelopeError as exc:
            return _error(400, exc.code, exc.detail)
        except ValueError as exc:
            return _error(413, "too_large", str(exc))
        if env.pid != ANNOTATION_PID:
            return _error(400, "bad_field:pid", f'an annotation has pid "{ANNOTATION_PID}"')
        result = await run_in_threadpool(team.add_annotation, env, int(time.time() * 1000))
        if result == "conflict":
            return _error(409, "id_conflict", f"id {env.id} is already stored with different content")
        return JSONResponse({"ok": True, "id": env.id, "duplicate": result == "duplicate"},
                            status_code=201 if result == "stored" else 200, headers=_NO_STORE)

    async def get_annotations(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        sid = request.query_params.get("sid")
        if sid is not None and not envelope._SID.fullmatch(sid):
            return _error(400, "bad_query", "sid must be 8-64 of A-Z a-z 0-9 _ -")
        rows = await run_in_threadpool(team.annotations, sid)
        return JSONResponse({"annotations": rows}, headers=_NO_STORE)

    async def live_sessions(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        try:
            window = int(request.query_params.get("window", "120"))
        except ValueError:
            return _error(400, "bad_query", "window must be an integer number of seconds")
        since = int(time.time() * 1000) - max(1, min(window, 86_400)) * 1000
        rows = await run_in_threadpool(store.recent, since, 200)
        return JSONResponse({"sessions": rows}, headers=_NO_STORE)

    async def live_stream(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        sid = request.path_params["sid"]
        if not envelope._SID.fullmatch(sid):
            return _error(400, "bad_query", "sid must be 8-64 of A-Z a-z 0-9 _ -")
        try:
            after = int(request.query_params.get("after", "0"))
            max_s = float(request.query_params.get("max", "600"))
        except ValueError:
            return _error(400, "bad_query", "after and max must be numbers")
        max_s = max(1.0, min(max_s, 3600.0))

        async def events():
            sent: set[str] = set()
            started = beat = time.monotonic()
            yield "retry: 2000\n\n"
            while time.monotonic() - started < max_s:
                if await request.is_disconnected():
                    return
                try:
                    rows = await run_in_threadpool(store.session, sid)
                    read = True
                except Exception:  # storage trouble: tell the viewer, keep trying
                    log.exception("live: reading %s failed", sid)
                    rows, read = [], False
                    yield "event: unavailable\ndata: {}\n\n"
                if read and sent and not rows:  # erased while watched: say so and stop (nothing kept)
                    sent.clear()
                    yield "event: erased\ndata: {}\n\n"
                    return
                for row in rows:
                    if row["received"] > after and row["id"] not in sent:
                        sent.add(row["id"])
                        yield f"event: envelope\nid: {row['received']}\ndata: {json.dumps(row)}\n\n"
                if time.monotonic() - beat >= 10:
                    beat = time.monotonic()
                    yield ": keep-alive\n\n"
                await asyncio.sleep(poll_s)
            yield "event: end\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={**_NO_STORE, "X-Accel-Buffering": "no"})

    async def alert_policy(request: Request) -> Response:
        if policy is None:
            return _error(404, "no_alerts", "this collector has no alert policy")
        return JSONResponse(policy.public(), headers={"Cache-Control": "max-age=300"})

    async def post_alert(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204)
        if policy is None:
            return _error(404, "no_alerts", "this collector has no alert policy")
        if limiter is not None and not limiter.allow(request.client.host if request.client else "?"):
            return _error(429, "rate_limited", "too many alerts; retry later")
        try:
            alert = relay.validate_alert(json.loads(await read_json(request, relay.MAX_ALERT_BYTES)), policy)
        except alerts.AlertError as exc:
            return _error(400, "bad_alert", str(exc))
        except (ValueError, RecursionError) as exc:
            return _error(400, "bad_json", str(exc)[:200] or "nested too deeply")
        key = alert.get("sid") or f"anon-{int(time.time() // 60)}"
        if not await run_in_threadpool(team.first_alert, key, alert["rule"]):
            return JSONResponse({"ok": True, "duplicate": True}, headers=_NO_STORE)
        # Posts are bounded per rule and per site, not per session: a caller varying the
        # session id gets its alerts counted ("held"), not posted.
        allowed, more = budget.take(alert["rule"])
        if not allowed:
            return JSONResponse({"ok": True, "duplicate": False, "delivered": [], "held": True},
                                status_code=202, headers=_NO_STORE)

        def post_all() -> list[int]:
            return [sender(hook, alert, policy.site, more=more) for hook in policy.webhooks]

        statuses = await run_in_threadpool(post_all)
        return JSONResponse({"ok": True, "duplicate": False, "delivered": statuses, "held": False},
                            status_code=202, headers=_NO_STORE)

    return [
        Route("/v1/annotations", post_annotation, methods=["POST"]),
        Route("/v1/annotations", get_annotations, methods=["GET"]),
        Route("/v1/live", live_sessions, methods=["GET"]),
        Route("/v1/live/{sid}", live_stream, methods=["GET"]),
        Route("/v1/alerts/policy", alert_policy, methods=["GET"]),
        Route("/v1/alerts", post_alert, methods=["POST", "OPTIONS"]),
    ]
