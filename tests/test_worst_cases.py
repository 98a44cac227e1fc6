"""The recorder on the worst DOMs: rrweb's six mutation-benchmark shapes and deeper ones, in
real Chromium through the real worker. Nothing is lost, nothing is forced into a full
snapshot, and the replay matches the page (docs/adr/0306)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page

from py_core import keys
from py_core.envelope import open_envelope
from recording import TAP, of_type, replay

pytestmark = pytest.mark.browser

SNAPSHOT, MUTATION, CUSTOM = 1, 2, 11
WORKLOADS = ["fragment", "deep", "add-remove", "descendants", "move", "attributes"]


@pytest.fixture
def viewer(browser):
    p = browser.new_page(viewport={"width": 1200, "height": 900})
    yield p
    p.close()


def run(page: Page, site_url: str, w: str, process: str = "light", n: int = 0) -> tuple[list[dict], dict]:
    """Open the workload page, run it, deliver everything; the events posted and the worker's status."""
    page.add_init_script(TAP)
    page.goto(f"{site_url}/tests/html/workloads.html?w={w}&process={process}&n={n}")
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    page.evaluate("workload()")
    page.wait_for_timeout(100)  # the frame's mutation records
    status = page.evaluate("Sightline.flush()")
    return taken_json(page), status


def taken_json(page: Page) -> list[dict]:
    """The tapped events, as JSON text (Playwright's own serializer stops at a depth well
    below the recorder's trees)."""
    return json.loads(page.evaluate("JSON.stringify(__sl)"))


def same_shape(page: Page, viewer: Page, site_url: str, events: list[dict]) -> None:
    src = page.evaluate("shape.toString()")
    live = page.evaluate("shape(document)")
    frame = replay(viewer, site_url, events)
    assert frame.locator("body").evaluate(f"(b) => ({src})(b.ownerDocument)") == live


def delivered(status: dict) -> None:
    assert status["raw"] == 0 and status["outbox"] == 0, status
    assert status["unreadable"] == 0 and status["lastError"] is None, status
    assert status["lost"] == 0 and status["evicted"] == 0, status


@pytest.mark.parametrize("w", WORKLOADS)
def test_workload_is_a_diff_and_replays(page: Page, viewer, site_url, w):
    """Each of rrweb's six workload shapes is recorded as diffs (no storm snapshot), every
    batch reaches the worker and leaves it, and the replay has the page's exact shape."""
    events, status = run(page, site_url, w)
    delivered(status)
    assert [e.get("k") for e in of_type(events, SNAPSHOT)] == [None]
    assert of_type(events, MUTATION)
    same_shape(page, viewer, site_url, events)


# Chromium itself (no recorder) crashes laying out a chain of 3,000 nested divs: 2,000 is
# about the deepest a page can be here.
@pytest.mark.parametrize("n", [1000, 2000])
def test_any_depth_arrives_and_is_processed(page: Page, viewer, site_url, collector, demo_key, n):
    """A tree n levels deep (each node appended into the previous) reaches the worker, runs
    through Python in device mode (masking, insights) and the collector holds it: its
    deepest text is in the sealed, delivered events, and the replay rebuilds every level."""
    page.set_default_timeout(120_000)
    events, status = run(page, site_url, "descendants", process="device", n=n)
    delivered(status)
    assert status["passes"] >= 1, status
    deepest = max(len(json.dumps(e)) for e in events)
    assert deepest < 200_000  # bounded pieces, not one n-deep tree
    sid = page.evaluate("Sightline.session.sid")
    private = {demo_key["kid"]: keys.b64u_decode(demo_key["private"])}
    envelopes = collector.get(f"/v1/sessions/{sid}")["envelopes"]
    payloads = [open_envelope({k: v for k, v in e.items() if k != "received"}, private) for e in envelopes]
    plain = json.dumps(payloads)
    assert f'"el-{n}"' in plain and '"el-1"' in plain
    same_shape(page, viewer, site_url, events)


def test_a_snapshot_of_a_deep_page_arrives_whole(page: Page, viewer, site_url):
    """A page that is already deep when recording starts: its first snapshot is cut into
    pieces that follow it at the same time, and the replay at that time is whole."""
    page.add_init_script(TAP)
    page.add_init_script("""addEventListener('DOMContentLoaded', () => {
      let p = document.body;
      for (let i = 0; i < 1500; i++) { const d = document.createElement('div'); d.title = 'd' + i; p.append(d); p = d; }
      p.textContent = 'bottom';
    });""")
    page.goto(f"{site_url}/tests/html/workloads.html?w=none")
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    status = page.evaluate("Sightline.flush()")
    delivered(status)
    events = taken_json(page)
    snap = of_type(events, SNAPSHOT)[0]
    pieces = [e for e in of_type(events, MUTATION) if e["ts"] == snap["ts"]]
    assert pieces and sum(len(e["ad"]) for e in pieces) >= 14
    frame = replay(viewer, site_url, events, at=snap["ts"] - events[0]["ts"])
    assert frame.locator("div[title=d1499]").inner_text() == "bottom"
    assert frame.locator("div[title=d1499]").evaluate("n => { let d = 0; while (n.parentElement) { d++; n = n.parentElement; } return d; }") == 1501


def test_storm_on_one_node_is_held_and_resynchronised(page: Page, viewer, site_url):
    """An attribute changed every frame for two seconds: the node is held by its token
    bucket (named in `hd`), the diffs stop being one per frame, and the replay ends with
    the page's last value."""
    page.add_init_script(TAP)
    page.goto(f"{site_url}/tests/html/workloads.html?w=none")
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    frames = page.evaluate("""() => new Promise((done) => {
      const el = document.getElementById('app');
      const end = performance.now() + 2000;
      let f = 0;
      const step = () => {
        el.style.width = (++f) + 'px';
        if (performance.now() < end) requestAnimationFrame(step); else done(f);
      };
      requestAnimationFrame(step);
    })""")
    page.wait_for_timeout(1300)  # the last resynchronising diff
    page.evaluate("Sightline.flush()")
    events = taken_json(page)
    app = next(e for e in of_type(events, MUTATION) if e.get("hd"))["hd"]
    assert len(app) == 1
    changes = [e for e in of_type(events, MUTATION) if any(i == app[0] for i, _ in e.get("at", []))]
    assert frames > 60 and 20 <= len(changes) < frames / 2, (frames, len(changes))
    frame = replay(viewer, site_url, events)
    assert frame.locator("#app").get_attribute("style") == f"width: {frames}px;"
    assert not [e for e in of_type(events, SNAPSHOT) if e.get("k") == "storm"]


def test_a_batch_that_cannot_be_cloned_still_arrives(page: Page, site_url):
    """Properties no structured clone can carry (a function, a cycle, a BigInt) do not stall
    the recorder: the batch goes as JSON, with everything else in it, and recording goes on."""
    page.add_init_script(TAP)
    page.goto(f"{site_url}/tests/html/workloads.html?w=none")
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    page.evaluate("""() => {
      const loop = { name: 'loop' }; loop.self = loop;
      Sightline.track('before', { n: 1 });
      Sightline.track('hostile', { f: () => 1, loop, big: 10n });
    }""")
    status = page.evaluate("Sightline.flush()")
    delivered(status)
    page.evaluate("Sightline.track('after', { n: 2 })")
    status = page.evaluate("Sightline.flush()")
    delivered(status)
    assert status["sent"] >= 2
    # What the worker was really sent (the tap keeps a copy only of posts that went through).
    names = page.evaluate("__sl.filter(e => e.t === 11).map(e => e.n)")
    assert names == ["before", "hostile", "after"]


def test_an_unreadable_message_is_reported_and_resent(page: Page, site_url):
    """A message the worker cannot read (a failed structured clone arrives as null) is not
    dropped: the worker counts it and tells the page, which sends its unstored batches again."""
    page.add_init_script(TAP)
    page.goto(f"{site_url}/tests/html/workloads.html?w=none")
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    worker = page.workers[0]
    worker.evaluate("self.onmessage({ data: null }); self.onmessageerror(new MessageEvent('messageerror'))")
    page.evaluate("Sightline.track('still', { n: 1 })")
    status = page.evaluate("Sightline.flush()")
    assert status["unreadable"] == 2, status
    assert status["raw"] == 0 and status["outbox"] == 0 and status["lastError"] is None, status


def test_svg_use_xlink_href_replays_in_its_namespace(page: Page, viewer, site_url):
    """An SVG `<use xlink:href>` (in the snapshot and added later) is rebuilt with the XLink
    namespace, so the replay draws the glyph it points at."""
    page.add_init_script(TAP)
    page.add_init_script("""addEventListener('DOMContentLoaded', () => {
      document.body.insertAdjacentHTML('beforeend', '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="40"><defs><rect id="g" width="30" height="30" fill="red"/></defs><use id="u1" xlink:href="#g"/></svg>');
    });""")
    page.goto(f"{site_url}/tests/html/workloads.html?w=none")
    page.wait_for_function("window.Sightline && Sightline.session.recording")
    page.evaluate("""() => {
      const u = document.createElementNS('http://www.w3.org/2000/svg', 'use');
      u.id = 'u2';
      u.setAttributeNS('http://www.w3.org/1999/xlink', 'xlink:href', '#g');
      document.querySelector('svg').append(u);
    }""")
    page.wait_for_timeout(100)
    page.evaluate("Sightline.flush()")
    frame = replay(viewer, site_url, taken_json(page))
    for u in ("#u1", "#u2"):
        assert frame.locator(u).evaluate("u => u.getAttributeNS('http://www.w3.org/1999/xlink', 'href')") == "#g"
        assert frame.locator(u).evaluate("u => u.getBBox().width") == 30
