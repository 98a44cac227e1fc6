"""What the device seals and alerts on, per batch (before) and per idle pass (now), against
the whole-session analysis, over the project's labelled corpus (tests/events/corpus/).

    .venv/bin/python bench/verdict_eval.py [--policy docs-example] [--idle-ms 3000]

The corpus sessions were recorded through the real recorder (tools/record_corpus.py).
Each session's events are cut into the 1-second batches the shim posts. Two ways of
deciding on the device are replayed in CPython with the same code the worker runs:

- ``per-batch``: every batch analysed on its own (``worker_api.process_batch``, the old
  worker), alerts from running totals over the batches (``alerts.device_check``);
- ``per-pass``: ``worker_api.process_visit`` over the backlog at every idle moment (no
  visitor input for ``--idle-ms`` after the page's load) and at the end of the session,
  each session analysed as a whole so far: what the worker seals now.

Reported: the sealed sentiment label of the last verdict against the whole-session label
(``analyze()`` of every event) and against the persona's label, and how many sessions of
each persona the example alert policy (docs/viewer.md) fires on.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from py_core import alerts, worker_api
from py_core.insights import analyze
from py_core.training import LABELS  # persona -> the class it should get (calm -> engaged)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "events" / "corpus"


def docs_policy() -> dict:
    """The example alert policy exactly as docs/viewer.md shows it (public part: rules, fields)."""
    text = (ROOT / "docs" / "viewer.md").read_text(encoding="utf-8")
    block = re.search(r"^## Alerts$.*?^```json\n(.*?)^```$", text, re.S | re.M)
    return alerts.Policy.from_json(json.loads(block.group(1))).public()


EXAMPLE_POLICY = docs_policy()
INPUTS = {3, 4, 5, 6, 16}  # click, input, scroll, mouse, focus: the visitor's own events


def sessions():
    for path in sorted(CORPUS.glob("*.json.gz")):
        yield json.loads(gzip.decompress(path.read_bytes()))


def batches(events: list[dict], every_ms: int = 1000) -> list[list[dict]]:
    """The shim's batches: events in arrival order, cut every `every_ms` (from the first of each)."""
    out: list[list[dict]] = []
    start = None
    for e in sorted(events, key=lambda e: e.get("ts") or 0):
        if start is None or (e.get("ts") or 0) - start >= every_ms:
            out.append([])
            start = e.get("ts") or 0
        out[-1].append(e)
    return out


def per_batch(sid: str, cut: list[list[dict]], policy: dict) -> tuple[str | None, set[str]]:
    state, fired, label = "{}", set(), None
    for seq, b in enumerate(cut):
        payload = worker_api.process_batch(json.dumps({"sid": sid, "pid": "p", "seq": seq, "events": b}))
        label = (json.loads(payload)["insights"].get("sentiment") or {}).get("label", label)
        out = json.loads(alerts.device_check(state, payload, json.dumps(policy)))
        state = json.dumps(out["state"])
        fired |= {a["rule"] for a in out["alerts"]}
    return label, fired


def per_pass(sid: str, cut: list[list[dict]], policy: dict, idle_ms: int) -> tuple[str | None, set[str], int]:
    history: list[dict] = []
    backlog: list[tuple[int, list[dict]]] = []
    fired: list[str] = []
    label, passes, last_input = None, 0, None

    def run():
        nonlocal history, backlog, fired, label, passes
        if not backlog:
            return
        req = {"batches": [{"sid": sid, "pid": "p", "seq": s, "events": b} for s, b in backlog],
               "history": {sid: history}, "policy": policy, "fired": {sid: fired}}
        ans = json.loads(worker_api.process_visit(json.dumps(req)))
        for item in ans["batches"]:
            history += json.loads(item["payload"])["events"]
        label = (ans["verdicts"].get(sid, {}).get("sentiment") or {}).get("label", label)
        fired = ans["fired"].get(sid, fired)
        backlog, passes = [], passes + 1

    for seq, b in enumerate(cut):
        start = b[0].get("ts") or 0
        if last_input is not None and start - last_input >= idle_ms:
            run()  # the visitor was idle before this batch: the worker ran in the gap
        backlog.append((seq, b))
        inputs = [e.get("ts") or 0 for e in b if e.get("t") in INPUTS or e.get("t") == 0]
        if inputs:
            last_input = max(inputs)
    run()  # the last idle moment (or the next page's pass) covers the rest
    return label, set(fired), passes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle-ms", type=int, default=3000)
    args = ap.parse_args(argv)
    rows = defaultdict(Counter)
    passes = []
    for s in sessions():
        persona, events, sid = s["label"], s["events"], s["sid"]
        expected = LABELS[persona]
        whole = (analyze(events).get("sentiment") or {}).get("label")
        cut = batches(events)
        b_label, b_fired = per_batch(sid, cut, EXAMPLE_POLICY)
        p_label, p_fired, n = per_pass(sid, cut, EXAMPLE_POLICY, args.idle_ms)
        passes.append(n)
        r = rows[persona]
        r["sessions"] += 1
        r["batch = whole"] += b_label == whole
        r["pass = whole"] += p_label == whole
        r["whole = persona"] += whole == expected
        r["batch = persona"] += b_label == expected
        r["pass = persona"] += p_label == expected
        r["batch: frustrated alert"] += "frustrated" in b_fired
        r["pass: frustrated alert"] += "frustrated" in p_fired
        r["batch: any alert"] += bool(b_fired)
        r["pass: any alert"] += bool(p_fired)
    cols = ["sessions", "whole = persona", "batch = whole", "pass = whole", "batch = persona", "pass = persona",
            "batch: frustrated alert", "pass: frustrated alert", "batch: any alert", "pass: any alert"]
    print("| persona | " + " | ".join(cols) + " |")
    print("| --- " * (len(cols) + 1) + "|")
    total = Counter()
    for persona in sorted(rows):
        total.update(rows[persona])
        print(f"| {persona} | " + " | ".join(str(rows[persona][c]) for c in cols) + " |")
    print("| all | " + " | ".join(str(total[c]) for c in cols) + " |")
    print(f"\nidle passes per session (--idle-ms {args.idle_ms}): median {sorted(passes)[len(passes) // 2]}, "
          f"max {max(passes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
