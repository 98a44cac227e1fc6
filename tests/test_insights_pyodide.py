"""analyze() in Pyodide (real Chromium, site/pyodide + site/py_core.zip) equals CPython's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from playwright.sync_api import Page

from py_core.insights import analyze

pytestmark = pytest.mark.browser

CORPUS = Path(__file__).parent / "events" / "corpus"
FIXTURES = ("calm-01.json.gz", "frustrated-01.json.gz", "confused-01.json.gz", "skimming-01.json.gz")

RUN_IN_PYODIDE = """async (sessions) => {
  const { loadPyodide } = await import('/pyodide/pyodide.mjs');
  const py = await loadPyodide({ indexURL: '/pyodide/' });
  await py.loadPackage('numpy');  // what the visitor's worker loads: numpy, nothing else
  const zip = await fetch('/py_core.zip');
  py.unpackArchive(await zip.arrayBuffer(), 'zip');
  py.globals.set('sessions_json', sessions);
  return py.runPython(`
import json, sys
from py_core.insights import analyze
out = json.dumps([analyze(s) for s in json.loads(sessions_json)], sort_keys=True)
assert 'sklearn' not in sys.modules and 'scipy' not in sys.modules
out`);
}"""


def test_analyze_in_pyodide_equals_cpython(page: Page, site_url):
    """Recorded sessions of every persona give byte-identical insights in Pyodide and CPython."""
    sessions = [json.loads(gzip.decompress((CORPUS / name).read_bytes()))["events"] for name in FIXTURES]
    page.set_default_timeout(120_000)
    page.goto(site_url + "/blank.html")
    in_browser = page.evaluate(RUN_IN_PYODIDE, json.dumps(sessions))
    expected = json.dumps([analyze(s) for s in sessions], sort_keys=True)
    assert json.loads(in_browser)[1]["sentiment"] == json.loads(expected)[1]["sentiment"]
    assert in_browser == expected


RETRAIN_IN_PYODIDE = """async (sessions) => {
  const { loadPyodide } = await import('/pyodide/pyodide.mjs');
  const py = await loadPyodide({ indexURL: '/pyodide/' });
  await py.loadPackage(['numpy', 'scikit-learn']);  // the analyst's viewer, not the visitor's worker
  const zip = await fetch('/py_core.zip');
  py.unpackArchive(await zip.arrayBuffer(), 'zip');
  py.globals.set('sessions_json', sessions);
  return py.runPython(`
import json
import numpy as np
import sklearn
from py_core import anomaly, training
sessions = json.loads(sessions_json)
X = np.asarray([training.features_of(s) for s in sessions])
forest = training.fit_forest(X)
model = training.export_forest(forest, X)
numpy_scores = anomaly.IsolationForestScorer(model).score_samples(X)
json.dumps({"sklearn": sklearn.__version__, "equal": bool(np.array_equal(numpy_scores, forest.score_samples(X))),
            "model": model, "scores": numpy_scores.tolist(), "X": X.tolist()})
`);
}"""


def test_viewer_can_retrain_in_pyodide(page: Page, site_url):
    """scikit-learn in Pyodide retrains the forest on decrypted sessions; its export scores the same everywhere."""
    import numpy as np

    from py_core import anomaly, training

    names = sorted(p.name for p in CORPUS.glob("*.json.gz"))[::4]
    sessions = [json.loads(gzip.decompress((CORPUS / n).read_bytes()))["events"] for n in names]
    page.set_default_timeout(180_000)
    page.goto(site_url + "/blank.html")
    out = json.loads(page.evaluate(RETRAIN_IN_PYODIDE, json.dumps(sessions)))
    assert out["sklearn"] == "1.6.1" and out["equal"]
    X = np.asarray([training.features_of(s) for s in sessions])
    assert X.tolist() == out["X"]  # features agree to the bit
    mine = anomaly.IsolationForestScorer(out["model"]).score_samples(X)
    # The same arrays; only numpy's pow may differ in the last bit between the runtimes (ADR 0504).
    assert np.abs(mine - np.asarray(out["scores"])).max() <= 2e-16
