"""The exported models: the stdlib and numpy scorers equal scikit-learn, the held-out split is
honest. (tests/test_scorers_pure.py compares the stdlib scorers with the numpy ones further.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sklearn

from py_core import anomaly, models, numpy_scorers, sentiment, training
from py_core.features import NAMES


@pytest.fixture(scope="module")
def corpus():
    rows = training.load_corpus()
    return ([r for r in rows if not r["held_out"]], [r for r in rows if r["held_out"]])


def _probe(X: np.ndarray) -> np.ndarray:
    """The samples themselves, jittered copies, and far-out points."""
    rng = np.random.default_rng(1)
    return np.vstack([X, X + rng.normal(0, 0.5, X.shape), X * 3 + 1, np.zeros((1, X.shape[1]))])


@pytest.mark.parametrize("seed,max_samples", [(0, "auto"), (1, 16), (2, 0.5)])
def test_forest_scorer_equals_score_samples(corpus, seed, max_samples):
    """The numpy scorer gives scikit-learn's score_samples bit for bit, the stdlib one within 1e-12."""
    from sklearn.ensemble import IsolationForest

    X = np.asarray([r["x"] for r in corpus[0]])
    forest = IsolationForest(n_estimators=60, max_samples=max_samples, random_state=seed).fit(X)
    exported = json.loads(json.dumps(training.export_forest(forest, X)))
    Z = _probe(np.asarray([r["x"] for r in corpus[0] + corpus[1]]))
    # numpy's scorer bit for bit; the stdlib one within 1e-12 (math.log is the C library's,
    # numpy's own SIMD log may differ from it in the last bit).
    scorer = numpy_scorers.IsolationForestScorer(exported)
    assert np.array_equal(np.asarray(scorer.score_samples(Z)), forest.score_samples(Z))
    assert scorer.offset == forest.offset_
    pure = anomaly.ForestScorer(exported)
    assert np.abs(np.asarray(pure.score_samples(Z)) - forest.score_samples(Z)).max() <= 1e-12
    assert pure.offset == forest.offset_


def test_committed_forest_is_reproducible(corpus):
    """Refitting on the recorded training split reproduces the committed model's scores."""
    committed = models.load("anomaly")
    if committed["training"]["sklearn"] != sklearn.__version__:
        pytest.skip(f"model trained with scikit-learn {committed['training']['sklearn']}, here {sklearn.__version__}")
    normal = [r for r in corpus[0] if r["label"] in committed["training"]["normal"]]
    assert [r["name"] for r in normal] == committed["training"]["train"]
    X = np.asarray([r["x"] for r in normal])
    forest = training.fit_forest(X, committed["training"]["seed"], committed["training"]["contamination"])
    assert forest.offset_ == anomaly.scorer().offset
    Z = _probe(np.asarray([r["x"] for r in corpus[0] + corpus[1]]))
    assert np.abs(np.asarray(anomaly.scorer().score_samples(Z)) - forest.score_samples(Z)).max() <= 1e-12


def test_sentiment_scorer_equals_predict_proba(corpus):
    """The numpy and the stdlib classifiers give scikit-learn's predict_proba, and their
    contributions add up to its decision function."""
    X = np.asarray([r["x"] for r in corpus[0]])
    pipe = training.fit_sentiment(X, [r["label"] for r in corpus[0]])
    exported = json.loads(json.dumps(training.export_sentiment(pipe)))
    m = numpy_scorers.SentimentModel(exported)
    pure = sentiment.SentimentScorer(exported)
    Z = _probe(np.asarray([r["x"] for r in corpus[0] + corpus[1]]))
    assert np.allclose(m.predict_proba(Z), pipe.predict_proba(Z), rtol=0, atol=1e-12)
    assert np.allclose(np.asarray(pure.predict_proba(Z)), pipe.predict_proba(Z), rtol=0, atol=1e-12)
    assert m.classes == pure.classes == list(pipe.classes_)
    x = corpus[1][0]["x"]
    logits = m.standardise([x])[0] * m.coef  # per class, per feature
    assert np.allclose(logits.sum(axis=1) + m.intercept, pipe.decision_function([x])[0])
    assert np.allclose(pure.logits(x), pipe.decision_function([x])[0], rtol=0, atol=1e-12)


def test_held_out_split_is_never_trained_on(corpus):
    """Held-out sessions are disjoint from training, cover every class, and the stored metrics are real."""
    committed = models.load("sentiment")
    train_names, test_names = committed["training"]["train"], committed["training"]["held_out"]
    assert not set(train_names) & set(test_names)
    assert test_names == [r["name"] for r in corpus[1]] and train_names == [r["name"] for r in corpus[0]]
    assert {r["label"] for r in corpus[1]} == set(committed["classes"])
    Xt = np.asarray([r["x"] for r in corpus[1]])
    pred = np.asarray(committed["classes"])[np.asarray(sentiment.model().predict_proba(Xt)).argmax(axis=1)]
    truth = [r["label"] for r in corpus[1]]
    accuracy = float(np.mean(pred == np.asarray(truth)))
    stored = committed["held_out_metrics"]
    assert round(accuracy, 4) == stored["accuracy"] and stored["n"] == len(truth)
    assert sum(map(sum, stored["confusion"])) == len(truth)
    assert accuracy > 0.5  # four balanced classes: chance is 0.25


def test_anomaly_held_out_figures_are_real(corpus):
    """The stored held-out AUC and flag counts are what the committed model gives on held-out sessions."""
    from sklearn.metrics import roc_auc_score

    committed = models.load("anomaly")
    assert not set(committed["training"]["train"]) & {r["name"] for r in corpus[1]}
    scores = np.asarray(anomaly.scorer().score_samples(np.asarray([r["x"] for r in corpus[1]])))
    abnormal = [r["label"] not in committed["training"]["normal"] for r in corpus[1]]
    stored = committed["held_out_metrics"]
    assert round(float(roc_auc_score(abnormal, -scores)), 4) == stored["roc_auc"] and stored["roc_auc"] > 0.8
    for label, f in stored["flagged"].items():
        mine = [sc for r, sc in zip(corpus[1], scores) if r["label"] == label]
        assert f == {"flagged": int(sum(sc < anomaly.scorer().offset for sc in mine)), "of": len(mine)}


def test_every_score_names_its_top_features(corpus):
    """Anomaly and sentiment scores come with named, valued contributing features."""
    x = corpus[1][0]["x"]
    a = anomaly.assess(x)
    assert len(a["top_features"]) == 3 and all(f["feature"] in NAMES for f in a["top_features"])
    assert 0 < a["score"] <= 1 and a["score"] == -a["score_samples"] and a["anomalous"] == (a["score"] > a["threshold"])
    s = sentiment.assess(x)
    assert abs(sum(s["probabilities"].values()) - 1) < 1e-3 and s["label"] in s["probabilities"]
    assert s["top_features"][s["label"]] and all(f["logit"] > 0 for f in s["top_features"][s["label"]])


def test_retrain_on_a_sites_own_sessions(corpus):
    """The viewer's retraining fits a usable model on decrypted sessions, and refuses too few."""
    import gzip

    events = [json.loads(gzip.decompress(p.read_bytes()))["events"] for p in sorted(training.CORPUS.glob("*.json.gz"))[:12]]
    model = training.retrain_anomaly(events)
    x = training.features_of(events[0])
    assert anomaly.IsolationForestScorer is numpy_scorers.IsolationForestScorer  # the name the viewer imports
    scorer = anomaly.IsolationForestScorer(model)
    assert scorer.score_samples(np.asarray([x])).shape == (1,)
    assert anomaly.assess(x, scorer) == anomaly.assess(x, anomaly.ForestScorer(model))
    with pytest.raises(ValueError, match="at least 8 sessions"):
        training.retrain_anomaly(events[:3])


def test_models_refuse_other_features():
    """A model exported for another feature list is refused with a clear message."""
    bad = {**models.load("sentiment"), "features": ["x"]}
    for cls in (sentiment.SentimentModel, sentiment.SentimentScorer):
        with pytest.raises(ValueError, match="other features"):
            cls(bad)
    for cls in (anomaly.IsolationForestScorer, anomaly.ForestScorer):
        with pytest.raises(ValueError, match="other features"):
            cls({**models.load("anomaly"), "features": ["x"]})
