"""Exported models as plain JSON arrays (written by py_core.training; never pickles)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    """The committed model ``<name>.json`` (read once per process)."""
    path = HERE / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"model {name!r} is missing ({path}): run `python -m py_core.training`")
    return json.loads(path.read_text())
