"""Helpers for the recorder's browser tests: record a fixture page, replay it in the viewer's replayer.

The events are taken at the boundary between the real shim and its real worker (a
wrapper around ``Worker.prototype.postMessage`` installed before any page script runs),
so the tests see exactly what the recorder emits, before the worker masks and seals it.
"""

from __future__ import annotations

import json

from playwright.sync_api import Page

TAP = """
window.__sl = [];
const post = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (m) {
  const r = post.apply(this, arguments); // what the worker really got: a failed post throws first
  if (m && m.op === 'batch') window.__sl.push(...JSON.parse(m.json != null ? m.json : JSON.stringify(m.events)));
  return r;
};
"""


def open_recorded(page: Page, url: str) -> None:
    """Load a fixture page with the event tap installed; wait until the shim records."""
    page.add_init_script(TAP)
    page.goto(url)
    page.wait_for_function("window.Sightline && Sightline.session && Sightline.session.recording")


def taken(page: Page) -> list[dict]:
    """Everything the shim has emitted so far (pending mutations and buffered events flushed)."""
    return page.evaluate("() => { Sightline.flush(); return window.__sl; }")


def of_type(events: list[dict], t: int) -> list[dict]:
    return [e for e in events if e["t"] == t]


def replay(viewer: Page, site_url: str, events: list[dict], at: int | None = None):
    """Build the viewer's replayer on the events and seek to `at` ms (default: the end); return the frame."""
    viewer.goto(site_url + "/tests/html/replay.html")
    viewer.wait_for_function("document.documentElement.dataset.ready === '1'")
    duration = viewer.evaluate("json => replay(json)", json.dumps(events))
    viewer.evaluate("ms => player.seek(ms)", duration if at is None else at)
    return viewer.frame_locator("#replay-frame")
