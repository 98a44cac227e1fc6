"""Sentiment from interaction patterns: probabilities that a session was frustrated,
confused, engaged or skimming, with the features that pushed each probability up.

A multinomial logistic regression over standardised features, trained with scikit-learn
on the labelled persona corpus (py_core.training), exported as plain arrays and scored
here with the standard library only, so the visitor's worker needs no numpy
(docs/adr/0506-pure-python-scorers-on-device.md). :meth:`SentimentScorer.predict_proba`
equals scikit-learn's ``predict_proba`` and the numpy scorer (py_core.numpy_scorers)
within 1e-12 (tests/test_models.py, tests/test_scorers_pure.py): each logit is a
correctly rounded sum (``math.fsum``) of its products, and the softmax subtracts the
largest logit before ``exp`` (no overflow) and adds with a plain loop (``sum()`` rounds
differently from Python 3.12 on). A feature's contribution to a class is its standardised
value times the class's weight: the logit it adds, which an analyst can read; those are
the same products numpy forms, so :meth:`SentimentScorer.contributions` equals the numpy
scorer's to the bit.

``SentimentModel`` (the numpy scorer) is still importable from here for the analyst side;
it is loaded on first use, so importing this module never imports numpy. :func:`assess`
takes either scorer.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from . import models
from .features import NAMES


class SentimentScorer:
    """A stdlib scorer for the exported classifier (see py_core.training.export_sentiment)."""

    def __init__(self, model: dict):
        if list(model.get("features", ())) != list(NAMES):
            raise ValueError("the sentiment model was trained on other features: retrain it (py_core.training)")
        self.classes = [str(c) for c in model["classes"]]
        self.mean = [float(v) for v in model["mean"]]
        self.scale = [float(v) for v in model["scale"]]
        self.coef = [[float(v) for v in row] for row in model["coef"]]
        self.intercept = [float(v) for v in model["intercept"]]
        n = len(NAMES)
        if len(self.mean) != n or len(self.scale) != n or not all(s > 0 for s in self.scale):
            raise ValueError("the sentiment model's mean and scale need one number per feature, scales above 0")
        if (len(self.classes) < 2 or len(self.coef) != len(self.classes) or len(self.intercept) != len(self.classes)
                or any(len(row) != n for row in self.coef)):
            raise ValueError("the sentiment model needs one coefficient row (of one number per feature) "
                             "and one intercept per class")

    def standardise(self, x: Sequence[float]) -> list[float]:
        """One vector in the scaler's units: (x - mean) / scale."""
        if len(x) != len(NAMES):
            raise ValueError(f"a feature vector has {len(NAMES)} numbers (py_core.features.NAMES), got {len(x)}")
        try:
            finite = all(math.isfinite(v) for v in x)
        except TypeError:
            raise TypeError(f"a feature vector holds numbers only, got {[type(v).__name__ for v in x]}") from None
        except OverflowError:  # an int beyond float64's range
            finite = False
        if not finite:  # scikit-learn refuses them too; py_core.features never makes them
            raise ValueError("a feature vector holds finite numbers only (no NaN or infinity)")
        return [(float(v) - m) / s for v, m, s in zip(x, self.mean, self.scale)]

    def logits(self, x: Sequence[float]) -> list[float]:
        """The decision function of one vector: one logit per class."""
        z = self.standardise(x)
        try:
            out = [math.fsum(c * v for c, v in zip(row, z)) + b for row, b in zip(self.coef, self.intercept)]
        except (OverflowError, ValueError):
            out = [math.inf]
        if not all(math.isfinite(v) for v in out):
            raise ValueError("a feature vector too far out of range to score (a logit overflows)")
        return out

    def predict_proba(self, X: Iterable) -> list[list[float]]:
        """Class probabilities (in `classes` order) of each vector, as scikit-learn's pipeline
        gives; one vector or a sequence of them (lists, tuples or numpy rows)."""
        rows = list(X)
        if rows and not hasattr(rows[0], "__len__"):
            rows = [rows]
        out = []
        for row in rows:
            logits = self.logits(row)
            top = max(logits)
            p = [math.exp(v - top) for v in logits]
            total = 0.0
            for v in p:
                total += v
            out.append([v / total for v in p])
        return out

    def contributions(self, x: Sequence[float], top: int = 3) -> dict[str, list[dict]]:
        """For each class, the features adding most to its logit (largest first)."""
        z = self.standardise(x)
        out = {}
        for name, row in zip(self.classes, self.coef):
            c = [w * v for w, v in zip(row, z)]
            order = sorted(range(len(NAMES)), key=lambda j: (-round(c[j], 9), j))[:top]
            out[name] = [{"feature": NAMES[j], "logit": round(c[j], 3), "value": x[j]}
                         for j in order if c[j] > 0]
        return out


_model: SentimentScorer | None = None


def model() -> SentimentScorer:
    """The committed classifier (built once)."""
    global _model
    if _model is None:
        _model = SentimentScorer(models.load("sentiment"))
    return _model


def assess(x: list[float], m=None) -> dict:
    """Probabilities per class, the most likely class, and each class's top features.
    ``m`` is a :class:`SentimentScorer` (default: the committed one) or the numpy
    ``SentimentModel``."""
    m = m or model()
    p = [float(v) for v in m.predict_proba([x])[0]]
    probs = {c: round(v, 4) for c, v in zip(m.classes, p)}
    best = m.classes[max(range(len(p)), key=p.__getitem__)]  # the first of equals, as numpy's argmax
    return {"label": best, "probabilities": probs, "top_features": m.contributions(x)}


def __getattr__(name: str):
    # The numpy scorer under its old name, for the analyst side; imported only when asked for.
    if name == "SentimentModel":
        from .numpy_scorers import SentimentModel

        return SentimentModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
