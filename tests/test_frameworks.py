"""Framework awareness and state logs (issue 16 items 3-4, docs/frameworks.md).

Fixture apps from the real npm packages (tests/fixtures/frameworks/, bundled into
site/fixtures/ by build.py). componentOf comes from the built plugin site/plugins/frameworks.js;
the pages record what it says for every click, input and error (window.__seen), the way the
shim's "cp" field carries it. State plugins are exercised through the real shim: their
CUSTOM events are taken at the shim/worker boundary (tests/recording.py).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page

from recording import of_type, open_recorded, taken
from py_core.masking import mask_event

CUSTOM = 11

DEV = {
    "react18": "18.", "react19": "19.", "react18-prod-names": "18.", "react19-prod-names": "19.",
    "vue3": None, "svelte5": None,
}


def interact(page: Page) -> list:
    page.fill("#q", "hello")
    page.click("#buy-label")
    page.click("#boom")
    page.click("#title")
    page.wait_for_function("__seen.some(s => s[0] === 'error')")
    return page.evaluate("__seen")


@pytest.mark.parametrize("app", list(DEV))
def test_component_of_click_input_error(page: Page, site_url, app):
    """Click, input and error in a component give that component's name, per framework."""
    open_recorded(page, f"{site_url}/fixtures/{app}/")
    page.wait_for_selector("#buy")
    if DEV[app]:
        assert DEV[app] in page.inner_text("#title")  # the React version really running
    seen = interact(page)
    by = {(s[0], s[1]): s[2] for s in seen}
    assert by[("input", "q")] == "SearchBox"
    assert by[("click", "buy-label")] == "BuyButton"
    assert by[("click", "boom")] == "Broken"
    # React 18's development build reports an event handler's error twice (its guarded callback).
    assert {(s[1], s[2]) for s in seen if s[0] == "error"} == {("Uncaught Error: checkout failed", "Broken")}
    assert by[("click", "title")] == "App"
    # The shim carries the same names on its own events ("cp", docs/events.md).
    events = taken(page)
    assert "SearchBox" in {e.get("cp") for e in events if e["t"] == 4}
    assert {"BuyButton", "Broken", "App"} <= {e.get("cp") for e in events if e["t"] == 3}
    assert "Broken" in {e.get("cp") for e in events if e["t"] == 9 and e.get("k") == "error"}


@pytest.mark.parametrize("app", ["react19-prod", "svelte5-prod"])
def test_minified_names_are_unknown(page: Page, site_url, app):
    """A production build without the annotation: no nonsense names, only unknown (null)."""
    open_recorded(page, f"{site_url}/fixtures/{app}/")
    page.wait_for_selector("#buy")
    seen = interact(page)
    assert seen and all(s[2] is None for s in seen), seen


def test_annotation_attribute_and_hostile_pages(page: Page, site_url):
    """data-sl-component wins where no framework structure exists; odd or hostile values are
    unknown; deep trees and throwing getters never throw."""
    open_recorded(page, f"{site_url}/fixtures/state/")
    got = page.evaluate("""() => {
      const c = window.__componentOf, d = document, out = {};
      const mk = (attr) => { const e = d.createElement('div'); if (attr != null) e.setAttribute('data-sl-component', attr); d.body.append(e); return e; };
      const a = mk('CheckoutForm'); const b = d.createElement('span'); a.append(b); b.append(d.createTextNode('x'));
      out.attr = c(b); out.text = c(b.firstChild);
      out.email = c(mk('ann@example.com')); out.short = c(mk('e')); out.long = c(mk('A'.repeat(500))).length;
      let deep = mk('Outer'); for (let i = 0; i < 5000; i++) { const n = d.createElement('i'); deep.append(n); deep = n; }
      out.deep = c(deep);
      const h = d.createElement('b'); Object.defineProperty(h, '__reactFiber$x', { enumerable: true, get() { throw new Error('hostile'); } });
      d.body.append(h); out.hostile = c(h);
      const v = d.createElement('b'); v.__vueParentComponent = new Proxy({}, { get() { throw new Error('hostile'); } });
      d.body.append(v); out.proxy = c(v);
      out.none = c(null); out.win = c(window);
      const loop = d.createElement('b'); const f = { type: [() => 0][0] }; f.return = f; loop['__reactFiber$y'] = f; d.body.append(loop);
      out.loop = c(loop);
      return out;
    }""")
    assert got == {"attr": "CheckoutForm", "text": "CheckoutForm", "email": None, "short": None, "long": 64,
                   "deep": None, "hostile": None, "proxy": None, "none": None, "win": None, "loop": None}


def state_events(page: Page, prefix: str) -> list[dict]:
    return [e for e in of_type(taken(page), CUSTOM) if e["n"].startswith(prefix)]


def test_redux_and_mobx_actions_in_order_masked(page: Page, site_url):
    """Redux and MobX actions appear as state-log events in order, with bounded, masked diffs."""
    open_recorded(page, f"{site_url}/fixtures/state/")
    for b in ("r-add", "r-email", "m-add", "r-login", "m-note", "r-add"):
        page.click(f"#{b}")
    page.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 11).length >= 6")
    log = [(e["n"], e["p"]["a"], e["p"]["d"]) for e in state_events(page, "")]
    assert [(n, a) for n, a, _ in log] == [
        ("redux:action", "cart/add"), ("redux:action", "user/email"), ("mobx:action", "add"),
        ("redux:action", "user/login"), ("mobx:action", "setNote"), ("redux:action", "cart/add")]
    assert log[0][2] == [["cart.items", 1]]
    assert log[1][2] == [["user.email", "ann@example.com"]]
    assert log[2][2] == [["Cart.items", 1]]
    assert log[3][2] == [["user.token", "***"]]  # secret-looking keys never carry values
    assert log[4][2] == [["Cart.note", "call me"]]
    assert log[5][2] == [["cart.items", 2]]
    raw = json.dumps(page.evaluate("__sl"))
    assert "s3cr3t" not in raw
    # The worker's masking (py_core.masking, device mode) masks the values like any custom property.
    masked = json.dumps(mask_event(state_events(page, "redux:")[1]))
    assert "ann@example.com" not in masked and "user/email" in masked


def test_flooding_store_is_sampled(page: Page, site_url):
    """200 dispatches in one task: at most 20 events a second, the rest counted, not queued."""
    open_recorded(page, f"{site_url}/fixtures/state/")
    page.click("#r-flood")
    page.wait_for_timeout(1100)
    page.click("#r-add")
    page.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 11).length >= 2")
    ev = state_events(page, "redux:")
    assert 2 <= len(ev) <= 21
    assert sum(e["p"].get("x", 0) for e in ev) + len(ev) == 201
    assert page.evaluate("stores.redux.getState().cart.items") == 201


def test_vuex_mutations_in_order_masked(page: Page, site_url):
    open_recorded(page, f"{site_url}/fixtures/vue3/")
    page.wait_for_selector("#buy")
    page.click("#buy")
    page.evaluate("vuexStore.commit('setEmail', 'bob@example.com'); vuexStore.commit('setPassword', 'pw-secret'); vuexStore.commit('add')")
    page.wait_for_function("Sightline.flush() && __sl.filter(e => e.t === 11).length >= 4")
    log = [(e["p"]["a"], e["p"]["d"]) for e in state_events(page, "vuex:")]
    assert log == [("add", [["cart.items", 1]]), ("setEmail", [["cart.email", "bob@example.com"]]),
                   ("setPassword", [["password", "***"]]), ("add", [["cart.items", 2]])]
    assert "pw-secret" not in json.dumps(page.evaluate("__sl"))
