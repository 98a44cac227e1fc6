"""Train the insight models with scikit-learn and export them as plain JSON arrays.

    .venv/bin/python -m py_core.training          # reads tests/events/corpus, writes py_core/models/

CPython (and the analyst's viewer) only: the visitor's worker never imports this module
(it needs scikit-learn and numpy); it scores the exported arrays with the standard library
(py_core.anomaly, py_core.sentiment), and the analyst side may use the numpy scorers
(py_core.numpy_scorers); all three agree with scikit-learn (tests/test_scorers_pure.py). The corpus is recorded by tools/record_corpus.py: real sessions of
scripted personas in Chromium. Sessions whose number is a multiple of 4 are held out:
training never sees them, and the metrics written into sentiment.json are measured there.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from pathlib import Path

import numpy as np

from .features import NAMES, vector
from .signals import detect
from .timeline import build

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "events" / "corpus"
MODELS = Path(__file__).resolve().parent / "models"
LABELS = {"calm": "engaged", "frustrated": "frustrated", "confused": "confused", "skimming": "skimming"}
NORMAL = ("engaged", "skimming")  # the anomaly model learns these as normal behaviour
CONTAMINATION = 0.05  # share of normal training sessions left beyond the anomaly threshold
SEED = 6


def features_of(events: list[dict]) -> list[float]:
    """The feature vector of one session's events (what analyze() computes)."""
    tl = build(events)
    return vector(tl, detect(tl))


def load_corpus(folder: Path = CORPUS) -> list[dict]:
    """Every recorded session: ``{"name", "label", "n", "held_out", "x"}``, in name order."""
    out = []
    for path in sorted(folder.glob("*.json.gz")):
        doc = json.loads(gzip.decompress(path.read_bytes()))
        m = re.fullmatch(r"([a-z]+)-(\d+)\.json\.gz", path.name)
        if not m or doc.get("label") not in LABELS:
            raise ValueError(f"{path.name}: not a labelled corpus session")
        n = int(m.group(2))
        out.append({"name": path.name, "label": LABELS[doc["label"]], "n": n, "held_out": n % 4 == 0,
                    "x": features_of(doc["events"])})
    if not out:
        raise FileNotFoundError(f"no sessions in {folder}: record them with tools/record_corpus.py")
    return out


def _c(n: float) -> float:
    """scikit-learn's average path length of an unsuccessful BST search over n samples."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (np.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


def export_forest(forest, X: np.ndarray) -> dict:
    """An IsolationForest as plain arrays (one dict per tree) for py_core.anomaly."""
    if getattr(forest, "_max_features", X.shape[1]) != X.shape[1] or forest.bootstrap:
        raise ValueError("export supports max_features=1.0 and bootstrap=False only")
    trees, max_depth = [], 0
    for est in forest.estimators_:
        t = est.tree_
        depth = np.zeros(t.node_count, dtype=np.int64)
        for node in range(t.node_count):  # parents come before children in sklearn's arrays
            for child in (t.children_left[node], t.children_right[node]):
                if child >= 0:
                    depth[child] = depth[node] + 1
        max_depth = max(max_depth, int(depth.max()))
        leaf = t.children_left == -1
        # scikit-learn: decision path length (root = 1) + c(samples in the leaf) - 1.
        value = [float((depth[k] + 1.0) + _c(t.n_node_samples[k]) - 1.0) if leaf[k] else 0.0
                 for k in range(t.node_count)]
        trees.append({"feature": [int(f) if not lf else -2 for f, lf in zip(t.feature, leaf)],
                      "threshold": [float(v) for v in t.threshold],
                      "left": [int(v) for v in t.children_left], "right": [int(v) for v in t.children_right],
                      "value": value})
    median = np.median(X, axis=0)
    q1, q3 = np.percentile(X, [25, 75], axis=0)
    scale = np.where(q3 - q1 > 0, q3 - q1, np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0))
    return {"kind": "isolation_forest", "features": list(NAMES), "trees": trees, "max_depth": max_depth,
            "denominator": float(len(forest.estimators_) * _c(forest._max_samples)),
            "offset": float(forest.offset_), "median": median.tolist(), "scale": scale.tolist(),
            "n_samples": int(X.shape[0])}


def fit_forest(X: np.ndarray, seed: int = SEED, contamination: float = CONTAMINATION):
    from sklearn.ensemble import IsolationForest

    return IsolationForest(n_estimators=100, contamination=contamination, random_state=seed).fit(X)


def retrain_anomaly(sessions: list[list[dict]], seed: int = SEED) -> dict:
    """An anomaly model fitted on a site's own sessions (each a list of decrypted events),
    exported like the committed one: ``anomaly.ForestScorer(retrain_anomaly(s))`` (or the
    numpy ``IsolationForestScorer``)."""
    if len(sessions) < 8:
        raise ValueError(f"retraining needs at least 8 sessions, got {len(sessions)}")
    X = np.asarray([features_of(s) for s in sessions])
    return export_forest(fit_forest(X, seed), X)


def fit_sentiment(X: np.ndarray, y: list[str], seed: int = SEED):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=5000, random_state=seed)).fit(X, y)


def export_sentiment(pipe) -> dict:
    """The scaler and the logistic regression as plain arrays for py_core.sentiment."""
    scaler, clf = pipe[0], pipe[-1]
    if len(clf.classes_) < 3:
        raise ValueError("the sentiment classifier needs at least three classes")
    return {"kind": "multinomial_logistic_regression", "features": list(NAMES),
            "classes": [str(c) for c in clf.classes_], "mean": scaler.mean_.tolist(),
            "scale": scaler.scale_.tolist(), "coef": clf.coef_.tolist(), "intercept": clf.intercept_.tolist()}


def held_out_metrics(pipe, X: np.ndarray, y: list[str]) -> dict:
    """Accuracy, macro-F1 and the confusion matrix on sessions training never saw."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    pred = pipe.predict(X)
    labels = [str(c) for c in pipe[-1].classes_]
    return {"n": len(y), "accuracy": round(float(accuracy_score(y, pred)), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro", labels=labels)), 4),
            "labels": labels, "confusion": confusion_matrix(y, pred, labels=labels).tolist()}


def anomaly_metrics(forest, rows: list[dict]) -> dict:
    """On held-out sessions: ROC AUC of the score for "not normal", and how many of each
    label the threshold flags."""
    from sklearn.metrics import roc_auc_score

    scores = forest.score_samples(np.asarray([r["x"] for r in rows]))
    abnormal = [r["label"] not in NORMAL for r in rows]
    flagged: dict[str, list[int]] = {}
    for r, sc in zip(rows, scores):
        f = flagged.setdefault(r["label"], [0, 0])
        f[0] += int(sc < forest.offset_)
        f[1] += 1
    return {"n": len(rows), "roc_auc": round(float(roc_auc_score(abnormal, -scores)), 4),
            "flagged": {k: {"flagged": v[0], "of": v[1]} for k, v in sorted(flagged.items())}}


def train(corpus: Path = CORPUS, out: Path = MODELS, seed: int = SEED) -> dict:
    """Fit both models on the training split, measure on the held-out split, write JSON."""
    import sklearn

    rows = load_corpus(corpus)
    train_rows = [r for r in rows if not r["held_out"]]
    test_rows = [r for r in rows if r["held_out"]]
    X = np.asarray([r["x"] for r in train_rows])
    y = [r["label"] for r in train_rows]
    normal_rows = [r for r in train_rows if r["label"] in NORMAL]
    Xn = np.asarray([r["x"] for r in normal_rows])
    forest = fit_forest(Xn, seed)
    anomaly = export_forest(forest, Xn)
    anomaly["held_out_metrics"] = anomaly_metrics(forest, test_rows)
    pipe = fit_sentiment(X, y, seed)
    sentiment = export_sentiment(pipe)
    Xt = np.asarray([r["x"] for r in test_rows])
    metrics = held_out_metrics(pipe, Xt, [r["label"] for r in test_rows])
    trained = {"sklearn": sklearn.__version__, "seed": seed, "train": [r["name"] for r in train_rows],
               "held_out": [r["name"] for r in test_rows]}
    sentiment["held_out_metrics"] = metrics
    sentiment["training"] = trained
    anomaly["training"] = {**trained, "train": [r["name"] for r in normal_rows], "normal": list(NORMAL),
                           "contamination": CONTAMINATION}
    out.mkdir(parents=True, exist_ok=True)
    for name, model in (("anomaly", anomaly), ("sentiment", sentiment)):
        (out / f"{name}.json").write_text(json.dumps(model, separators=(",", ":")) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--out", type=Path, default=MODELS)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    m = train(args.corpus, args.out, args.seed)
    a = json.loads((args.out / "anomaly.json").read_text())["held_out_metrics"]
    print(f"anomaly, held out: ROC AUC {a['roc_auc']:.3f} (frustrated + confused vs normal); flagged: "
          + ", ".join(f"{k} {v['flagged']}/{v['of']}" for k, v in a["flagged"].items()))
    print(f"held-out sessions: {m['n']}  accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}")
    print("confusion (rows = true, columns = predicted):", ", ".join(m["labels"]))
    for label, row in zip(m["labels"], m["confusion"]):
        print(f"  {label:>10} {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
