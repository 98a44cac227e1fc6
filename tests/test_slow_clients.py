"""Slow, idle and odd clients against a real `sightline serve` process, over real sockets.

Covers: header time and body time bounded on every route (slowloris heads, bodies at
a byte a second on every body-taking route), idle connections closed, a connection cap
below the process's open-file limit (1,100 idle connections against RLIMIT_NOFILE 1024
lock nobody out, spin no core and write a small log), and contract details: 401s with
``WWW-Authenticate: Bearer`` on the team routes, ``GET /v1/ingest`` is 405 with a site
mounted, a client vanishing mid-body is one log line, and Content-Length together with
chunked Transfer-Encoding is refused. docs/collector.md, "Slow and idle clients".
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from py_core import envelope, keys

ROOT = Path(__file__).resolve().parent.parent
TOKEN = secrets.token_urlsafe(16)
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `sightline serve` subprocess with its log in a file; ``nofile`` sets its RLIMIT_NOFILE."""

    def __init__(self, tmp: Path, *args: str, nofile: int | None = None, policy: dict | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"serve-{self.port}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("SIGHTLINE_ALERTS", None)
        if policy is not None:
            (tmp / "alerts.json").write_text(json.dumps(policy))
            env["SIGHTLINE_ALERTS"] = str(tmp / "alerts.json")

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "py_core.cli", "serve", "--db", str(tmp / f"s{self.port}.db"),
                 "--port", str(self.port), "--token", TOKEN, "--log-level", "warning", *args],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=limit)
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "collector did not start"
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        return self.log.read_text(errors="replace")


def status_of(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
              timeout: float = 10) -> tuple[int, dict, dict]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, json.loads(raw) if raw.startswith(b"{") else {"raw": raw.decode()}


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def trickle(conns: list[socket.socket], limit_s: float, every: float = 0.5) -> list[tuple[bytes, float | None]]:
    """Send one byte on every open connection each ``every`` seconds (a body of 'x's) until the
    server closes it or ``limit_s`` passes: ``[(bytes received, seconds until closed or None)]``."""
    start = time.monotonic()
    got = {c: b"" for c in conns}
    closed: dict[socket.socket, float] = {}
    next_send = start
    while len(closed) < len(conns) and time.monotonic() - start < limit_s:
        now = time.monotonic()
        if now >= next_send:
            for c in conns:
                if c not in closed:
                    try:
                        c.send(b"x")
                    except OSError:
                        pass  # closed by the server; the read below sees it
            next_send = now + every
        open_ = [c for c in conns if c not in closed]
        readable, _, _ = select.select(open_, [], [], max(0.0, min(0.1, next_send - time.monotonic())))
        for c in readable:
            try:
                data = c.recv(65536)
            except OSError:
                data = b""
            if data:
                got[c] += data
            else:
                closed[c] = time.monotonic() - start
    return [(got[c], closed.get(c)) for c in conns]


@pytest.fixture(scope="module")
def site_server(tmp_path_factory):
    """One collector with a static site, an alert policy and short header and body timeouts."""
    tmp = tmp_path_factory.mktemp("slow")
    site = tmp / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>site</title>")
    server = Server(tmp, "--site", str(site), "--header-timeout", str(HEADER_TIMEOUT),
                    "--body-timeout", str(BODY_TIMEOUT), "--no-rate-limit",
                    policy={"rules": [{"name": "errors", "metric": "errors", "at_least": 1}], "fields": ["sid"],
                            "webhooks": [{"format": "slack", "url": "http://127.0.0.1:9/none"}]})
    yield server
    log = server.stop()
    assert "Traceback" not in log, log[-3000:]


# --- header time, idle connections ---------------------------------------------------------


def test_slowloris_head_gets_408_and_is_closed(site_server):
    """A request head sent a byte every half second is answered 408 and closed after the header timeout."""
    conn = connect(site_server.port)
    conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: t\r\n")
    start = time.monotonic()
    [(data, closed)] = trickle([conn], limit_s=HEADER_TIMEOUT + 8)  # 'x' bytes keep the head incomplete
    assert closed is not None and closed < HEADER_TIMEOUT + 4, (data, closed)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - start >= HEADER_TIMEOUT - 0.5
    conn.close()


def test_silent_and_idle_keepalive_connections_are_closed(site_server):
    """A connection that sends nothing, and a keep-alive one whose next head trickles, are closed in time."""
    silent = connect(site_server.port)
    kept = connect(site_server.port)
    kept.sendall(b"GET /v1/health HTTP/1.1\r\nHost: t\r\n\r\n")
    first = b""
    while b"\r\n\r\n" not in first or not first.endswith(b"}"):
        first += kept.recv(4096)
    assert first.startswith(b"HTTP/1.1 200 ")
    kept.sendall(b"GET /v1/health HTTP/1.1\r\n")  # the next request's head, never finished
    start = time.monotonic()
    silent.settimeout(HEADER_TIMEOUT + 8)
    assert silent.recv(1) == b""
    assert time.monotonic() - start < HEADER_TIMEOUT + 4
    [(data, closed)] = trickle([kept], limit_s=HEADER_TIMEOUT + 8)
    assert closed is not None and closed < HEADER_TIMEOUT + 4 and data.startswith(b"HTTP/1.1 408 ")
    silent.close()
    kept.close()


# --- body time on every body-taking route --------------------------------------------------


BODY_ROUTES = [
    ("POST", "/v1/ingest", False),
    ("POST", "/v1/alerts", False),
    ("POST", "/v1/annotations", True),
]


def test_bodies_at_a_byte_a_second_get_408_on_every_body_route(site_server):
    """Every route that takes a body answers 408 request_timeout to a 2-byte/s body, and closes the connection."""
    conns = []
    for method, path, auth in BODY_ROUTES:
        conn = connect(site_server.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
        if auth:
            head += f"Authorization: Bearer {TOKEN}\r\n"
        conn.sendall(head.encode() + b"\r\n{")
        conns.append(conn)
    results = trickle(conns, limit_s=BODY_TIMEOUT + 10)
    for (method, path, _), (data, closed) in zip(BODY_ROUTES, results):
        assert closed is not None and closed < BODY_TIMEOUT + 4, (method, path, data, closed)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower(), (method, path, data)
        assert json.loads(body)["error"] == "request_timeout"
    for conn in conns:
        conn.close()


def test_body_left_unread_after_an_early_answer_is_bounded(site_server):
    """A route that answers without reading (401, OPTIONS, GET with a body) cannot be held by trickling the rest."""
    conns = []
    for head in (b"POST /v1/annotations HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n",
                 b"GET /v1/sessions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + TOKEN.encode()
                 + b"\r\nContent-Length: 1000\r\n\r\n",
                 b"OPTIONS /v1/ingest HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n",
                 b"OPTIONS /v1/alerts HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"):
        conn = connect(site_server.port)
        conn.sendall(head)
        conns.append(conn)
    results = trickle(conns, limit_s=BODY_TIMEOUT + HEADER_TIMEOUT + 10)
    assert [data[:13] for data, _ in results] == [b"HTTP/1.1 401 ", b"HTTP/1.1 200 ", b"HTTP/1.1 204 ", b"HTTP/1.1 204 "]
    for data, closed in results:
        assert closed is not None and closed < HEADER_TIMEOUT + BODY_TIMEOUT + 4, (data, closed)
    for conn in conns:
        conn.close()


# --- contract details ----------------------------------------------------------------------


def test_team_routes_401_carry_www_authenticate_bearer(site_server):
    """Every team read route refuses a missing or wrong token with 401 and WWW-Authenticate: Bearer."""
    for method, path, body in [("GET", "/v1/annotations", None), ("POST", "/v1/annotations", b"{}"),
                               ("GET", "/v1/live", None), ("GET", "/v1/live/sess-00000001", None),
                               ("GET", "/v1/sessions", None), ("GET", "/v1/sessions/sess-00000001", None)]:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            status, got, answer = status_of(site_server.url + path, method, body, headers)
            assert status == 401 and got.get("www-authenticate") == "Bearer" and answer["error"] == "unauthorized", (
                method, path, status, got)


def test_wrong_method_on_the_api_is_405_even_with_a_site(site_server):
    """With --site, GET /v1/ingest is a JSON 405 with Allow (not the site's 404); unknown /v1 paths are JSON 404."""
    status, headers, answer = status_of(site_server.url + "/v1/ingest")
    assert status == 405 and answer["error"] == "method_not_allowed"
    assert set(headers["allow"].replace(" ", "").split(",")) == {"OPTIONS", "POST"}
    status, headers, answer = status_of(site_server.url + "/v1/alerts/policy", "POST", b"{}")
    assert status == 405 and "GET" in headers["allow"]
    status, _, answer = status_of(site_server.url + "/v1/no-such-route")
    assert status == 404 and answer["error"] == "not_found"
    with urllib.request.urlopen(site_server.url + "/", timeout=10) as r:  # the site itself still serves
        assert r.status == 200 and b"<title>site</title>" in r.read()


def test_client_vanishing_mid_body_on_a_team_route_is_one_log_line(site_server):
    """Clients that disconnect mid-body on team routes leave no traceback, and one log line for the cause."""
    for path in ["/v1/annotations", "/v1/annotations", "/v1/alerts", "/v1/annotations", "/v1/alerts"]:
        conn = connect(site_server.port)
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Content-Length: 5000\r\n\r\n{{\"v\": 1, ".encode())
        time.sleep(0.2)
        conn.close()
    time.sleep(1.0)
    assert status_of(site_server.url + "/v1/health")[0] == 200
    log = site_server.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]
    assert sum("disconnected mid-body" in line for line in log.splitlines()) == 1, log[-3000:]


@pytest.mark.parametrize("path", ["/v1/ingest", "/v1/alerts", "/v1/annotations"])
def test_content_length_with_chunked_transfer_encoding_is_400(site_server, path):
    """A request that frames its body both ways (a smuggling vector) is 400 and the connection closed."""
    pair = keys.generate()
    body = json.dumps(envelope.seal({"events": []}, pair.public, sid="sess-smuggle", pid="page-smuggle", seq=0)).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    conn = connect(site_server.port)
    conn.sendall(f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n"
                 f"Transfer-Encoding: chunked\r\n\r\n".encode() + chunked)
    data = b""
    conn.settimeout(10)
    while chunk := conn.recv(65536):
        data += chunk
    conn.close()
    head, _, answer = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and json.loads(answer)["error"] == "bad_request", data[:300]
    assert b"connection: close" in head.lower()
    if path == "/v1/ingest":
        status, _, _ = status_of(site_server.url + "/v1/sessions/sess-smuggle", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 404  # nothing was stored


# --- the connection cap under the open-file limit -----------------------------------------


def test_1100_idle_connections_under_a_1024_file_limit_lock_nobody_out(tmp_path):
    """With RLIMIT_NOFILE 1024, 1,100 idle TCP connections: a legitimate request is still answered at once,
    the server does not spin a core, and its log stays small (one line per cause, no tracebacks)."""
    # A long header timeout, so the idle connections stay until the cap has to act.
    server = Server(tmp_path, "--no-rate-limit", "--header-timeout", "120", nofile=1024)
    idle = []
    try:
        for _ in range(1100):  # one after the other, so each handshake finds room in the accept queue
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        deadline = time.monotonic() + 20
        while "connection cap reached" not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "connection cap reached" in server.log.read_text()
        fds = len(os.listdir(f"/proc/{server.proc.pid}/fd"))
        assert fds < 1024 - 16, fds
        cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
        answered = []
        for i in range(5):  # legitimate requests while the idle connections are held
            started = time.monotonic()
            status, _, answer = status_of(server.url + "/v1/health", timeout=5)
            answered.append((status, time.monotonic() - started))
            time.sleep(0.5)
        time.sleep(1.0)
        cpu = server.cpu_seconds() - cpu_before
        wall = time.monotonic() - wall_before
        assert all(status == 200 and took < 2.0 for status, took in answered), answered
        assert cpu < 0.25 * wall, (cpu, wall)  # no spinning: well under a quarter of one core
    finally:
        for s in idle:
            s.close()
        log = server.stop()
    assert "Traceback" not in log and len(log.encode()) < 4096, log[-3000:]
