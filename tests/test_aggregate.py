"""Heatmap, journey and scroll-path aggregation (py_core.aggregate) in CPython."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from py_core import aggregate as A

CORPUS = sorted((Path(__file__).parent / "events" / "corpus").glob("*.json.gz"))


def el(i, tag, children=(), **attrs):
    return {"t": 1, "i": i, "n": tag, "a": attrs, "c": list(children)}


def text(i, x):
    return {"t": 3, "i": i, "x": x}


def page(ts, url, width, body, h=600):
    """META + SNAPSHOT of an html/body page."""
    return [{"t": 0, "ts": ts, "u": url, "w": width, "h": h},
            {"t": 1, "ts": ts + 1, "n": {"t": 9, "i": 1, "c": [el(2, "html", [el(3, "head"), el(4, "body", body)])]}}]


def shop(sid, width, ts=1_000_000):
    """Two pages; the same buy button at a different position and node id per layout."""
    shift = 100 if width < 768 else 0
    first = page(ts, "https://s.test/shop/index.html", width, [
        el(10 + shift, "div", [el(11 + shift, "button", [text(12 + shift, "Buy")]), el(13 + shift, "button", [text(14 + shift, "Info")])]),
        el(20 + shift, "button", [text(21 + shift, "Help")], id="help"),
    ])
    events = first + [
        {"t": 6, "ts": ts + 50, "p": [[10, 20, 0], [30, 40, 50]]},
        {"t": 5, "ts": ts + 100, "i": 0, "x": 0, "y": 300},
        {"t": 3, "ts": ts + 200, "i": 11 + shift, "x": 50 + shift, "y": 60, "fx": 0.25, "fy": 0.5},
        {"t": 3, "ts": ts + 300, "i": 12 + shift, "x": 51 + shift, "y": 61},
        {"t": 3, "ts": ts + 400, "i": 20 + shift, "x": 5, "y": 5},
    ]
    events += page(ts + 1000, "https://s.test/cart", width, [el(30, "p", [text(31, "Cart")])])
    events += [{"t": 3, "ts": ts + 1500, "i": 30, "x": 1, "y": 1}]
    return {"sid": sid, "events": events}


def test_width_buckets_and_page_key():
    """Widths fall into named buckets; page keys drop index.html, query and fragment."""
    assert [A.width_bucket(w) for w in (320, 767, 768, 1023, 1024, 2560, None)] == \
        ["mobile", "mobile", "tablet", "tablet", "desktop", "desktop", "desktop"]
    assert A.page_key("https://a.b/x/index.html?q=1#top") == "/x/"
    assert A.page_key("https://a.b") == "/"


def test_clicks_anchor_to_the_same_element_across_layouts():
    """The same button is one heatmap entry whatever its node id or position."""
    sessions = [shop("s-desktop-1", 1280), shop("s-mobile-01", 375)]
    h = A.heatmap(sessions, "/shop/")
    assert h["views"] == 2 and h["sessions"] == 2 and h["widths"] == [375, 1280]
    by = {c["selector"]: c for c in h["clicks"]}
    buy = "html > body > div:nth-of-type(1) > button:nth-of-type(1)"
    assert by[buy]["count"] == 4 and by[buy]["label"] == "Buy"  # text-node clicks count on their element
    assert by[buy]["points"] == [[0.25, 0.5], [0.25, 0.5]]  # measured positions only
    assert by["#help"]["count"] == 2
    assert h["unanchored"] == []
    mobile = A.heatmap(sessions, "/shop/", "mobile")
    assert mobile["views"] == 1 and sum(c["count"] for c in mobile["clicks"]) == 3


def test_moves_and_scroll_depth():
    """Mouse positions land in width-relative cells; scroll depth is the share reaching each line."""
    h = A.heatmap([shop("s-desktop-1", 1280), shop("s-desktop-2", 1280, ts=5_000_000)], "/shop/", grid=10)
    assert h["moves"]["cells"] == [[0, 0, 4]] and h["moves"]["peak"] == 4
    assert h["scroll"][0] == [0, 1.0] and h["scroll"][-1][0] == 900 and h["scroll"][-1][1] == 1.0
    one = A.heatmap([shop("s-desktop-1", 1280), {"sid": "s-shallow", "events": page(1, "https://s.test/shop/", 1280, [])}], "/shop/")
    assert dict(map(tuple, one["scroll"]))[800] == 0.5


def test_mutations_keep_selectors_current():
    """Nodes added and removed after the snapshot get the selector of where they are now."""
    events = page(0, "https://s.test/", 1024, [el(10, "ul", [el(11, "li", [text(12, "a")])])])
    events += [{"t": 2, "ts": 5, "ad": [[10, 11, el(15, "li", [text(16, "new")])]], "rm": [], "at": [], "tx": []},
               {"t": 3, "ts": 6, "i": 11, "x": 1, "y": 1},
               {"t": 2, "ts": 7, "rm": [[10, 15]], "ad": [], "at": [[11, {"id": "first"}]], "tx": []},
               {"t": 3, "ts": 8, "i": 11, "x": 1, "y": 1}]
    clicks = A.page_views({"sid": "s-mutation", "events": events})[0]["clicks"]
    assert [c["selector"] for c in clicks] == ["html > body > ul:nth-of-type(1) > li:nth-of-type(2)", "#first"]


def test_journeys_count_paths_exits_and_key_elements():
    """Page-to-page transitions, drop-offs and the most clicked elements form the graph."""
    sessions = [shop("s-desktop-1", 1280), shop("s-mobile-01", 375),
                {"sid": "s-bounce1", "events": page(0, "https://s.test/shop/", 1280, [])}]
    g = A.journeys(sessions, min_clicks=3)
    nodes = {n["id"]: n for n in g["nodes"]}
    assert g["sessions"] == 3
    assert nodes["/shop/"] == {"id": "/shop/", "kind": "page", "page": "/shop/", "views": 3, "entries": 3,
                               "exits": 1, "drop_off": round(1 / 3, 4)}
    assert nodes["/cart"]["exits"] == 2 and nodes["/cart"]["drop_off"] == 1.0
    assert {"source": "/shop/", "target": "/cart", "kind": "next", "value": 2} in g["links"]
    elements = [n for n in g["nodes"] if n["kind"] == "element"]
    assert {n["label"] for n in elements} == {"Buy"}  # Help and Cart: twice each, under min_clicks
    assert all(any(l["target"] == n["id"] and l["kind"] == "click" for l in g["links"]) for n in elements)


def test_scroll_paths_follow_the_window():
    """One path per page view: viewport bottom over time, ending at the view's end."""
    paths = A.scroll_paths([shop("s-desktop-1", 1280)])
    assert [p["page"] for p in paths] == ["/shop/", "/cart"]
    assert paths[0]["points"] == [[0, 600.0], [100, 900.0], [1000, 900.0]] and paths[0]["duration"] == 1000
    assert A.scroll_paths([shop("s-desktop-1", 1280)], page="/cart")[0]["sid"] == "s-desktop-1"


@pytest.mark.skipif(not CORPUS, reason="no recorded corpus in tests/events/corpus")
def test_recorded_corpus_aggregates():
    """Sessions recorded from the demo shop give a connected journey and anchored heatmaps."""
    sessions = [json.loads(gzip.open(p).read()) for p in CORPUS]
    pages = A.pages(sessions)
    assert {p["page"] for p in pages} >= {"/demo/", "/demo/cart.html", "/demo/checkout.html"}
    h = A.heatmap(sessions, "/demo/")
    assert h["clicks"] and h["clicks"][0]["count"] >= h["clicks"][-1]["count"]
    assert sum(c["count"] for c in h["clicks"]) + len(h["unanchored"]) == sum(
        len(v["clicks"]) for s in sessions for v in A.page_views(s) if v["page"] == "/demo/")
    g = A.journeys(sessions)
    assert g["sessions"] == len(sessions)
    assert sum(n["exits"] for n in g["nodes"] if n["kind"] == "page") == len(sessions)
    assert len(A.scroll_paths(sessions)) == sum(p["views"] for p in pages)


def test_cached_views_give_the_same_results():
    """Sessions carrying their page views aggregate exactly like sessions with events only."""
    plain = [shop("s-desktop-1", 1280), shop("s-mobile-01", 375)]
    cached = [{**s, "views": A.page_views(s)} for s in plain]
    assert A.heatmap(cached, "/shop/") == A.heatmap(plain, "/shop/")
    assert A.journeys(cached) == A.journeys(plain)
    assert A.scroll_paths(cached) == A.scroll_paths(plain)
    assert A.views_of({"sid": "x", "events": [], "views": []}) == []


def test_spa_routes_are_page_views_of_their_own():
    """A pushState route change starts a new page view; a hash change to the same path does not."""
    events = page(0, "https://s.test/app/", 1280, [el(10, "button", [text(11, "Go")])])
    events += [{"t": 3, "ts": 10, "i": 10, "x": 1, "y": 1},
               {"t": 8, "ts": 20, "u": "https://s.test/app/settings?tab=1", "k": "push"},
               {"t": 3, "ts": 30, "i": 10, "x": 1, "y": 1},
               {"t": 8, "ts": 40, "u": "https://s.test/app/settings#top", "k": "hash"}]
    views = A.page_views({"sid": "s-spa-0001", "events": events})
    assert [(v["page"], v["start"], v["end"], len(v["clicks"])) for v in views] == [
        ("/app/", 0, 20, 1), ("/app/settings", 20, 40, 1)]
    assert views[1]["clicks"][0]["selector"] == "html > body > button:nth-of-type(1)"  # the DOM carries over
