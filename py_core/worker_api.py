"""What the recorder's Web Worker calls in Pyodide (device mode). Plain JSON strings cross
the boundary, never JS objects (so the interpreter can be kept as a memory snapshot).

The worker does not call Python per batch: it waits until the visitor is idle and then
hands over the visit's whole backlog in one :func:`process_visit` call. Each batch is
masked; each session is then analysed *as a whole* (the batches sealed earlier, kept on
the device in the worker's analysis log, plus the new ones), and that whole-session
verdict is what the device seals and what its alerts are decided from
(docs/processing.md, docs/adr/0314-python-once-per-visit-whole-session-verdicts.md).
"""

from __future__ import annotations

import json
from typing import Any

from .alerts import decide, metrics
from .events import SCHEMA_VERSION, EventType as T
from .insights import analyze
from .masking import mask_events

__all__ = ["process_batch", "process_visit", "warm"]

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def process_batch(batch_json: str) -> str:
    """Mask one batch of events and analyse it on its own; return the payload, as JSON.

    Kept for tools and tests; the worker uses :func:`process_visit`."""
    batch = json.loads(batch_json)
    events = mask_events(batch.get("events") or [])
    payload = {"schema": SCHEMA_VERSION, "mode": "device", "events": events,
               "insights": analyze(events, compact=True)}
    for key in ("sid", "pid", "seq", "dropped"):
        if key in batch:
            payload[key] = batch[key]
    return _dumps(payload)


def process_visit(request_json: str) -> str:
    """One pass over the visit's backlog.

    Request: ``{"batches": [{sid, pid, seq, events, dropped?}, ...]`` (in the order they
    will be sealed), ``"history": {sid: [masked events already sealed]}``, ``"policy"``:
    the site's public alert policy or null, ``"fired": {sid: [rule names]}}``.

    Answer: ``{"batches": [{"pid", "seq", "payload": JSON} | {"pid", "seq", "error"}],
    "verdicts": {sid: insights}, "alerts": [...], "fired": {sid: [...]}}``. The last
    batch of each session carries the session's verdict (``insights``, ``scope``
    ``"session"``): :func:`py_core.insights.analyze` of every masked event of that session
    sealed so far, the new ones included. A batch that cannot be masked is reported with
    its error and never leaves unmasked; a session that cannot be analysed still has its
    batches sealed, without a verdict.
    """
    req = json.loads(request_json)
    history = req.get("history") or {}
    fired_in = req.get("fired") or {}
    policy = req.get("policy")
    out: list[dict] = []
    masked_by_sid: dict[str, list[dict]] = {}
    last_of: dict[str, dict] = {}
    for batch in req.get("batches") or ():
        sid = str(batch.get("sid"))
        try:
            events = mask_events([e for e in (batch.get("events") or ()) if isinstance(e, dict)])
        except Exception as exc:  # noqa: BLE001 -- reported, and the batch is never sealed unmasked
            out.append({"pid": batch.get("pid"), "seq": batch.get("seq"), "error": f"{type(exc).__name__}: {exc}"})
            continue
        payload: dict[str, Any] = {"schema": SCHEMA_VERSION, "mode": "device", "events": events}
        for key in ("sid", "pid", "seq", "dropped"):
            if key in batch:
                payload[key] = batch[key]
        masked_by_sid.setdefault(sid, []).extend(events)
        item = {"pid": batch.get("pid"), "seq": batch.get("seq"), "payload": payload}
        out.append(item)
        last_of[sid] = item
    verdicts: dict[str, dict] = {}
    alerts: list[dict] = []
    fired_out: dict[str, list[str]] = {}
    for sid, item in last_of.items():
        session = list(history.get(sid) or ()) + masked_by_sid[sid]
        try:
            verdict = analyze(session)
        except Exception:  # noqa: BLE001 -- the events are sealed anyway; the viewer analyses them
            continue
        verdicts[sid] = verdict
        item["payload"]["insights"] = verdict
        item["payload"]["scope"] = "session"
        if policy:
            fired = list(fired_in.get(sid) or ())
            found = decide(metrics(verdict), policy, fired, {"sid": sid, **_where(session)})
            alerts.extend(found)
            fired_out[sid] = fired + [a["rule"] for a in found]
    for item in out:
        if "payload" in item:
            item["payload"] = _dumps(item["payload"])
    return _dumps({"batches": out, "verdicts": verdicts, "alerts": alerts, "fired": fired_out})


def _where(events: list[dict]) -> dict:
    """The page path and width bucket of the session's latest page load (alert context)."""
    from .aggregate import page_key, width_bucket

    last = None
    for ev in events:
        if ev.get("t") == T.META and (last is None or (ev.get("ts") or 0) >= (last.get("ts") or 0)):
            last = ev
    if last is None:
        return {}
    return {"page": page_key(str(last.get("u") or "")), "bucket": width_bucket(last.get("w"))}


def warm() -> None:
    """Import and run everything a pass needs, on synthetic events only (no visitor's data),
    so that a memory snapshot taken right after holds a ready interpreter."""
    url = "https://warm.invalid/a?b=1"
    events = [
        {"t": T.META, "ts": 1, "u": url, "r": "", "ti": "Warm", "w": 800, "h": 600},
        {"t": T.SNAPSHOT, "ts": 2, "n": {"i": 1, "t": 9, "c": [{"i": 2, "t": 1, "n": "p", "a": {"title": "x@y.z"},
                                                                "c": [{"i": 3, "t": 3, "x": "Call 555 0100"}]}]}},
        {"t": T.CLICK, "ts": 3, "i": 2, "x": 1, "y": 1},
        {"t": T.INPUT, "ts": 4, "i": 2, "v": "hello"},
        {"t": T.NETWORK, "ts": 5, "k": "fetch", "m": "GET", "u": url, "s": 500, "d": 3},
        {"t": T.ERROR, "ts": 6, "m": "warm", "s": ""},
        {"t": T.CUSTOM, "ts": 7, "n": "warm", "p": {"a": 1}},
    ]
    policy = {"rules": [{"name": "errors", "metric": "errors", "at_least": 1}], "fields": ["sid", "page"]}
    process_visit(_dumps({"batches": [{"sid": "warm", "pid": "warm", "seq": 0, "events": events}],
                          "history": {}, "policy": policy, "fired": {}}))
