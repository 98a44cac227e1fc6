"""The ``sightline`` command: keygen, serve, sessions, decrypt, analyze.

    sightline keygen --out team.key
    sightline serve --db .sightline/sightline.db --key team.key --site site/ --demo
    sightline serve --db postgresql://sightline@db.internal/sightline --only-key team.pub
    sightline sessions --url http://127.0.0.1:8000 --token T
    sightline decrypt --key team.key --url http://127.0.0.1:8000 --token T --session SID
    sightline analyze --key team.key --file envelopes.json
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Sequence

__all__ = ["load_envelope_file", "fetch_session", "main", "merge_events", "session_events"]

TOKEN_ENV = "SIGHTLINE_TOKEN"
DB_ENV = "SIGHTLINE_DB"
ALERTS_ENV = "SIGHTLINE_ALERTS"  # path of the alert policy file (py_core.collector.team)
DEFAULT_DB = ".sightline/sightline.db"
#: Days an envelope is kept by `sightline serve` unless --retain-days says otherwise (0: forever).
DEFAULT_RETAIN_DAYS = 90


class CLIError(Exception):
    """A user-facing failure: printed as ``sightline: error: ...``, exit status 1."""


def _print_json(obj: Any, indent: int | None = None, stream=None) -> None:
    stream = stream or sys.stdout
    try:
        text = json.dumps(obj, ensure_ascii=False, indent=indent)
        text.encode(stream.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):  # lone surrogates or a narrow terminal encoding
        text = json.dumps(obj, ensure_ascii=True, indent=indent)
    stream.write(text + "\n")
    stream.flush()


def _warn(message: str) -> None:
    print(f"sightline: {message}", file=sys.stderr, flush=True)


# --- envelope sources ---------------------------------------------------------------


def load_envelope_file(path: str | os.PathLike) -> list[dict]:
    """Envelopes from a file: a JSON array, ``{"envelopes": [...]}`` (the API's answer) or JSON lines."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise CLIError(f"{path}: neither JSON nor JSON lines: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("envelopes"), list):
        data = data["envelopes"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise CLIError(f"{path}: expected envelope objects")
    return data


def _request_json(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read().decode("utf-8"))
            reason = f"{body.get('error')}: {body.get('detail')}"
        except Exception:
            reason = exc.reason
        raise CLIError(f"{url}: HTTP {exc.code} ({reason})") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CLIError(f"{url}: {getattr(exc, 'reason', exc)}") from None


def fetch_session(url: str, token: str, sid: str) -> list[dict]:
    """The envelopes of session ``sid`` from a collector (``GET /v1/sessions/{sid}``)."""
    data = _request_json(f"{url.rstrip('/')}/v1/sessions/{urllib.parse.quote(sid, safe='')}", token)
    if not isinstance(data, dict) or not isinstance(data.get("envelopes"), list):
        raise CLIError(f"{url}: unexpected answer for session {sid}")
    return data["envelopes"]


# --- opening a session ---------------------------------------------------------------


def merge_events(batches: Sequence[tuple[Any, dict]]) -> list:
    """Events of opened batches ``[(envelope, payload)]`` in batch order, then stably by event ``ts``."""
    events: list = []
    for _, payload in batches:
        batch = payload.get("events", [])
        if isinstance(batch, list):
            events.extend(batch)

    def when(event: Any) -> float:
        ts = event.get("ts") if isinstance(event, dict) else None
        return ts if isinstance(ts, (int, float)) and not isinstance(ts, bool) else float("-inf")

    return sorted(events, key=when) if all(when(e) != float("-inf") for e in events) else events


def session_events(envelopes: list[dict], private_keys: dict[str, bytes], *, strict: bool = False) -> list:
    """Open a session's envelopes (skipping duplicates) and merge their events."""
    from py_core import envelope

    opened, failed = envelope.open_all(envelopes, private_keys)
    by_cause: dict[str, list] = {}
    for item, exc in failed:  # one line per cause, not per envelope (a wrong key fails them all)
        by_cause.setdefault(getattr(exc, "code", None) or type(exc).__name__, []).append((item, exc))
    for cause, items in by_cause.items():
        item, exc = items[0]
        env_id = item.get("id") if isinstance(item, dict) else None
        first = f"envelope {env_id!r:.80}: {exc}"
        what = first if len(items) == 1 else f"{len(items)} of {len(envelopes)} envelopes ({cause}); first: {first}"
        _warn(f"{'error' if strict else 'skipped'}: {what}")
    if failed and strict:
        raise CLIError(f"{len(failed)} of {len(envelopes)} envelopes could not be opened")
    if envelopes and not opened:
        raise CLIError("no envelope could be opened (wrong --key?)")
    # An envelope may carry several batches of a page (`parts`); a batch sent in light form
    # at pagehide and masked by Python on the next page is kept in its device form
    # (docs/processing.md). Both rules live in py_core.events.one_per_batch.
    from py_core.events import one_per_batch

    payloads, seen_ids = [], set()
    for env, payload in opened:
        if env.id in seen_ids or not isinstance(payload, dict):
            continue
        seen_ids.add(env.id)
        # The clear header names the batch when the payload does not (other clients).
        payloads.append({"pid": env.pid, "seq": env.seq, **payload})
    batches = [(None, p) for p in one_per_batch(payloads)]
    return merge_events(batches)


def _session_envelopes(args: argparse.Namespace) -> list[dict]:
    if args.file:
        envelopes = load_envelope_file(args.file)
        sids = sorted({e.get("sid") for e in envelopes if isinstance(e.get("sid"), str)})
        if args.session:
            envelopes = [e for e in envelopes if e.get("sid") == args.session]
            if not envelopes:
                raise CLIError(f"{args.file}: no envelopes for session {args.session}")
        elif len(sids) > 1:
            raise CLIError(f"{args.file} holds {len(sids)} sessions; pick one with --session: {', '.join(sids)}")
        return envelopes
    if not args.url or not args.session:
        raise CLIError("give --file, or --url with --session (and --token or $SIGHTLINE_TOKEN)")
    return fetch_session(args.url, _token(args, required=True), args.session)


def _token(args: argparse.Namespace, *, required: bool) -> str | None:
    token = args.token or os.environ.get(TOKEN_ENV)
    if required and not token:
        raise CLIError(f"a read token is needed: --token or ${TOKEN_ENV}")
    return token


def _private_keys(args: argparse.Namespace) -> dict[str, bytes]:
    from py_core import keys

    try:
        return keys.load_private_keys(args.key)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot load key: {exc}") from None


# --- commands --------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    from py_core import keys

    out = Path(args.out)
    if out.exists() and not args.force:
        raise CLIError(f"{out} exists; pass --force to replace it (the old key's sessions stay sealed to it)")
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    pair = keys.generate()
    keys.save(pair, out)
    print(f"kid     {pair.kid}")
    print(f"public  {keys.b64u_encode(pair.public)}")
    print(f"wrote   {out} (private; keep it off the collector)", file=sys.stderr)
    return 0


def _rate(text: str) -> tuple[float, int] | None:
    """``RATE/BURST`` (e.g. ``20/200``) or ``off`` -> ``(rate, burst)`` or None."""
    if text.strip().lower() == "off":
        return None
    rate, sep, burst = text.partition("/")
    try:
        value = (float(rate), int(burst))
    except ValueError:
        value = None
    if not sep or value is None or not (value[0] > 0 and value[1] >= 1):
        raise argparse.ArgumentTypeError(f"{text!r}: expected RATE/BURST (e.g. 20/200) or off")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds > 0")
    return value


def _db_display(target: str) -> str:
    from py_core.collector.postgres import _redact

    return _redact(target)


def cmd_serve(args: argparse.Namespace) -> int:
    from py_core import keys
    from py_core.collector import connections
    from py_core.collector import openapi
    from py_core.collector.app import create_app
    from py_core.alerts import AlertError
    from py_core.collector.team import routes as team_routes
    from py_core.collector.store import StoreError, open_store

    token = _token(args, required=False)
    generated = not token
    token = token or secrets.token_urlsafe(24)
    for path in args.key or ():
        try:
            kid, public = keys.load_public(path)
        except (OSError, ValueError) as exc:
            raise CLIError(f"cannot load key: {exc}") from None
        print(f"kid     {kid}")
        print(f"public  {keys.b64u_encode(public)}")
    kids = None
    if args.only_key:
        try:
            kids = [keys.load_public(path)[0] for path in args.only_key]
        except (OSError, ValueError) as exc:
            raise CLIError(f"cannot load --only-key: {exc}") from None
    if args.max_connections is not None and args.max_connections < 1:
        raise CLIError("--max-connections must be at least 1")
    if args.site and not Path(args.site).is_dir():
        raise CLIError(f"--site {args.site}: not a directory")
    db = args.db or os.environ.get(DB_ENV) or DEFAULT_DB
    try:
        store = open_store(db)
    except StoreError as exc:
        raise CLIError(str(exc)) from None
    try:
        erase_hooks: list = []
        try:
            # annotations, live sessions, alerts (docs/viewer.md)
            extra_routes = team_routes(store, erase_hooks=erase_hooks,
                                       **({"alert_rate": None} if args.no_rate_limit else {}))
        except (AlertError, OSError) as exc:
            raise CLIError(f"alert policy (${ALERTS_ENV}): {exc}") from None
        app = create_app(
            store,
            token=token,
            site_dir=args.site,
            cors_origins=tuple(args.cors_origin or (() if args.cors_origin_regex else ("*",))),
            cors_origin_regex=args.cors_origin_regex,
            max_body=args.max_body,
            body_timeout=args.body_timeout or None,
            demo=args.demo,
            rate_limit=None if args.no_rate_limit else args.rate_limit,
            site_rate_limit=None if args.no_rate_limit else args.site_rate_limit,
            kids=kids,
            max_pending=args.max_pending,
            erase_hooks=erase_hooks,
            extra_routes=extra_routes,
            extra_openapi=openapi.TEAM_PATHS,
        )
        if generated:
            print(f"token   {token}  (generated; set ${TOKEN_ENV} to keep one)")
        print(f"db      {_db_display(db)}")
        if kids:
            print(f"accepts {', '.join(kids)}")
        if args.retain_days:
            _start_retention(store, args.retain_days, args.retain_check)
            print(f"retain  {args.retain_days:g} days (checked every {args.retain_check:g} s)")
        else:
            print("retain  forever (--retain-days 0)")
        print(f"serving http://{args.host}:{args.port}/", flush=True)
        proxy = {"proxy_headers": True, "forwarded_allow_ips": args.forwarded_allow_ips} if args.forwarded_allow_ips else {
            "proxy_headers": False}
        # Header time, idle connections and the connection cap (below the open-file
        # limit) are bounded by py_core/collector/connections.py; body time by the app.
        connections.run(app, host=args.host, port=args.port, max_connections=args.max_connections,
                        header_timeout=args.header_timeout, log_level=args.log_level, server_header=False,
                        timeout_keep_alive=args.keep_alive, limit_concurrency=args.limit_concurrency, **proxy)
    finally:
        store.close()
    return 0


def _start_retention(store, days: float, every: float) -> None:
    """A daemon thread deleting envelopes received more than ``days`` ago, now and every
    ``every`` seconds (docs/collector.md, "Retention"). Logs counts only."""
    import logging
    import threading
    import time

    log = logging.getLogger("sightline.collector")

    def loop() -> None:
        while True:
            now = int(time.time() * 1000)
            try:
                n = store.expire(now - int(days * 86_400_000), now)
                if n:
                    log.warning("retention: deleted %d envelope(s) older than %g days", n, days)
            except Exception:
                log.exception("retention: expiry failed; retrying in %g s", every)
            time.sleep(every)

    threading.Thread(target=loop, name="sightline-retention", daemon=True).start()


def cmd_erase(args: argparse.Namespace) -> int:
    token = _token(args, required=True)
    sids = list(dict.fromkeys(args.session))
    body = json.dumps({"sessions": sids}).encode()
    url = args.url.rstrip("/") + "/v1/erase"
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            result = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise CLIError(f"{url}: HTTP {exc.code} ({exc.read().decode('utf-8', 'replace')[:300]})") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CLIError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    if args.json:
        _print_json(result)
    else:
        print(f"erased {result['sessions']} session(s): {result['envelopes']} envelope(s) deleted")
    return 0


def _when(ms: Any) -> str:
    """Epoch milliseconds as local date and time, ``2026-12-02 05:54:03``; ``?`` if not a time."""
    import datetime

    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        return "?"
    try:
        return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return "?"


def _duration(ms: Any) -> str:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms < 0:
        return "?"
    seconds = int(ms // 1000)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def cmd_sessions(args: argparse.Namespace) -> int:
    if not args.url:
        raise CLIError("--url is required")
    url = f"{args.url.rstrip('/')}/v1/sessions?limit={args.limit}"
    data = _request_json(url, _token(args, required=True))
    if args.json:
        _print_json(data, indent=2)
        return 0
    rows = data.get("sessions") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise CLIError(f"{args.url}: unexpected answer for /v1/sessions")
    if not rows:
        print("no sessions stored yet", file=sys.stderr)
        return 0
    table = [("SESSION", "STARTED", "LAST", "LENGTH", "PAGES", "BATCHES", "BYTES")]
    for row in rows:
        row = row if isinstance(row, dict) else {}
        first, last = row.get("first_ts"), row.get("last_ts")
        length = last - first if all(isinstance(v, (int, float)) for v in (first, last)) else None
        table.append((str(row.get("sid", "?")), _when(first), _when(last), _duration(length),
                      str(row.get("pages", "?")), str(row.get("envelopes", "?")), str(row.get("bytes", "?"))))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip())
    print(f"{len(rows)} session{'s' if len(rows) != 1 else ''}; times are local (epoch ms with --json)",
          file=sys.stderr)
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    private_keys = _private_keys(args)
    events = session_events(_session_envelopes(args), private_keys, strict=args.strict)
    _print_json(events, indent=args.indent)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    private_keys = _private_keys(args)
    events = session_events(_session_envelopes(args), private_keys, strict=args.strict)
    from py_core.insights import analyze

    _print_json(analyze(events), indent=args.indent)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sightline`` command."""
    from py_core.collector.app import DEFAULT_BODY_TIMEOUT, DEFAULT_RATE_LIMIT, DEFAULT_SITE_RATE_LIMIT
    from py_core.collector.connections import DEFAULT_HEADER_TIMEOUT
    from py_core.envelope import MAX_ENVELOPE_BYTES as MAX_BODY

    def rate_text(limit: tuple[float, int]) -> str:
        return f"{limit[0]:g}/{limit[1]}"

    parser = argparse.ArgumentParser(prog="sightline", description="Privacy-first session recorder: keys, collector, decryption.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("keygen", help="create an X25519 key pair file (JSON, mode 0600)")
    p.add_argument("--out", required=True, metavar="PATH", help="key file to write")
    p.add_argument("--force", action="store_true", help="replace an existing key file")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("serve", help="run the collector (stores sealed envelopes)")
    p.add_argument("--db", metavar="PATH|URL",
                   help=f"SQLite database path or postgresql://user@host/db URL (default: ${DB_ENV}, else {DEFAULT_DB})")
    p.add_argument("--key", action="append", metavar="PATH", help="key file, only to print its kid and public key (repeatable)")
    p.add_argument("--only-key", action="append", metavar="PATH",
                   help="accept only envelopes sealed to this key (key file, public part is enough; repeatable)")
    p.add_argument("--token", help=f"read token (default: ${TOKEN_ENV}, else generated and printed)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--site", metavar="DIR", help="static site to serve at /")
    p.add_argument("--demo", action="store_true", help="serve the demo shop API under /demo/api/")
    p.add_argument("--cors-origin", action="append", metavar="ORIGIN", help="allowed origin (repeatable; default: *)")
    p.add_argument("--cors-origin-regex", metavar="REGEX", help="allowed origins as a regular expression (full match)")
    p.add_argument("--rate-limit", type=_rate, default=rate_text(DEFAULT_RATE_LIMIT), metavar="RATE/BURST",
                   help="ingest limit per client address, envelopes/s and burst, or off (default: %(default)s)")
    p.add_argument("--site-rate-limit", type=_rate, default=rate_text(DEFAULT_SITE_RATE_LIMIT), metavar="RATE/BURST",
                   help="ingest limit per site key (kid), or off (default: %(default)s)")
    p.add_argument("--no-rate-limit", action="store_true",
                   help="turn the rate limits off (ingest per address and per kid, alerts per address)")
    p.add_argument("--max-body", type=int, default=MAX_BODY, metavar="BYTES", help="largest ingest body (default: %(default)s)")
    p.add_argument("--body-timeout", type=float, default=DEFAULT_BODY_TIMEOUT, metavar="SECONDS",
                   help="time a client has to send a request body (any route), else 408; 0 for none (default: %(default)s)")
    p.add_argument("--header-timeout", type=_positive, default=DEFAULT_HEADER_TIMEOUT, metavar="SECONDS",
                   help="time a connection has to send a complete request head, else it is closed (default: %(default)s)")
    p.add_argument("--keep-alive", type=_positive, default=5.0, metavar="SECONDS",
                   help="close a keep-alive connection idle this long after a response (default: %(default)s)")
    p.add_argument("--max-connections", type=int, metavar="N",
                   help="open connections at most; over it the longest-idle one is closed "
                        "(default: the open-file limit minus a reserve, e.g. 832 for 1024)")
    p.add_argument("--limit-concurrency", type=int, metavar="N",
                   help="answer 503 beyond N concurrent connections and requests (default: no limit)")
    p.add_argument("--forwarded-allow-ips", metavar="IPS",
                   help="behind a reverse proxy: trust X-Forwarded-For from these addresses (comma list or *)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--retain-days", type=float, default=DEFAULT_RETAIN_DAYS, metavar="DAYS",
                   help="delete envelopes received more than DAYS ago (0: keep forever; default: %(default)s)")
    p.add_argument("--retain-check", type=_positive, default=3600.0, metavar="SECONDS",
                   help="how often expired envelopes are deleted (default: %(default)s)")
    p.add_argument("--max-pending", type=int, default=512, metavar="N",
                   help="ingests waiting for the store before 503 busy (default: %(default)s)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("erase", help="erase sessions from a collector (envelopes, team notes, alert marks)")
    p.add_argument("--url", required=True, help="collector base URL")
    p.add_argument("--token", help=f"read token (default: ${TOKEN_ENV})")
    p.add_argument("--session", action="append", required=True, metavar="SID", help="session id (repeatable)")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")
    p.set_defaults(func=cmd_erase)

    p = sub.add_parser("sessions", help="list sessions stored by a collector")
    p.add_argument("--url", required=True, help="collector base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--token", help=f"read token (default: ${TOKEN_ENV})")
    p.add_argument("--limit", type=int, default=100, help="at most this many, newest first (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the API's JSON (times in epoch ms) instead of a table")
    p.set_defaults(func=cmd_sessions)

    for name, func, helptext, indent in (
        ("decrypt", cmd_decrypt, "print a session's decrypted events as JSON", None),
        ("analyze", cmd_analyze, "print a session's insights and summary as JSON", 2),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--key", action="append", required=True, metavar="PATH",
                       help="private key file (repeat for rotated keys)")
        p.add_argument("--file", metavar="PATH", help="envelopes: JSON array, {\"envelopes\": [...]} or JSON lines")
        p.add_argument("--url", help="collector base URL")
        p.add_argument("--token", help=f"read token (default: ${TOKEN_ENV})")
        p.add_argument("--session", metavar="SID", help="session id")
        p.add_argument("--strict", action="store_true", help="fail if any envelope cannot be opened")
        p.add_argument("--indent", type=int, default=indent, help="JSON indent")
        p.set_defaults(func=func)
    return parser


#: Options whose value may start with "-" (a session id like "-x1y2z3w4", a generated
#: token): ``--session -x...`` is rewritten to ``--session=-x...`` before argparse sees it.
_DASH_VALUES = ("--session", "--token")


def _join_dash_values(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    flags = {flag for action in parser._actions for flag in action.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            flags |= {flag for sub in action.choices.values() for a in sub._actions for flag in a.option_strings}
    out, items = [], list(argv)
    i = 0
    while i < len(items):
        value = items[i + 1] if i + 1 < len(items) else ""
        if items[i] in _DASH_VALUES and value.startswith("-") and value != "--" and value.split("=")[0] not in flags:
            out.append(f"{items[i]}={value}")
            i += 2
            continue
        out.append(items[i])
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sightline`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(_join_dash_values(sys.argv[1:] if argv is None else argv, parser))
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"sightline: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
