"""The collector: a Starlette app that stores sealed envelopes it cannot read.

Routes (see docs/envelope.md and docs/collector.md):

- ``POST /v1/ingest``: one envelope JSON; open to the world (CORS), validated,
  size-limited, rate-limited per client address and per site key (``kid``), stored
  once per id.
- ``GET /v1/sessions``, ``GET /v1/sessions/{sid}``, ``GET /v1/envelopes?since=``
  (commit-ordered changes, paged by cursor) and ``POST /v1/erase``: behind
  ``Authorization: Bearer``, compared in constant time.
- ``GET /v1/health``, ``GET /v1/openapi.json`` (py_core/collector/openapi.py).
- routes of extension modules (``extra_routes``), the optional demo API
  (``/demo/api/...``) and a static site mounted at ``/``, in that order.

No input produces a 500: every rejection is a 4xx JSON body ``{"error", "detail"}``;
storage trouble is a retryable 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from typing import Iterable, Mapping, Sequence

from starlette.applications import Starlette
import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route

from py_core import envelope
from py_core.collector import openapi
from py_core.collector.connections import THROTTLE
from py_core.collector.store import CursorError, Store

__all__ = ["DEFAULT_RATE_LIMIT", "DEFAULT_SITE_RATE_LIMIT", "RateLimiter", "RequestGuard", "TokenCheck", "create_app"]

log = logging.getLogger("sightline.collector")

DEFAULT_MAX_BODY = envelope.MAX_ENVELOPE_BYTES
#: Default ingest rate limit per client address: (envelopes per second, burst).
DEFAULT_RATE_LIMIT = (20.0, 200)
#: Seconds a client has to send a request body, on every route (slow-sender guard).
DEFAULT_BODY_TIMEOUT = 30.0
#: Default ingest rate limit per site key (``kid``): (envelopes per second, burst).
DEFAULT_SITE_RATE_LIMIT = (500.0, 5000)
_SID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_DIGITS = re.compile(r"[0-9]+")
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _error(status: int, code: str, detail: str = "", headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers={**_NO_STORE, **(headers or {})})


class _Reject(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class RateLimiter:
    """Token bucket per key (client address, site key): ``rate`` tokens per second, up to ``burst``."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000, clock=time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.max_keys, self.clock = float(rate), int(burst), max_keys, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, float]:
        """Take one token for ``key``: ``(allowed, seconds until the next token)``."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._prune(now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            return False, (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate  # a bucket idle this long is full again: forget it
        stale = [k for k, (_, last) in self._buckets.items() if now - last >= full]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # still full: drop the oldest half
            for key, _ in sorted(self._buckets.items(), key=lambda kv: kv[1][1])[: self.max_keys // 2]:
                del self._buckets[key]


class TokenCheck:
    """Checks a presented bearer token in constant time.

    Both sides are hashed with SHA-256 first and the digests compared with
    :func:`hmac.compare_digest`, so the time taken depends neither on how many leading
    characters match nor on the token's length. Several tokens may be valid at once
    (rotation); every one is compared, whatever matches.
    """

    def __init__(self, tokens: str | Iterable[str]):
        tokens = [tokens] if isinstance(tokens, str) else list(tokens)
        if not tokens or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError("a non-empty read token is required")
        self._digests = [hashlib.sha256(t.encode("utf-8")).digest() for t in tokens]

    def __call__(self, presented: bytes) -> bool:
        """True if ``presented`` (raw header bytes) is one of the tokens."""
        digest = hashlib.sha256(presented).digest()
        ok = False
        for known in self._digests:
            ok |= hmac.compare_digest(digest, known)
        return ok

    def request_ok(self, request: Request) -> bool:
        """True if ``request`` carries ``Authorization: Bearer <a valid token>``."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return self(value.strip().encode("utf-8", "surrogateescape")) and scheme.lower() == "bearer"


class RequestGuard:
    """ASGI middleware in front of every route (docs/collector.md, "Slow and idle clients").

    - A request that declares both ``Content-Length`` and ``Transfer-Encoding`` is refused
      with 400 ``bad_request`` and the connection closed (RFC 9112 §6.3: such a message is
      a request-smuggling vector; the two framings may be read differently by a proxy).
    - A request that declares a body has ``timeout`` seconds, from the end of its head,
      to deliver all of it (or to be answered): otherwise the handler is cancelled and the
      client gets 408 ``request_timeout`` with ``Connection: close``. This holds on every
      route, whatever the handler does with the body.
    - A client that disconnects mid-body is one throttled log line, not a traceback.
    """

    def __init__(self, app, timeout: float | None):
        self.app, self.timeout = app, timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        names = {name.lower() for name, _ in scope.get("headers") or ()}
        chunked, sized = b"transfer-encoding" in names, b"content-length" in names
        if chunked and sized:
            THROTTLE("framing", "refused a request with both Content-Length and Transfer-Encoding (400)")
            await _error(400, "bad_request", "send either Content-Length or Transfer-Encoding, not both",
                         {"Connection": "close"})(scope, receive, send)
            return
        if self.timeout is None or not (chunked or sized):
            await self.app(scope, receive, send)
            return
        started = False
        deadline = asyncio.timeout(self.timeout)

        def stop_clock() -> None:
            try:
                deadline.reschedule(None)
            except RuntimeError:  # not entered, or already left
                pass

        async def timed_receive():
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                stop_clock()
            return message

        async def timed_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                stop_clock()
            await send(message)

        try:
            async with deadline:
                await self.app(scope, timed_receive, timed_send)
        except TimeoutError:
            if not deadline.expired():
                raise
            THROTTLE("body_timeout", "a request body did not arrive within %g s (408)", self.timeout)
            if not started:
                await _error(408, "request_timeout", f"the body did not arrive within {self.timeout:g} s",
                             {"Connection": "close"})(scope, receive, send)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes, else a 413 ``_Reject``.

    A body that is too large but not absurdly so (up to twice the limit) is read and
    discarded first, so the client sees the 413 instead of a connection reset mid-upload.
    """
    drain = limit + max(limit, 64 * 1024)
    length = request.headers.get("content-length")
    declared = 0
    if length is not None:
        length = length.strip()
        if not _DIGITS.fullmatch(length):
            raise _Reject(400, "bad_request", "invalid Content-Length")
        declared = int(length) if len(length) <= 15 else drain + 1
        if declared > drain:
            raise _Reject(413, "too_large", f"body is {length:.20} bytes, limit {limit}")
    body = bytearray()
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > drain:
            break
        if total <= limit:
            body += chunk
    if max(total, declared) > limit:
        raise _Reject(413, "too_large", f"body exceeds {limit} bytes")
    return bytes(body)


def _client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_app(
    store: Store,
    *,
    token: str | Iterable[str],
    site_dir: str | None = None,
    cors_origins: Iterable[str] = ("*",),
    cors_origin_regex: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
    store_threads: int = 8,
    max_pending: int = 512,
    erase_hooks: Sequence = (),
    demo: bool = False,
    rate_limit: tuple[float, int] | None = DEFAULT_RATE_LIMIT,
    site_rate_limit: tuple[float, int] | None = DEFAULT_SITE_RATE_LIMIT,
    kids: Iterable[str] | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    extra_openapi: Mapping[str, dict] | None = None,
) -> Starlette:
    """Build the collector app around ``store``; reads require ``token`` (or one of several).

    - ``rate_limit`` is ``(per_second, burst)`` per client address for ingest, or None.
      The address is the TCP peer; behind a reverse proxy run uvicorn with
      ``--forwarded-allow-ips`` (``sightline serve --forwarded-allow-ips``) so it is the
      visitor's, or rate-limit at the proxy.
    - ``body_timeout``: seconds a client has, on every route, to send its whole body
      (slow senders get 408 ``request_timeout`` and the connection is closed), or None.
      Header time and idle connections are bounded by the server (connections.py).
    - ``store_threads``: how many store calls may run at once (threads).
    - ``max_pending``: how many ingests may wait for (or be in) a store write at once; one
      more is answered 503 ``busy`` with ``Retry-After: 1`` before anything is stored
      (the bounded queue, docs/adr/0406). An envelope is acknowledged only after its commit.
    - ``erase_hooks``: callables ``hook(sids)`` run after ``POST /v1/erase`` erased those
      sessions' envelopes (team notes and alert marks, py_core/collector/team.py).
    - ``site_rate_limit`` is the same per site key (the envelope's ``kid``), or None.
    - ``kids``: if given, only envelopes sealed to these key ids are accepted (403
      ``unknown_kid`` otherwise), so nobody can fill the store under made-up keys.
    - ``cors_origins`` / ``cors_origin_regex``: origins whose pages may call the API.
    - ``extra_routes``: Starlette routes of extension modules (e.g. team features), added
      after the /v1 routes and before the demo API and the static site;
      ``extra_openapi`` documents them (merged into ``paths`` of /v1/openapi.json). They
      can reach ``request.app.state.store`` and check reads with
      ``request.app.state.token_check.request_ok(request)``.
    """
    token_check = TokenCheck(token)
    limiter = RateLimiter(*rate_limit) if rate_limit else None
    site_limiter = RateLimiter(*site_rate_limit) if site_rate_limit else None
    accepted_kids = frozenset(kids) if kids is not None else None
    if accepted_kids is not None and not all(isinstance(k, str) and len(k) == 16 for k in accepted_kids):
        raise ValueError("kids must be 16-character key ids")
    api_doc = openapi.spec(extra_openapi)
    # Store calls run in threads; at most store_threads at once (the rest wait in the event
    # loop, which costs nothing), so many concurrent requests do not become a convoy of
    # threads fighting over the GIL and the store's lock (docs/adr/0405).
    store_limiter = anyio.CapacityLimiter(store_threads)

    async def in_store_thread(fn, *args):
        return await anyio.to_thread.run_sync(fn, *args, limiter=store_limiter)

    pending = 0  # ingests waiting for or inside a store write (event-loop only: no lock)

    def authorized(request: Request) -> bool:
        return token_check.request_ok(request)

    def unauthorized() -> JSONResponse:
        return _error(401, "unauthorized", "send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})

    def rate_limited(limiter: RateLimiter, key: str, what: str) -> JSONResponse | None:
        allowed, wait = limiter.allow(key)
        if allowed:
            return None
        return _error(429, "rate_limited", f"too many envelopes from this {what}; retry later",
                      {"Retry-After": str(max(1, int(wait + 0.999)))})

    def unavailable(what: str) -> JSONResponse:
        log.exception("store failure while %s", what)
        return _error(503, "store_unavailable", f"could not {what}; retry later", {"Retry-After": "5"})

    async def ingest(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": "POST, OPTIONS"})
        if limiter is not None and (refused := rate_limited(limiter, _client_key(request), "client address")):
            return refused
        try:
            body = await _read_body(request, max_body)
            env = envelope.parse(body)
            envelope.check_enc(env)
        except _Reject as exc:
            return _error(exc.status, exc.code, exc.detail)
        except ClientDisconnect:
            return _error(400, "bad_request", "client disconnected")
        except envelope.EnvelopeError as exc:
            return _error(413 if exc.code == "too_large" else 400, exc.code, exc.detail)
        if accepted_kids is not None and env.kid not in accepted_kids:
            return _error(403, "unknown_kid", f"this collector does not accept envelopes sealed to kid {env.kid}")
        if site_limiter is not None and (refused := rate_limited(site_limiter, env.kid, "site key")):
            return refused
        nonlocal pending
        if pending >= max_pending:
            THROTTLE("busy", "ingest queue full (%d waiting): answered 503 busy", pending)
            return _error(503, "busy", "the collector is at capacity; retry later", {"Retry-After": "1"})
        received = int(time.time() * 1000)
        pending += 1
        try:
            result = await in_store_thread(store.put, env, received)
        except Exception:  # storage trouble is ours, not the client's: 503, retryable
            return unavailable("store the envelope")
        finally:
            pending -= 1
        if result == "erased":
            return _error(410, "erased", "this session was erased; its envelopes are not stored again")
        if result == "conflict":
            return _error(409, "id_conflict", f"id {env.id} is already stored with different content")
        duplicate = result == "duplicate"
        return JSONResponse({"ok": True, "id": env.id, "duplicate": duplicate},
                            status_code=200 if duplicate else 201, headers=_NO_STORE)

    async def sessions(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        try:
            limit = int(request.query_params.get("limit", "1000"))
            offset = int(request.query_params.get("offset", "0"))
        except ValueError:
            return _error(400, "bad_query", "limit and offset must be integers")
        if not (1 <= limit <= 10_000 and 0 <= offset <= 2**62):
            return _error(400, "bad_query", "limit must be 1..10000 and offset >= 0")
        try:
            rows = await in_store_thread(store.sessions, limit, offset)
        except Exception:
            return unavailable("list sessions")
        return JSONResponse({"sessions": rows}, headers=_NO_STORE)

    async def envelopes(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        since = request.query_params.get("since", "")
        try:
            limit = int(request.query_params.get("limit", "1000"))
        except ValueError:
            return _error(400, "bad_query", "limit must be an integer")
        if not 1 <= limit <= 10_000 or len(since) > 200:
            return _error(400, "bad_query", "limit must be 1..10000")
        try:
            rows, cursor = await in_store_thread(store.changes, since, limit)
        except CursorError:
            return _error(400, "bad_cursor", "since must be a cursor this collector returned (or empty)")
        except Exception:
            return unavailable("list envelopes")
        return JSONResponse({"envelopes": rows, "next": cursor, "more": len(rows) == limit}, headers=_NO_STORE)

    async def erase(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        try:
            body = json.loads(await _read_body(request, 1 << 20))
            sids = body["sessions"]
            if not (isinstance(sids, list) and 1 <= len(sids) <= 10_000
                    and all(isinstance(x, str) and _SID.fullmatch(x) for x in sids)):
                raise ValueError
        except _Reject as exc:
            return _error(exc.status, exc.code, exc.detail)
        except (ValueError, KeyError, TypeError):
            return _error(400, "bad_request", 'send {"sessions": [session ids]} (1..10000 ids of 8-64 A-Z a-z 0-9 _ -)')
        sids = sorted(set(sids))
        try:
            deleted = await in_store_thread(store.erase, sids, int(time.time() * 1000))
            for hook in erase_hooks:
                await in_store_thread(hook, sids)
        except Exception:
            return unavailable("erase the sessions")
        # no session ids in the log: how many, that is all
        log.warning("erased %d session(s): %d envelope(s) deleted", len(sids), deleted)
        return JSONResponse({"ok": True, "sessions": len(sids), "envelopes": deleted}, headers=_NO_STORE)

    async def session(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        sid = request.path_params["sid"]
        try:
            rows = await in_store_thread(store.session, sid) if _SID.fullmatch(sid) else []
        except Exception:
            return unavailable("read the session")
        if not rows:
            return _error(404, "unknown_session", "no envelopes for this session id")
        return JSONResponse({"sid": sid, "envelopes": rows}, headers=_NO_STORE)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True}, headers=_NO_STORE)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(api_doc)

    routes = [
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/openapi.json", openapi_json, methods=["GET"]),
        Route("/v1/ingest", ingest, methods=["POST", "OPTIONS"]),
        Route("/v1/sessions", sessions, methods=["GET"]),
        Route("/v1/sessions/{sid}", session, methods=["GET"]),
        Route("/v1/envelopes", envelopes, methods=["GET"]),
        Route("/v1/erase", erase, methods=["POST"]),
        *extra_routes,
    ]
    api_routes = list(routes)

    class ApiFallback:
        """Any other /v1/ request, any method: 405 if another method would match, else 404;
        so a static site mounted at / never answers for the API (GET /v1/ingest is 405)."""

        async def __call__(self, scope, receive, send) -> None:
            allowed = set()
            for route in api_routes:
                if isinstance(route, Route) and route.matches(scope)[0] is Match.PARTIAL:
                    allowed |= set(route.methods or ())
            if allowed:
                answer = _error(405, "method_not_allowed", "Method Not Allowed", {"Allow": ", ".join(sorted(allowed))})
            else:
                answer = _error(404, "not_found", "Not Found")
            await answer(scope, receive, send)

    # An ASGI-app endpoint, so the route takes every method (a function endpoint takes GET only).
    routes.append(Route("/v1/{rest:path}", ApiFallback(), include_in_schema=False))
    if demo:
        from py_core.collector.demo import routes as demo_routes

        routes += demo_routes()
    if site_dir is not None:
        from py_core.collector.static import static_site  # precompressed, cached (docs/deploy.md)

        routes.append(Mount("/", app=static_site(site_dir), name="site"))

    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if request.url.path.startswith(("/v1/", "/demo/api/")):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
            return _error(exc.status_code, code, str(exc.detail), headers)
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, "internal", "unexpected server error")

    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client went away mid-body: nobody will read an answer. One line, no traceback.
        THROTTLE("disconnect", "a client disconnected mid-body on %s %s", request.method, request.url.path)
        return _error(400, "bad_request", "client disconnected")

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestGuard, timeout=body_timeout),
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_origin_regex=cors_origin_regex,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Content-Type", "Authorization"],
                max_age=86400,
            )
        ],
        exception_handlers={HTTPException: http_error, ClientDisconnect: client_gone, Exception: server_error},
    )
    app.state.store = store
    app.state.token_check = token_check
    return app
