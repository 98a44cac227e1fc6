"""Throttling, sampling, buffer mode, storms throttled per node, custom events and plugins, in real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from recording import TAP, of_type, open_recorded, replay, taken

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)

META, SNAPSHOT, MUTATION, CLICK, MOUSE, ERROR, CUSTOM = 0, 1, 2, 3, 6, 9, 11

# A gamepad the page can see: navigator.getGamepads() reads window.__pads (headless
# Chromium has no gamepad hardware; the plugin's polling and events are what is tested).
FAKE_PAD = """
window.__pads = [];
navigator.getGamepads = () => window.__pads;
window.plugPad = () => {
  window.__pads = [{ index: 0, id: 'Test pad', buttons: [{ pressed: false }, { pressed: false }], axes: [0, 0] }];
  dispatchEvent(new Event('gamepadconnected'));
};
"""


@pytest.fixture
def viewer(browser):
    p = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield p
    p.close()


def test_track_use_and_shipped_plugins(page: Page, site_url):
    """Sightline.track, Sightline.use and the gamepad and vitals plugins emit namespaced custom events."""
    page.add_init_script(FAKE_PAD)
    open_recorded(page, site_url + "/tests/html/plugins.html")
    page.evaluate("""() => {
      Sightline.track('signup', { plan: 'pro' });
      Sightline.use({ name: 'broken', setup() { throw new Error('bad plugin'); } });
      Sightline.use({ name: 'demo', setup({ emit }) { emit('hello', { n: 1 }); return () => emit('bye'); } });
      plugPad();
    }""")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.n === 'gamepad:connect')")
    page.evaluate("__pads[0].buttons[1].pressed = true; __pads[0].axes[0] = 0.5")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.n === 'gamepad:axes')")
    page.evaluate("__pads[0].buttons[1].pressed = false")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.n === 'gamepad:button' && e.p.v === 0)")
    page.evaluate("__pads = []")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.n === 'gamepad:disconnect')")
    # A long task, run as a page task (a CDP evaluate is not reported as one).
    page.evaluate("setTimeout(() => { const t = performance.now(); while (performance.now() - t < 120); })")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.n === 'vitals:longtask' && e.p.v >= 100)")
    page.evaluate("Sightline.stop()")
    custom = [(e["n"], e["p"]) for e in of_type(taken(page), CUSTOM)]
    assert ("early", {"from": "queue"}) in custom and ("signup", {"plan": "pro"}) in custom
    assert ("demo:hello", {"n": 1}) in custom and ("demo:bye", {}) in custom
    assert not any(n.startswith("broken") for n, _ in custom)
    pad = [(n, p) for n, p in custom if n.startswith("gamepad:")]
    assert pad[0] == ("gamepad:connect", {"g": 0, "id": "Test pad", "b": 2, "a": 2})
    assert ("gamepad:button", {"g": 0, "b": 1, "v": 1}) in pad and ("gamepad:button", {"g": 0, "b": 1, "v": 0}) in pad
    assert ("gamepad:axes", {"g": 0, "a": [0.5, 0]}) in pad and pad[-1] == ("gamepad:disconnect", {"g": 0})
    assert any(n == "vitals:longtask" and p["v"] >= 100 for n, p in custom)


def test_mutations_coalesced_and_mouse_sampled(page: Page, site_url):
    """Many DOM changes in one frame make one MUTATION event; mouse moves are sampled."""
    open_recorded(page, site_url + "/tests/html/storm.html")
    taken(page)
    page.evaluate("burst()")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.t === 2)")
    muts = of_type(taken(page), MUTATION)
    assert len(muts) == 1 and len(muts[0]["at"]) == 100
    for k in range(200):
        page.mouse.move(k * 3, 200 + k)
    points = sum(len(e["p"]) for e in of_type(taken(page), MOUSE))
    assert 1 <= points < 100


def test_many_inserts_in_one_frame_keep_order(page: Page, viewer, site_url):
    """Nodes inserted at many places of one parent in one frame replay in the page's order."""
    open_recorded(page, site_url + "/tests/html/storm.html")
    page.evaluate("""() => {
      const g = document.getElementById('grid');
      for (const [k, at] of [[0, 5], [1, 0], [2, 3000], [3, 4], [4, null], [5, 6], [6, 1]]) {
        const s = document.createElement('span');
        s.id = 'new' + k;
        s.innerHTML = '<b>' + k + '</b>';
        g.insertBefore(s, at == null ? null : g.children[at]);
      }
      g.children[10].remove();
      g.insertBefore(g.children[20], g.children[2]);
    }""")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.t === 2)")
    live = page.evaluate("[...grid.children].map(s => s.id || '').join()")
    frame = replay(viewer, site_url, taken(page))
    assert frame.locator("#grid").evaluate("g => [...g.children].map(s => s.id || '').join()") == live
    assert frame.locator("#new6 b").inner_text() == "6"


def test_text_swaps_and_net_attribute_changes_are_compact(page: Page, viewer, site_url):
    """`el.textContent = s` is recorded as a text change of the node it replaces (no remove
    and add), however often it happens in a frame and across frames; an attribute set back
    to its value within a frame is left out. The replay still matches the page."""
    open_recorded(page, site_url + "/tests/html/storm.html")
    page.evaluate("() => { const g = document.getElementById('grid'); for (let k = 0; k < 33; k++) g.children[k].textContent = 'zero ' + k; }")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.t === 2)")
    before = len(of_type(taken(page), MUTATION))
    assert "ad" in of_type(taken(page), MUTATION)[-1]  # text put into empty spans: added nodes
    page.evaluate("""() => {
      const g = document.getElementById('grid');
      for (let k = 0; k < 20; k++) g.children[k].textContent = 'first ' + k;
      for (let k = 0; k < 5; k++) g.children[k].textContent = 'second ' + k;  // twice in one frame
      g.children[30].setAttribute('class', 'changed');
      g.children[30].removeAttribute('class');                            // back: no net change
      g.children[29].title = 'a';
      g.children[29].title = 'b';                                         // twice: the last value
      g.children[31].className = 'changed';
      g.children[32].textContent = '';                                    // emptied: a removal
    }""")
    page.wait_for_function(f"Sightline.flush() && __sl.filter(e => e.t === 2).length > {before}")
    page.evaluate("() => { const g = document.getElementById('grid'); for (let k = 0; k < 3; k++) g.children[k].textContent = 'third ' + k; }")
    page.wait_for_function(f"Sightline.flush() && __sl.filter(e => e.t === 2).length > {before + 1}")
    first, second = of_type(taken(page), MUTATION)[before:before + 2]
    assert "ad" not in first and len(first["tx"]) == 20 and len(first["rm"]) == 1
    assert sorted(list(a.items()) for _, a in first["at"]) == [[("class", "changed")], [("title", "b")]]
    assert set(i for i, _ in second["tx"]) <= set(i for i, _ in first["tx"]) and "ad" not in second
    live = page.evaluate("[...grid.children].slice(0, 40).map(s => s.className + ':' + s.textContent).join()")
    frame = replay(viewer, site_url, taken(page))
    assert frame.locator("#grid").evaluate("g => [...g.children].slice(0, 40).map(s => s.className + ':' + s.textContent).join()") == live


def test_storm_is_throttled_per_node_not_snapshotted(page: Page, viewer, site_url):
    """Under a storm (every frame restyles 4,000 cells and moves 200) the recorder keeps
    recording diffs, each cell within its token bucket (held beyond it and resynchronised
    once a second, docs/adr/0306; test_worst_cases holds one node at 60 frames a second);
    no full snapshot; the replay ends where the page does."""
    open_recorded(page, site_url + "/tests/html/storm.html")
    t0 = page.evaluate("performance.now()")
    frames = page.evaluate("storm(2500)")
    seconds = (page.evaluate("performance.now()") - t0) / 1000
    expect(page.locator("#state")).to_contain_text("calm again")
    page.wait_for_timeout(1500)  # the held cells' last resynchronising diff (STORM_MS = 1000)
    events = taken(page)
    assert frames > 10
    assert not [e for e in of_type(events, SNAPSHOT) if e.get("k") == "storm"]
    muts = of_type(events, MUTATION)
    per_cell: dict[int, int] = {}
    for e in muts:
        for i, _ in e.get("at", []):
            per_cell[i] = per_cell.get(i, 0) + 1
    # The bucket: 20 frames at once, then 10 a second, plus one resynchronising diff a second.
    assert max(per_cell.values()) <= 20 + 10 * (seconds + 1.5) + seconds + 2, (max(per_cell.values()), seconds)
    frame = replay(viewer, site_url, events)
    expect(frame.locator("#state")).to_contain_text("calm again")
    assert frame.locator("#grid span").count() == 4000
    assert frame.locator("#grid span").last.inner_text() == "last"
    live = page.evaluate("[...grid.children].map(s => s.style.background).join()")
    assert frame.locator("#grid").evaluate("g => [...g.children].map(s => s.style.background).join()") == live


def test_buffer_mode_persists_on_error(page: Page, viewer, site_url):
    """data-buffer keeps the last seconds in memory and persists them only when an error happens."""
    open_recorded(page, site_url + "/tests/html/buffer.html")
    for _ in range(2):
        page.click("#inc")
    page.wait_for_timeout(2600)  # more than two checkpoints (data-buffer="1": every second)
    page.click("#inc")
    page.evaluate("Sightline.flush()")
    assert page.evaluate("__sl.length") == 0  # nothing reached the worker yet
    page.evaluate("setTimeout(() => { throw new Error('buffered boom'); })")
    page.wait_for_function("__sl.some(e => e.t === 9)")
    events = taken(page)
    assert events[0]["t"] == META and events[1]["t"] == SNAPSHOT and events[1]["k"] == "checkpoint"
    assert len(of_type(events, META)) == 1 and len(of_type(events, CLICK)) == 1  # older clicks dropped
    assert events[-1]["t"] == ERROR or of_type(events, ERROR)
    frame = replay(viewer, site_url, events)
    expect(frame.locator("#n")).to_have_text("3")
    # After the error the recorder goes on normally.
    page.click("#inc")
    page.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 3).length === 2")


def test_rage_click_persists_buffer(page: Page, site_url):
    """Three quick clicks (a frustration signal) also persist the buffer."""
    open_recorded(page, site_url + "/tests/html/buffer.html")
    page.evaluate("Sightline.flush()")
    assert page.evaluate("__sl.length") == 0
    page.click("#inc", click_count=3)
    page.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 3).length >= 3")


def test_session_sample_rate(page: Page, site_url):
    """data-sample="0" records nothing; the shim still offers its API."""
    page.add_init_script(TAP)
    page.goto(site_url + "/tests/html/unsampled.html")
    page.wait_for_function("window.Sightline && Sightline.session")
    page.evaluate("Sightline.track('x')")
    assert page.evaluate("Sightline.session.recording") is False
    assert page.evaluate("() => { Sightline.flush(); return __sl.length; }") == 0
