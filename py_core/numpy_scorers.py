"""The numpy scorers of the exported models, for the analyst side and training only.

The visitor's worker never imports this module: it scores one session at a time with the
stdlib scorers (py_core.anomaly.ForestScorer, py_core.sentiment.SentimentScorer), so
Pyodide need not load numpy (docs/adr/0506-pure-python-scorers-on-device.md). These
classes score many sessions at once (the viewer's retrained model, py_core.training's
checks) and are the reference the stdlib scorers are tested against (tests/test_models.py,
tests/test_scorers_pure.py):

- :meth:`IsolationForestScorer.score_samples` equals scikit-learn's
  ``IsolationForest.score_samples`` to the bit: the negated
  ``2 ** (-mean path length / c(max_samples))``, between -1 (most anomalous) and 0.
- :meth:`SentimentModel.predict_proba` equals scikit-learn's pipeline ``predict_proba``
  within 1e-12.

``py_core.anomaly.IsolationForestScorer`` and ``py_core.sentiment.SentimentModel`` still
name these classes (imported on first use), and both modules' ``assess()`` accept them.
"""

from __future__ import annotations

import numpy as np

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


class SentimentModel:
    """A numpy scorer for the exported classifier (see py_core.training.export_sentiment)."""

    def __init__(self, model: dict):
        if list(model.get("features", ())) != list(NAMES):
            raise ValueError("the sentiment model was trained on other features: retrain it (py_core.training)")
        self.classes = list(model["classes"])
        self.mean = np.asarray(model["mean"], dtype=np.float64)
        self.scale = np.asarray(model["scale"], dtype=np.float64)
        self.coef = np.asarray(model["coef"], dtype=np.float64)
        self.intercept = np.asarray(model["intercept"], dtype=np.float64)

    def standardise(self, X: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(np.asarray(X, dtype=np.float64)) - self.mean) / self.scale

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (columns in `classes` order), as scikit-learn's pipeline gives."""
        logits = self.standardise(X) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def contributions(self, x: list[float], top: int = 3) -> dict[str, list[dict]]:
        """For each class, the features adding most to its logit (largest first)."""
        z = self.standardise([x])[0]
        out = {}
        for k, name in enumerate(self.classes):
            c = self.coef[k] * z
            order = sorted(range(len(NAMES)), key=lambda j: (-round(float(c[j]), 9), j))[:top]
            out[name] = [{"feature": NAMES[j], "logit": round(float(c[j]), 3), "value": x[j]}
                         for j in order if c[j] > 0]
        return out
