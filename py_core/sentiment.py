"""Sentiment from interaction patterns: probabilities that a session was frustrated,
confused, engaged or skimming, with the features that pushed each probability up.

A multinomial logistic regression over standardised features, trained with scikit-learn
on the labelled persona corpus (py_core.training), exported as plain arrays and scored
here with numpy only. :meth:`SentimentModel.predict_proba` equals scikit-learn's
``predict_proba`` (tests/test_models.py). A feature's contribution to a class is its
standardised value times the class's weight: the logit it adds, which an analyst can read.
"""

from __future__ import annotations

import numpy as np

from . import models
from .features import NAMES


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


_model: SentimentModel | None = None


def model() -> SentimentModel:
    """The committed classifier (built once)."""
    global _model
    if _model is None:
        _model = SentimentModel(models.load("sentiment"))
    return _model


def assess(x: list[float], m: SentimentModel | None = None) -> dict:
    """Probabilities per class, the most likely class, and each class's top features."""
    m = m or model()
    p = m.predict_proba(np.asarray([x]))[0]
    probs = {c: round(float(v), 4) for c, v in zip(m.classes, p)}
    best = m.classes[int(np.argmax(p))]
    return {"label": best, "probabilities": probs, "top_features": m.contributions(x)}
