"""The event schema, version 2: the wire format between the recorder and everything after it.

An event is a flat JSON object ``{"t": <EventType>, "ts": <ms since epoch>, ...fields}``.
The numbers of :class:`EventType` are the wire format: members are only ever appended.
docs/events.md describes every type's fields; this module is the code that mirrors it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Iterable

SCHEMA_VERSION = 2  # 2: node ids that follow on are implied (expand_ids); every version-1 stream is valid


class EventType(IntEnum):
    META = 0  # page load: u (url), r (referrer), ti (title), w, h (viewport)
    SNAPSHOT = 1  # full DOM: n (node tree), sx, sy (window scroll)
    MUTATION = 2  # rm [[parent, id]], ad [[parent, next|null, node]], at [[id, {name: value|null}]], tx [[id, text]]
    CLICK = 3  # i (node id), x, y (viewport px)
    INPUT = 4  # i, v (masked value) | c (checked) | s (selectedIndex)
    SCROLL = 5  # i (node id, 0 = window), x, y
    MOUSE = 6  # p [[x, y, ms offset from ts]]
    VIEWPORT = 7  # w, h
    NAVIGATION = 8  # u (url), k (push | replace | pop | hash)
    ERROR = 9  # m (message), s (stack), k (error | rejection | console), l (console level: error | warn)
    NETWORK = 10  # k (fetch|xhr|beacon|ws), m, u (query values masked), s (status, 0 = failed), d (ms), e, q/r (bytes)
    CUSTOM = 11  # n (name), p (properties)
    VISIBILITY = 12  # v (visible | hidden)
    IDENTIFY = 13  # u (the site's user id) | vid (hybrid mode's visitor id, docs/privacy.md)
    STYLE = 14  # i (owner element or adopted sheet id), ins [rule, index] | del (index) | c (whole text)
    ADOPT = 15  # i (document or shadow root id), s [sheet ids], css {sheet id: text} (new ones only)
    FOCUS = 16  # i (node id, 0 = none)
    CANVAS = 17  # i (canvas node id), d (image data: URL, WebP); opt-in with data-canvas


class NodeType(IntEnum):
    """Serialized node kinds (the DOM's nodeType numbers)."""

    ELEMENT = 1
    TEXT = 3
    COMMENT = 8
    DOCUMENT = 9  # also a same-origin iframe's document, as an element's "f"
    DOCTYPE = 10
    SHADOW_ROOT = 11  # an open shadow root, as its host element's "sr" (DOCUMENT_FRAGMENT_NODE)


class SchemaError(ValueError):
    """An event does not follow the schema."""


def check(event: Any) -> dict:
    """Return ``event`` if it has the envelope every event shares, else raise SchemaError."""
    if not isinstance(event, dict):
        raise SchemaError(f"an event is a JSON object, not {type(event).__name__}")
    t, ts = event.get("t"), event.get("ts")
    if not isinstance(t, int) or isinstance(t, bool):
        raise SchemaError("event field 't' must be an integer event type")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool) or ts < 0:
        raise SchemaError("event field 'ts' must be a non-negative number of milliseconds")
    return event


def sort_events(events: Iterable[dict]) -> list[dict]:
    """Events of one session in time order (stable, so one page's order is kept)."""
    return sorted((check(e) for e in events), key=lambda e: e["ts"])


def walk(node: dict) -> Iterable[dict]:
    """Every serialized node of a tree, depth first: a node, its children, then its shadow
    root ("sr"), then its iframe document ("f"). Malformed parts (decrypted data is
    untrusted) are skipped, not raised on."""
    stack = [node]
    while stack:
        n = stack.pop()
        if not isinstance(n, dict):
            continue
        yield n
        stack.extend(x for x in (n.get("f"), n.get("sr")) if isinstance(x, dict))
        if isinstance(n.get("c"), list):
            stack.extend(reversed(n["c"]))


def expand_ids(node: dict) -> dict:
    """Fill in the node ids a serialized tree leaves out, in place; returns ``node``.

    The recorder writes a node's ``"i"`` only when it is not the id of the node before it
    in :func:`walk` order plus one (fresh nodes get consecutive ids in that order, so most
    of a snapshot carries none). A tree that already has every id is left as it is."""
    last = None
    for n in walk(node):
        i = n.get("i")
        if i is None and last is not None:
            n["i"] = i = last + 1
        last = i if isinstance(i, int) and not isinstance(i, bool) else None
    return node


def split_parts(payload: Any) -> list[dict]:
    """A sealed payload as the batches it carries, one payload each.

    An envelope may carry several consecutive batches of one page load (docs/events.md,
    Sealed payloads): ``"parts": [[seq, n], ...]`` says that batch ``seq`` holds the next
    ``n`` events. Each part comes back as a payload of its own (``seq`` and its slice of
    ``events``), the session-wide fields (``insights``, ``scope``) on the last part and
    ``dropped`` on the first. A payload without ``parts``, or whose ``parts`` do not add up
    to its events (decrypted data is untrusted), is one batch, returned as it is.
    """
    if not isinstance(payload, dict):
        return []
    parts, events = payload.get("parts"), payload.get("events")
    if not isinstance(parts, list) or not isinstance(events, list) or not parts:
        return [payload]
    good = all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in p)
               and p[1] >= 0 for p in parts)
    if not good or sum(p[1] for p in parts) != len(events) or len({p[0] for p in parts}) != len(parts):
        return [payload]
    base = {k: v for k, v in payload.items() if k not in ("parts", "events", "seq", "insights", "scope", "dropped")}
    out, at = [], 0
    for i, (seq, n) in enumerate(parts):
        one = {**base, "seq": seq, "events": events[at:at + n]}
        at += n
        if i == 0 and "dropped" in payload:
            one["dropped"] = payload["dropped"]
        if i == len(parts) - 1:
            for key in ("insights", "scope"):
                if key in payload:
                    one[key] = payload[key]
        out.append(one)
    return out


def one_per_batch(payloads: Iterable[Any]) -> list[dict]:
    """A session's sealed payloads (docs/events.md, Sealed payloads), one per batch.

    Payloads that carry several batches (``parts``) are split first (:func:`split_parts`).
    In device mode a batch the visitor's page left before Python ran goes out in light form
    (masked to its shape) at pagehide, and the next page of the visit seals it again, masked
    by Python (docs/processing.md): the two copies have different envelope ids. Where a
    ``(pid, seq)`` arrived in both forms, the device form is kept; where it arrived twice in
    the same form (two envelopes of a page whose ranges overlap, e.g. a beacon sent as the
    page went and the worker's own last envelope), the first is kept. Payloads that name no
    batch are all kept. The order given is kept.
    """
    best: dict[tuple, int] = {}
    kept: list[dict | None] = []
    for p in (one for payload in payloads for one in split_parts(payload)):
        key = (p.get("pid"), p.get("seq")) if isinstance(p.get("pid"), str) and isinstance(p.get("seq"), int) else None
        if key is None:
            kept.append(p)
            continue
        if key in best:
            if kept[best[key]].get("mode") == "light" and p.get("mode") != "light":
                kept[best[key]] = None  # the light copy gives way to Python's
            else:
                continue
        best[key] = len(kept)
        kept.append(p)
    return [p for p in kept if p is not None]
