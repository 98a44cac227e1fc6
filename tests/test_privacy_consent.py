"""Consent in real Chromium: nothing before consent, GPC/DNT refuse, opt-out deletes, no cookies."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)

REQUIRED = "/tests/html/privacy-consent.html"
GRANTED = "/tests/html/privacy-granted.html"
PAGE_FILES = ("privacy-consent.html", "privacy-granted.html", "sightline.js", "sightline-banner.js")
GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true })"
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' })"

STORAGE = """async () => ({
  local: Object.fromEntries(Object.entries(localStorage)),
  session: Object.fromEntries(Object.entries(sessionStorage)),
  cookie: document.cookie,
  dbs: (await indexedDB.databases()).map((d) => d.name),
  recording: Sightline.session.recording,
})"""


class Watch:
    """Every request and worker a page (and its workers) starts."""

    def __init__(self, page: Page):
        self.requests: list[str] = []
        self.workers: list[str] = []
        page.context.on("request", lambda r: self.requests.append(r.url))
        page.on("worker", lambda w: self.workers.append(w.url))

    def others(self) -> list[str]:
        """Requests other than the page itself and its two scripts."""
        return [u for u in self.requests if not u.split("?")[0].endswith(PAGE_FILES)]


def visit(browser: Browser, url: str, init: str | None = None) -> tuple[Page, Watch]:
    context = browser.new_context()
    if init:
        context.add_init_script(init)
    page = context.new_page()
    page.set_default_timeout(60_000)
    watch = Watch(page)
    page.goto(url)
    page.wait_for_function("window.Sightline && document.readyState === 'complete'")
    return page, watch


def use_page(page: Page) -> None:
    """Interact the way a visitor would: type, click, scroll, move."""
    page.fill("input", "zelda.q@example.org")
    page.mouse.move(100, 100)
    page.mouse.move(300, 200)
    page.mouse.wheel(0, 200)
    page.click("h1")
    page.wait_for_timeout(1500)  # longer than the shim's 1 s batch interval: a batch would have gone


def test_nothing_before_consent(browser, site_url):
    """In 'required' mode a visit with interactions makes no request, worker, storage write or database."""
    page, watch = visit(browser, site_url + REQUIRED)
    expect(page.locator("#sl-consent")).to_be_visible()
    use_page(page)
    state = page.evaluate(STORAGE)
    assert state == {"local": {}, "session": {}, "cookie": "", "dbs": [], "recording": False}, state
    assert watch.workers == [] and watch.others() == [], (watch.workers, watch.others())
    assert page.context.cookies() == []

    page.click("#sl-consent-no")  # a refusal: remembered, nothing else
    use_page(page)
    state = page.evaluate(STORAGE)
    assert state == {"local": {"sl-consent": "0"}, "session": {}, "cookie": "", "dbs": [], "recording": False}
    assert watch.workers == [] and watch.others() == []
    page.reload()
    expect(page.locator("#sl-consent")).to_have_count(0)  # the refusal holds on the next page
    assert page.evaluate(STORAGE)["recording"] is False
    page.context.close()


def test_consent_records_cookieless_and_opt_out_deletes_everything(browser, site_url):
    """After consent: a worker, a queue in IndexedDB, no cookie; optOut stops at once and deletes it all."""
    page, watch = visit(browser, site_url + REQUIRED)
    page.click("#sl-consent-yes")
    assert page.evaluate("Sightline.session.recording") is True
    use_page(page)
    page.wait_for_function("indexedDB.databases().then((d) => d.some((x) => x.name === 'sightline'))")
    assert watch.workers and page.evaluate("document.cookie") == "" and page.context.cookies() == []
    state = page.evaluate(STORAGE)
    assert state["local"] == {"sl-consent": "1"} and set(state["session"]) <= {"sl-sid", "sl-carry"}

    page.evaluate("Sightline.optOut()")  # resolves once the database is gone
    state = page.evaluate(STORAGE)
    assert state == {"local": {"sl-consent": "0"}, "session": {}, "cookie": "", "dbs": [], "recording": False}, state
    before = len(watch.requests)
    use_page(page)
    assert watch.requests[before:] == []  # nothing more leaves
    assert page.evaluate(STORAGE)["dbs"] == []
    page.context.close()


@pytest.mark.parametrize("signal", [GPC, DNT], ids=["gpc", "dnt"])
def test_privacy_signals_are_a_refusal(browser, site_url, signal):
    """With Global Privacy Control or Do Not Track: no banner, consent(true) refused, even in 'granted' mode."""
    page, watch = visit(browser, site_url + REQUIRED, signal)
    expect(page.locator("h1")).to_be_visible()
    page.wait_for_timeout(300)  # the deferred banner script has run by now
    assert page.locator("#sl-consent").count() == 0
    assert page.evaluate("Sightline.consent(true)") is False
    assert page.evaluate("Sightline.privacy.signal") in ("gpc", "dnt")
    use_page(page)
    state = page.evaluate(STORAGE)
    assert state == {"local": {}, "session": {}, "cookie": "", "dbs": [], "recording": False}, state
    assert watch.workers == [] and watch.others() == []

    granted = page.context.new_page()
    granted.goto(site_url + GRANTED)
    granted.wait_for_function("window.Sightline")
    assert granted.evaluate("Sightline.session.recording") is False
    assert granted.locator("[data-sl-indicator]").count() == 0
    page.context.close()


def test_indicator_and_hybrid_visitor_id(browser, site_url):
    """'granted' mode shows the indicator; its Stop button opts out; the hybrid id lives only in localStorage."""
    page, watch = visit(browser, site_url + GRANTED)
    assert page.evaluate("Sightline.session.recording") is True
    indicator = page.locator("[data-sl-indicator]")
    expect(indicator).to_contain_text("This visit is recorded")
    vid = page.evaluate("localStorage.getItem('sl-vid')")
    assert vid and page.context.cookies() == []
    page.wait_for_function("indexedDB.databases().then((d) => d.some((x) => x.name === 'sightline'))")

    indicator.get_by_role("button", name="Stop").click()
    page.wait_for_function("indexedDB.databases().then((d) => d.length === 0)")
    state = page.evaluate(STORAGE)
    assert state == {"local": {"sl-consent": "0"}, "session": {}, "cookie": "", "dbs": [], "recording": False}, state
    expect(indicator).to_have_count(0)
    page.reload()  # the opt-out holds although the site says 'granted'
    page.wait_for_function("window.Sightline")
    assert page.evaluate("Sightline.session.recording") is False
    page.context.close()


def test_opt_out_in_one_tab_stops_every_tab(browser, site_url):
    """An opt-out in one tab stops recording in the site's other tabs and the shared queue is deleted."""
    first, _ = visit(browser, site_url + GRANTED)
    second = first.context.new_page()
    second.set_default_timeout(60_000)
    second.goto(site_url + GRANTED)
    second.wait_for_function("!!(window.Sightline && Sightline.session.recording)")
    first.wait_for_function("indexedDB.databases().then((d) => d.some((x) => x.name === 'sightline'))")
    # optOut resolves only once the other tab has let go of the database: a bound turns a hang into a failure.
    done = first.evaluate("Promise.race([Sightline.optOut().then(() => 'deleted'),"
                          " new Promise((r) => setTimeout(() => r('blocked'), 20000))])")
    assert done == "deleted"
    second.wait_for_function("!Sightline.session.recording")
    assert first.evaluate(STORAGE)["dbs"] == [] and second.evaluate(STORAGE)["dbs"] == []
    second.fill("input", "zelda.q@example.org")
    second.wait_for_timeout(1500)
    assert second.evaluate(STORAGE)["dbs"] == []  # nothing is queued again
    first.context.close()
