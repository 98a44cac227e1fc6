"""Anomaly score of a session: an IsolationForest, trained with scikit-learn at build time
(py_core.training), exported as plain arrays, and scored here with numpy only.

:meth:`IsolationForestScorer.score_samples` equals scikit-learn's
``IsolationForest.score_samples`` (tests/test_models.py checks it): the negated
``2 ** (-mean path length / c(max_samples))``, between -1 (most anomalous) and 0.
A session is flagged as an anomaly when the score is below the model's ``offset``
(scikit-learn's ``offset_``: ``decision_function < 0``).
"""

from __future__ import annotations

import numpy as np

from . import models
from .features import NAMES


class IsolationForestScorer:
    """A numpy scorer for an exported IsolationForest (see py_core.training.export_forest)."""

    def __init__(self, model: dict):
        if list(model.get("features", ())) != list(NAMES):
            raise ValueError("the anomaly model was trained on other features: retrain it (py_core.training)")
        trees = model["trees"]
        width = max(len(t["feature"]) for t in trees)
        n = len(trees)
        self.feature = np.full((n, width), -2, dtype=np.int64)
        self.threshold = np.zeros((n, width))
        self.left = np.zeros((n, width), dtype=np.int64)
        self.right = np.zeros((n, width), dtype=np.int64)
        self.value = np.zeros((n, width))  # at leaves: path length + c(leaf samples) - 1
        for k, t in enumerate(trees):
            m = len(t["feature"])
            self.feature[k, :m] = t["feature"]
            self.threshold[k, :m] = t["threshold"]
            self.left[k, :m] = t["left"]
            self.right[k, :m] = t["right"]
            self.value[k, :m] = t["value"]
        self.depth = int(model["max_depth"])
        self.denominator = float(model["denominator"])
        self.offset = float(model["offset"])
        self.median = np.asarray(model["median"], dtype=np.float64)
        self.scale = np.asarray(model["scale"], dtype=np.float64)

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """The leaf each sample reaches in each tree: shape (trees, samples)."""
        # scikit-learn's trees compare float32 inputs with float64 thresholds.
        X = np.asarray(X, dtype=np.float32).astype(np.float64)
        n_trees, n = self.feature.shape[0], X.shape[0]
        rows = np.arange(n_trees)[:, None]
        node = np.zeros((n_trees, n), dtype=np.int64)
        cols = np.arange(n)[None, :]
        for _ in range(self.depth + 1):
            f = self.feature[rows, node]
            inner = f >= 0
            if not inner.any():
                break
            go_left = X[cols, np.where(inner, f, 0)] <= self.threshold[rows, node]
            node = np.where(inner, np.where(go_left, self.left[rows, node], self.right[rows, node]), node)
        return node

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's score_samples: -2 ** (-E[path length] / c(max_samples))."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        leaves = self.leaves(X)
        depths = np.zeros(X.shape[0])
        for k in range(leaves.shape[0]):  # summed tree by tree, in scikit-learn's order
            depths += self.value[k, leaves[k]]
        return -(2 ** (-depths / self.denominator))

    def explain(self, x: list[float], top: int = 3) -> list[dict]:
        """The features that explain the score: every split on a feature along the sample's
        path in every tree scores 1/(depth+1) (its `share` of the total); features are ranked
        by share times |z|, the robust distance (IQR units) from the training median."""
        X = np.atleast_2d(np.asarray(x, dtype=np.float32).astype(np.float64))
        weight = np.zeros(len(NAMES))
        rows = np.arange(self.feature.shape[0])
        node = np.zeros(self.feature.shape[0], dtype=np.int64)
        for d in range(self.depth + 1):
            f = self.feature[rows, node]
            inner = f >= 0
            if not inner.any():
                break
            np.add.at(weight, f[inner], 1.0 / (d + 1))
            go_left = X[0, np.where(inner, f, 0)] <= self.threshold[rows, node]
            node = np.where(inner, np.where(go_left, self.left[rows, node], self.right[rows, node]), node)
        share = weight / weight.sum() if weight.sum() else weight
        z = (np.asarray(x) - self.median) / self.scale
        # Rank by isolation share times distance from the training median: a feature that
        # isolates this session early *and* is unusual explains its score best.
        weight = share * np.abs(z)
        order = sorted(range(len(NAMES)), key=lambda j: (-round(float(weight[j]), 9), j))[:top]
        return [{"feature": NAMES[j], "share": round(float(share[j]), 3), "value": x[j],
                 "typical": round(float(self.median[j]), 3), "z": round(float(z[j]), 2)} for j in order]


_scorer: IsolationForestScorer | None = None


def scorer() -> IsolationForestScorer:
    """The committed model's scorer (built once)."""
    global _scorer
    if _scorer is None:
        _scorer = IsolationForestScorer(models.load("anomaly"))
    return _scorer


def assess(x: list[float], model: IsolationForestScorer | None = None) -> dict:
    """Anomaly of one feature vector: ``score`` is Liu et al.'s s(x) = -score_samples, in
    (0, 1], higher is more anomalous (above 0.5: shorter paths than average); flagged when
    above ``threshold`` (-offset_); ``top_features`` say why."""
    m = model or scorer()
    raw = float(m.score_samples(np.asarray([x]))[0])
    return {"score": round(-raw, 4), "anomalous": raw < m.offset, "threshold": round(-m.offset, 4),
            "score_samples": round(raw, 4), "top_features": m.explain(x)}
