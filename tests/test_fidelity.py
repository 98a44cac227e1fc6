"""Replay fidelity: the viewer's replay of a recorded page looks like the live page did.

At each checkpoint the live page is screenshotted and the moment noted; the recorded
events are then replayed in the viewer's replayer, sought to that moment, and the replay
frame screenshotted at the same size. The two images are compared pixel by pixel (numpy
on PNGs decoded by Pillow): at most 1% of pixels may differ by more than 40 in a channel.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from recording import open_recorded, replay, taken

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)

SIZE = {"width": 800, "height": 600}
MAX_DIFF = 0.01  # share of pixels allowed to differ (anti-aliasing, sub-pixel text)
TOLERANCE = 40  # per-channel difference below which a pixel counts as the same


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def difference(a: bytes, b: bytes) -> float:
    """Share of pixels that differ by more than TOLERANCE in any channel."""
    x, y = pixels(a), pixels(b)
    assert x.shape == y.shape, (x.shape, y.shape)
    return float((np.abs(x - y).max(axis=2) > TOLERANCE).mean())


class Checkpoints:
    """Live screenshots and the moments they were taken."""

    def __init__(self, page: Page):
        self.page, self.shots = page, []

    def take(self, name: str, settle_ms: int = 400) -> None:
        self.page.evaluate("document.activeElement && document.activeElement.blur()")  # no caret
        self.page.wait_for_timeout(settle_ms)
        png = self.page.screenshot()
        self.shots.append((name, png, self.page.evaluate("Date.now()")))

    def compare(self, viewer: Page, site_url: str, settle_ms: int = 600) -> dict:
        events = taken(self.page)
        t0 = events[0]["ts"]
        diffs = {}
        for name, live, ts in self.shots:
            replay(viewer, site_url, events, at=ts - t0)
            viewer.wait_for_timeout(settle_ms)  # replayed animations and canvas frames settle
            diffs[name] = difference(live, viewer.locator("#replay-frame").screenshot())
            if diffs[name] > MAX_DIFF:
                Image.open(io.BytesIO(live)).save(f"/tmp/fidelity-{name}-live.png")
                Image.open(io.BytesIO(viewer.locator("#replay-frame").screenshot())).save(f"/tmp/fidelity-{name}-replay.png")
        return diffs


@pytest.fixture
def live(browser):
    p = browser.new_page(viewport=SIZE)
    yield p
    p.close()


@pytest.fixture
def viewer(browser):
    p = browser.new_page(viewport={"width": 1200, "height": 900})
    yield p
    p.close()


def check(diffs: dict) -> None:
    bad = {k: round(v, 4) for k, v in diffs.items() if v > MAX_DIFF}
    assert not bad, f"replay differs from the live page at {bad} (images in /tmp/fidelity-*.png)"


def test_fidelity_form_and_animations(live, viewer, site_url):
    """A form being filled in, a CSS animation and a transition replay as they looked."""
    open_recorded(live, site_url + "/tests/html/anim-form.html")
    cp = Checkpoints(live)
    cp.take("loaded")
    live.fill("#city", "Lisbon")
    live.check("#news")
    live.select_option("#plan", "Team")
    live.fill("#notes", "Two lines\nof notes")
    cp.take("filled")
    live.click("#toggle")
    cp.take("saved")
    check(cp.compare(viewer, site_url))


def test_fidelity_shadow_dom(live, viewer, site_url):
    """Shadow roots, adopted stylesheets and custom elements replay pixel-close."""
    open_recorded(live, site_url + "/tests/html/shadow.html")
    cp = Checkpoints(live)
    cp.take("loaded")
    live.click("#attach")
    expect(live.locator("#late-host .late")).to_have_text("changed inside the shadow root")
    cp.take("attached")
    check(cp.compare(viewer, site_url))


def test_fidelity_iframe_scroll_canvas(live, viewer, site_url):
    """A same-origin iframe, inner and window scroll, and canvas frames replay pixel-close."""
    open_recorded(live, site_url + "/tests/html/frames.html")
    expect(live.frame_locator("#child").locator("#hello")).to_be_visible()
    live.wait_for_function("Sightline.flush() && __sl.some(e => e.t === 17)")
    cp = Checkpoints(live)
    cp.take("loaded")
    live.evaluate("document.getElementById('inner').scrollTop = 150; scrollTo(0, 120); drawRed()")
    live.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 17).length >= 2")
    cp.take("scrolled", settle_ms=300)
    check(cp.compare(viewer, site_url))


def test_fidelity_spa_svg_and_styles(live, viewer, site_url):
    """SPA routes with SVG, and CSSOM/adopted stylesheet changes, replay pixel-close."""
    open_recorded(live, site_url + "/tests/html/spa.html")
    cp = Checkpoints(live)
    cp.take("home")
    live.click("text=Products")
    cp.take("products")
    live.click("text=About")
    cp.take("about-svg")
    check(cp.compare(viewer, site_url))
    styles = Checkpoints(live)
    open_recorded(live, site_url + "/tests/html/styles.html")
    styles.take("styles")
    live.click("#go")
    styles.take("restyled")
    check(styles.compare(viewer, site_url))
