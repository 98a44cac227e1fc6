"""Aggregation across sessions for the viewer: heatmaps, journeys and scroll paths.

Pure Python over the event schema (py_core.events), so the viewer runs it in Pyodide
on decrypted sessions and the tests run it in CPython. Input everywhere is a list of
sessions, each ``{"sid": str, "events": [event, ...]}``.

Heatmaps are *anchored to elements*: a click is counted on the element it hit, named by
a CSS selector path that is the same in every session of the page (``#id`` where the
element has a stable id, else ``tag:nth-of-type(k)`` steps from ``html``), plus the
click's position inside that element as fractions ``fx, fy`` in 0..1 when the viewer
measured it (it replays the session to the click and reads the element's box; see
docs/viewer.md). Drawn on any snapshot of the page at any width, a click lands on the
same element, so responsive layouts aggregate correctly. Views are split by viewport
width into buckets (:data:`WIDTH_BUCKETS`).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Iterable

from .timeline import page_key  # the one page key (path + hash route), shared with the insights
from .events import EventType as T, expand_ids, sort_events

__all__ = [
    "WIDTH_BUCKETS",
    "NodeIndex",
    "heatmap",
    "journeys",
    "page_key",
    "page_views",
    "pages",
    "scroll_paths",
    "views_of",
    "width_bucket",
]

#: Viewport width buckets: (name, lowest width in px), widest last.
WIDTH_BUCKETS = (("mobile", 0), ("tablet", 768), ("desktop", 1024))
_STABLE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
#: Ids that look generated (framework counters, hashes) are not used as anchors.
_GENERATED_ID = re.compile(r".*\d{3,}.*|[a-f0-9]{8,}|:r\d+:")


def width_bucket(width: int | float | None) -> str:
    """The bucket name of a viewport width (unknown widths count as desktop)."""
    if not width:
        return WIDTH_BUCKETS[-1][0]
    name = WIDTH_BUCKETS[0][0]
    for bucket, low in WIDTH_BUCKETS:
        if width >= low:
            name = bucket
    return name


class NodeIndex:
    """The recorded DOM of one page view as a tree of ids, kept current through mutations.

    Answers "what is the stable selector of node ``i``" at any moment of the page view.
    """

    def __init__(self) -> None:
        self.tag: dict[int, str] = {}
        self.attrs: dict[int, dict] = {}
        self.parent: dict[int, int] = {}
        self.children: dict[int, list[int]] = defaultdict(list)
        self.text: dict[int, str] = {}

    def load(self, tree: dict, parent: int | None = None) -> None:
        """Add a serialized subtree (a snapshot's ``n`` or a mutation's added node)."""
        if isinstance(tree, dict):
            expand_ids(tree)
        stack = [(tree, parent)]
        while stack:
            node, up = stack.pop()
            i = node.get("i")
            if not isinstance(i, int):
                continue
            if node.get("t") == 1:
                self.tag[i] = str(node.get("n", "")).lower()
                self.attrs[i] = node.get("a") or {}
            elif node.get("t") == 3:
                self.text[i] = str(node.get("x") or "")
            if up is not None:
                self.parent[i] = up
                self.children[up].append(i)
            for child in reversed(node.get("c") or ()):
                stack.append((child, i))

    def mutate(self, ev: dict) -> None:
        """Apply a MUTATION event's removals, additions and attribute changes."""
        for _, i in ev.get("rm") or ():
            up = self.parent.pop(i, None)
            if up is not None and i in self.children[up]:
                self.children[up].remove(i)
        for up, nxt, node in ev.get("ad") or ():
            if up not in self.tag and up not in self.children:
                continue
            self.load(node, None)
            i = node.get("i")
            if not isinstance(i, int):
                continue
            self.parent[i] = up
            kids = self.children[up]
            kids.insert(kids.index(nxt) if nxt in kids else len(kids), i)
        for i, changed in ev.get("at") or ():
            if i in self.attrs and isinstance(changed, dict):
                for k, v in changed.items():
                    if v is None:
                        self.attrs[i].pop(k, None)
                    else:
                        self.attrs[i][k] = v
        for i, x in ev.get("tx") or ():
            if i in self.text:
                self.text[i] = str(x or "")

    def selector(self, i: int) -> str | None:
        """A CSS selector for element ``i`` that is the same in every session of the page."""
        if i not in self.tag:
            i = self.parent.get(i)  # a text node: its element
            if i is None or i not in self.tag:
                return None
        steps: list[str] = []
        seen = 0
        while i is not None and i in self.tag and seen < 64:
            seen += 1
            tag = self.tag[i]
            eid = self.attrs[i].get("id")
            if isinstance(eid, str) and _STABLE_ID.fullmatch(eid) and not _GENERATED_ID.fullmatch(eid):
                steps.append(f"#{eid}")
                break
            up = self.parent.get(i)
            if tag in ("html", "body", "head") or up is None:
                steps.append(tag)
            else:
                same = [k for k in self.children[up] if self.tag.get(k) == tag]
                steps.append(f"{tag}:nth-of-type({same.index(i) + 1})")
            i = up
        return " > ".join(reversed(steps)) or None

    def label(self, i: int, limit: int = 40) -> str:
        """A short human label for element ``i``: its text (already masked), else tag and id."""
        el = i if i in self.tag else self.parent.get(i)
        if el is None:
            return "?"
        words: list[str] = []
        stack = [el]
        while stack and sum(map(len, words)) < limit:
            k = stack.pop()
            if k in self.text:
                words.append(self.text[k].strip())
            stack.extend(reversed(self.children.get(k, ())))
        text = " ".join(w for w in words if w)
        if text:
            return text[:limit]
        tag, eid = self.tag.get(el, "?"), self.attrs.get(el, {}).get("id")
        return f"{tag}#{eid}" if eid else tag


def page_views(session: dict) -> list[dict]:
    """Split a session into page views with everything the aggregations need.

    Each view: ``{sid, index, url, page, start, end, width, height, bucket, clicks,
    moves, scrolls}``; ``clicks`` carry ``selector``, ``label``, viewport coordinates
    ``x, y``, page coordinates ``px, py`` and ``fx, fy`` when present on the event; ``moves`` are page coordinates
    ``(x, y)``; ``scrolls`` are ``(ms since the view began, window scroll y)``.
    """
    events = sort_events(session.get("events") or [])
    sid = session.get("sid", "")
    views: list[dict] = []
    cur: dict | None = None
    nodes = NodeIndex()
    scroll_y = 0.0
    width = height = 0

    def begin(url: str, at: int) -> dict:
        nonlocal scroll_y
        if views:
            views[-1]["end"] = at
        scroll_y = 0.0
        view = {"sid": sid, "index": len(views), "url": url, "page": page_key(url), "start": at,
                "end": at, "width": width, "height": height, "bucket": width_bucket(width),
                "clicks": [], "moves": [], "scrolls": [(0, 0.0)]}
        views.append(view)
        return view

    for ev in events:
        t, ts = ev["t"], ev["ts"]
        if t == T.META:
            width, height = ev.get("w") or width, ev.get("h") or height
            nodes = NodeIndex()
            cur = begin(str(ev.get("u") or ""), ts)
            continue
        if cur is None:
            continue
        cur["end"] = ts
        if t == T.SNAPSHOT:
            nodes = NodeIndex()
            if isinstance(ev.get("n"), dict):
                nodes.load(ev["n"])
            scroll_y = float(ev.get("sy") or 0)
            cur["scrolls"].append((ts - cur["start"], scroll_y))
        elif t == T.MUTATION:
            nodes.mutate(ev)
        elif t == T.NAVIGATION and page_key(str(ev.get("u") or "")) != cur["page"]:
            cur = begin(str(ev.get("u") or ""), ts)
        elif t == T.VIEWPORT:
            width, height = ev.get("w") or width, ev.get("h") or height
            cur["width"], cur["height"] = cur["width"] or width, cur["height"] or height
        elif t == T.SCROLL and ev.get("i") == 0:
            scroll_y = float(ev.get("y") or 0)
            cur["scrolls"].append((ts - cur["start"], scroll_y))
        elif t == T.MOUSE:
            for p in ev.get("p") or ():
                if len(p) >= 2:
                    cur["moves"].append((float(p[0]), float(p[1]) + scroll_y))
        elif t == T.CLICK:
            i = ev.get("i")
            x, y = float(ev.get("x") or 0), float(ev.get("y") or 0)
            click = {"ts": ts, "i": i, "x": x, "y": y, "px": x, "py": y + scroll_y,
                     "selector": nodes.selector(i) if isinstance(i, int) else None,
                     "label": nodes.label(i) if isinstance(i, int) else "?"}
            if isinstance(ev.get("fx"), (int, float)) and isinstance(ev.get("fy"), (int, float)):
                click["fx"], click["fy"] = min(1.0, max(0.0, ev["fx"])), min(1.0, max(0.0, ev["fy"]))
            cur["clicks"].append(click)
    return views


def views_of(session: dict) -> list[dict]:
    """A session's page views: its cached ``"views"`` (from :func:`page_views`) if given, else computed."""
    cached = session.get("views")
    return cached if isinstance(cached, list) else page_views(session)


def _views(sessions: Iterable[dict]) -> list[dict]:
    return [v for s in sessions for v in views_of(s)]


def heatmap(sessions: Iterable[dict], page: str, bucket: str | None = None, *,
            grid: int = 40, depth_step: int = 100) -> dict:
    """Click, movement and scroll-depth heatmap of one page across sessions.

    ``page`` is a :func:`page_key`; ``bucket`` a width bucket name or None for all
    widths. Returns ``{page, bucket, views, sessions, widths, clicks, unanchored, moves,
    scroll}``:

    - ``clicks``: per anchored element ``{selector, label, count, points: [[fx, fy], ...]}``,
      most clicked first; ``points`` holds measured in-element positions (may be fewer
      than ``count`` when some clicks were not measured);
    - ``unanchored``: clicks whose element is unknown, as page coordinates ``[x, y]``;
    - ``moves``: a ``grid`` x N density of mouse positions, ``x`` as a fraction of the
      viewport width and ``y`` in ``depth_step`` px rows: ``{cols, row_px, cells: [[col,
      row, count], ...], peak}``;
    - ``scroll``: ``[[y_px, share], ...]``: the share of views whose visitor saw the page
      down to ``y_px`` (viewport bottom at its deepest scroll), every ``depth_step`` px.
    """
    views = [v for v in _views(sessions) if v["page"] == page and (bucket is None or v["bucket"] == bucket)]
    by_sel: dict[str, dict] = {}
    unanchored: list[list[float]] = []
    cells: Counter = Counter()
    deepest: list[float] = []
    for v in views:
        for c in v["clicks"]:
            if not c["selector"]:
                unanchored.append([c["px"], c["py"]])
                continue
            entry = by_sel.setdefault(c["selector"], {"selector": c["selector"], "label": c["label"],
                                                      "count": 0, "points": []})
            entry["count"] += 1
            if "fx" in c:
                entry["points"].append([round(c["fx"], 4), round(c["fy"], 4)])
        w = v["width"] or 1
        for x, y in v["moves"]:
            col = min(grid - 1, max(0, int(x / w * grid)))
            cells[(col, max(0, int(y // depth_step)))] += 1
        h = v["height"] or 0
        deepest.append(max(y for _, y in v["scrolls"]) + h)
    scroll: list[list[float]] = []
    if deepest:
        bottom = max(deepest)
        y = 0
        while y <= bottom:
            scroll.append([y, round(sum(d >= y for d in deepest) / len(deepest), 4)])
            y += depth_step
    return {
        "page": page,
        "bucket": bucket,
        "views": len(views),
        "sessions": len({v["sid"] for v in views}),
        "widths": sorted({v["width"] for v in views if v["width"]}),
        "clicks": sorted(by_sel.values(), key=lambda e: (-e["count"], e["selector"])),
        "unanchored": unanchored,
        "moves": {"cols": grid, "row_px": depth_step,
                  "cells": [[c, r, n] for (c, r), n in sorted(cells.items())],
                  "peak": max(cells.values(), default=0)},
        "scroll": scroll,
    }


def pages(sessions: Iterable[dict]) -> list[dict]:
    """Every page seen, with its views per width bucket: ``[{page, views, buckets: {name: n}}]``."""
    found: dict[str, Counter] = defaultdict(Counter)
    for v in _views(sessions):
        found[v["page"]][v["bucket"]] += 1
    return sorted(({"page": p, "views": sum(c.values()), "buckets": dict(c)} for p, c in found.items()),
                  key=lambda r: (-r["views"], r["page"]))


def journeys(sessions: Iterable[dict], *, min_clicks: int = 2, max_elements: int = 3) -> dict:
    """The graph of paths between pages and their key elements.

    Returns ``{nodes, links, sessions}``. Page nodes: ``{id, kind: "page", page, views,
    entries, exits, drop_off}`` where ``exits`` counts sessions that ended there and
    ``drop_off`` is ``exits / views``. Element nodes (the ``max_elements`` most clicked
    elements of a page, clicked at least ``min_clicks`` times): ``{id, kind: "element",
    page, selector, label, clicks}``. Links: ``{source, target, kind, value}`` with
    kind ``"next"`` (page to next page, value = transitions) or ``"click"`` (page to
    element, value = clicks); ``value / views of source`` is the share taking that edge.
    """
    sessions = list(sessions)
    views_per_page: Counter = Counter()
    entries: Counter = Counter()
    exits: Counter = Counter()
    moves: Counter = Counter()
    clicks: dict[str, Counter] = defaultdict(Counter)
    labels: dict[tuple[str, str], str] = {}
    counted = 0
    for s in sessions:
        views = views_of(s)
        if not views:
            continue
        counted += 1
        entries[views[0]["page"]] += 1
        exits[views[-1]["page"]] += 1
        for a, b in zip(views, views[1:]):
            if a["page"] != b["page"]:
                moves[(a["page"], b["page"])] += 1
        for v in views:
            views_per_page[v["page"]] += 1
            for c in v["clicks"]:
                if c["selector"]:
                    clicks[v["page"]][c["selector"]] += 1
                    labels.setdefault((v["page"], c["selector"]), c["label"])
    nodes = [{"id": p, "kind": "page", "page": p, "views": n, "entries": entries[p], "exits": exits[p],
              "drop_off": round(exits[p] / n, 4)} for p, n in sorted(views_per_page.items())]
    links = [{"source": a, "target": b, "kind": "next", "value": n} for (a, b), n in sorted(moves.items())]
    for page, counts in sorted(clicks.items()):
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_elements]
        for sel, n in top:
            if n < min_clicks:
                continue
            nid = f"{page} {sel}"
            nodes.append({"id": nid, "kind": "element", "page": page, "selector": sel,
                          "label": labels[(page, sel)], "clicks": n})
            links.append({"source": page, "target": nid, "kind": "click", "value": n})
    return {"nodes": nodes, "links": links, "sessions": counted}


def scroll_paths(sessions: Iterable[dict], page: str | None = None) -> list[dict]:
    """Scroll depth over time per session: ``[{sid, page, width, bucket, duration, points}]``.

    ``points`` are ``[ms since the view began, viewport bottom y px]`` (the deepest line
    the visitor could see), one path per page view, optionally only views of ``page``.
    """
    out = []
    for v in _views(sessions):
        if page is not None and v["page"] != page:
            continue
        h = v["height"] or 0
        pts, last = [], None
        for at, y in v["scrolls"]:
            point = [int(at), round(y + h, 1)]
            if last is None or point[1] != last[1]:
                pts.append(point)
                last = point
        end = v["end"] - v["start"]
        if pts and end > pts[-1][0]:
            pts.append([int(end), pts[-1][1]])
        out.append({"sid": v["sid"], "page": v["page"], "width": v["width"], "bucket": v["bucket"],
                    "duration": int(end), "points": pts})
    return out
