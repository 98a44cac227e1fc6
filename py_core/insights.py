"""Session analysis: what happened in one session, and a short summary of it.

``analyze(events)`` is the entry point. It returns a JSON-ready dict:

- ``pages``, ``duration_ms``, ``clicks``, ``inputs``, ``errors``, ``failed_requests``,
  ``rage_clicks``: the facts (kept stable for the viewer and tests/test_e2e.py);
- ``signals``: every frustration and confusion moment (py_core.signals), in time order;
- ``error_paths``: for every error and failed request, the user steps that led to it;
- ``goal``: whether the visitor reached the site's goal, failed at it, or abandoned it;
- ``features``, ``anomaly``, ``sentiment``: the feature vector and the two models' scores,
  each with its top contributing features (py_core.features, .anomaly, .sentiment);
- ``frustration``: ``{"score": P(frustrated), "moments": frustration signals}``, 0-1 for alerts;
- ``summary``: 60 words or fewer, deterministic, naming pages, goal, errors and moments.

Pure Python (standard library only, no numpy: docs/adr/0506-pure-python-scorers-on-device.md)
over the event schema (py_core.events), so CPython and Pyodide give identical results
(tests/test_insights_pyodide.py checks it in Chromium).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import anomaly, sentiment
from .features import NAMES, undefined, vector
from .signals import DEFAULT, FRUSTRATION, KINDS, Thresholds, detect
from .timeline import Timeline, build, describe, page_key

__all__ = ["DEFAULT", "DEFAULT_GOAL", "Goal", "INSIGHTS_VERSION", "MAX_SUMMARY_WORDS", "Thresholds",
           "analyze", "clock", "correlate_errors", "error_paths", "summarize"]

INSIGHTS_VERSION = 2
MAX_SUMMARY_WORDS = 60


@dataclass(frozen=True)
class Goal:
    """What counts as reaching the site's goal (a site may pass its own).

    Reached: a custom event named in `events` was tracked, or a non-GET request whose path
    matches `request_path` succeeded (2xx/3xx). Failed: such a request was sent and failed.
    Abandoned: a form was abandoned, or a page matching `page_path` was seen without any
    attempt. Otherwise the visitor was just browsing."""

    events: tuple[str, ...] = ("purchase", "order_complete", "signup", "goal", "conversion")
    request_path: str = (r"checkout|order|purchase|pay|signup|sign-up|subscribe|register|book|reserv|"
                         r"confirm|enrol|apply|contact|enquir|quote")
    page_path: str = r"checkout|signup|register"
    name: str = "checkout"
    # A page or hash route that says the intent was completed, on any site.
    success_path: str = r"thank|success|confirm(ed|ation)|complete|receipt|done\b"
    # Without the site's words: a non-GET request sent after the visitor typed into a form is
    # the goal's attempt (its success reaches the goal, its failure is "tried and failed").
    after_input: bool = True


DEFAULT_GOAL = Goal()
LAST_STEPS = 5  # user steps kept before each error
STEP_WINDOW_MS = 60_000  # ... from at most this long before it


def analyze(events: list[dict], thresholds: Thresholds = DEFAULT, goal: Goal = DEFAULT_GOAL,
            models: bool = True, compact: bool = False) -> dict:
    """Insights and a summary of one session's events (any order; sorted here).

    ``compact`` (the worker's per-batch call, sealed with every batch) leaves out the
    feature vector and keeps only the names of the top features, for the predicted
    sentiment class: the same scores in about a third of the bytes."""
    tl = build(events)
    if not tl.events:
        return {"version": INSIGHTS_VERSION, "events": 0, "pages": [], "duration_ms": 0,
                "clicks": 0, "inputs": 0, "errors": [], "failed_requests": [], "rage_clicks": [],
                "signals": [], "error_paths": [], "goal": {"outcome": "none", "detail": ""},
                "summary": "Empty session: no events were recorded."}
    moments = detect(tl, thresholds)
    pages: list[str] = []
    for p in tl.pages:
        if not pages or pages[-1] != p.url:
            pages.append(p.url)
    result = {
        "version": INSIGHTS_VERSION,
        "events": len(tl.events),
        "pages": pages,
        "duration_ms": tl.duration,
        "clicks": len(tl.clicks),
        "inputs": len(tl.inputs),
        "errors": [{"at_ms": e["at"], "message": e["message"], "kind": e["kind"]} for e in tl.errors],
        "failed_requests": [{"at_ms": r["at"], "method": r["method"], "url": r["url"], "status": r["status"],
                             "duration_ms": r["duration"]} for r in tl.failed],
        "rage_clicks": [{k: m[k] for k in ("at_ms", "count", "x", "y", "node")}
                        for m in moments if m["kind"] == "rage_click"],
        "signals": moments,
        "error_paths": error_paths(tl),
        "goal": outcome(tl, moments, goal),
    }
    x = vector(tl, moments)
    result["features"] = dict(zip(NAMES, x))
    if models:
        missing = undefined(tl)
        missing = undefined(tl)
        result["anomaly"] = a = anomaly.assess(x)
        too_short = len(tl.events) < MIN_SCORED_EVENTS or tl.duration < MIN_SCORED_MS
        result["sentiment"] = s = sentiment.assess(x)  # the model's own output, unchanged
        rule = _strong_frustration(moments)
        label = "frustrated" if rule else s["label"]
        # Policy (docs/insights.md, ADR 0507): a rule-based signal this strong overrides the
        # model's label in the verdict; reasons never name a feature with no data behind it.
        result["verdict"] = {
            "label": label, "model_label": s["label"], "rule": rule,
            # too short to score: never flagged anomalous for having almost no data
            "too_short": too_short, "anomalous": a["anomalous"] and not too_short,
            "reasons": [f for f in s["top_features"].get(label, []) if f["feature"] not in missing],
            "anomaly_reasons": [f for f in a["top_features"] if f["feature"] not in missing]}
        # The alert rules (py_core.alerts) and the viewer read a 0-1 frustration score.
        score = s["probabilities"].get("frustrated", 0.0)
        result["frustration"] = {"score": score, "moments": sum(1 for m in moments if m["kind"] in FRUSTRATION)}
        if rule:
            result["frustration"]["rule"] = rule
            result["frustration"]["rule_score"] = max(score, STRONG_FRUSTRATION_SCORE)
    if compact:
        del result["features"]
        if models:
            a, s = result["anomaly"], result["sentiment"]
            result["anomaly"] = {"score": a["score"], "anomalous": a["anomalous"],
                                 "top_features": [f["feature"] for f in a["top_features"]]}
            result["sentiment"] = {"label": s["label"], "probabilities": s["probabilities"],
                                   "top_features": [f["feature"] for f in s["top_features"][s["label"]]]}
            v = result["verdict"]
            result["verdict"] = {**v,
                                 "reasons": [f["feature"] for f in v["reasons"]],
                                 "anomaly_reasons": [f["feature"] for f in v["anomaly_reasons"]]}
    result["summary"] = summarize(result)
    return result


# Below this much data a session is "too short to score" for the anomaly model.
MIN_SCORED_EVENTS = 10
MIN_SCORED_MS = 3000
STRONG_FRUSTRATION_SCORE = 0.8


def _strong_frustration(moments: list[dict]) -> str:
    """The rule that makes a session frustrated whatever the model says, or "".

    A rage burst on an action that failed (an error click within the burst's span or
    just after it), or a failing action clicked again and again (three error clicks)."""
    errs = [m["at_ms"] for m in moments if m["kind"] == "error_click"]
    for m in moments:
        if m["kind"] == "rage_click" and any(m["at_ms"] <= t <= m["at_ms"] + 1000 * m["count"] for t in errs):
            return "rage_click on a failing action"
    if len(errs) >= 3:
        return "repeated failing action"
    return ""


def outcome(tl: Timeline, moments: list[dict], goal: Goal = DEFAULT_GOAL) -> dict:
    """Did the visitor reach the goal? ``{"outcome": reached|failed|abandoned|browsing, ...}``."""
    for c in tl.custom:
        if c["name"] in goal.events or c["name"].split(":")[-1] in goal.events:
            return {"outcome": "reached", "at_ms": c["at"], "detail": f"tracked {c['name']}"}
    tries = [r for r in tl.requests if r["method"] != "GET" and re.search(goal.request_path, _path(r["url"]))]
    if not tries and goal.after_input and tl.inputs:
        first_input = tl.inputs[0]["at"]
        tries = [r for r in tl.requests if r["method"] not in ("GET", "HEAD", "OPTIONS") and r["at"] > first_input]
    done = [p for p in tl.pages[1:] if re.search(goal.success_path, p.key, re.I)]
    ok = [r for r in tries if not r["failed"] and 200 <= r["status"] < 400]
    if ok:
        return {"outcome": "reached", "at_ms": ok[0]["at"], "detail": f"{ok[0]['method']} {_path(ok[0]['url'])}"}
    if done:
        return {"outcome": "reached", "at_ms": done[0].start, "detail": f"reached {done[0].key}"}
    if tries:
        last = tries[-1]
        return {"outcome": "failed", "at_ms": last["at"], "attempts": len(tries),
                "detail": f"{last['method']} {_path(last['url'])} {last['status'] or 'network error'}"}
    abandoned = [m for m in moments if m["kind"] == "form_abandonment"]
    if abandoned:
        return {"outcome": "abandoned", "at_ms": abandoned[-1]["at_ms"], "detail": f"form on {_path(abandoned[-1]['page'])}"}
    seen = [p for p in tl.pages if re.search(goal.page_path, _path(p.url))]
    if seen:
        return {"outcome": "abandoned", "at_ms": seen[-1].start, "detail": f"left {_path(seen[-1].url)}"}
    return {"outcome": "browsing", "detail": ""}


# ---------------------------------------------------------------- error correlation


def _steps(tl: Timeline) -> list[dict]:
    """The visitor's steps: page views, clicks, typing into a field, scrolling (runs merged)."""
    raw = ([(p.start, "view", p.url, None) for p in tl.pages]
           + [(c["at"], "click", describe(c.get("node")), ("c", c["at"])) for c in tl.clicks]
           + [(e["at"], "type", describe(e.get("node")), ("i", e["page"], e["i"])) for e in tl.inputs]
           + [(s["at"], "scroll", "page" if s["i"] == 0 else f"element {s['i']}", ("s", s["page"], s["i"]))
              for s in tl.scrolls])
    raw.sort(key=lambda s: (s[0], s[1]))
    steps: list[dict] = []
    for at, action, target, run in raw:
        if action == "view":
            target = _path(target)
        if steps and run is not None and run[0] != "c" and steps[-1]["_run"] == run:
            steps[-1]["last_ms"] = at  # the same field typed into / the same scroll, still going
            continue
        steps.append({"at_ms": at, "last_ms": at, "action": action, "target": target, "_run": run})
    return steps


def error_paths(tl: Timeline, last: int = LAST_STEPS, window_ms: int = STEP_WINDOW_MS) -> list[dict]:
    """For every error and failed request: its signature and the last `last` user steps
    begun before it (those that ended more than `window_ms` before it dropped), each with
    the gap (ms) from the step's last moment to the failure."""
    failures = ([(e["at"], "error", _error_signature(e["message"])) for e in tl.errors]
                + [(r["at"] - (int(r["duration"]) if isinstance(r["duration"], (int, float)) and r["duration"] >= 0 else 0),
                    "request", f"{r['method']} {_path(r['url'])} {r['status'] or 'network error'}") for r in tl.failed])
    steps = _steps(tl)
    starts = [s["at_ms"] for s in steps]
    out = []
    for at, kind, what in sorted(failures):
        k = bisect_right(starts, at)
        before = [s for s in steps[max(0, k - last):k] if at - s["last_ms"] <= window_ms]
        out.append({"at_ms": at, "kind": kind, "what": what,
                    "steps": [{"at_ms": s["at_ms"], "action": s["action"], "target": s["target"],
                               "gap_ms": max(0, at - s["last_ms"])} for s in before]})
    return out


def _error_signature(message: str) -> str:
    """An error message with numbers and quoted values generalised, so repeats group."""
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    first = re.sub(r"\d+", "N", first)
    return re.sub(r"(['\"]).*?\1", r"\1…\1", first)[:120]


def correlate_errors(sessions: list[dict], last: int = 3) -> list[dict]:
    """Across sessions (analyze() results): each failure signature, how often it happened, in
    how many sessions, and the most common sequence of the `last` steps before it."""
    groups: dict[str, dict] = {}
    for k, insight in enumerate(sessions):
        for p in insight.get("error_paths", ()):
            g = groups.setdefault(p["what"], {"what": p["what"], "kind": p["kind"], "count": 0,
                                              "sessions": set(), "paths": {}})
            g["count"] += 1
            g["sessions"].add(k)
            path = tuple(f"{s['action']} {s['target']}" for s in p["steps"][-last:])
            g["paths"][path] = g["paths"].get(path, 0) + 1
    out = []
    for g in groups.values():
        path, n = min(g["paths"].items(), key=lambda kv: (-kv[1], kv[0]))
        out.append({"what": g["what"], "kind": g["kind"], "count": g["count"], "sessions": len(g["sessions"]),
                    "common_steps": list(path), "common_steps_count": n})
    return sorted(out, key=lambda g: (-g["count"], g["what"]))


# ---------------------------------------------------------------- summary


def clock(ms: float) -> str:
    """Milliseconds as m:ss."""
    s = int(ms // 1000)
    return f"{s // 60}:{s % 60:02d}"


def _path(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return (parts.path or "/") + (f"#{parts.fragment}" if parts.fragment else "")


LABELS = {"rage_click": ("rage click", "rage clicks"), "dead_click": ("dead click", "dead clicks"),
          "error_click": ("error click", "error clicks"), "thrashed_cursor": ("cursor thrash", "cursor thrashes"),
          "excessive_scrolling": ("excessive scroll", "excessive scrolls"),
          "scroll_reversals": ("scroll reversal burst", "scroll reversal bursts"),
          "quick_back": ("quick back", "quick backs"), "u_turn": ("U-turn", "U-turns"),
          "form_abandonment": ("abandoned form", "abandoned forms"),
          "field_reentry": ("field re-entry", "field re-entries"), "hesitation": ("hesitation", "hesitations")}


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _times(ats: list[int], keep: int) -> str:
    if keep <= 0:
        return ""
    stamps = list(dict.fromkeys(clock(a) for a in ats))  # moments in the same second share a stamp
    shown = ", ".join(stamps[:keep])
    more = f" +{len(stamps) - keep}" if len(stamps) > keep else ""
    return f" at {shown}{more}"


def _summary(r: dict, pages_shown: int, stamps: int, messages: bool, collapse: bool = False) -> str:
    # The count is page views, as the facts' "Pages" beside the summary; pages seen more than
    # once (or reached again with another query) are said as "N distinct", and listed once.
    paths = list(dict.fromkeys(page_key(u) for u in r["pages"]))
    n, views = len(paths), len(r["pages"])
    inner = f"{n} distinct" if n != views else ""
    if pages_shown and paths:
        listed = ", ".join(paths[:pages_shown]) + (f" +{n - pages_shown}" if n > pages_shown else "")
        inner = f"{inner}: {listed}" if inner else listed
    shown = f" ({inner})" if inner else ""
    parts = [f"Visited {_n(views, 'page', 'pages')}{shown} in {clock(r['duration_ms'])}"
             f" with {_n(r['clicks'], 'click', 'clicks')}."]
    goal = r.get("goal") or {}
    parts.append({"reached": "Reached the goal.", "failed": "Tried the goal but it failed.",
                  "abandoned": f"Abandoned the goal ({goal.get('detail', '')}).",
                  "browsing": "No goal attempt."}.get(goal.get("outcome"), ""))
    failed: dict[str, list[int]] = {}
    causes: dict[str, str] = {}
    for f in r["failed_requests"]:
        what = f"{f['method']} {_path(f['url'])} failed ({f['status'] or 'network'})"
        failed.setdefault(what, []).append(f["at_ms"])
        causes.setdefault(what, _cause(r, "request", f"{f['method']} {_path(f['url'])} {f['status'] or 'network error'}"))
    if collapse and len(failed) > 1:
        endpoints = {(f["method"], _path(f["url"])) for f in r["failed_requests"]}
        parts.append(f"{_n(len(r['failed_requests']), 'failed request', 'failed requests')}"
                     f" to {_n(len(endpoints), 'endpoint', 'endpoints')}.")
        failed = {}
    for what, ats in failed.items():
        after = f" after {causes[what]}" if messages and causes[what] else ""
        parts.append(f"{what}{' ' + _n(len(ats), 'time', 'times') if len(ats) > 1 else ''}"
                     f"{_times(ats, max(stamps, 1) if messages else stamps)}{after}.")
    if r["errors"]:
        first = r["errors"][0]
        msg = f": {' '.join(first['message'].split()[:6])}" if messages else ""
        cause = _cause(r, "error", _error_signature(first["message"]), first["at_ms"]) if messages else ""
        parts.append(f"{_n(len(r['errors']), 'JS error', 'JS errors')}{_times([e['at_ms'] for e in r['errors']], stamps)}"
                     f"{' after ' + cause if cause else ''}{msg}.")
    groups: dict[str, list[int]] = {}
    for m in r.get("signals", ()):
        groups.setdefault(m["kind"], []).append(m["at_ms"])
    for title, kinds in (("Frustration", [k for k in KINDS if k in FRUSTRATION]),
                         ("Confusion", [k for k in KINDS if k not in FRUSTRATION])):
        items = [f"{_n(len(groups[k]), *LABELS[k])}{_times(groups[k], stamps)}" for k in kinds if k in groups]
        if items:
            parts.append(f"{title}: " + "; ".join(items) + ".")
    if not (r["errors"] or r["failed_requests"] or groups):
        parts.append("No errors or frustration.")
    return " ".join(p for p in parts if p)


CAUSE_GAP_MS = 5000  # a click this recent before a failure is taken as what set it off


def _cause(r: dict, kind: str, what: str, at: int | None = None) -> str:
    """The likely cause of the first such failure: the visitor's step just before it (from
    ``error_paths``), the latest click within CAUSE_GAP_MS preferred; "" when none."""
    for p in r.get("error_paths", ()):
        if p["kind"] == kind and p["what"] == what and (at is None or p["at_ms"] == at):
            clicks = [s for s in p["steps"] if s["action"] == "click" and s["gap_ms"] <= CAUSE_GAP_MS]
            step = clicks[-1] if clicks else (p["steps"][-1] if p["steps"] else None)
            return f"{step['action']} {step['target']}" if step and step["action"] != "view" else ""
    return ""


def summarize(r: dict) -> str:
    """A deterministic summary of analyze()'s result in at most MAX_SUMMARY_WORDS words.

    It names the pages (page views, as the facts count them; distinct pages when fewer),
    the goal's outcome, every failing request (grouped, counted, with the step that set
    it off), the JS errors (counted, with the step before the first) and every kind of
    frustration and confusion moment (counted, with timestamps); detail is dropped,
    never a count, until it fits (tests/test_summary_facts.py reads every claim back)."""
    text = ""
    for pages_shown, stamps, messages in ((4, 3, True), (3, 2, True), (2, 1, True), (2, 1, False),
                                          (1, 1, False), (0, 1, False), (0, 0, False)):
        text = _summary(r, pages_shown, stamps, messages)
        if len(text.split()) <= MAX_SUMMARY_WORDS:
            return text
    for stamps in (1, 0):
        text = _summary(r, 0, stamps, False, collapse=True)
        if len(text.split()) <= MAX_SUMMARY_WORDS:
            return text
    words = text.split()
    return " ".join(words[:MAX_SUMMARY_WORDS - 1] + ["…"]) if len(words) > MAX_SUMMARY_WORDS else text


# ---------------------------------------------------------------- for the viewer


def _moment_text(m: dict) -> str:
    label = LABELS[m["kind"]][0].capitalize()
    detail = {"rage_click": lambda: f"{m['count']}× on {m.get('target', '')}",
              "dead_click": lambda: f"on {m.get('target', '')}",
              "error_click": lambda: f"on {m.get('target', '')} → {m.get('failure', '')}",
              "hesitation": lambda: f"{m['why']} {m['wait_ms'] / 1000:.1f} s before {m.get('target', '')}",
              "quick_back": lambda: f"left {_path(m['page'])} after {m['dwell_ms'] / 1000:.1f} s",
              "u_turn": lambda: f"back to {_path(m['page'])}",
              "form_abandonment": lambda: f"{m['fields']} field(s) on {_path(m['page'])}",
              "field_reentry": lambda: f"{m.get('target', '')}",
              "excessive_scrolling": lambda: f"{m['viewports']} viewports",
              }.get(m["kind"], lambda: "")()
    return f"{label}: {detail}" if detail else label


def issue_items(r: dict) -> list[tuple[int, str]]:
    """analyze()'s findings as (at_ms, text) lines for a session's timeline, in time order:
    each failure with the steps that led to it, then every signal."""
    items = []
    for p in r.get("error_paths", ()):
        lead = ", ".join(f"{s['action']} {s['target']} ({s['gap_ms'] / 1000:.1f} s before)" for s in p["steps"][-3:])
        items.append((p["at_ms"], f"{'Error' if p['kind'] == 'error' else 'Failed'}: {p['what']}"
                      + (f" ← {lead}" if lead else "")))
    items += [(m["at_ms"], _moment_text(m)) for m in r.get("signals", ())]
    return sorted(items, key=lambda i: i[0])
