"""What the recorder's Web Worker calls in Pyodide. Plain JSON strings cross the boundary."""

from __future__ import annotations

import json

from .events import SCHEMA_VERSION
from .insights import analyze
from .masking import mask_events


def process_batch(batch_json: str) -> str:
    """Mask one batch of events and analyse it; return the payload to seal, as JSON."""
    batch = json.loads(batch_json)
    events = mask_events(batch.get("events") or [])
    payload = {"schema": SCHEMA_VERSION, "events": events, "insights": analyze(events, compact=True)}  # docs/insights.md
    for key in ("sid", "pid", "seq", "dropped"):
        if key in batch:
            payload[key] = batch[key]
    return json.dumps(payload, separators=(",", ":"))
