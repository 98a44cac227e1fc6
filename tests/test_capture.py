"""Recorder capture in real Chromium: each test records a fixture page (tests/html/) with
the built shim, replays the events in the viewer's replayer and checks what it shows."""

from __future__ import annotations

import copy
import json
import re

import pytest
from playwright.sync_api import Page, expect

from py_core.events import expand_ids, walk
from recording import of_type, open_recorded, replay, taken

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)

META, SNAPSHOT, MUTATION, CLICK, INPUT, SCROLL = 0, 1, 2, 3, 4, 5
VIEWPORT, NAVIGATION, ERROR, NETWORK, CUSTOM, VISIBILITY = 7, 8, 9, 10, 11, 12
STYLE, ADOPT, FOCUS, CANVAS = 14, 15, 16, 17


@pytest.fixture
def viewer(browser):
    p = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield p
    p.close()


def test_shadow_roots_and_custom_elements(page: Page, viewer, site_url):
    """Open shadow roots (at load and attached later), custom elements and their adopted sheets replay."""
    open_recorded(page, site_url + "/tests/html/shadow.html")
    page.click("#attach")
    expect(page.locator("#late-host .late")).to_have_text("changed inside the shadow root")
    expect(page.locator("late-widget .lw")).to_have_text("late widget")
    events = taken(page)
    snap = of_type(events, SNAPSHOT)[0]
    assert '"sr"' in str(snap).replace("'", '"')
    assert any(e["s"] and e["css"] for e in of_type(events, ADOPT))
    frame = replay(viewer, site_url, events)
    expect(frame.locator("user-card .who")).to_have_text("Card of Ada")
    expect(frame.locator("user-card .card")).to_have_css("background-color", "rgb(255, 230, 200)")
    expect(frame.locator("user-card .inner-style")).to_have_css("color", "rgb(200, 0, 0)")
    expect(frame.locator("#late-host .late")).to_have_text("changed inside the shadow root")
    expect(frame.locator("#late-host .late")).to_have_css("color", "rgb(0, 0, 255)")
    expect(frame.locator("late-widget .lw")).to_have_text("late widget")
    assert frame.locator("script").evaluate_all("s => s.every(x => !x.textContent)")  # never page code


def test_stylesheets_cssom_and_adopted(page: Page, viewer, site_url):
    """<link> rules are inlined, CSSOM inserts/deletes, adopted sheets, class and style changes replay."""
    open_recorded(page, site_url + "/tests/html/styles.html")
    before = taken(page)
    link = [n for n in _walk(of_type(before, SNAPSHOT)[0]["n"]) if n.get("n") == "link"][0]
    assert ".linked" in link["css"]
    frame = replay(viewer, site_url, before)
    expect(frame.locator("#a")).to_have_css("background-color", "rgb(255, 0, 0)")
    expect(frame.locator(".linked")).to_have_css("color", "rgb(0, 128, 0)")
    assert frame.locator("link").count() == 0  # inlined: the replay never fetches it

    page.click("#go")
    events = taken(page)
    styles = of_type(events, STYLE)
    assert [s.get("del") for s in styles if "del" in s] == [0]
    assert len([s for s in styles if "ins" in s]) == 3
    frame = replay(viewer, site_url, events)
    expect(frame.locator("#a")).to_have_css("background-color", "rgba(0, 0, 0, 0)")
    expect(frame.locator("#b")).to_have_css("background-color", "rgb(0, 0, 255)")
    expect(frame.locator("#c")).to_have_css("background-color", "rgb(0, 255, 0)")
    expect(frame.locator("#a")).to_have_css("font-weight", "700")
    expect(frame.locator("#a")).to_have_css("outline-color", "rgb(10, 20, 30)")
    expect(frame.locator("#adopted")).to_have_css("color", "rgb(128, 0, 128)")


def test_form_state_masked(page: Page, viewer, site_url):
    """Values, checked, selected and contenteditable replay, masked unless data-sl-unmask."""
    open_recorded(page, site_url + "/tests/html/form.html")
    page.fill("#name", "Zelda Quintero")
    page.fill("#note", "public words")
    page.fill("#pw", "hunter2")
    page.check("#r2")
    page.select_option("#size", "L")
    page.fill("#msg", "private message")
    page.click("#editor")
    page.keyboard.type(" typed")
    page.uncheck("#agree")
    events = taken(page)
    text = str(events)
    for secret in ("Zelda", "Quintero", "hunter2", "private", "Before Start", "preset", "draft", "typed"):
        assert secret not in text, secret
    frame = replay(viewer, site_url, events)
    assert re.fullmatch(r"\*+ \*+", frame.locator("#name").input_value())
    assert frame.locator("#note").input_value() == "public words"
    assert frame.locator("#pw").input_value() == ""
    assert frame.locator("#r2").is_checked() and not frame.locator("#r1").is_checked()
    assert not frame.locator("#agree").is_checked()
    assert frame.locator("#size").evaluate("el => el.selectedIndex") == 2
    assert re.fullmatch(r"\*+ \*+", frame.locator("#msg").input_value())
    assert re.fullmatch(r"[* ]+", frame.locator("#editor").inner_text())
    # The state set before the recorder started is in the snapshot.
    early = replay(viewer, site_url, events, at=0)
    assert early.locator("#name").input_value() == "****** *****"
    assert early.locator("#agree").is_checked()


def test_scroll_focus_viewport_visibility_iframe_canvas(page: Page, viewer, site_url):
    """Window and inner scroll, focus, resize, visibility, a same-origin iframe and canvas frames."""
    open_recorded(page, site_url + "/tests/html/frames.html")
    child = page.frame_locator("#child")
    expect(child.locator("#hello")).to_have_text("Hello from the iframe")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.t === 17)")  # a first canvas frame
    child.locator("#in-frame").fill("secret words")
    child.locator("#hello").evaluate("el => { el.textContent = 'Changed in the iframe'; }")
    page.evaluate("document.getElementById('inner').scrollTop = 200")
    page.evaluate("scrollTo(0, 300)")
    page.evaluate("drawRed()")
    page.set_viewport_size({"width": 1000, "height": 700})
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.t === 7)")
    page.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 17).length >= 2")
    events = taken(page)
    scrolls = of_type(events, SCROLL)
    assert {"i": 0, "x": 0, "y": 300} in [{k: s[k] for k in "ixy"} for s in scrolls]
    assert any(s["i"] and s["y"] == 200 for s in scrolls)
    assert of_type(events, FOCUS) and of_type(events, VIEWPORT)[-1]["w"] == 1000
    assert "secret" not in str(events)
    frame = replay(viewer, site_url, events)
    expect(frame.frame_locator("#child").locator("#hello")).to_have_text("Changed in the iframe")
    assert re.fullmatch(r"\*+ \*+", frame.frame_locator("#child").locator("#in-frame").input_value())
    assert frame.locator("#inner").evaluate("el => el.scrollTop") == 200
    assert viewer.locator("#replay-frame").evaluate("f => f.contentWindow.scrollY") == 300
    assert viewer.locator("#replay-frame").evaluate("f => f.style.width") == "1000px"
    viewer.wait_for_function("""() => {
      const img = document.getElementById('replay-frame').contentDocument.getElementById('cv');
      if (img.localName !== 'img' || !img.complete || !img.naturalWidth) return false;
      const c = document.createElement('canvas');
      c.width = 200; c.height = 100;
      c.getContext('2d').drawImage(img, 0, 0);
      const px = c.getContext('2d').getImageData(50, 50, 1, 1).data;
      return px[0] > 180 && px[1] < 60;
    }""")  # the red square drawn after load reached the replay (an <img>: no scripts there)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    assert of_type(taken(page), VISIBILITY)


def test_spa_navigation_detected(page: Page, viewer, site_url):
    """pushState, replaceState, popstate and hashchange are recorded without configuration."""
    open_recorded(page, site_url + "/tests/html/spa.html")
    page.click("text=Products")
    page.click("text=About")
    page.evaluate("history.replaceState({}, '', location.href + '&x=1')")
    page.go_back()
    expect(page.locator("#view h2")).to_have_text("Products")
    page.evaluate("location.hash = 'top'")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.t === 8 && e.k === 'hash')")
    events = taken(page)
    kinds = [e["k"] for e in of_type(events, NAVIGATION)]
    assert kinds[:4] == ["push", "push", "replace", "pop"] and "hash" in kinds
    assert "r=/about" in of_type(events, NAVIGATION)[1]["u"]
    nav = of_type(events, NAVIGATION)[1]["ts"]
    about = next(e["ts"] for e in of_type(events, MUTATION) if e["ts"] >= nav) - events[0]["ts"]
    frame = replay(viewer, site_url, events, at=about)
    expect(frame.locator("#view h2")).to_have_text("About")
    expect(frame.locator("#view circle")).to_have_attribute("fill", "rgb(200, 0, 100)")
    frame = replay(viewer, site_url, events)
    expect(frame.locator("#view h2")).to_have_text("Products")


def test_mpa_page_loads_start_new_pages_of_one_session(page: Page, site_url):
    """A full page load starts a new page (pid, META, SNAPSHOT) within the same session (sid)."""
    open_recorded(page, site_url + "/tests/html/spa.html")
    first = page.evaluate("Sightline.session")
    page.goto(site_url + "/tests/html/styles.html")
    page.wait_for_function("Sightline.session.recording")
    second = page.evaluate("Sightline.session")
    assert second["sid"] == first["sid"] and second["pid"] != first["pid"]
    events = taken(page)  # may begin with the first page's last batches, carried over (ADR 0004)
    k = next(k for k, e in enumerate(events) if e["t"] == META and e["u"].endswith("/styles.html"))
    assert events[k + 1]["t"] == SNAPSHOT and len(of_type(events[k:], META)) == 1


def test_network_metadata_masked(page: Page, site_url):
    """fetch, XHR, sendBeacon and WebSocket: method, URL with its query masked, status, timing, sizes."""
    open_recorded(page, site_url + "/tests/html/network.html")
    page.evaluate("traffic()")
    page.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 10).length >= 5")
    net = of_type(taken(page), NETWORK)
    by = {(n["k"], n["m"], n["u"].split("/", 3)[-1]): n for n in net}
    ok = by[("fetch", "GET", "v1/health?email=*&page=*")]
    assert ok["s"] == 200 and ok["d"] >= 0 and ok["r"] > 0
    bad = by[("fetch", "POST", "no/such/path")]
    assert bad["s"] >= 400 and bad["q"] == 8 and "qb" not in bad
    assert by[("xhr", "GET", "v1/health?token=*")]["s"] == 200
    assert by[("beacon", "POST", "v1/health?beacon=*")]["q"] == 9
    ws = [n for n in net if n["k"] == "ws"]
    assert ws and ws[-1]["m"] == "CLOSE" and ws[-1]["s"] == 0 and ws[-1]["u"].endswith("/no-socket?x=*")
    assert "zelda" not in str(net) and "s3cret" not in str(net) and "/v1/ingest" not in str(net)


def test_network_bodies_opt_in_and_stop_restores(page: Page, site_url):
    """With data-bodies, request and response bodies are recorded (cut); stop() unpatches the page."""
    open_recorded(page, site_url + "/tests/html/network-bodies.html")
    page.evaluate("traffic()")
    page.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 10).length >= 2")
    net = of_type(taken(page), NETWORK)
    post = [n for n in net if n["m"] == "POST"][0]
    assert post["qb"].startswith('{"q":"xxx') and len(post["qb"]) == 2000 and post["q"] == 3008
    health = [n for n in net if n["u"].endswith("/v1/health")][0]
    assert health["s"] == 200 and health["rb"].startswith("{") and "qb" not in health
    page.evaluate("Sightline.stop()")
    for name in ("fetch", "WebSocket", "XMLHttpRequest.prototype.send", "history.pushState",
                 "console.error", "CSSStyleSheet.prototype.insertRule", "Element.prototype.attachShadow"):
        assert "[native code]" in page.evaluate(f"String({name})"), name


def test_console_errors_and_rejections(page: Page, site_url):
    """console.error/warn, uncaught errors and unhandled rejections are recorded with stacks."""
    open_recorded(page, site_url + "/tests/html/network.html")
    page.evaluate("problems()")
    page.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 9).length >= 4")
    errors = of_type(taken(page), ERROR)
    got = {(e["k"], e.get("l")): e for e in errors}
    assert got[("console", "warn")]["m"] == 'careful {"n":1}'
    assert got[("console", "error")]["m"] == "console boom" and "problems" in got[("console", "error")]["s"]
    assert got[("error", None)]["m"].endswith("uncaught boom") and "network.html" in got[("error", None)]["s"]
    assert got[("rejection", None)]["m"] == "rejected boom" and got[("rejection", None)]["s"]


def _walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.get("c") or ())
        stack.extend(x for x in (n.get("sr"), n.get("f")) if x)


def test_snapshot_ids_are_implied_and_expand_alike(page: Page, viewer, site_url):
    """A snapshot carries few node ids (consecutive ones are implied, docs/events.md); the
    viewer's replayer and py_core fill them in identically, into shadow roots and iframe
    documents, and the filled-in ids are the ones the recorder's other events use."""
    open_recorded(page, site_url + "/tests/html/frames.html")
    expect(page.frame_locator("#child").locator("#hello")).to_have_text("Hello from the iframe")
    page.evaluate("document.getElementById('inner').scrollTop = 200")
    page.wait_for_function("Sightline.flush() && __sl.some(e => e.t === 5 && e.i)")
    events = taken(page)
    inner = next(e["i"] for e in of_type(events, SCROLL) if e["i"])
    frames = [of_type(events, SNAPSHOT)[0]["n"]] + [a[2] for e in of_type(events, MUTATION) for a in e.get("ad", [])]
    # Every batch stored before leaving: an unacknowledged one would be carried to the next
    # page and posted from there, and its snapshot taken for that page's.
    page.evaluate("Sightline.flush()")
    open_recorded(page, site_url + "/tests/html/shadow.html")
    shadow = [of_type(taken(page), SNAPSHOT)[0]["n"]]
    viewer.goto(site_url + "/tests/html/replay.html")
    for trees, key in ((frames, 9), (shadow, 11)):
        nodes = [x for t in trees for x in walk(t)]
        assert any(x.get("t") == key for x in nodes)  # an iframe document / a shadow root inside
        assert all("i" in t for t in trees) and sum("i" in x for x in nodes) < len(nodes) / 10
        mine = [expand_ids(copy.deepcopy(t)) for t in trees]
        theirs = viewer.evaluate("async (j) => { const m = await import('/viewer/replayer.js');"
                                 " return JSON.parse(j).map(m.expandIds); }", json.dumps(trees))
        assert theirs == mine
        ids = [x["i"] for t in mine for x in walk(t)]
        assert len(ids) == len(set(ids)) == len(nodes)
        assert [expand_ids(copy.deepcopy(t)) for t in mine] == mine  # idempotent: full trees stay
    by_id = {x["i"]: x for t in frames for x in walk(expand_ids(t))}
    assert by_id[inner].get("a", {}).get("id") == "inner"  # the scroll event's id is that element's
