#!/usr/bin/env python3
"""Collector load benchmark on loopback: envelopes/s and p50/p99 latency per concurrency level.

    .venv/bin/python bench/collector_load.py [--envelopes 2000] [--concurrency 1,8,32,64]
                                             [--backends sqlite,postgresql] [--events 40]
                                             [--processes 2] [--port-base 9420]

For each backend, starts a real `sightline serve` process (rate limits off) on a fresh
store: SQLite in WAL mode with synchronous=FULL, or a throwaway PostgreSQL server
(Debian's binaries, fsync on, synchronous_commit on: the same durability promise). Real
envelopes are sealed up front (sealing is the browser's cost, not the collector's), then
sent by ``concurrency`` keep-alive HTTP clients at once. Every envelope must be answered
201 and be counted by the collector afterwards: "lost" is sent minus stored, and must be 0.
Client and server share the machine's cores, so figures are a floor, not a ceiling; the
server's CPU time per envelope (from /proc) is the figure that depends least on what else
the machine is doing, and the load average is printed before and after.

``--processes N`` starts N `sightline serve` processes on the same store (SQLite file or
PostgreSQL database) and spreads the clients over them round-robin; server CPU is the sum.
``--port-base P`` puts the collectors on P, P+1, ... and PostgreSQL on P+50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from py_core import envelope, keys  # noqa: E402

TOKEN = secrets.token_urlsafe(16)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_collector(db: str, log: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "py_core.cli", "serve", "--db", db, "--port", str(port),
                                 "--token", TOKEN, "--no-rate-limit", "--log-level", "warning"],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            sys.exit(f"collector exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url + "/v1/health", timeout=1)
            return proc, url
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("collector did not start")
            time.sleep(0.1)


def stored_count(url: str) -> int:
    req = urllib.request.Request(f"{url}/v1/sessions?limit=10000", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return sum(s["envelopes"] for s in json.loads(r.read())["sessions"])


def seal_all(n: int, events: int, tag: str) -> list[bytes]:
    """``n`` real sealed envelopes of ``events`` synthetic events each, as request bodies."""
    import random

    pair = keys.generate()
    rng = random.Random(n * 1000 + events)
    words = ["cart", "checkout", "shoes", "jacket", "size", "colour", "add", "remove", "price", "total", "ship"]
    bodies = []
    for i in range(n):
        batch = {"events": [{"t": 3, "ts": 1_700_000_000_000 + i * 100 + j, "data": {
            "source": rng.choice((1, 2, 5)), "id": rng.randrange(4000), "x": rng.randrange(1280), "y": rng.randrange(720),
            "text": " ".join(rng.choice(words) for _ in range(rng.randrange(2, 12))),
            "node": f"n{rng.getrandbits(48):x}"}} for j in range(events)]}
        env = envelope.seal(batch, pair.public, sid=f"bench-{tag}-{i % 50:03d}", pid=f"page-{tag}-{i % 150:03d}",
                            seq=i, ts=1_700_000_000_000 + i)
        bodies.append(json.dumps(env).encode())
    return bodies


async def blast(urls: list[str], bodies: list[bytes], concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    """Send every body with ``concurrency`` workers; returns (seconds, latencies, status counts).

    Each worker keeps one HTTP/1.1 keep-alive connection and speaks the protocol directly
    on asyncio streams: a pooled client library (httpx) spent 4x more CPU per request
    than the collector at 64 connections, which measured the client, not the server.
    """
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker(k: int) -> None:
        host, port = urls[k % len(urls)].split("//", 1)[1].rsplit(":", 1)
        head = (f"POST /v1/ingest HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                writer.write((head % len(body)).encode() + body)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return time.perf_counter() - start, latencies, statuses


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envelopes", type=int, default=2000, help="envelopes per concurrency level")
    parser.add_argument("--concurrency", default="1,8,32,64", help="comma list of concurrent clients")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--events", type=int, default=40, help="events per sealed batch")
    parser.add_argument("--processes", type=int, default=1, help="collector processes on the one store")
    parser.add_argument("--port-base", type=int, default=None, help="first port (collectors; PostgreSQL at +50)")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"sightline-bench-{secrets.token_hex(4)}"
    work.mkdir(parents=True)
    sample = seal_all(1, args.events, "probe")[0]
    print(f"# collector load, {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"# {args.envelopes} envelopes per level, {args.events} events per batch, "
          f"{len(sample):,}-byte bodies; client and server on loopback\n")
    print(f"# load average before: {os.getloadavg()[0]:.1f}\n")
    print(f"# {args.processes} collector process(es) per store\n")
    print("| backend | concurrency | envelopes/s | p50 ms | p99 ms | server CPU ms/envelope | client CPU ms/envelope | sent | stored | lost | statuses |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    pg = None
    failed = False
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                db = str(work / "bench.db")
            elif backend == "postgresql":
                from postgres_server import PostgresServer, ensure_binaries

                bindir, reason = ensure_binaries()
                if bindir is None:
                    print(f"| postgresql | skipped: {reason} |")
                    continue
                pg = PostgresServer(bindir, durable=True)
                if args.port_base:
                    pg.port = args.port_base + 50
                    pg.url = f"postgresql://sightline@127.0.0.1:{pg.port}/postgres"
                pg.start()
                db = pg.new_database()
            else:
                parser.error(f"unknown backend {backend}")
            started = [start_collector(db, work / f"{backend}{i}.log", args.port_base and args.port_base + i)
                       for i in range(args.processes)]
            procs, urls = [p for p, _ in started], [u for _, u in started]
            url = urls[0]
            try:
                before = 0
                for level in levels:
                    bodies = seal_all(args.envelopes, args.events, f"{backend[:2]}{level}")
                    cpu0, own0 = sum(cpu_seconds(p.pid) for p in procs), sum(os.times()[:2])
                    elapsed, lat, statuses = asyncio.run(blast(urls, bodies, level))
                    cpu = (sum(cpu_seconds(p.pid) for p in procs) - cpu0) / len(bodies) * 1000
                    own = (sum(os.times()[:2]) - own0) / len(bodies) * 1000
                    stored = stored_count(url) - before
                    before += stored
                    lost = len(bodies) - stored
                    failed |= lost != 0 or statuses.get(201, 0) != len(bodies)
                    codes = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
                    print(f"| {backend}{' x' + str(args.processes) if args.processes > 1 else ''} | {level} | {len(bodies) / elapsed:,.0f} | {percentile(lat, 0.5) * 1000:.1f} | "
                          f"{percentile(lat, 0.99) * 1000:.1f} | {cpu:.2f} | {own:.2f} | {len(bodies)} | {stored} | {lost} | {codes} |", flush=True)
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(30)
    finally:
        if pg is not None:
            pg.stop()
    print(f"\n# load average after: {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
