"""Shared fixtures: the built site/, a real collector process serving it, and Chromium.

Browser tests run against site/ as built by `python3 build.py test` (the bytes a user
would host), served by a real `sightline serve` process on a free loopback port.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("SIGHTLINE_SITE") or ROOT / "site").resolve()
DEMO_KEY = ROOT / ".sightline" / "demo-key.json"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(fn, timeout: float, every: float = 0.25):
    """Call fn() until it returns something truthy or `timeout` seconds pass; return its last value."""
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value or time.time() > deadline:
            return value
        time.sleep(every)


class Collector:
    """A running `sightline serve` process."""

    def __init__(self, db: Path, site: Path | None, token: str, port: int | None = None):
        self.db, self.site, self.token = db, site, token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Collector":
        cmd = [sys.executable, "-m", "py_core.cli", "serve", "--db", str(self.db),
               "--host", "127.0.0.1", "--port", str(self.port), f"--token={self.token}"]
        if self.site:
            cmd += ["--site", str(self.site), "--demo"]
        self.log = self.db.with_suffix(".log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=1)
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("collector did not start within 20 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def get(self, path: str) -> dict:
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


@pytest.fixture(scope="session")
def site_dir() -> Path:
    if not (SITE / "sightline.js").exists():
        pytest.fail("site/ is not built: run `python3 build.py test`")
    return SITE


@pytest.fixture(scope="session")
def demo_key() -> dict:
    """The key pair the demo pages in site/ were built with."""
    return json.loads(DEMO_KEY.read_text())


@pytest.fixture(scope="session")
def collector(site_dir, tmp_path_factory):
    c = Collector(tmp_path_factory.mktemp("collector") / "sightline.db", site_dir,
                  secrets.token_urlsafe(16)).start()
    yield c
    c.stop()


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for this test run (tests/postgres_server.py); skips only if
    Debian's postgresql is missing and cannot be installed."""
    from postgres_server import PostgresServer, ensure_binaries

    bindir, reason = ensure_binaries()
    if bindir is None:
        pytest.skip(reason)
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path) -> str:
    """Where a collector store lives (`sightline serve --db`): a SQLite path, or a fresh
    database on the test run's PostgreSQL server. Tests using it run once per backend."""
    if request.param == "sqlite":
        return str(tmp_path / "store" / "sightline.db")
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(scope="session")
def site_url(collector) -> str:
    """Base URL of the built site/, served by the collector."""
    return collector.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    chromium = os.environ.get("SIGHTLINE_CHROMIUM") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    args = {**browser_type_launch_args, "args": CHROMIUM_ARGS}
    if chromium:
        args["executable_path"] = chromium
    return args
