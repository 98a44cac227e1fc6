"""One session's events arranged for analysis: page views, actions, mouse path, nodes.

A :class:`Timeline` is built once per ``analyze()`` and read by the signal detectors
(py_core.signals), the feature vector (py_core.features) and the error correlation
(py_core.insights). Times are milliseconds since the session's first event. Pure
Python, so CPython and Pyodide give identical results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .events import EventType as T, expand_ids, sort_events

FIELD_TAGS = frozenset({"input", "textarea", "select", "option", "label"})


@dataclass
class PageView:
    """One page shown to the visitor: a page load (META) or an in-app navigation."""

    url: str
    key: str  # the URL compared for returns: no "index.html", no query
    start: int
    end: int = 0
    height: int = 0  # viewport height, px (0 if unknown)
    how: str = "load"  # load | push | replace | pop | hash
    index: int = 0


@dataclass
class Timeline:
    """A session's events in time order, with the views the detectors need."""

    events: list[dict]
    start: int = 0
    duration: int = 0
    pages: list[PageView] = field(default_factory=list)
    clicks: list[dict] = field(default_factory=list)  # {at, x, y, i, page, node}
    inputs: list[dict] = field(default_factory=list)  # {at, i, page, text}
    scrolls: list[dict] = field(default_factory=list)  # {at, i, x, y, page}
    mouse: list[tuple[int, float, float]] = field(default_factory=list)  # (at, x, y)
    responses: list[int] = field(default_factory=list)  # times of DOM changes / requests / navigations
    errors: list[dict] = field(default_factory=list)  # {at, message, kind}
    requests: list[dict] = field(default_factory=list)  # {at, method, url, status, duration, failed}
    custom: list[dict] = field(default_factory=list)  # {at, name}

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.requests if r["failed"]]


def page_key(url: str) -> str:
    """The part of a URL that names a page: path (no trailing index.html) and hash route."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL (e.g. a broken IPv6 host): the text itself names the page
        return url
    path = parts.path or "/"
    for index in ("index.html", "index.htm"):
        if path.endswith("/" + index):
            path = path[: -len(index)]
    frag = parts.fragment if parts.fragment.startswith(("/", "!")) else ""
    return path + (f"#{frag}" if frag else "")


def describe(node: dict | None) -> str:
    """A short, human name for a recorded element: tag, id or name, and its text."""
    if not node:
        return "the page"
    a = node.get("a") or {}
    name = node.get("n", "element")
    if a.get("id"):
        name += f"#{a['id']}"
    elif a.get("name"):
        name += f"[name={a['name']}]"
    text = node.get("_text", "")
    return f"{name} '{text}'" if text else name


def _text_of(node: dict) -> str:
    parts: list[str] = []
    stack = list(reversed(_list(node.get("c"))))
    while stack and sum(len(p) for p in parts) < 40:
        n = stack.pop()
        if not isinstance(n, dict):
            continue
        if n.get("t") == 3:
            parts.append(_str(n.get("x"), "").strip())
        else:
            stack.extend(reversed(_list(n.get("c"))))
    return " ".join(p for p in parts if p)[:30]


class _Nodes:
    """Recorded element ids of the current page view -> light descriptions (made on demand)."""

    def __init__(self) -> None:
        self.raw: dict[int, dict] = {}
        self.info: dict[int, dict] = {}

    def add(self, tree: dict) -> None:
        if isinstance(tree, dict):
            expand_ids(tree)
        raw, stack = self.raw, [tree]
        while stack:
            n = stack.pop()
            if not isinstance(n, dict):
                continue
            c = n.get("c")
            if n.get("t") == 1 and _id(n.get("i")) is not None:
                raw[n["i"]] = n
            if isinstance(c, list) and n.get("t") in (1, 9):
                stack.extend(c)

    def get(self, i) -> dict | None:
        if not isinstance(i, int) or i not in self.raw:
            return None
        if i not in self.info:
            n = self.raw[i]
            attrs = n.get("a") if isinstance(n.get("a"), dict) else {}
            info = {"n": _str(n.get("n"), ""), "a": {k: v for k, v in attrs.items()
                                                     if k in ("id", "name", "type", "href", "role") and isinstance(v, str)}}
            if info["n"] in ("button", "a", "label", "h1", "h2", "h3", "summary", "option"):
                info["_text"] = _text_of(n)
            self.info[i] = info
        return self.info[i]


def build(events: list[dict]) -> Timeline:
    """Arrange a session's events (any order; validated and sorted here)."""
    events = sort_events(events)
    tl = Timeline(events)
    if not events:
        return tl
    tl.start = start = events[0]["ts"]
    tl.duration = events[-1]["ts"] - start
    nodes = _Nodes()
    height = 0
    for e in events:
        t, at = e["t"], int(e["ts"] - start)
        if t == T.META or (t == T.NAVIGATION and isinstance(e.get("u"), str)):
            url = _str(e.get("u"), "")
            if t == T.META:
                nodes = _Nodes()
                height = int(_num(e.get("h"))) or height
            elif tl.pages and page_key(url) == tl.pages[-1].key:
                # One navigation is one page view, whatever mix of pushState, popstate and
                # hashchange reported it; an in-page anchor jump keeps the page key too.
                continue
            if tl.pages:
                tl.pages[-1].end = at
            tl.pages.append(PageView(url, page_key(url), at, height=height,
                                     how="load" if t == T.META else _str(e.get("k"), "push"), index=len(tl.pages)))
            tl.responses.append(at)
        elif t == T.SNAPSHOT and isinstance(e.get("n"), dict):
            nodes.add(e["n"])
        elif t == T.MUTATION:
            for item in _list(e.get("ad")):
                if isinstance(item, list) and len(item) == 3 and isinstance(item[2], dict):
                    nodes.add(item[2])
            if e.get("ad") or e.get("rm") or e.get("at") or e.get("tx"):
                tl.responses.append(at)
        elif t == T.VIEWPORT:
            height = int(_num(e.get("h"))) or height
            if tl.pages:
                tl.pages[-1].height = height
        elif t == T.CLICK:
            node = nodes.get(e.get("i"))
            tl.clicks.append({"at": at, "x": _num(e.get("x")), "y": _num(e.get("y")), "i": _id(e.get("i")),
                              "page": len(tl.pages) - 1, "node": node})
        elif t == T.INPUT:
            node = nodes.get(e.get("i"))
            tl.inputs.append({"at": at, "i": _id(e.get("i")), "page": len(tl.pages) - 1, "text": "v" in e, "node": node})
        elif t == T.SCROLL:
            tl.scrolls.append({"at": at, "i": _id(e.get("i", 0)), "x": _num(e.get("x")), "y": _num(e.get("y")),
                               "page": len(tl.pages) - 1})
        elif t == T.MOUSE:
            for p in _list(e.get("p")):
                if isinstance(p, list) and len(p) >= 3:
                    tl.mouse.append((at + int(_num(p[2])), _num(p[0]), _num(p[1])))
        elif t == T.ERROR:
            if e.get("k") == "console" and e.get("l") == "warn":
                continue  # a console warning is not an error the visitor met
            tl.errors.append({"at": at, "message": _str(e.get("m"), "")[:300], "kind": _str(e.get("k"), "error")})
            tl.responses.append(at)
        elif t == T.NETWORK:
            status = e.get("s")
            if not isinstance(status, int) or isinstance(status, bool):
                status = None  # not a status: not counted as failed
            d = e.get("d")
            d = int(d) if isinstance(d, (int, float)) and not isinstance(d, bool) and 0 <= d <= at else None
            tl.requests.append({"at": at, "method": _str(e.get("m"), "GET").upper(), "url": _str(e.get("u"), ""),
                                "status": status or 0, "duration": d,
                                "failed": status is not None and (status == 0 or status >= 400), "page": len(tl.pages) - 1})
            # A request answers an action when it starts: it ended `d` ms before it was logged.
            tl.responses.append(at - d if d is not None else at)
        elif t == T.CUSTOM:
            tl.custom.append({"at": at, "name": _str(e.get("n"), "")})
    if tl.pages:
        tl.pages[-1].end = tl.duration
    tl.mouse.sort()
    tl.responses.sort()
    return tl


# Recorded fields are untrusted page data: anything of the wrong type reads as "unknown".
def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def _id(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v, default: str) -> str:
    return v if isinstance(v, str) else default


def _list(v) -> list:
    return v if isinstance(v, list) else []
