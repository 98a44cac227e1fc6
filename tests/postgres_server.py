"""A throwaway PostgreSQL server for the tests: Debian's postgresql binaries, own data dir.

``PostgresServer().start()`` runs ``initdb`` into a fresh temporary directory and
``pg_ctl start`` on a free loopback port (trust auth, loopback only), then
``new_database()`` hands out empty stores: a fresh schema in one database, selected by the
URL's ``options=-csearch_path=...`` (cheap, unlike a database per test). PostgreSQL refuses to run as root, so
under root the server runs as the ``postgres`` system user that Debian's package creates.
When the binaries are missing and we are root on Debian, ``ensure_binaries`` installs
``postgresql`` with apt-get (as build.py's setup does).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PostgresServer", "ensure_binaries"]


def find_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<v>/bin`` with initdb, else initdb's folder on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def ensure_binaries() -> tuple[Path | None, str]:
    """``(bin dir, "")``, installing Debian's postgresql as root when missing; else ``(None, reason)``."""
    found = find_binaries()
    if found:
        return found, ""
    if os.geteuid() != 0 or not shutil.which("apt-get") or not Path("/etc/debian_version").exists():
        return None, "PostgreSQL server binaries are missing and cannot be installed here (needs root on Debian)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            return None, f"installing postgresql failed: {' '.join(cmd)}: {done.stderr.strip()[-500:]}"
    found = find_binaries()
    return (found, "") if found else (None, "apt-get installed postgresql but no initdb was found")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A private PostgreSQL cluster on 127.0.0.1:<port>, user ``sightline``, trust auth.

    ``durable=True`` keeps fsync on (benchmarks: the same durability as SQLite's
    synchronous=FULL); the tests turn it off for speed (see ``start``).
    """

    def __init__(self, bindir: Path, *, durable: bool = False):
        self.bindir, self.durable = bindir, durable
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sightline-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.url = f"postgresql://sightline@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([str(self.bindir / args[0]), *args[1:]], user=self.user, cwd=self.dir,
                              capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}"
                               f" {self.log.read_text()[-2000:] if self.log.exists() else ''}")

    def start(self) -> "PostgresServer":
        """initdb and start; returns self once the server accepts connections."""
        # ICU "en-US" as the default collation, the way most real servers sort text
        # (case-insensitively first): orderings that pass here do not rely on a C locale.
        self._run("initdb", "-D", str(self.data), "-U", "sightline", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US")
        # fsync off: the tests kill collectors, never this server, and committed rows survive a
        # killed client without it; it keeps CREATE DATABASE and shutdown fast on a busy disk.
        sync = "-c fsync=on -c full_page_writes=on" if self.durable else "-c fsync=off -c full_page_writes=off"
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
                   f" -c shared_buffers=32MB {sync} -c synchronous_commit=on")
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options)
        return self

    def new_database(self) -> str:
        """A fresh, empty schema in the ``sightline`` database; returns a URL that selects it."""
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'sightline'").fetchone():
                conn.execute("CREATE DATABASE sightline")
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/sightline", autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return f"postgresql://sightline@127.0.0.1:{self.port}/sightline?options=-csearch_path%3D{name}"

    def restart(self, mode: str = "immediate") -> None:
        """Restart the server; ``immediate`` is a crash for PostgreSQL (recovery from WAL on start)."""
        self._run("pg_ctl", "restart", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "-l", str(self.log))

    def stop(self) -> None:
        """Stop the server (immediate: its files are deleted next) and delete its files."""
        try:
            if self.data.exists():
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
