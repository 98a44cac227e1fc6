"""Session analysis: what happened in one session, and a short summary of it.

``analyze(events)`` is the entry point. It is pure Python over the event schema
(py_core.events), so it gives identical results in CPython and in Pyodide.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .events import EventType as T, sort_events

INSIGHTS_VERSION = 1


@dataclass(frozen=True)
class Thresholds:
    """Tunable definitions of the signals (a site may pass its own)."""

    rage_clicks: int = 3  # at least this many clicks ...
    rage_window_ms: int = 1000  # ... within this span ...
    rage_radius_px: float = 30.0  # ... all this close to the first one


DEFAULT = Thresholds()


def analyze(events: list[dict], thresholds: Thresholds = DEFAULT) -> dict:
    """Insights and a summary of one session's events (any order; sorted here)."""
    events = sort_events(events)
    if not events:
        return {"version": INSIGHTS_VERSION, "events": 0, "pages": [], "duration_ms": 0,
                "clicks": 0, "inputs": 0, "errors": [], "failed_requests": [],
                "rage_clicks": [], "summary": "Empty session: no events were recorded."}
    start = events[0]["ts"]
    pages: list[str] = []
    errors, failed, clicks = [], [], []
    inputs = 0
    for e in events:
        t, at = e["t"], e["ts"] - start
        if t in (T.META, T.NAVIGATION) and isinstance(e.get("u"), str):
            if not pages or pages[-1] != e["u"]:
                pages.append(e["u"])
        elif t == T.CLICK:
            clicks.append(e)
        elif t == T.INPUT:
            inputs += 1
        elif t == T.ERROR:
            errors.append({"at_ms": at, "message": str(e.get("m", ""))[:300], "kind": e.get("k", "error")})
        elif t == T.NETWORK and _failed(e):
            failed.append({"at_ms": at, "method": e.get("m", "GET"), "url": e.get("u", ""),
                           "status": e.get("s", 0), "duration_ms": e.get("d")})
    rage = [{**r, "at_ms": r["at_ms"] - start} for r in rage_clicks(clicks, thresholds)]
    result = {
        "version": INSIGHTS_VERSION,
        "events": len(events),
        "pages": pages,
        "duration_ms": events[-1]["ts"] - start,
        "clicks": len(clicks),
        "inputs": inputs,
        "errors": errors,
        "failed_requests": failed,
        "rage_clicks": rage,
    }
    result["summary"] = summarize(result)
    return result


def _failed(e: dict) -> bool:
    status = e.get("s")
    return isinstance(status, int) and (status == 0 or status >= 400)


def rage_clicks(clicks: list[dict], th: Thresholds = DEFAULT) -> list[dict]:
    """Bursts of clicks close in time and space; each burst is reported once."""
    bursts, i = [], 0
    while i < len(clicks):
        first, j = clicks[i], i + 1
        while (j < len(clicks) and clicks[j]["ts"] - first["ts"] <= th.rage_window_ms
               and _dist(clicks[j], first) <= th.rage_radius_px):
            j += 1
        if j - i >= th.rage_clicks:
            bursts.append({"at_ms": first["ts"], "count": j - i, "x": first.get("x"),
                           "y": first.get("y"), "node": first.get("i")})
            i = j
        else:
            i += 1
    return bursts


def _dist(a: dict, b: dict) -> float:
    dx = (a.get("x") or 0) - (b.get("x") or 0)
    dy = (a.get("y") or 0) - (b.get("y") or 0)
    return (dx * dx + dy * dy) ** 0.5


def clock(ms: float) -> str:
    """Milliseconds as m:ss."""
    s = int(ms // 1000)
    return f"{s // 60}:{s % 60:02d}"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"#{parts.fragment}" if parts.fragment else "")


def summarize(r: dict) -> str:
    """A deterministic few-sentence summary of analyze()'s result."""
    paths = list(dict.fromkeys(_path(u) for u in r["pages"]))
    n = len(paths)
    shown = ", ".join(paths[:4]) + (f" and {n - 4} more" if n > 4 else "")
    words = [f"Visited {n} page{'s' if n != 1 else ''} ({shown}) in {clock(r['duration_ms'])}"
             f" with {r['clicks']} click{'s' if r['clicks'] != 1 else ''}."]
    if r["errors"]:
        first = r["errors"][0]
        words.append(f"{len(r['errors'])} error{'s' if len(r['errors']) != 1 else ''}, first at "
                     f"{clock(first['at_ms'])}: {first['message'][:60]}.")
    for f in r["failed_requests"][:2]:
        words.append(f"{f['method']} {_path(f['url'])} failed ({f['status'] or 'network'}) at {clock(f['at_ms'])}.")
    if len(r["failed_requests"]) > 2:
        words.append(f"{len(r['failed_requests']) - 2} more failed requests.")
    if r["rage_clicks"]:
        at = ", ".join(clock(b["at_ms"]) for b in r["rage_clicks"][:3])
        words.append(f"Rage clicks at {at}.")
    if not (r["errors"] or r["failed_requests"] or r["rage_clicks"]):
        words.append("No errors or frustration.")
    return " ".join(words)
