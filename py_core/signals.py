"""Frustration and confusion signals: written definitions, tunable thresholds.

Every detector reads a :class:`py_core.timeline.Timeline` and returns *moments*:
``{"kind", "at_ms", ...details}``. The definitions (docs/insights.md compares them with
Microsoft Clarity's and FullStory's) are in each detector's docstring, and every number
in them is a field of :class:`Thresholds`, which a site may override::

    analyze(events, Thresholds(rage_clicks=4, dead_click_window_ms=1500))
    Thresholds.from_dict({"quick_back_ms": 4000})   # from JSON configuration
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass, fields

from .timeline import FIELD_TAGS, Timeline

KINDS = ("rage_click", "dead_click", "error_click", "thrashed_cursor", "excessive_scrolling",
         "scroll_reversals", "quick_back", "u_turn", "form_abandonment", "field_reentry", "hesitation")
# Signals that mean frustration; the rest mean confusion.
FRUSTRATION = frozenset({"rage_click", "dead_click", "error_click", "thrashed_cursor"})


@dataclass(frozen=True)
class Thresholds:
    """Every number in the signal definitions. Defaults are documented in docs/insights.md."""

    rage_clicks: int = 3  # at least this many clicks ...
    rage_window_ms: int = 1000  # ... within this span of the first ...
    rage_radius_px: float = 30.0  # ... all this close to the first one
    dead_click_window_ms: int = 1000  # no DOM change, request or navigation this soon after a click
    error_click_window_ms: int = 2000  # an error or failed request this soon after a click
    thrash_window_ms: int = 1500  # at least `thrash_reversals` sharp cursor reversals in this span
    thrash_reversals: int = 4
    thrash_min_px: float = 40.0  # a leg shorter than this is not a reversal
    excessive_scroll_viewports: float = 6.0  # distance scrolled on one page view, in viewport heights
    scroll_reversal_min_px: float = 100.0  # a scroll leg shorter than this is not a reversal
    scroll_reversals: int = 3  # at least this many reversals ...
    scroll_reversal_window_ms: int = 10000  # ... within this span
    quick_back_ms: int = 7000  # back to the previous page within this time on the new one
    u_turn_window_ms: int = 60000  # back to an earlier page (not a quick back) within this time
    hesitation_ms: int = 3000  # this long since the last action, before a click or a field's first input ...
    hesitation_min_travel_px: float = 300.0  # ... with the cursor wandering at least this far meanwhile
    hover_ms: int = 1500  # or the cursor resting this long within `hover_radius_px` of the click
    hover_radius_px: float = 40.0

    @classmethod
    def from_dict(cls, values: dict) -> "Thresholds":
        """Thresholds from a JSON object; unknown names and wrong types are refused clearly."""
        if not isinstance(values, dict):
            raise ValueError(f"thresholds are a JSON object of names to numbers, not {type(values).__name__}")
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown threshold(s): {', '.join(unknown)}; known: {', '.join(known)}")
        for name, v in values.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"threshold {name} must be a non-negative number, not {v!r}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT = Thresholds()


def detect(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Every signal of the session, in time order (ties by kind)."""
    found = (rage_clicks(tl, th) + dead_clicks(tl, th) + error_clicks(tl, th) + thrashed_cursor(tl, th)
             + excessive_scrolling(tl, th) + scroll_reversals(tl, th) + quick_backs(tl, th) + u_turns(tl, th)
             + form_abandonment(tl, th) + field_reentry(tl, th) + hesitation(tl, th))
    return sorted(found, key=lambda m: (m["at_ms"], KINDS.index(m["kind"])))


def _dist(ax: float, ay: float, bx: float, by: float) -> float:
    return ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5


def _is_field(click: dict) -> bool:
    node = click.get("node")
    return bool(node) and (node["n"] in FIELD_TAGS or node["a"].get("role") in ("textbox", "combobox"))


def rage_clicks(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Rage click: a cluster of >= `rage_clicks` clicks on one page view, each within
    `rage_radius_px` of the previous one and following it by at most
    ``rage_window_ms / (rage_clicks - 1)`` ms, with some `rage_window_ms` span of the cluster
    holding >= `rage_clicks` of them. Clusters are chained click to click (a sliding window),
    not anchored at a first click, so a lone click shortly before a burst neither opens nor
    splits it. A burst is reported once, at its first click, with all its clicks counted."""
    gap = th.rage_window_ms / max(1, th.rage_clicks - 1)
    chains: list[list[dict]] = []
    for c in tl.clicks:
        last = chains[-1][-1] if chains else None
        if (last is not None and c["page"] == last["page"] and c["at"] - last["at"] <= gap
                and _dist(c["x"], c["y"], last["x"], last["y"]) <= th.rage_radius_px):
            chains[-1].append(c)
        else:
            chains.append([c])
    out = []
    for chain in chains:
        if len(chain) < th.rage_clicks:
            continue
        times = [c["at"] for c in chain]
        if not _episodes(times, th.rage_clicks, th.rage_window_ms):
            continue
        first = chain[0]
        out.append({"kind": "rage_click", "at_ms": first["at"], "count": len(chain), "x": first["x"],
                    "y": first["y"], "node": first["i"], "target": _target(first)})
    return out


def _target(click: dict) -> str:
    from .timeline import describe
    return describe(click.get("node"))


def _responded(tl: Timeline, at: int, window: int) -> bool:
    """Did the page react (DOM change, request start, navigation, error) in (at, at+window]?"""
    k = bisect_right(tl.responses, at)
    return k < len(tl.responses) and tl.responses[k] <= at + window


def dead_clicks(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Dead click: a click on anything but a form field after which, within
    `dead_click_window_ms`, no DOM change, request, navigation, error or scroll follows."""
    scroll_times = [s["at"] for s in tl.scrolls]
    out = []
    for c in tl.clicks:
        if _is_field(c) or _responded(tl, c["at"], th.dead_click_window_ms):
            continue
        k = bisect_right(scroll_times, c["at"])
        if k < len(scroll_times) and scroll_times[k] <= c["at"] + th.dead_click_window_ms:
            continue
        out.append({"kind": "dead_click", "at_ms": c["at"], "x": c["x"], "y": c["y"], "node": c["i"],
                    "target": _target(c)})
    return out


def error_clicks(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Error click: a click followed, before the next click and within
    `error_click_window_ms`, by a JavaScript error or the start of a request that failed
    (status 0 or >= 400). Reported once per click, naming the first failure."""
    failures = sorted([(e["at"], e["message"][:80]) for e in tl.errors]
                      + [(_started(r), f"{r['method']} {_short(r['url'])} {r['status'] or 'network error'}")
                         for r in tl.failed])
    times = [f[0] for f in failures]
    out = []
    for n, c in enumerate(tl.clicks):
        end = c["at"] + th.error_click_window_ms
        if n + 1 < len(tl.clicks):
            end = min(end, tl.clicks[n + 1]["at"] - 1)
        k = bisect_left(times, c["at"])
        if k < len(times) and times[k] <= end:
            out.append({"kind": "error_click", "at_ms": c["at"], "node": c["i"], "target": _target(c),
                        "failure": failures[k][1], "gap_ms": times[k] - c["at"]})
    return out


def _started(r: dict) -> int:
    """When a request began: it is logged on completion, `duration` ms later."""
    d = r.get("duration")
    return r["at"] - int(d) if isinstance(d, (int, float)) and not isinstance(d, bool) and 0 <= d <= r["at"] else r["at"]


def _short(url: str) -> str:
    from urllib.parse import urlsplit
    try:
        return urlsplit(url).path or url
    except ValueError:
        return url


def _reversal_times(samples: list[tuple[int, float]], min_leg: float) -> list[int]:
    """Times at which a 1-D trace turns back by at least `min_leg` from its furthest point."""
    out: list[int] = []
    if len(samples) < 2:
        return out
    anchor = extreme = samples[0][1]
    d = 0
    for at, v in samples[1:]:
        if d == 0:
            if abs(v - anchor) >= min_leg:
                d, extreme = (1 if v > anchor else -1), v
        elif (v - extreme) * d > 0:
            extreme = v  # the leg goes on
        elif abs(v - extreme) >= min_leg:
            out.append(at)  # turned back far enough
            d, extreme = -d, v
    return out


def _episodes(times: list[int], count: int, window: int) -> list[tuple[int, int, int]]:
    """Non-overlapping runs of >= count times within window: (start, end, n)."""
    out, i = [], 0
    while i < len(times):
        j = i
        while j + 1 < len(times) and times[j + 1] - times[i] <= window:
            j += 1
        if j - i + 1 >= count:
            out.append((times[i], times[j], j - i + 1))
            i = j + 1
        else:
            i += 1
    return out


def _strokes(tl: Timeline, gap_ms: int = 300) -> list[list[tuple[int, float, float]]]:
    """The cursor path cut into continuous strokes: a pause longer than `gap_ms` or a new
    page view ends a stroke (the pointer's jump between pages is no movement)."""
    starts = [p.start for p in tl.pages]
    out: list[list[tuple[int, float, float]]] = []
    for m in tl.mouse:
        if (out and m[0] - out[-1][-1][0] <= gap_ms
                and bisect_right(starts, m[0]) == bisect_right(starts, out[-1][-1][0])):
            out[-1].append(m)
        else:
            out.append([m])
    return out


def thrashed_cursor(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Thrashed cursor: >= `thrash_reversals` sharp reversals of the cursor (horizontal or
    vertical, each leg >= `thrash_min_px`; both at once count once) within
    `thrash_window_ms`, in one continuous stroke (no pause over 300 ms, one page view)."""
    out = []
    for stroke in _strokes(tl):
        xs = _reversal_times([(at, x) for at, x, _ in stroke], th.thrash_min_px)
        ys = _reversal_times([(at, y) for at, _, y in stroke], th.thrash_min_px)
        out += [{"kind": "thrashed_cursor", "at_ms": a, "duration_ms": b - a, "reversals": n}
                for a, b, n in _episodes(sorted(set(xs + ys)), th.thrash_reversals, th.thrash_window_ms)]
    return out


def _window_scrolls(tl: Timeline) -> dict[int, list[dict]]:
    by_page: dict[int, list[dict]] = {}
    for s in tl.scrolls:
        if s["i"] == 0:
            by_page.setdefault(s["page"], []).append(s)
    return by_page


def excessive_scrolling(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Excessive scrolling: on one page view, the window scrolled a total distance (both
    directions) of at least `excessive_scroll_viewports` viewport heights. Once per page view,
    at the scroll that crossed the line."""
    out = []
    for page, scrolls in _window_scrolls(tl).items():
        h = tl.pages[page].height if 0 <= page < len(tl.pages) and tl.pages[page].height else 800
        total, last = 0.0, 0.0
        for s in scrolls:
            total += abs(s["y"] - last)
            last = s["y"]
            if total >= th.excessive_scroll_viewports * h:
                out.append({"kind": "excessive_scrolling", "at_ms": s["at"], "viewports": round(total / h, 1),
                            "page": tl.pages[page].url if 0 <= page < len(tl.pages) else ""})
                break
    return out


def scroll_reversals(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Scroll reversals: >= `scroll_reversals` changes of the window's scroll direction (each
    leg >= `scroll_reversal_min_px`) within `scroll_reversal_window_ms` on one page view."""
    out = []
    for scrolls in _window_scrolls(tl).values():
        trace = [(scrolls[0]["at"], 0.0)] + [(s["at"], s["y"]) for s in scrolls]
        times = _reversal_times(trace, th.scroll_reversal_min_px)
        out += [{"kind": "scroll_reversals", "at_ms": a, "duration_ms": b - a, "reversals": n}
                for a, b, n in _episodes(times, th.scroll_reversals, th.scroll_reversal_window_ms)]
    return out


def quick_backs(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Quick back: the visitor returns to the page they came from (A -> B -> A) after less
    than `quick_back_ms` on B. Reported at the return."""
    out, p = [], tl.pages
    for k in range(2, len(p)):
        if p[k].key == p[k - 2].key != p[k - 1].key and p[k].start - p[k - 1].start < th.quick_back_ms:
            out.append({"kind": "quick_back", "at_ms": p[k].start, "page": p[k - 1].url,
                        "dwell_ms": p[k].start - p[k - 1].start})
    return out


def u_turns(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """U-turn: the visitor comes back to a page they left, within `u_turn_window_ms` of leaving
    it, after at least one other page, unless that return is a quick back."""
    quick = {q["at_ms"] for q in quick_backs(tl, th)}
    out, p = [], tl.pages
    for k in range(1, len(p)):
        if p[k].start in quick or p[k].key == p[k - 1].key:
            continue
        for j in range(k - 2, -1, -1):
            if p[j].key == p[k].key:
                if p[k].start - p[j].end <= th.u_turn_window_ms:
                    out.append({"kind": "u_turn", "at_ms": p[k].start, "page": p[k].url,
                                "away_ms": p[k].start - p[j].end, "via": k - j - 1})
                break
    return out


def _committed(tl: Timeline, page: int, after: int) -> bool:
    """Did the visitor send what they typed: a non-GET request, or a page left by a click on a
    submit button?"""
    if any(r["page"] == page and r["at"] >= after and r["method"] != "GET" for r in tl.requests):
        return True
    for c in tl.clicks:
        node = c.get("node")
        if c["page"] == page and c["at"] >= after and node and (
                node["a"].get("type") == "submit" or (node["n"] == "button" and "type" not in node["a"])):
            if page + 1 < len(tl.pages) and tl.pages[page + 1].start - c["at"] <= 3000:
                return True
    return False


def form_abandonment(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Form abandonment: a page view in which the visitor typed into fields but never sent the
    form (no non-GET request, no submit click that led to a new page) before leaving it or the
    session ending. Reported at the last input."""
    out = []
    by_page: dict[int, list[dict]] = {}
    for e in tl.inputs:
        if e["text"]:
            by_page.setdefault(e["page"], []).append(e)
    for page, inputs in sorted(by_page.items()):
        if not _committed(tl, page, inputs[0]["at"]):
            out.append({"kind": "form_abandonment", "at_ms": inputs[-1]["at"],
                        "fields": len({e["i"] for e in inputs}),
                        "page": tl.pages[page].url if 0 <= page < len(tl.pages) else ""})
    return out


def field_reentry(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Field re-entry: the visitor types into a field, moves on to another field, then comes
    back to type into the first one again. Reported at the return, once per field and page."""
    out, seen = [], set()
    last: dict[int, tuple[int | None, set]] = {}
    for e in tl.inputs:
        if not e["text"]:
            continue
        prev, done = last.get(e["page"], (None, set()))
        if e["i"] != prev:
            if e["i"] in done and (e["page"], e["i"]) not in seen:
                seen.add((e["page"], e["i"]))
                out.append({"kind": "field_reentry", "at_ms": e["at"], "node": e["i"],
                            "target": _target(e)})
            if prev is not None:
                done.add(prev)
        last[e["page"]] = (e["i"], done)
    return out


def hesitation(tl: Timeline, th: Thresholds = DEFAULT) -> list[dict]:
    """Hesitation: before a click, or before the first input into a field, either
    (dwell) at least `hesitation_ms` passed since the visitor's previous action (click, input,
    scroll or page view) while the cursor wandered at least `hesitation_min_travel_px`, or
    (hover) the cursor rested within `hover_radius_px` of the click point for `hover_ms`."""
    actions = sorted([c["at"] for c in tl.clicks] + [e["at"] for e in tl.inputs]
                     + [s["at"] for s in tl.scrolls] + [p.start for p in tl.pages])
    mouse_t = [m[0] for m in tl.mouse]
    targets = [(c["at"], c["x"], c["y"], c) for c in tl.clicks]
    seen_fields: set = set()
    for e in tl.inputs:
        if (e["page"], e["i"]) not in seen_fields:
            seen_fields.add((e["page"], e["i"]))
            targets.append((e["at"], None, None, e))
    out = []
    for at, x, y, what in sorted(targets, key=lambda t: t[0]):
        k = bisect_left(actions, at)
        prev = actions[k - 1] if k > 0 else 0
        lo, hi = bisect_left(mouse_t, prev), bisect_right(mouse_t, at)
        path = tl.mouse[lo:hi]
        if at - prev >= th.hesitation_ms:
            travel = sum(_dist(a[1], a[2], b[1], b[2]) for a, b in zip(path, path[1:]))
            if travel >= th.hesitation_min_travel_px:
                out.append({"kind": "hesitation", "at_ms": at, "why": "dwell", "wait_ms": at - prev,
                            "target": _target(what)})
                continue
        if x is not None and path:
            rest = at
            for m in reversed(path):
                if _dist(m[1], m[2], x, y) > th.hover_radius_px:
                    break
                rest = m[0]
            if at - rest >= th.hover_ms:
                out.append({"kind": "hesitation", "at_ms": at, "why": "hover", "wait_ms": at - rest,
                            "target": _target(what)})
    return out
