"""The stdlib scorers the visitor's worker runs equal the numpy scorers and scikit-learn, and
the worker's modules work with numpy unimportable (docs/adr/0506-pure-python-scorers-on-device.md)."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from py_core import anomaly, insights, models, numpy_scorers, sentiment, training
from py_core.features import NAMES

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "events" / "corpus"
F32_MAX = 3.4028234663852886e38


@pytest.fixture(scope="module")
def fitted():
    """scikit-learn's models fitted on the whole corpus, with both scorers of their exports."""
    rows = training.load_corpus()
    X = np.asarray([r["x"] for r in rows])
    forest = training.fit_forest(X, seed=3)
    pipe = training.fit_sentiment(X, [r["label"] for r in rows], seed=3)
    a = json.loads(json.dumps(training.export_forest(forest, X)))
    s = json.loads(json.dumps(training.export_sentiment(pipe)))
    return {"X": X, "forest": forest, "pipe": pipe,
            "anomaly": (anomaly.ForestScorer(a), numpy_scorers.IsolationForestScorer(a)),
            "sentiment": (sentiment.SentimentScorer(s), numpy_scorers.SentimentModel(s))}


def committed():
    return ((anomaly.scorer(), numpy_scorers.IsolationForestScorer(models.load("anomaly"))),
            (sentiment.model(), numpy_scorers.SentimentModel(models.load("sentiment"))))


def probe(X: np.ndarray) -> np.ndarray:
    """The corpus vectors, jittered copies, far-out points, and values beyond float32's range."""
    rng = np.random.default_rng(7)
    return np.vstack([X, X + rng.normal(0, 0.5, X.shape), X * 3 + 1, -X, np.zeros((1, X.shape[1])),
                      X[:10] * 1e9, X[:10] * 1e30, X[:10] * 1e39, X[:10] * -1e300,
                      np.full((1, X.shape[1]), F32_MAX), np.full((1, X.shape[1]), 5e-324)])


def assert_same(x: list[float], pure_a, np_a, pure_s, np_s, atol: float) -> None:
    """One vector: anomaly scores within 1e-12 (the stdlib's log against numpy's), explanations and contributions equal, and
    probabilities within atol; assess() gives the same dict with either scorer."""
    assert abs(pure_a.score_samples([x])[0] - np_a.score_samples(np.asarray([x], dtype=np.float64))[0]) <= 1e-12
    assert pure_a.explain(x, top=len(NAMES)) == np_a.explain(x, top=len(NAMES))
    assert anomaly.assess(x, pure_a) == anomaly.assess(x, np_a)
    p, q = pure_s.predict_proba([x])[0], np_s.predict_proba(np.asarray([x], dtype=np.float64))[0]
    assert max(abs(a - b) for a, b in zip(p, q)) <= atol and abs(math.fsum(p) - 1) < 1e-12
    assert pure_s.contributions(x, top=len(NAMES)) == np_s.contributions(x, top=len(NAMES))


def test_committed_models_on_the_corpus_pure_equals_numpy():
    """Over every corpus vector and probes around them (float32 overflow included), the
    committed models score the same in both scorers: forests within 1e-12, probabilities within
    1e-12, explanations and contributions equal."""
    (pa, na), (ps, ns) = committed()
    Z = probe(np.asarray([r["x"] for r in training.load_corpus()]))
    with np.errstate(over="ignore"):
        assert np.abs(np.asarray(pa.score_samples(Z)) - na.score_samples(Z)).max() <= 1e-12
        assert np.abs(np.asarray(ps.predict_proba(Z)) - ns.predict_proba(Z)).max() <= 1e-12
        for z in Z.tolist():
            assert_same(z, pa, na, ps, ns, atol=1e-12)


def test_refit_models_pure_equals_scikit_learn(fitted):
    """Forests fitted here: the stdlib scorer gives scikit-learn's score_samples within 1e-12 and
    predict_proba within 1e-12, on the corpus and far beyond it."""
    Z = probe(fitted["X"])
    pure_a, _ = fitted["anomaly"]
    pure_s, _ = fitted["sentiment"]
    with np.errstate(over="ignore"):
        assert np.abs(np.asarray(pure_a.score_samples(Z)) - fitted["forest"].score_samples(Z)).max() <= 1e-12
        assert np.abs(np.asarray(pure_s.predict_proba(Z)) - fitted["pipe"].predict_proba(Z)).max() <= 1e-12
    assert pure_a.offset == fitted["forest"].offset_
    assert pure_s.classes == list(fitted["pipe"].classes_)
    x = fitted["X"][0].tolist()
    assert np.abs(np.asarray(pure_s.logits(x)) - fitted["pipe"].decision_function([x])[0]).max() <= 1e-12


def test_random_vectors_pure_equals_numpy_and_scikit_learn(fitted):
    """2,000 random vectors over 24 orders of magnitude, signs mixed, in one batch each way."""
    rng = np.random.default_rng(11)
    Z = np.sign(rng.normal(size=(2000, len(NAMES)))) * 10.0 ** rng.uniform(-12, 12, (2000, len(NAMES)))
    Z[::7] = np.round(Z[::7])  # whole numbers too, as counts are
    pure_a, np_a = fitted["anomaly"]
    pure_s, np_s = fitted["sentiment"]
    scores = np.asarray(pure_a.score_samples(Z))
    assert np.abs(scores - np_a.score_samples(Z)).max() <= 1e-12 and np.abs(scores - fitted["forest"].score_samples(Z)).max() <= 1e-12
    proba = np.asarray(pure_s.predict_proba(Z))
    assert np.abs(proba - np_s.predict_proba(Z)).max() <= 1e-9
    assert np.abs(proba - fitted["pipe"].predict_proba(Z)).max() <= 1e-9


VALUE = st.one_of(
    st.floats(-5, 20),  # where the corpus's features lie
    st.floats(-1e9, 1e9),  # py_core.features clamps every feature to this range
    st.integers(-10**6, 10**6),
    st.floats(-1e300, 1e300),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.1754943508222875e-38, F32_MAX, -F32_MAX,
                     3.4028235e38, 3.4028235677973366e38, 1e39, -1e39, 1e300, -1e300]),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(VALUE, min_size=len(NAMES), max_size=len(NAMES)))
def test_generated_vectors_pure_equals_numpy_and_scikit_learn(fitted, x):
    """Hypothesis-made vectors, extreme values included (NaN-free): the same scores, reasons
    and probabilities (within 1e-9) in the stdlib scorer, the numpy one and scikit-learn."""
    pure_a, np_a = fitted["anomaly"]
    pure_s, np_s = fitted["sentiment"]
    with np.errstate(over="ignore"):
        assert_same(x, pure_a, np_a, pure_s, np_s, atol=1e-9)
        X = np.asarray([x], dtype=np.float64)
        assert abs(pure_a.score_samples([x])[0] - fitted["forest"].score_samples(X)[0]) <= 1e-12
        assert max(abs(a - b) for a, b in zip(pure_s.predict_proba([x])[0], fitted["pipe"].predict_proba(X)[0])) <= 1e-9


def test_bad_vectors_get_clear_errors():
    """Wrong length, NaN, infinity, text and logits beyond float64 are refused by name."""
    a, s = anomaly.scorer(), sentiment.model()
    x = [0.0] * len(NAMES)
    for bad, error, match in (([0.0] * 3, ValueError, "27 numbers"), (x[:-1] + [math.nan], ValueError, "finite"),
                              (x[:-1] + [math.inf], ValueError, "finite"), (x[:-1] + [10**400], ValueError, "finite"),
                              (x[:-1] + ["1"], TypeError, "numbers only")):
        for call in (a.score_samples, a.explain, s.predict_proba, s.contributions, anomaly.assess, sentiment.assess):
            with pytest.raises(error, match=match):
                call(bad)
    with pytest.raises(ValueError, match="out of range"):
        s.predict_proba([[1e308] * len(NAMES)])  # numpy's scorer gives NaN here


def test_bad_models_get_clear_errors():
    """Malformed exports are refused before they can loop or divide by zero."""
    good = models.load("anomaly")
    tree = good["trees"][0]
    for trees, match in (([], "no trees"), ([{**tree, "left": tree["left"][:-1]}], "differ in length"),
                         ([{**tree, "left": [0] * len(tree["left"])}], "malformed")):
        with pytest.raises(ValueError, match=match):
            anomaly.ForestScorer({**good, "trees": trees})
    with pytest.raises(ValueError, match="scales above 0"):
        anomaly.ForestScorer({**good, "scale": [0.0] * len(NAMES)})
    s = models.load("sentiment")
    with pytest.raises(ValueError, match="one intercept per class"):
        sentiment.SentimentScorer({**s, "intercept": s["intercept"][:-1]})
    with pytest.raises(ValueError, match="scales above 0"):
        sentiment.SentimentScorer({**s, "scale": [-1.0] * len(NAMES)})


NO_NUMPY = r"""
import gzip, importlib, json, sys
sys.modules["numpy"] = None  # any import of numpy now fails
from py_core import worker_api, insights, masking, alerts, events, timeline, features, signals, anomaly, sentiment, models
try:
    importlib.import_module("numpy")
except ImportError:
    pass
else:
    raise SystemExit("numpy was importable")
sessions = [json.loads(gzip.decompress(open(p, "rb").read()))["events"] for p in sys.argv[1:]]
out = {"full": [insights.analyze(e) for e in sessions], "compact": [insights.analyze(e, compact=True) for e in sessions],
       "batch": json.loads(worker_api.process_batch(json.dumps({"events": sessions[-1], "sid": "s", "seq": 1}))),
       "numpy": sorted(m for m, v in sys.modules.items() if m.split(".")[0] == "numpy" and v is not None)}
print(json.dumps(out))
"""


def test_worker_modules_run_without_numpy():
    """With numpy unimportable, the worker's modules import and analyse every recorded
    session, with the same result as in this process; and the numpy scorers score the same."""
    paths = sorted(CORPUS.glob("*.json.gz"))
    assert len(paths) >= 40
    run = subprocess.run([sys.executable, "-c", NO_NUMPY, *map(str, paths)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["numpy"] == []
    sessions = [json.loads(gzip.decompress(p.read_bytes()))["events"] for p in paths]
    assert out["full"] == json.loads(json.dumps([insights.analyze(e) for e in sessions]))
    assert out["compact"] == json.loads(json.dumps([insights.analyze(e, compact=True) for e in sessions]))
    from py_core.worker_api import process_batch

    assert out["batch"] == json.loads(process_batch(json.dumps({"events": sessions[-1], "sid": "s", "seq": 1})))
    assert out["batch"]["insights"]["sentiment"]["label"] and "score" in out["batch"]["insights"]["anomaly"]
    (_, np_a), (_, np_s) = committed()
    for r in out["full"]:
        x = [r["features"][n] for n in NAMES]
        assert r["anomaly"] == anomaly.assess(x, np_a)
        assert r["sentiment"] == sentiment.assess(x, np_s)
        assert r["frustration"]["score"] == sentiment.assess(x, np_s)["probabilities"]["frustrated"]
    assert {r["sentiment"]["label"] for r in out["full"]} == set(sentiment.model().classes)
    assert any(r["anomaly"]["anomalous"] for r in out["full"]) and not all(r["anomaly"]["anomalous"] for r in out["full"])
