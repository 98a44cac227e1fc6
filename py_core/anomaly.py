"""Anomaly score of a session: an IsolationForest, trained with scikit-learn at build time
(py_core.training), exported as plain arrays, and scored here with the standard library
only, so the visitor's worker needs no numpy (docs/adr/0506-pure-python-scorers-on-device.md).

:meth:`ForestScorer.score_samples` equals scikit-learn's ``IsolationForest.score_samples``
and the numpy scorer (py_core.numpy_scorers, for the analyst side) to the bit on CPython
(tests/test_models.py, tests/test_scorers_pure.py): the negated
``2 ** (-mean path length / c(max_samples))``, between -1 (most anomalous) and 0.
A session is flagged as an anomaly when the score is below the model's ``offset``
(scikit-learn's ``offset_``: ``decision_function < 0``).

Three details keep it equal: inputs are rounded to float32 before they meet the float64
thresholds (scikit-learn's trees do; ``array('f')`` rounds as numpy's cast does, overflow
to infinity included); path lengths are added tree by tree in scikit-learn's order with a
plain loop (never ``sum()``, which compensates since Python 3.12, so CPython 3.11 and
Pyodide's 3.12 would differ); and :meth:`ForestScorer.explain` adds its split weights in
the numpy scorer's order and totals them with numpy's pairwise summation.

``IsolationForestScorer`` (the numpy scorer) is still importable from here for the
analyst side; it is loaded on first use, so importing this module never imports numpy.
:func:`assess` takes either scorer.
"""

from __future__ import annotations

import math
from array import array
from typing import Iterable, Sequence

from . import models
from .features import NAMES


def _rows(X) -> list[Sequence]:
    """One feature vector or a sequence of them, as a list of vectors of len(NAMES) finite
    numbers (scikit-learn refuses NaN and infinity too; py_core.features never makes them)."""
    rows = list(X)
    if rows and not hasattr(rows[0], "__len__"):
        rows = [rows]  # one vector, as numpy's atleast_2d reads it
    for row in rows:
        if len(row) != len(NAMES):
            raise ValueError(f"a feature vector has {len(NAMES)} numbers (py_core.features.NAMES), got {len(row)}")
        try:
            finite = all(math.isfinite(v) for v in row)
        except TypeError:
            raise TypeError(f"a feature vector holds numbers only, got {[type(v).__name__ for v in row]}") from None
        except OverflowError:  # an int beyond float64's range
            finite = False
        if not finite:
            raise ValueError("a feature vector holds finite numbers only (no NaN or infinity)")
    return rows


def _float32(row: Sequence) -> array:
    """The vector rounded to float32 (round to nearest even; beyond float32's range: ±inf)."""
    return array("f", row)


def _pairwise_sum(a: list[float], lo: int, n: int) -> float:
    """numpy's pairwise summation of a[lo:lo+n] (its ``add.reduce`` over float64), in the
    same order, so a total equals numpy's to the bit."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r = a[lo:lo + 8]
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += a[lo + i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, lo, half) + _pairwise_sum(a, lo + half, n - half)


class ForestScorer:
    """A stdlib scorer for an exported IsolationForest (see py_core.training.export_forest)."""

    def __init__(self, model: dict):
        if list(model.get("features", ())) != list(NAMES):
            raise ValueError("the anomaly model was trained on other features: retrain it (py_core.training)")
        trees = model.get("trees") or []
        if not trees:
            raise ValueError("the anomaly model has no trees")
        self.trees: list[tuple[list[int], list[float], list[int], list[int], list[float]]] = []
        for k, t in enumerate(trees):
            tree = (list(map(int, t["feature"])), list(map(float, t["threshold"])), list(map(int, t["left"])),
                    list(map(int, t["right"])), list(map(float, t["value"])))
            m = len(tree[0])
            if not m or any(len(column) != m for column in tree):
                raise ValueError(f"anomaly model tree {k}: its node arrays differ in length")
            for node, f in enumerate(tree[0]):
                # Children follow their parent (scikit-learn's order), so every walk ends.
                if f >= 0 and not (f < len(NAMES) and node < tree[2][node] < m and node < tree[3][node] < m):
                    raise ValueError(f"anomaly model tree {k}: node {node} is malformed")
            self.trees.append(tree)
        self.depth = int(model["max_depth"])
        self.denominator = float(model["denominator"])
        self.offset = float(model["offset"])
        self.median = [float(v) for v in model["median"]]
        self.scale = [float(v) for v in model["scale"]]
        if len(self.median) != len(NAMES) or len(self.scale) != len(NAMES) or not all(s > 0 for s in self.scale):
            raise ValueError("the anomaly model's median and scale need one number per feature, scales above 0")
        if not self.denominator > 0:
            raise ValueError("the anomaly model's denominator must be above 0")

    def path_lengths(self, x: Sequence[float]) -> float:
        """The sum over trees of the path length (plus leaf correction) of one checked vector."""
        x32 = _float32(x)
        total = 0.0
        for feature, threshold, left, right, value in self.trees:  # tree by tree, scikit-learn's order
            node = 0
            f = feature[0]
            while f >= 0:
                node = left[node] if x32[f] <= threshold[node] else right[node]
                f = feature[node]
            total += value[node]
        return total

    def score_samples(self, X: Iterable) -> list[float]:
        """scikit-learn's score_samples, -2 ** (-E[path length] / c(max_samples)), for one
        vector or a sequence of them (lists, tuples or numpy rows)."""
        return [-(2.0 ** (-self.path_lengths(row) / self.denominator)) for row in _rows(X)]

    def explain(self, x: Sequence[float], top: int = 3) -> list[dict]:
        """The features that explain the score: every split on a feature along the sample's
        path in every tree scores 1/(depth+1) (its `share` of the total); features are ranked
        by share times |z|, the robust distance (IQR units) from the training median."""
        (x,) = _rows([x])
        x32 = _float32(x)
        weight = [0.0] * len(NAMES)
        node = [0] * len(self.trees)
        walking = list(range(len(self.trees)))
        d = 0
        while walking:  # depth by depth, trees in order: the numpy scorer's order of additions
            step, still = 1.0 / (d + 1), []
            for k in walking:
                feature, threshold, left, right, _ = self.trees[k]
                n = node[k]
                f = feature[n]
                if f < 0:
                    continue
                weight[f] += step
                node[k] = left[n] if x32[f] <= threshold[n] else right[n]
                still.append(k)
            walking, d = still, d + 1
        total = _pairwise_sum(weight, 0, len(weight))
        share = [w / total for w in weight] if total else weight
        z = [(float(v) - m) / s for v, m, s in zip(x, self.median, self.scale)]
        # Rank by isolation share times distance from the training median: a feature that
        # isolates this session early *and* is unusual explains its score best.
        rank = [sh * abs(zj) for sh, zj in zip(share, z)]
        order = sorted(range(len(NAMES)), key=lambda j: (-round(rank[j], 9), j))[:top]
        return [{"feature": NAMES[j], "share": round(share[j], 3), "value": x[j],
                 "typical": round(self.median[j], 3), "z": round(z[j], 2)} for j in order]


_scorer: ForestScorer | None = None


def scorer() -> ForestScorer:
    """The committed model's scorer (built once)."""
    global _scorer
    if _scorer is None:
        _scorer = ForestScorer(models.load("anomaly"))
    return _scorer


def assess(x: list[float], model=None) -> dict:
    """Anomaly of one feature vector: ``score`` is Liu et al.'s s(x) = -score_samples, in
    (0, 1], higher is more anomalous (above 0.5: shorter paths than average); flagged when
    above ``threshold`` (-offset_); ``top_features`` say why. ``model`` is any scorer with
    ``score_samples``, ``offset`` and ``explain``: a :class:`ForestScorer` (default: the
    committed model's) or the numpy ``IsolationForestScorer``."""
    m = model or scorer()
    raw = float(m.score_samples([x])[0])
    return {"score": round(-raw, 4), "anomalous": raw < m.offset, "threshold": round(-m.offset, 4),
            "score_samples": round(raw, 4), "top_features": m.explain(x)}


def __getattr__(name: str):
    # The numpy scorer under its old name, for the analyst side (the viewer's retraining):
    # imported only when asked for, so the worker, which never asks, never imports numpy.
    if name == "IsolationForestScorer":
        from .numpy_scorers import IsolationForestScorer

        return IsolationForestScorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
