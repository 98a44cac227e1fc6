"""Connection guard for ``sightline serve``: slow and idle clients cannot hold the server.

uvicorn's h11 protocol bounds nothing before a request head has arrived: a client that
connects and sends nothing, or sends its headers a byte at a time (slowloris), keeps its
socket forever, and once the process runs out of file descriptors asyncio's accept loop
logs a traceback per attempt and spins (CPython 3.11 keeps looping over the backlog after
EMFILE). This module wraps uvicorn's :class:`~uvicorn.protocols.http.h11_impl.H11Protocol`:

- **Header time.** A connection has ``header_timeout`` seconds to deliver a complete
  request head, on a fresh connection and again after each response (keep-alive), and
  also to finish the unread rest of a body the app answered early. A partial head gets a
  raw ``408``; a silent connection is just closed.
- **Connection cap.** At most ``max_connections`` connections are open at once, set
  below the open-file limit (:func:`connection_cap`). A new connection over the cap
  closes the longest-idle connection that is *waiting for a request head* (nginx drains
  idle keep-alive connections the same way); if every connection is mid-request, the new
  one gets a raw ``503`` and is closed. A small listen ``backlog`` bounds how many sockets
  one accept burst can take before the cap is applied.
- **One log line per cause.** Timeouts, evictions, refusals and accept failures are
  logged through :class:`Throttle`: the first at once, the rest counted into the next
  line for that cause at most once per interval; never a traceback.

Body time is bounded in the app (``py_core.collector.app``, ``body_timeout``), where a
handler's answer can still be replaced by a 408.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

__all__ = ["DEFAULT_BACKLOG", "DEFAULT_HEADER_TIMEOUT", "Throttle", "connection_cap", "guarded_protocol", "run"]

log = logging.getLogger("sightline.collector")

#: Seconds a connection has to deliver a complete request head.
DEFAULT_HEADER_TIMEOUT = 10.0
#: Listen backlog (also how many sockets one accept burst may take).
DEFAULT_BACKLOG = 64
#: File descriptors kept free for the store, the team database, webhook posts, imports.
FD_RESERVE = 64

def _raw(status: bytes, text: bytes, *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 " + status, b"content-type: text/plain; charset=utf-8", *extra,
            b"content-length: %d" % len(text), b"connection: close"]
    return b"\r\n".join(head) + b"\r\n\r\n" + text


_TIMEOUT_408 = _raw(b"408 Request Timeout", b"the request head did not arrive in time")
_BUSY_503 = _raw(b"503 Service Unavailable", b"too many connections; retry later", b"retry-after: 5")


class Throttle:
    """Logs one line per *cause* per ``interval`` seconds; occurrences in between are
    counted and reported in the next line for that cause (``(+N since the last line)``)."""

    def __init__(self, logger: logging.Logger = log, interval: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.logger, self.interval, self.clock = logger, interval, clock
        self._state: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, cause: str, message: str, *args: Any, level: int = logging.WARNING) -> bool:
        """Log ``message % args`` for ``cause`` unless one was logged within the interval; True if logged."""
        now = self.clock()
        with self._lock:
            last, skipped = self._state.get(cause, (None, 0))
            if last is not None and now - last < self.interval:
                self._state[cause] = (last, skipped + 1)
                return False
            self._state[cause] = (now, 0)
        suffix = f" (+{skipped} since the last line)" if skipped else ""
        self.logger.log(level, f"{message}{suffix}", *args)
        return True


#: The collector's shared throttle (the app's body timeouts and disconnects use it too).
THROTTLE = Throttle()


def connection_cap(backlog: int = DEFAULT_BACKLOG, reserve: int = FD_RESERVE, limit: int | None = None) -> int:
    """How many connections fit under the open-file limit (``RLIMIT_NOFILE`` soft limit,
    or ``limit``), leaving ``reserve`` descriptors free and room for accept bursts.

    asyncio accepts up to ``backlog`` sockets per loop iteration, and a socket reaches
    the cap check (``connection_made``) one iteration later and is closed one after
    that: up to three bursts are open beyond the cap at once."""
    if limit is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        limit = 1 << 20 if soft == resource.RLIM_INFINITY else soft
    return max(8, min(limit - 3 * backlog - reserve, 16_384))


def guarded_protocol(*, max_connections: int, header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                     throttle: Throttle = THROTTLE) -> type:
    """An H11Protocol subclass (for ``uvicorn.Config(http=...)``) with the guards above."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    if max_connections < 1 or header_timeout <= 0:
        raise ValueError("max_connections must be >= 1 and header_timeout > 0")
    waiting: OrderedDict = OrderedDict()  # connections waiting for a request head, longest-waiting first

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _head_cycle: Any = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                victim = next(iter(waiting), None)
                if victim is None:
                    throttle("refused", "connection cap reached (%d open, all mid-request): refused a new connection",
                             len(self.connections))
                    transport.write(_BUSY_503)
                    transport.close()
                    return
                throttle("evicted", "connection cap reached (%d open): closed the longest-idle connection",
                         len(self.connections))
                victim._drop()
            self._await_head()

        def _await_head(self) -> None:
            self._cancel_head()
            if self.transport.is_closing():
                return
            self._head_cycle = self.cycle
            self._head_timer = self.loop.call_later(header_timeout, self._head_timeout)
            waiting[self] = None

        def _cancel_head(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            waiting.pop(self, None)

        def _drop(self) -> None:
            self._cancel_head()
            if not self.transport.is_closing():
                self.transport.close()

        def _head_timeout(self) -> None:
            self._head_timer = None
            waiting.pop(self, None)
            if self.transport.is_closing():
                return
            partial = self.conn.our_state is h11.IDLE and bool(self.conn.trailing_data[0])
            if partial:
                throttle("header_timeout", "closed a connection whose request head did not arrive within %g s (408)",
                         header_timeout)
                self.transport.write(_TIMEOUT_408)
            else:
                throttle("idle_timeout", "closed a connection idle for %g s", header_timeout, level=logging.INFO)
            self.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._head_timer is not None and self.cycle is not self._head_cycle:
                self._cancel_head()  # a request head arrived: the app's body deadline takes over

        def on_response_complete(self) -> None:
            before = self.cycle
            super().on_response_complete()
            if self.cycle is before and not self.transport.is_closing():
                self._await_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head()
            super().connection_lost(exc)

    return GuardedH11Protocol


def _exception_handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    exc = context.get("exception")
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
        THROTTLE("accept", "accepting connections failed: %s (retrying; lower --max-connections)", exc.strerror,
                 level=logging.ERROR)
        return
    if isinstance(exc, (ConnectionError, TimeoutError)):
        THROTTLE(f"loop:{type(exc).__name__}", "connection error: %s", exc)
        return
    loop.default_exception_handler(context)


def run(app, *, host: str, port: int, max_connections: int | None = None,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT, backlog: int = DEFAULT_BACKLOG, **uvicorn_options: Any) -> None:
    """Run ``app`` with uvicorn behind the guards; ``max_connections`` defaults to :func:`connection_cap`."""
    import uvicorn

    cap = connection_cap(backlog) if max_connections is None else max_connections
    if max_connections is not None and max_connections > connection_cap(backlog):
        THROTTLE("cap", "--max-connections %d is above what the open-file limit allows (%d)", max_connections,
                 connection_cap(backlog))
    protocol = guarded_protocol(max_connections=cap, header_timeout=header_timeout)
    config = uvicorn.Config(app, host=host, port=port, http=protocol, backlog=backlog, **uvicorn_options)
    server = uvicorn.Server(config)

    async def serve() -> None:
        asyncio.get_running_loop().set_exception_handler(_exception_handler)
        await server.serve()

    asyncio.run(serve())
