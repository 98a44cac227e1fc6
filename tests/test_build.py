"""build.py: the visitor's runtime (trimmed, content-hashed, precompressed), the deployable
site, and `serve`'s first run (port check, no browser install). build.py functions are run
in this process, or build.py itself as a subprocess."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import brotli
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def b():
    spec = importlib.util.spec_from_file_location("sightline_build_py", ROOT / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runtime(site_dir) -> dict:
    return json.loads((site_dir / "sightline-runtime.json").read_text())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- the worker's py_core


def test_worker_py_core_is_what_the_worker_imports(b):
    mods = set(b.worker_core_files())
    assert {"py_core.worker_api", "py_core.alerts", "py_core.insights", "py_core.masking",
            "py_core.aggregate", "py_core.models", "py_core"} <= mods  # alerts.device_check needs aggregate
    assert not any(m.startswith(("py_core.collector", "py_core.cli", "py_core.training",
                                 "py_core.numpy_scorers")) for m in mods)
    assert "py_core.envelope" not in mods and "py_core.keys" not in mods  # the worker seals in JS


def _fake_py_core(tmp_path: Path, source: str) -> Path:
    pkg = tmp_path / "py_core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text(source)
    return pkg / "x.py"


@pytest.mark.parametrize("source, message", [
    ("import statistics\n", "imports statistics: add it to WORKER_STDLIB"),
    ("def f():\n    from xml.dom import minidom\n", "imports xml: add it to WORKER_STDLIB"),
    ("import numpy as np\n", "imports numpy: not in the standard library"),
    ("import sqlite3\n", "imports sqlite3: a separate Pyodide package"),
])
def test_a_worker_import_the_runtime_lacks_fails_the_build(b, tmp_path, monkeypatch, source, message):
    path = _fake_py_core(tmp_path, source)
    monkeypatch.setattr(b, "ROOT", tmp_path)
    with zipfile.ZipFile(ROOT / "node_modules" / "pyodide" / "python_stdlib.zip") as zf:
        members = b.worker_stdlib_members(zf)
        with pytest.raises(SystemExit) as exc:
            b.check_worker_imports({"py_core.x": path}, members, zf)
    assert message in str(exc.value)


def test_worker_stdlib_list_names_only_real_modules(b, monkeypatch):
    monkeypatch.setattr(b, "WORKER_STDLIB", b.WORKER_STDLIB + ("no_such_module",))
    with zipfile.ZipFile(ROOT / "node_modules" / "pyodide" / "python_stdlib.zip") as zf:
        with pytest.raises(SystemExit, match="no_such_module"):
            b.worker_stdlib_members(zf)


# --------------------------------------------------------------------------- the built runtime


def test_runtime_names_are_content_hashed(site_dir, runtime):
    assert set(runtime) == {"pyodide", "stdlib", "lock", "core", "build"}
    assert runtime["pyodide"].startswith("runtime/pyodide-0.27.7-") and runtime["pyodide"].endswith("/")
    assert runtime["lock"] == runtime["pyodide"] + "pyodide-lock.json"
    for key in ("stdlib", "core"):
        path = site_dir / runtime[key]
        assert path.parent == site_dir / "runtime" and path.name.split(".")[-2] == sha(path)[:12], key
    pyodide = site_dir / runtime["pyodide"]
    names = ("pyodide-lock.json", "pyodide.asm.js", "pyodide.asm.wasm", "pyodide.mjs")
    assert sorted(p.name for p in pyodide.iterdir() if p.suffix not in (".br", ".gz")) == list(names)
    tag = hashlib.sha256("".join(sha(pyodide / n) for n in names).encode()).hexdigest()[:12]
    assert pyodide.name.endswith("-" + tag)
    files = [pyodide / n for n in names] + [site_dir / runtime["stdlib"], site_dir / runtime["core"]]
    assert runtime["build"] == hashlib.sha256("".join(sha(f) for f in files).encode()).hexdigest()[:12]
    for name in ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm"):  # Pyodide's own bytes
        assert sha(pyodide / name) == sha(ROOT / "node_modules" / "pyodide" / name)


def test_worker_lock_lists_no_package(site_dir, runtime):
    lock = json.loads((site_dir / runtime["lock"]).read_text())
    assert lock["packages"] == {} and lock["info"]["version"] == "0.27.7"
    full = json.loads((site_dir / "pyodide" / "pyodide-lock.json").read_text())
    assert {"numpy", "micropip", "scikit-learn"} <= set(full["packages"])  # the viewer's, unchanged


def test_worker_core_zip_has_no_server_code(site_dir, runtime):
    with zipfile.ZipFile(site_dir / runtime["core"]) as zf:
        names = zf.namelist()
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    assert "py_core/worker_api.py" in names and "py_core/models/anomaly.json" in names
    assert not any(n.startswith(("py_core/collector/", "py_core/cli.py", "py_core/training.py",
                                 "py_core/numpy_scorers.py")) for n in names)
    with zipfile.ZipFile(site_dir / "py_core.zip") as zf:  # the viewer's keeps training
        assert "py_core/training.py" in zf.namelist() and "py_core/numpy_scorers.py" in zf.namelist()


def test_worker_is_built_with_the_runtime(b, site_dir, runtime, tmp_path):
    """esbuild --define puts the runtime object into the bundle."""
    entry = tmp_path / "entry.js"
    entry.write_text("const r = typeof __SIGHTLINE_RUNTIME__ !== 'undefined' ? __SIGHTLINE_RUNTIME__ : {};"
                     "console.log(r.pyodide, r.stdlib, r.lock, r.core, r.build);")
    b.esbuild(str(entry), tmp_path / "out.js", "esm", {"__SIGHTLINE_RUNTIME__": runtime})
    out = (tmp_path / "out.js").read_text()
    assert all(json.dumps(v) in out for v in runtime.values())
    if "__SIGHTLINE_RUNTIME__" in (ROOT / "recorder" / "worker.js").read_text():
        worker = (site_dir / "sightline-worker.js").read_text()
        assert runtime["stdlib"] in worker and runtime["build"] in worker


def test_every_static_file_is_precompressed(site_dir, runtime):
    for rel in ("sightline.js", "sightline-worker.js", "viewer/index.html", runtime["stdlib"], runtime["core"],
                runtime["pyodide"] + "pyodide.asm.wasm", runtime["pyodide"] + "pyodide.asm.js"):
        raw = (site_dir / rel).read_bytes()
        br = (site_dir / (rel + ".br")).read_bytes()
        gz = (site_dir / (rel + ".gz")).read_bytes()
        assert brotli.decompress(br) == raw and gzip.decompress(gz) == raw, rel
        assert len(br) <= len(raw) * 0.95 and len(gz) <= len(raw) * 0.95, rel
    # Already-compressed files get no sibling (it would not be smaller).
    wheel = next((site_dir / "pyodide").glob("numpy-*.whl"))
    assert not wheel.with_name(wheel.name + ".br").exists() and not wheel.with_name(wheel.name + ".gz").exists()
    for sib in site_dir.rglob("*.br"):
        assert sib.stat().st_size <= sib.with_suffix("").stat().st_size * 0.95, sib


def test_wasm_brotli_is_what_the_design_measured(site_dir, runtime):
    wasm = site_dir / runtime["pyodide"] / "pyodide.asm.wasm.br"
    assert wasm.stat().st_size < 2_400_000  # 2,269,265 B with brotli 11 (DESIGN.md)


# --------------------------------------------------------------------------- the deployable site


def test_build_refuses_to_wipe_a_folder_that_is_not_a_build(b, tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not a Sightline build"):
        b._prepare_out(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_deploy_site_has_no_demo_and_no_test_pages(b, tmp_path):
    out = tmp_path / "deploy"
    runtime = b.build(None, out, deploy=True)
    assert not (out / "demo").exists() and not (out / "tests").exists() and not (out / "blank.html").exists()
    assert "demo" not in (out / "index.html").read_text()
    assert not any(p.relative_to(out).parts[0] in ("demo", "tests") for p in out.rglob("*"))
    for rel in ("sightline.js", "sightline-worker.js", "sightline-banner.js", "viewer/index.html",
                "py_core.zip", runtime["stdlib"], runtime["core"], runtime["pyodide"] + "pyodide.asm.wasm.br"):
        assert (out / rel).is_file(), rel
    assert "__SIGHTLINE_DEMO_KEY__" not in "".join(p.read_text() for p in out.rglob("*.html"))
    # A second deploy into the same folder replaces it.
    b.build(None, out, deploy=True)
    assert (out / "sightline.js").is_file()


# --------------------------------------------------------------------------- serve, first run


def test_serve_with_the_port_busy_says_so_and_prints_no_urls(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = {"PATH": "/usr/bin:/bin", "SIGHTLINE_SITE": str(tmp_path / "site"), "HOME": str(tmp_path)}
        proc = subprocess.run([sys.executable, str(ROOT / "build.py"), "serve", "--port", str(port)],
                              capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 1
    assert "Sightline is running" not in proc.stdout
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr and "--port" in proc.stderr
    assert not (tmp_path / "site").exists()  # nothing was built


def test_serve_installs_no_browser_and_waits_for_the_collector(b, monkeypatch, capsys):
    calls = []
    for name in ("ensure_venv", "ensure_npm", "ensure_pyodide_packages"):
        monkeypatch.setattr(b, name, lambda: None)

    def no_browser():
        raise AssertionError("serve must not install a browser")

    monkeypatch.setattr(b, "ensure_chromium", no_browser)
    monkeypatch.setattr(b, "demo_keys", lambda: {"public": "p", "private": "k", "token": "t", "key_file": "f"})
    monkeypatch.setattr(b, "build", lambda *a, **k: calls.append("build"))

    class Exited:  # a collector that stops before answering (say, a bad --db)
        returncode = 3

        def __init__(self, cmd, env):
            calls.append(cmd)

        def poll(self):
            return 3

    monkeypatch.setattr(b.subprocess, "Popen", Exited)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = b.cmd_serve(SimpleNamespace(host="127.0.0.1", port=port))
    out = capsys.readouterr()
    assert rc == 3 and calls[0] == "build" and "--site" in calls[1]
    assert "Sightline is running" not in out.out and "stopped (exit 3)" in out.err


def test_port_problem(b):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        assert "already in use" in b.port_problem("127.0.0.1", busy)
    assert b.port_problem("127.0.0.1", busy) is None  # free again
    assert "not an address" in b.port_problem("no-such-host.invalid", 8000)
    with pytest.raises(SystemExit):
        b.main(["serve", "--port", "70000"])
