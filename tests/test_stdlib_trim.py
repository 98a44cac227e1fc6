"""The visitor's runtime as build.py writes it (site/runtime/, ADR 0006) runs the worker's
Python: Pyodide 0.27.7 booted in Node.js on the trimmed python_stdlib.zip, the worker's
pyodide-lock.json (no packages) and the worker's py_core zip imports py_core.worker_api
and py_core.alerts, runs what the worker runs (warm, process_visit) and gives the same
analyze() and mask_events() results as CPython on recorded sessions, with no numpy and
nothing from outside those two zips."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from py_core.insights import analyze
from py_core.masking import mask_events

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "events" / "corpus"
FIXTURES = ("calm-01.json.gz", "frustrated-01.json.gz", "confused-01.json.gz", "skimming-01.json.gz")
# The example alert policy of docs/viewer.md (webhooks are the collector's business).
POLICY = {"site": "Demo shop",
          "rules": [{"name": "errors", "metric": "errors", "at_least": 1},
                    {"name": "frustrated", "metric": "frustration", "at_least": 0.6}],
          "fields": ["sid", "page"]}

# Boots Pyodide the way the worker does (indexURL, stdLibURL, lockFileURL from the built
# runtime) and runs the worker's calls; prints one JSON line.
NODE_SCRIPT = r"""
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
// Errors as one readable line (Node would print Pyodide's minified source line).
process.on('uncaughtException', (e) => { process.stderr.write(`${e && e.message || e}\n`); process.exit(1); });
process.on('unhandledRejection', (e) => { process.stderr.write(`${e && e.message || e}\n`); process.exit(1); });
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const { loadPyodide } = await import(pathToFileURL(input.pyodide + 'pyodide.mjs').href);
const opts = { indexURL: input.pyodide, stdLibURL: input.stdlib, lockFileURL: input.lock, stdout: () => {} };
if (input.snapshot) opts._makeSnapshot = true;
let py = await loadPyodide(opts);
py.unpackArchive(new Uint8Array(fs.readFileSync(input.core)), 'zip');
py.runPython('import py_core.worker_api, py_core.alerts');
let restored = false;
if (input.snapshot) {
  // A memory snapshot made on this stdlib restores with it (the worker may keep one).
  const snap = py.makeMemorySnapshot();
  py = await loadPyodide({ indexURL: input.pyodide, stdLibURL: input.stdlib, lockFileURL: input.lock,
                           _loadSnapshot: snap, stdout: () => {} });
  // The file system is not in the snapshot (imported modules are): py_core's files
  // (its models' JSON) are unpacked again.
  py.unpackArchive(new Uint8Array(fs.readFileSync(input.core)), 'zip');
  restored = true;
}
const errors = [];
try {  // the worker's lock lists no package: asking for one fails before any fetch
  await py.loadPackage('numpy', { errorCallback: (m) => errors.push(String(m)), messageCallback: () => {} });
} catch (e) { errors.push(String(e && e.message || e)); }
py.globals.set('input_json', JSON.stringify({ sessions: input.sessions, policy: input.policy }));
const out = py.runPython(`
import json, sys
from py_core import worker_api, alerts
from py_core.insights import analyze
from py_core.masking import mask_events

inp = json.loads(input_json)
worker_api.warm()  # what the worker runs before it keeps a snapshot
out = {"analyze": [], "masked": [], "batches": 0, "alerts": [], "verdicts": {}}
batches = []
for n, events in enumerate(inp["sessions"]):
    out["analyze"].append(analyze(events))
    out["masked"].append(mask_events(events))
    state = "{}"
    for seq, start in enumerate(range(0, len(events), 400)):
        batch = {"events": events[start:start + 400], "sid": f"sess-trim-{n}", "pid": "p1", "seq": seq}
        batches.append(batch)
        payload = worker_api.process_batch(json.dumps(batch))
        step = json.loads(alerts.device_check(state, payload, json.dumps(inp["policy"])))
        state = json.dumps(step["state"])
        out["batches"] += 1
# The worker's pass: the visit's whole backlog in one call, verdicts per session.
answer = json.loads(worker_api.process_visit(json.dumps(
    {"batches": batches, "history": {}, "policy": inp["policy"], "fired": {}})))
assert not [b for b in answer["batches"] if "error" in b], answer["batches"]
out["verdicts"] = answer["verdicts"]
out["alerts"] = sorted(a["rule"] + ":" + a["sid"] for a in answer["alerts"])
missing = []
for name in ("unittest", "numpy", "sqlite3"):
    try:
        __import__(name)
    except ModuleNotFoundError:
        missing.append(name)
out["missing"] = missing
out["outside"] = sorted(
    m.__name__ for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and getattr(m.__spec__, "origin", None) != "frozen"
    and not m.__file__.startswith(("/lib/python312.zip/", "/home/pyodide/py_core/")))
json.dumps(out, sort_keys=True)
`);
// Python's JSON as it is (a JSON.parse round trip would turn 0.0 into 0).
process.stdout.write(JSON.stringify({ restored, errors }) + '\n' + out + '\n');
"""


@pytest.fixture(scope="module")
def runtime(site_dir) -> dict:
    path = site_dir / "sightline-runtime.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: build the site with this build.py")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def sessions() -> list[list[dict]]:
    return [json.loads(gzip.decompress((CORPUS / name).read_bytes()))["events"] for name in FIXTURES]


def run_worker_python(site_dir: Path, runtime: dict, sessions, tmp_path: Path, snapshot: bool = False) -> dict:
    node = shutil.which("node")
    assert node, "Node.js is required (build.py needs it too)"
    script = tmp_path / "boot.mjs"
    script.write_text(NODE_SCRIPT)
    stdin = json.dumps({
        "pyodide": str(site_dir / runtime["pyodide"]) + "/", "stdlib": str(site_dir / runtime["stdlib"]),
        "lock": str(site_dir / runtime["lock"]), "core": str(site_dir / runtime["core"]),
        "sessions": sessions, "policy": POLICY, "snapshot": snapshot,
    })
    proc = subprocess.run([node, str(script)], input=stdin, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta, out = proc.stdout.strip().splitlines()[-2:]
    return {**json.loads(meta), "out": json.loads(out)}


def test_trimmed_stdlib_runs_the_worker_python(site_dir, runtime, sessions, tmp_path):
    """No ImportError on the trimmed stdlib, results equal CPython's, no numpy, no package."""
    got = run_worker_python(site_dir, runtime, sessions, tmp_path)
    out = got["out"]
    assert out["missing"] == ["unittest", "numpy", "sqlite3"]  # the trimmed zip is the one in use
    assert out["outside"] == []  # every module came from the two zips (or is built in)
    assert any("numpy" in e for e in got["errors"])  # the worker's lock offers no package
    assert out["batches"] >= len(sessions)
    expected = [analyze(s) for s in sessions]
    assert json.dumps(out["analyze"], sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert json.dumps(out["masked"], sort_keys=True) == json.dumps([mask_events(s) for s in sessions], sort_keys=True)
    verdicts = {f"sess-trim-{n}": analyze(mask_events(s)) for n, s in enumerate(sessions)}
    assert json.dumps(out["verdicts"], sort_keys=True) == json.dumps(verdicts, sort_keys=True)
    assert "frustrated:sess-trim-1" in out["alerts"]  # the frustrated persona crosses the example rule


def test_memory_snapshot_on_the_trimmed_stdlib(site_dir, runtime, sessions, tmp_path):
    """A snapshot made after importing the worker's modules restores on the same stdlib."""
    got = run_worker_python(site_dir, runtime, sessions[:1], tmp_path, snapshot=True)
    assert got["restored"]
    assert json.dumps(got["out"]["analyze"], sort_keys=True) == json.dumps([analyze(sessions[0])], sort_keys=True)


def test_trimmed_stdlib_is_stored_and_small(site_dir, runtime):
    """Stored members (brotli on the wire compresses across the archive), a fraction of the full zip."""
    trimmed = site_dir / runtime["stdlib"]
    with zipfile.ZipFile(trimmed) as zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
    assert infos and all(i.compress_type == zipfile.ZIP_STORED for i in infos)
    assert "asyncio/__init__.py" in names and "json/decoder.py" in names and "ipaddress.py" in names
    assert not any(n.startswith(("unittest/", "tkinter/", "xml/", "multiprocessing/")) for n in names)
    with zipfile.ZipFile(ROOT / "node_modules" / "pyodide" / "python_stdlib.zip") as full:
        full_bytes = sum(i.file_size for i in full.infolist())
    assert sum(i.file_size for i in infos) < full_bytes / 2
    br = trimmed.with_name(trimmed.name + ".br")
    assert br.exists() and br.stat().st_size < 700_000
