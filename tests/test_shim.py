"""The shipped recorder script: its byte budget and what it must not contain."""

from __future__ import annotations

import gzip
import re

BUDGET = 10_240  # bytes, gzip -9 of site/sightline.js (also printed by every build)

# Code only a replayer needs: building DOM, drawing, inserting nodes. None of it may ship
# in the script every visitor downloads.
REPLAY_ONLY = ("createReplayer", "createElementNS", "createDocumentType", "createTextNode",
               "insertBefore", "replaceChildren", "drawImage", "adoptedStyleSheets=[", "sandbox")


def test_shim_within_budget(site_dir):
    """site/sightline.js gzipped at level 9 stays within 10,240 bytes."""
    size = len(gzip.compress((site_dir / "sightline.js").read_bytes(), 9))
    assert 0 < size <= BUDGET, f"site/sightline.js is {size:,} bytes gzipped; the budget is {BUDGET:,}"


def test_shim_has_no_replay_code(site_dir):
    """The shim ships no replay-only code and no worker-only code (HPKE, IndexedDB, Pyodide)."""
    js = (site_dir / "sightline.js").read_text()
    for word in REPLAY_ONLY + ("createObjectStore", "loadPyodide", "HKDF", "deriveBits"):
        assert word not in js, f"{word!r} found in site/sightline.js"


def test_shim_is_one_minified_iife(site_dir):
    """The shim is a single self-contained script: no import/export, no source map comment."""
    js = (site_dir / "sightline.js").read_text()
    assert not re.search(r"^\s*(import|export)\b", js, re.M)
    assert "sourceMappingURL" not in js and js.count("\n") <= 2


def test_plugins_are_separate_scripts(site_dir):
    """The shipped plugins are their own files, so the shim's budget does not pay for them."""
    js = (site_dir / "sightline.js").read_text()
    for name in ("gamepad", "vitals"):
        plugin = (site_dir / "plugins" / f"{name}.js").read_text()
        assert f'name:"{name}"' in plugin.replace(" ", "") and f'"{name}"' not in js
