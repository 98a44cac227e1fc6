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

    .venv/bin/python bench/verdict_eval.py --holdout

prints instead an evaluation that cannot flatter the model (issue 15): leave one group
out, for every grouping the corpus allows (site, when it holds more than one; viewport
bucket; the four seed folds of py_core.training's split). Each fold retrains the
sentiment model on the other groups and scores the left-out one, beside baselines on
the same split (duration only; the best single feature, picked on the training groups;
fixed rules over signal counts) and the verdict (model plus strong-rule override):
macro-F1, confusion matrices, Brier score and a reliability table of P(frustrated), and
anomaly flags of the shipped-style threshold against one learnt from the left-out
group's own sessions.
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


# ------------------------------------------------------------------ held-out evaluation

CLASSES = ("confused", "engaged", "frustrated", "skimming")
BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0000001)


def _site(doc: dict) -> str:
    """The site a corpus session was recorded on: its ``site`` field, else the first path
    segment of its first page (hosts are masked or random ports in the corpus)."""
    if doc.get("site"):
        return str(doc["site"])
    from urllib.parse import urlsplit

    first = next((e for e in doc["events"] if e.get("t") == 0), {})
    return (urlsplit(str(first.get("u") or "")).path.strip("/").split("/") or [""])[0] or "/"


def rows_for_holdout() -> list[dict]:
    from py_core.aggregate import width_bucket
    from py_core.features import NAMES, vector
    from py_core.insights import _strong_frustration
    from py_core.signals import detect
    from py_core.timeline import build

    out = []
    for s in sessions():
        tl = build(s["events"])
        moments = detect(tl)
        first = next((e for e in s["events"] if e.get("t") == 0), {})
        kinds = Counter(m["kind"] for m in moments)
        out.append({"sid": s["sid"], "label": LABELS[s["label"]], "persona": s["label"], "seed": s.get("seed", 0),
                    "site": _site(s), "viewport": width_bucket(first.get("w")),
                    "fold": f"seed mod 4 = {int(s.get('seed', 0)) % 4}", "x": vector(tl, moments), "kinds": kinds,
                    "rule": _strong_frustration(moments), "short": len(tl.events) < 10 or tl.duration < 3000,
                    "names": NAMES})
    return out


def rules_only(r: dict) -> str:
    """A classifier of fixed rules over signal counts, written before looking at any fold."""
    k, x = r["kinds"], dict(zip(r["names"], r["x"]))
    if k["rage_click"] or k["error_click"] >= 2:
        return "frustrated"
    if k["field_reentry"] + k["quick_back"] + k["u_turn"] + k["form_abandonment"] >= 2:
        return "confused"
    if x["pages_per_min"] >= 15 and not x["log_inputs"]:
        return "skimming"
    return "engaged"


def _macro_f1(truth: list[str], pred: list[str]) -> float:
    f1s = []
    for c in CLASSES:
        tp = sum(t == c and p == c for t, p in zip(truth, pred))
        fp = sum(t != c and p == c for t, p in zip(truth, pred))
        fn = sum(t == c and p != c for t, p in zip(truth, pred))
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 0.0


def _confusion(truth: list[str], pred: list[str]) -> list[list[int]]:
    return [[sum(t == a and p == b for t, p in zip(truth, pred)) for b in CLASSES] for a in CLASSES]


def holdout(rows: list[dict], key: str) -> dict:
    """Leave one value of ``key`` out at a time; every method's predictions on the left-out rows."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from py_core.training import CONTAMINATION, NORMAL, fit_forest, fit_sentiment

    names = list(rows[0]["names"])
    preds: dict[str, list[str]] = defaultdict(list)
    truth: list[str] = []
    groups: list[str] = []
    p_frustrated: list[tuple[float, float, bool]] = []  # (model P, verdict score, truly frustrated)
    anomaly = defaultdict(Counter)
    for g in sorted({r[key] for r in rows}):
        train = [r for r in rows if r[key] != g]
        test = [r for r in rows if r[key] == g]
        if len({r["label"] for r in train}) < len(CLASSES):
            continue
        X, y = np.asarray([r["x"] for r in train]), [r["label"] for r in train]
        Xt = np.asarray([r["x"] for r in test])
        pipe = fit_sentiment(X, y)
        model = list(pipe.predict(Xt))
        classes = list(pipe[-1].classes_)
        proba = pipe.predict_proba(Xt)[:, classes.index("frustrated")]
        d = names.index("log_duration_s")
        duration = LogisticRegression(max_iter=2000).fit(X[:, [d]], y).predict(Xt[:, [d]])
        best = max(range(len(names)), key=lambda j: (LogisticRegression(max_iter=2000).fit(X[:, [j]], y)
                                                     .score(X[:, [j]], y), -j))
        single = LogisticRegression(max_iter=2000).fit(X[:, [best]], y).predict(Xt[:, [best]])
        for r, m, pf, du, si in zip(test, model, proba, duration, single):
            truth.append(r["label"])
            groups.append(g)
            preds["model"].append(str(m))
            preds["verdict"].append("frustrated" if r["rule"] else str(m))
            preds["duration only"].append(str(du))
            preds[f"best single feature ({names[best]})"].append(str(si))
            preds["rules over signal counts"].append(rules_only(r))
            p_frustrated.append((float(pf), max(float(pf), 0.8) if r["rule"] else float(pf), r["label"] == "frustrated"))
        # anomaly: the shipped recipe (fit on the training groups' normal sessions, 5 % contamination) ...
        normal = np.asarray([r["x"] for r in train if r["label"] in NORMAL])
        forest = fit_forest(normal)
        flags = forest.score_samples(Xt) < forest.offset_
        # ... against a threshold learnt on the left-out group's own sessions (unlabelled, as the
        # viewer's retrain): fit on one half, flag the other half, and swap.
        own = np.zeros(len(test), dtype=bool)
        halves = [[i for i in range(len(test)) if i % 2 == h] for h in (0, 1)]
        if min(len(h) for h in halves) >= 8:
            for fit_on, score_on in ((halves[0], halves[1]), (halves[1], halves[0])):
                f = fit_forest(Xt[fit_on], contamination=CONTAMINATION)
                own[score_on] = f.score_samples(Xt[score_on]) < f.offset_
        lo, hi = np.percentile(normal[:, d], [2.5, 97.5])
        for r, a, o, dx in zip(test, flags, own, Xt[:, d]):
            row = anomaly[r["persona"]]
            row["sessions"] += 1
            row["shipped recipe"] += int(a and not r["short"])
            row["own threshold"] += int(o and not r["short"])
            row["duration band"] += int(not lo <= dx <= hi)
    return {"truth": truth, "groups": groups, "preds": preds, "p_frustrated": p_frustrated, "anomaly": anomaly}


def print_holdout(rows: list[dict], key: str, title: str) -> None:
    res = holdout(rows, key)
    groups = sorted(set(res["groups"]))
    print(f"\n## Leave one {title} out ({len(groups)} folds: {', '.join(groups)})\n")
    print("| method | " + " | ".join(f"macro-F1 {g}" for g in groups) + " | macro-F1 all | confused recall |")
    print("| --- " * (len(groups) + 3) + "|")
    truth = res["truth"]
    for method, pred in res["preds"].items():
        cells = []
        for g in groups:
            idx = [i for i, x in enumerate(res["groups"]) if x == g]
            cells.append(f"{_macro_f1([truth[i] for i in idx], [pred[i] for i in idx]):.3f}")
        conf = [i for i, t in enumerate(truth) if t == "confused"]
        recall = sum(pred[i] == "confused" for i in conf) / len(conf) if conf else float("nan")
        print(f"| {method} | " + " | ".join(cells) + f" | {_macro_f1(truth, pred):.3f} | {recall:.2f} |")
    for method in ("verdict", "rules over signal counts"):
        print(f"\nconfusion, {method} (rows = true, columns = predicted: {', '.join(CLASSES)}):")
        for c, row in zip(CLASSES, _confusion(truth, res["preds"][method])):
            print(f"  {c:>10} {row}")
    for name, k in (("model P(frustrated)", 0), ("verdict frustration score", 1)):
        pts = [(p[k], p[2]) for p in res["p_frustrated"]]
        brier = sum((q - o) ** 2 for q, o in pts) / len(pts)
        print(f"\n{name}: Brier {brier:.4f} over {len(pts)} held-out sessions; reliability:")
        print("| predicted | sessions | mean predicted | observed frustrated |")
        print("| --- | --- | --- | --- |")
        for lo, hi in zip(BINS, BINS[1:]):
            b = [(q, o) for q, o in pts if lo <= q < hi]
            if b:
                print(f"| {lo:.1f}-{min(hi, 1.0):.1f} | {len(b)} | {sum(q for q, _ in b) / len(b):.3f} | "
                      f"{sum(o for _, o in b) / len(b):.3f} |")
    print("\nanomaly flags on left-out sessions (too-short sessions never flagged):")
    print("| persona | sessions | shipped recipe | own threshold (viewer retrain, other half) | duration band baseline |")
    print("| --- | --- | --- | --- | --- |")
    for persona in sorted(res["anomaly"]):
        a = res["anomaly"][persona]
        print(f"| {persona} | {a['sessions']} | {a['shipped recipe']} | {a['own threshold']} | {a['duration band']} |")


def main_holdout() -> int:
    rows = rows_for_holdout()
    sites = sorted({r["site"] for r in rows})
    print(f"# Held-out evaluation over {len(rows)} sessions of tests/events/corpus\n")
    print(f"sites: {', '.join(sites)}; viewports: {', '.join(sorted({r['viewport'] for r in rows}))}")
    if len(sites) > 1:
        print_holdout(rows, "site", "site")
    else:
        print(f"\nLeave-one-site-out is not possible: every session was recorded on one site ({sites[0]}).")
    print_holdout(rows, "viewport", "viewport")
    print_holdout(rows, "fold", "seed fold")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle-ms", type=int, default=3000)
    ap.add_argument("--holdout", action="store_true", help="the leave-one-group-out evaluation instead")
    args = ap.parse_args(argv)
    if args.holdout:
        return main_holdout()
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
