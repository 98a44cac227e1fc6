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
