"""The smart summary agrees with the facts shown beside it (issue 15, item 6).

Every claim the summary makes is read back out of its text and compared with what
`analyze()` computed and the viewer shows as facts: page views, duration, clicks, JS
errors, failed requests (and their methods, paths, statuses), each kind of moment, the
goal's outcome. Coverage: every error, failed request and moment kind is claimed. Over
every recorded session in the project's corpora (tests/events/corpus; bench/corpus holds
text for the masking bench, and any session file placed there is read too) and over
hand-made sessions shaped like the issue's cases (hash routes, revisits, failed requests
without JS errors, many failing endpoints, a failed booking, a reached one).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from py_core.events import EventType as T
from py_core.insights import LABELS, MAX_SUMMARY_WORDS, _path, analyze, clock
from py_core.timeline import page_key

ROOT = Path(__file__).resolve().parent.parent
CORPORA = (ROOT / "tests" / "events" / "corpus", ROOT / "bench" / "corpus")
T0 = 1_700_000_000_000
GOAL_TEXT = {"reached": "Reached the goal.", "failed": "Tried the goal but it failed.",
             "abandoned": "Abandoned the goal", "browsing": "No goal attempt."}


def recorded() -> list[Path]:
    return sorted(p for d in CORPORA for p in d.glob("*.json.gz"))


def facts(r: dict) -> dict:
    """What the viewer shows beside the summary (viewer/main.py open_session), from analyze()."""
    return {"pages": len(r["pages"]), "distinct": len(dict.fromkeys(page_key(u) for u in r["pages"])),
            "duration": clock(r["duration_ms"]), "clicks": r["clicks"], "errors": len(r["errors"]),
            "failed": len(r["failed_requests"]), "rage": len(r["rage_clicks"])}


def _count(text: str, one: str, many: str) -> int | None:
    """The number the summary claims for `one`/`many` (None: not claimed)."""
    m = re.search(rf"\b(\d+) (?:{re.escape(one)}|{re.escape(many)})\b", text)
    return int(m.group(1)) if m else None


def check(r: dict) -> None:
    """Every claim in r's summary matches the facts; every failure and moment kind is claimed."""
    s, f = r["summary"], facts(r)
    assert len(s.split()) <= MAX_SUMMARY_WORDS, s
    visited = re.match(r"Visited (\d+) pages?(?: \((\d+) distinct)?.*? in (\d+:\d\d) with (\d+) clicks?\.", s)
    assert visited, s
    assert int(visited.group(1)) == f["pages"], (s, f)  # page views, as the facts' "Pages"
    if visited.group(2) or f["distinct"] != f["pages"]:
        assert visited.group(2) and int(visited.group(2)) == f["distinct"], (s, f)
    assert visited.group(3) == f["duration"] and int(visited.group(4)) == f["clicks"], (s, f)
    shown = re.match(r"Visited [^(]*\(((?:\d+ distinct: )?)([^)]*)\)", s)
    if shown and not re.fullmatch(r"\d+ distinct", shown.group(2)):  # the paths named are the session's own page keys, in order of first visit
        keys = list(dict.fromkeys(page_key(u) for u in r["pages"]))
        named = [p for p in shown.group(2).split(", ") if not re.fullmatch(r"\+\d+", p)]
        more = re.search(r"\+(\d+)$", shown.group(2))
        named = [re.sub(r" \+\d+$", "", p) for p in named]
        assert named == keys[:len(named)], (s, keys)
        assert len(named) + (int(more.group(1)) if more else 0) == len(keys), (s, keys)
    # the goal: exactly the outcome's sentence, and no other outcome's
    outcome = r["goal"]["outcome"]
    for name, text in GOAL_TEXT.items():
        assert (text in s) == (name == outcome), (outcome, s)
    # JS errors (never the failed requests' count)
    assert (_count(s, "JS error", "JS errors") or 0) == f["errors"], (s, f)
    # failed requests: each group's count, or the collapsed total, adds up to the facts
    total = re.search(r"(\d+) failed requests? to (\d+) endpoints?", s)
    groups = re.findall(r"([A-Z]+) (\S+) failed \((\d+|network)\)(?: (\d+) times)?", s)
    if total:
        assert int(total.group(1)) == f["failed"], (s, f)
        assert int(total.group(2)) == len({(q["method"], _path(q["url"])) for q in r["failed_requests"]}), s
    else:
        assert sum(int(g[3] or 1) for g in groups) == f["failed"], (s, f)
        claimed = Counter()
        for method, path, status, times in groups:
            claimed[(method, path, status)] += int(times or 1)
        actual = Counter()
        for q in r["failed_requests"]:
            actual[(q["method"], _path(q["url"]), str(q["status"] or "network"))] += 1
        assert claimed == actual, (s, r["failed_requests"])
    # causes: "after <step>" names a step the visitor took before that failure (its error path)
    steps = {f"{st['action']} {st['target']}" for p in r["error_paths"] for st in p["steps"]}
    for rest in s.split(" after ")[1:]:
        assert any(rest.startswith(step) for step in steps), (rest, s)
    # moments: each kind's count, and nothing claimed that did not happen
    kinds = Counter(m["kind"] for m in r["signals"])
    for kind, (one, many) in LABELS.items():
        assert (_count(s, one, many) or 0) == kinds.get(kind, 0), (kind, s)
    assert kinds.get("rage_click", 0) == f["rage"]
    assert ("No errors or frustration." in s) == (not (f["errors"] or f["failed"] or kinds)), s
    # every time stamp lies within the session
    for stamp in re.findall(r"\b(\d+):(\d\d)\b", s):
        assert int(stamp[0]) * 60 + int(stamp[1]) <= r["duration_ms"] // 1000, s


@pytest.mark.parametrize("path", recorded(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_summary_agrees_with_the_facts_on_recorded_sessions(path):
    """Each recorded session's summary claims exactly the computed facts."""
    rec = json.loads(gzip.decompress(path.read_bytes()))
    check(analyze(rec["events"]))


def test_the_corpora_hold_sessions():
    """The test above is not vacuous: the corpora hold the 80 recorded persona sessions at least."""
    assert len(recorded()) >= 80


# --------------------------------------------------------------------------- hand-made sessions


def load(ts: int, url: str, nodes=()) -> list[dict]:
    body = {"i": 3, "t": 1, "n": "body", "a": {}, "c": list(nodes)}
    tree = {"i": 1, "t": 9, "c": [{"i": 2, "t": 1, "n": "html", "a": {}, "c": [body]}]}
    return [{"t": T.META, "ts": ts, "u": url, "w": 1000, "h": 700}, {"t": T.SNAPSHOT, "ts": ts, "n": tree}]


def button(i: int, text: str) -> dict:
    return {"i": i, "t": 1, "n": "button", "a": {"id": f"b{i}"}, "c": [{"i": i + 1000, "t": 3, "x": text}]}


def nav(ts: int, url: str, kind: str = "push") -> dict:
    return {"t": T.NAVIGATION, "ts": ts, "u": url, "k": kind}


def click(ts: int, i: int = 10, x: float = 100, y: float = 100) -> dict:
    return {"t": T.CLICK, "ts": ts, "i": i, "x": x, "y": y}


def request(ts: int, url: str, status: int, method: str = "POST") -> dict:
    return {"t": T.NETWORK, "ts": ts, "k": "fetch", "m": method, "u": url, "s": status, "d": 40}


def revisits() -> list[dict]:
    """Home, products, home again, cart (with a query), home: five page views of three pages."""
    out = load(T0, "https://shop.test/", [button(10, "Go")])
    for k, u in enumerate(("https://shop.test/products", "https://shop.test/", "https://shop.test/cart?x=1",
                           "https://shop.test/")):
        out += load(T0 + 5000 * (k + 1), u, [button(10, "Go")]) + [click(T0 + 5000 * (k + 1) + 2000)]
    return out


def hash_routes() -> list[dict]:
    """A one-page app: four hash routes, each reported as popstate and hashchange."""
    out = load(T0, "https://inn.test/#/rooms", [button(10, "Next")])
    for k, route in enumerate(("#/dates", "#/guests", "#/rooms", "#/pay")):
        ts = T0 + 4000 * (k + 1)
        out += [click(ts - 300), nav(ts, f"https://inn.test/{route}", "pop"), nav(ts + 2, f"https://inn.test/{route}", "hash")]
    return out


def failed_requests_only() -> list[dict]:
    """Twelve failed requests and no JS error: the summary must say 0 JS errors by saying none."""
    out = load(T0, "https://app.test/dash", [button(10, "Refresh")])
    for k in range(12):
        out += [click(T0 + 1000 + 1500 * k), request(T0 + 1100 + 1500 * k, f"https://app.test/api/w{k % 2}?t={k}", 503, "GET")]
    return out


def many_endpoints() -> list[dict]:
    out = load(T0, "https://app.test/", [button(10, "Save"), button(11, "Other")])
    for k in range(30):
        out += [request(T0 + 1000 + 700 * k, f"https://app.test/api/e{k % 7}", 500 + k % 3),
                {"t": T.ERROR, "ts": T0 + 1100 + 700 * k, "m": f"TypeError: x{k} is undefined", "k": "error"},
                click(T0 + 1200 + 700 * k, 11), click(T0 + 1250 + 700 * k, 11), click(T0 + 1300 + 700 * k, 11)]
    return out


def booking(status: int) -> list[dict]:
    """Typing into a form, then a POST that succeeds (reached) or fails twice (failed)."""
    out = load(T0, "https://inn.test/#/details", [{"i": 12, "t": 1, "n": "input", "a": {"name": "guest"}, "c": []},
                                                  button(14, "Book")])
    out += [{"t": T.INPUT, "ts": T0 + 1000, "i": 12, "v": "***"}, click(T0 + 3000, 14),
            request(T0 + 3200, "https://inn.test/api/stays", status)]
    if status >= 400:
        out += [click(T0 + 6000, 14), request(T0 + 6200, "https://inn.test/api/stays", status),
                {"t": T.ERROR, "ts": T0 + 6300, "m": "Booking failed", "k": "error"}]
    return out


HAND_MADE = {"revisits": revisits, "hash routes": hash_routes, "failed requests only": failed_requests_only,
             "many endpoints": many_endpoints, "booking reached": lambda: booking(201),
             "booking failed": lambda: booking(503)}


@pytest.mark.parametrize("name", HAND_MADE)
def test_summary_agrees_with_the_facts_on_hand_made_sessions(name):
    """The issue's shapes: revisits, hash routes, failed requests without errors, many endpoints, bookings."""
    check(analyze(HAND_MADE[name]()))


def test_the_issue_cases_read_right():
    """'Visited 3 pages' beside 'Pages: 4', a JS error count made of failed requests, and '21 endpoints' for 7
    cannot happen; bookings say their outcome; each failure names the click that set it off."""
    r = analyze(revisits())
    assert facts(r)["pages"] == 5 and r["summary"].startswith("Visited 5 pages (3 distinct: /, /products, /cart)")
    r = analyze(failed_requests_only())
    assert "JS error" not in r["summary"] and facts(r) | {"errors": 0, "failed": 12} == facts(r)
    assert "GET /api/w0 failed (503) 6 times" in r["summary"] and "after click button#b10 'Refresh'" in r["summary"]
    assert "30 failed requests to 7 endpoints." in analyze(many_endpoints())["summary"]
    assert analyze(booking(201))["summary"].count("Reached the goal.") == 1
    failed = analyze(booking(503))["summary"]
    assert "Tried the goal but it failed. POST /api/stays failed (503) 2 times at 0:03, 0:06 after click button#b14 'Book'." in failed
    assert "1 JS error at 0:06 after click button#b14 'Book': Booking failed." in failed
    assert facts(analyze(hash_routes()))["pages"] == 5
