#!/usr/bin/env python3
"""analyze() in CPython with the stdlib scorers (what the worker runs) vs the numpy scorers.

    .venv/bin/python bench/scorers_bench.py [--runs 60]

The typical session is the recorded corpus session (tests/events/corpus) with the median
number of events. Each run analyses it once with the stdlib scorers and once with the numpy
scorers (py_core.numpy_scorers put in place of the committed models' scorers), alternating
so that the machine's load hits both alike; the results are checked equal first. Then the
two models' scoring alone (anomaly.assess + sentiment.assess of one feature vector), the
whole corpus once per mode, and the import times of the worker's module and of numpy in a
fresh interpreter.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from py_core import anomaly, insights, models, numpy_scorers, sentiment  # noqa: E402
from py_core.features import NAMES  # noqa: E402

CORPUS = ROOT / "tests" / "events" / "corpus"


def use(mode: str) -> None:
    """Make analyze() score with the stdlib ("pure") or the numpy scorers."""
    if mode == "numpy":
        anomaly._scorer = numpy_scorers.IsolationForestScorer(models.load("anomaly"))
        sentiment._model = numpy_scorers.SentimentModel(models.load("sentiment"))
    else:
        anomaly._scorer = anomaly.ForestScorer(models.load("anomaly"))
        sentiment._model = sentiment.SentimentScorer(models.load("sentiment"))


def clock(fn, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"pure": [], "numpy": []}
    for mode in ("pure", "numpy"):  # warm-up
        use(mode)
        fn()
    for _ in range(runs):
        for mode in ("pure", "numpy"):
            use(mode)
            t = time.perf_counter()
            fn()
            times[mode].append((time.perf_counter() - t) * 1000)
    return times


def row(name: str, times: dict[str, list[float]], unit: str = "ms", scale: float = 1.0) -> None:
    cells = [f"{statistics.median(times[m]) * scale:.3f} / {min(times[m]) * scale:.3f}" for m in ("pure", "numpy")]
    print(f"| {name} | {cells[0]} | {cells[1]} | {unit} |")


def import_ms(module: str, runs: int = 5) -> float:
    best = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", f"import time; t = time.perf_counter(); import {module}; "
                              "print((time.perf_counter() - t) * 1000)"], cwd=ROOT, capture_output=True, text=True,
                             check=True)
        best.append(float(out.stdout))
    return min(best)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=60)
    args = ap.parse_args()
    sessions = {p.name: json.loads(gzip.decompress(p.read_bytes()))["events"] for p in sorted(CORPUS.glob("*.json.gz"))}
    by_size = sorted(sessions, key=lambda n: (len(sessions[n]), n))
    typical = by_size[len(by_size) // 2]
    events = sessions[typical]
    results = {}
    for mode in ("pure", "numpy"):
        use(mode)
        results[mode] = json.dumps(insights.analyze(events), sort_keys=True)
    if results["pure"] != results["numpy"]:
        raise SystemExit("the two scorers give different analyze() results")
    x = [json.loads(results["pure"])["features"][n] for n in NAMES]
    print(f"typical session: {typical}, {len(events)} events; load average {os.getloadavg()[0]:.1f}; "
          f"{args.runs} runs; Python {sys.version.split()[0]}")
    print("| what | stdlib scorers: median / best | numpy scorers: median / best | unit |")
    print("| --- | --- | --- | --- |")
    row("`analyze(events)`, typical session", clock(lambda: insights.analyze(events), args.runs))
    row("`analyze(events, compact=True)`", clock(lambda: insights.analyze(events, compact=True), args.runs))
    row("scoring only: `anomaly.assess(x)` + `sentiment.assess(x)`",
        clock(lambda: (anomaly.assess(x), sentiment.assess(x)), args.runs * 5), "µs", 1000.0)
    row(f"`analyze()` of all {len(sessions)} corpus sessions",
        clock(lambda: [insights.analyze(e) for e in sessions.values()], max(3, args.runs // 10)))
    print(f"import in a fresh interpreter (best of 5): py_core.worker_api {import_ms('py_core.worker_api'):.0f} ms "
          f"(numpy not among its modules); numpy {import_ms('numpy'):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
