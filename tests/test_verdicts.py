"""What the device seals is the whole-session verdict (py_core.worker_api.process_visit),
replayed over the labelled corpus with the worker's own idle rule (bench/verdict_eval.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from py_core.insights import analyze

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import verdict_eval as ev  # noqa: E402

SESSIONS = list(ev.sessions())


@pytest.mark.parametrize("s", SESSIONS, ids=[f"{s['label']}-{s['seed']}" for s in SESSIONS])
def test_sealed_label_is_the_whole_session_label_and_calm_fires_nothing(s):
    """Per idle pass, the last sealed label equals analyze() of the whole session, and the
    docs' example policy never alerts on a calm visitor (per batch it did)."""
    whole = analyze(s["events"])["sentiment"]["label"]
    label, fired, passes = ev.per_pass(s["sid"], ev.batches(s["events"]), ev.EXAMPLE_POLICY, 3000)
    assert passes >= 1 and label == whole
    if s["label"] == "calm":
        assert not fired
