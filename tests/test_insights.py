"""Signals, error paths, goal and summary of py_core.insights, on hand-made and recorded sessions."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from py_core import signals
from py_core.events import EventType as T
from py_core.insights import (MAX_SUMMARY_WORDS, Goal, Thresholds, analyze, correlate_errors, summarize)
from py_core.signals import KINDS
from py_core.timeline import build, page_key

CORPUS = Path(__file__).parent / "events" / "corpus"
T0 = 1_700_000_000_000


def load(name: str) -> list[dict]:
    return json.loads(gzip.decompress((CORPUS / name).read_bytes()))["events"]


def corpus_names() -> list[str]:
    return sorted(p.name for p in CORPUS.glob("*.json.gz"))


def page(ts: int, url: str = "https://shop.test/", h: int = 600, nodes: list | None = None) -> list[dict]:
    """A page load: META and a SNAPSHOT with the given element nodes under <body>."""
    body = {"i": 3, "t": 1, "n": "body", "a": {}, "c": nodes or []}
    tree = {"i": 1, "t": 9, "c": [{"i": 2, "t": 1, "n": "html", "a": {}, "c": [body]}]}
    return [{"t": T.META, "ts": ts, "u": url, "w": 1000, "h": h}, {"t": T.SNAPSHOT, "ts": ts, "n": tree}]


def node(i: int, tag: str, text: str = "", **attrs) -> dict:
    return {"i": i, "t": 1, "n": tag, "a": attrs, "c": [{"i": i + 1000, "t": 3, "x": text}] if text else []}


def click(ts: int, x: float = 100, y: float = 100, i: int = 10) -> dict:
    return {"t": T.CLICK, "ts": ts, "x": x, "y": y, "i": i}


def mutation(ts: int) -> dict:
    return {"t": T.MUTATION, "ts": ts, "rm": [], "ad": [], "at": [[10, {"class": "on"}]], "tx": []}


def kinds(events: list[dict], th: Thresholds = signals.DEFAULT) -> list[str]:
    return [m["kind"] for m in signals.detect(build(events), th)]


NODES = [node(10, "button", "Buy", id="buy"), node(11, "p", "Some text"), node(12, "input", name="email"),
         node(13, "input", name="name"), node(14, "button", "Send", type="submit")]


def test_rage_click_needs_count_time_and_place():
    """Three close clicks within a second are one rage click; spread or slow ones are not."""
    base = page(T0, nodes=NODES)
    fast = base + [click(T0 + 1000 + k * 200) for k in range(3)] + [mutation(T0 + 1100)]
    assert kinds(fast).count("rage_click") == 1
    assert "rage_click" not in kinds(base + [click(T0 + 1000 + k * 600) for k in range(3)])
    assert "rage_click" not in kinds(base + [click(T0 + 1000 + k * 200, x=100 + k * 50) for k in range(3)])
    assert "rage_click" not in kinds(fast, Thresholds(rage_clicks=4))
    r = analyze(fast)["rage_clicks"][0]
    assert r["count"] == 3 and r["at_ms"] == 1000 and r["node"] == 10


def test_dead_click_is_a_click_nothing_answers():
    """A click with no DOM change, request or navigation within the window is dead; a field click is not."""
    base = page(T0, nodes=NODES)
    assert kinds(base + [click(T0 + 1000, i=11)]) == ["dead_click"]
    assert kinds(base + [click(T0 + 1000, i=11), mutation(T0 + 1400)]) == []
    assert kinds(base + [click(T0 + 1000, i=11), mutation(T0 + 1400)], Thresholds(dead_click_window_ms=300)) == ["dead_click"]
    assert kinds(base + [click(T0 + 1000, i=12)]) == []  # focusing a field
    net = {"t": T.NETWORK, "ts": T0 + 1900, "m": "GET", "u": "https://shop.test/api", "s": 200, "d": 800}
    assert kinds(base + [click(T0 + 1000, i=10), net]) == []  # the request started at 1100


def test_error_click_names_the_failure():
    """A click followed by a failed request or a JS error within 2 s is an error click."""
    base = page(T0, nodes=NODES)
    net = {"t": T.NETWORK, "ts": T0 + 1500, "m": "POST", "u": "https://shop.test/api/pay", "s": 502, "d": 300}
    found = signals.error_clicks(build(base + [click(T0 + 1000), net]))
    assert len(found) == 1 and found[0]["failure"] == "POST /api/pay 502" and found[0]["gap_ms"] == 200  # from its start
    found = signals.error_clicks(build(base + [click(T0 + 600), click(T0 + 1000), net]))
    assert [m["at_ms"] for m in found] == [1000]  # the failure belongs to the last click before it
    err = {"t": T.ERROR, "ts": T0 + 3500, "m": "TypeError: x is undefined", "k": "error"}
    assert signals.error_clicks(build(base + [click(T0 + 1000), err])) == []
    assert len(signals.error_clicks(build(base + [click(T0 + 1000), err]), Thresholds(error_click_window_ms=3000))) == 1


def test_thrashed_cursor_counts_sharp_reversals():
    """Back-and-forth cursor swings in a short span are thrashing; one long sweep is not."""
    swings = [[100 + (200 if k % 2 else 0), 300, k * 150] for k in range(8)]
    sweep = [[100 + k * 60, 300, k * 150] for k in range(8)]
    base = page(T0, nodes=NODES)
    assert kinds(base + [{"t": T.MOUSE, "ts": T0 + 1000, "p": swings}]) == ["thrashed_cursor"]
    assert kinds(base + [{"t": T.MOUSE, "ts": T0 + 1000, "p": sweep}]) == []
    assert kinds(base + [{"t": T.MOUSE, "ts": T0 + 1000, "p": swings}], Thresholds(thrash_min_px=250)) == []


def test_scrolling_excessive_and_reversing():
    """Scrolling many viewports is excessive; repeated up-down legs are reversals."""
    base = page(T0, nodes=NODES, h=500)
    down = [{"t": T.SCROLL, "ts": T0 + 1000 + k * 100, "i": 0, "x": 0, "y": 400 * (k + 1)} for k in range(8)]
    assert kinds(base + down) == ["excessive_scrolling"]  # 3200 px = 6.4 viewports
    yo = [{"t": T.SCROLL, "ts": T0 + 1000 + k * 500, "i": 0, "x": 0, "y": 600 if k % 2 == 0 else 0} for k in range(6)]
    assert "scroll_reversals" in kinds(base + yo)
    assert "scroll_reversals" not in kinds(base + yo, Thresholds(scroll_reversals=6))
    assert "excessive_scrolling" not in kinds(base + down, Thresholds(excessive_scroll_viewports=7))


def test_quick_back_and_u_turn():
    """A -> B -> A fast is a quick back; coming back later or via another page is a U-turn."""
    a, b, c = "https://shop.test/", "https://shop.test/cart", "https://shop.test/help"
    quick = page(T0, a) + page(T0 + 5000, b) + page(T0 + 8000, a)
    assert kinds(quick) == ["quick_back"]
    slow = page(T0, a) + page(T0 + 5000, b) + page(T0 + 20000, a)
    assert kinds(slow) == ["u_turn"]
    loop = page(T0, a) + page(T0 + 9000, b) + page(T0 + 19000, c) + page(T0 + 29000, "https://shop.test/index.html")
    assert kinds(loop) == ["u_turn"] and page_key("https://shop.test/index.html") == page_key(a)
    assert kinds(page(T0, a) + page(T0 + 5000, b) + page(T0 + 200000, a)) == []


def test_form_abandonment_and_field_reentry():
    """Typing without sending is abandonment; returning to a typed field is a re-entry."""
    base = page(T0, nodes=NODES)
    typed = [{"t": T.INPUT, "ts": T0 + 1000, "i": 13, "v": "***"}, {"t": T.INPUT, "ts": T0 + 2000, "i": 12, "v": "***"},
             {"t": T.INPUT, "ts": T0 + 3000, "i": 13, "v": "****"}]
    assert kinds(base + typed) == ["form_abandonment", "field_reentry"]  # same moment: KINDS order
    sent = {"t": T.NETWORK, "ts": T0 + 4000, "m": "POST", "u": "https://shop.test/api/send", "s": 200, "d": 50}
    assert kinds(base + typed + [sent]) == ["field_reentry"]
    submitted = base + typed[:2] + [click(T0 + 3500, i=14)] + page(T0 + 4000, "https://shop.test/thanks")
    assert "form_abandonment" not in kinds(submitted)


def test_hesitation_dwell_and_hover():
    """A click after a long wandering pause, or after resting over the target, is hesitation."""
    base = page(T0, nodes=NODES)
    wander = [{"t": T.MOUSE, "ts": T0 + 500, "p": [[100 + 100 * (k % 3), 400 - 50 * k, k * 400] for k in range(8)]}]
    found = signals.hesitation(build(base + wander + [click(T0 + 4500, 300, 300), mutation(T0 + 4600)]))
    assert [m["why"] for m in found] == ["dwell"]
    rest = [{"t": T.MOUSE, "ts": T0 + 400, "p": [[90, 95, 0], [98, 99, 50]]}]
    found = signals.hesitation(build(base + rest + [click(T0 + 2200, 100, 100), mutation(T0 + 2300)]))
    assert [m["why"] for m in found] == ["hover"] and found[0]["wait_ms"] == 1800
    assert signals.hesitation(build(base + rest + [click(T0 + 2200, 100, 100)]), Thresholds(hover_ms=2000)) == []


def test_thresholds_from_dict_refuses_bad_input():
    """Site configuration is checked: unknown names and non-numbers get a clear error."""
    assert Thresholds.from_dict({"rage_clicks": 5}).rage_clicks == 5
    with pytest.raises(ValueError, match="unknown threshold"):
        Thresholds.from_dict({"rage_click": 5})
    with pytest.raises(ValueError, match="non-negative number"):
        Thresholds.from_dict({"quick_back_ms": "fast"})
    assert Thresholds.from_dict(Thresholds().to_dict()) == Thresholds()


def test_error_paths_list_the_steps_before_each_failure():
    """Each failure lists the visitor's last steps with gaps; typing runs are merged."""
    base = page(T0, nodes=NODES)
    events = base + [{"t": T.INPUT, "ts": T0 + 1000 + k * 100, "i": 12, "v": "*" * k} for k in range(5)] + [
        click(T0 + 3000, i=10),
        {"t": T.NETWORK, "ts": T0 + 3400, "m": "POST", "u": "https://shop.test/api/pay", "s": 500, "d": 300},
        {"t": T.ERROR, "ts": T0 + 3500, "m": "Error: payment 42 failed", "k": "error"}]
    paths = analyze(events)["error_paths"]
    assert [p["what"] for p in paths] == ["POST /api/pay 500", "Error: payment N failed"]
    steps = paths[0]["steps"]
    assert [(s["action"], s["target"]) for s in steps] == [("view", "/"), ("type", "input[name=email]"),
                                                          ("click", "button#buy 'Buy'")]
    assert steps[-1]["gap_ms"] == 100 and steps[1]["gap_ms"] == 3100 - 1400


def test_correlate_errors_counts_across_sessions():
    """The same failure in several sessions is one group with its most common lead-up."""
    sessions = [analyze(load(n)) for n in corpus_names() if n.startswith(("frustrated", "calm"))]
    groups = correlate_errors(sessions)
    pay = next(g for g in groups if g["what"] == "POST /demo/api/checkout 500")
    with_failures = sum(1 for s in sessions if s["failed_requests"])
    assert pay["sessions"] == with_failures and pay["count"] == sum(len(s["failed_requests"]) for s in sessions)
    assert pay["common_steps"][-1].startswith("click button#pay")


def test_goal_outcomes():
    """Reached on a tracked goal or a successful send; failed on a failed send; else abandoned or browsing."""
    base = page(T0, "https://shop.test/checkout", nodes=NODES)
    pay = {"t": T.NETWORK, "ts": T0 + 3000, "m": "POST", "u": "https://shop.test/api/checkout", "s": 200, "d": 90}
    assert analyze(base + [pay])["goal"]["outcome"] == "reached"
    assert analyze(base + [{**pay, "s": 500}])["goal"]["outcome"] == "failed"
    assert analyze(base + [{"t": T.CUSTOM, "ts": T0 + 10, "n": "purchase", "p": {}}])["goal"]["outcome"] == "reached"
    assert analyze(base)["goal"]["outcome"] == "abandoned"
    assert analyze(page(T0, "https://shop.test/blog"))["goal"]["outcome"] == "browsing"
    assert analyze(base, goal=Goal(page_path="nowhere"))["goal"]["outcome"] == "browsing"


def _covered(r: dict) -> None:
    """Every error, failed request and signal kind of `r` is counted in its summary."""
    s = r["summary"]
    assert len(s.split()) <= MAX_SUMMARY_WORDS, s
    from py_core.insights import LABELS
    counts = {}
    for m in r["signals"]:
        counts[m["kind"]] = counts.get(m["kind"], 0) + 1
    for kind, n in counts.items():
        one, many = LABELS[kind]
        assert f"{n} {one if n == 1 else many}" in s, (kind, s)
    if r["errors"]:
        n = len(r["errors"])
        assert f"{n} JS error{'s' if n != 1 else ''}" in s, s
    failed = r["failed_requests"]
    if failed:
        groups = re.findall(r"failed \((?:\d+|network)\)(?: (\d+) times)?", s)
        total = re.search(r"(\d+) failed requests? to", s)
        assert (int(total.group(1)) if total else sum(int(g or 1) for g in groups)) == len(failed), s
    for stamp in re.findall(r"\b\d+:\d\d\b", s):
        assert int(stamp.split(":")[0]) * 60 + int(stamp.split(":")[1]) <= r["duration_ms"] // 1000 + 1


@pytest.mark.parametrize("name", corpus_names())
def test_summary_covers_recorded_sessions(name):
    """On every recorded session the summary fits 60 words and counts every failure and moment."""
    r = analyze(load(name))
    _covered(r)
    assert r["summary"] == summarize(json.loads(json.dumps(r)))  # deterministic, from the JSON alone


def test_summary_covers_a_pathological_session():
    """Many failing endpoints, errors and every signal kind still fit, counted, in 60 words."""
    events = page(T0, "https://shop.test/checkout", nodes=NODES)
    for k in range(30):
        events.append({"t": T.NETWORK, "ts": T0 + 1000 + k * 700, "m": "POST", "u": f"https://shop.test/api/e{k % 7}",
                       "s": 500 + k % 3, "d": 10})
        events.append({"t": T.ERROR, "ts": T0 + 1100 + k * 700, "m": f"TypeError: thing {k} is undefined", "k": "error"})
        events += [click(T0 + 1200 + k * 700 + j * 50, i=11) for j in range(3)]
    r = analyze(events)
    assert len(r["errors"]) == 30 and len(r["failed_requests"]) == 30
    _covered(r)


def test_analyze_keeps_its_contract():
    """The keys the viewer and the e2e test read are present, and analysis is deterministic."""
    events = load(corpus_names()[0])
    r = analyze(events)
    for key in ("summary", "pages", "duration_ms", "clicks", "errors", "failed_requests", "rage_clicks",
                "signals", "error_paths", "goal", "features", "anomaly", "sentiment", "frustration"):
        assert key in r
    assert json.dumps(r, sort_keys=True) == json.dumps(analyze(list(reversed(events))), sort_keys=True)
    assert set(m["kind"] for m in r["signals"]) <= set(KINDS)
    assert analyze([])["summary"].startswith("Empty session")
    f = analyze(load("frustrated-01.json.gz"))  # 0-1 scores, as alert rules and the viewer read them
    assert f["frustration"]["score"] > 0.5 and f["frustration"]["moments"] >= len(f["rage_clicks"]) >= 1
    assert 0.5 < f["anomaly"]["score"] <= 1 and f["anomaly"]["anomalous"]


def test_issue_items_list_every_failure_and_moment():
    """The viewer's timeline lines cover each error path (with its lead-up) and each signal."""
    from py_core.insights import issue_items

    r = analyze(load("frustrated-01.json.gz"))
    items = issue_items(r)
    assert len(items) == len(r["error_paths"]) + len(r["signals"]) and items == sorted(items, key=lambda i: i[0])
    failed = [text for _, text in items if text.startswith("Failed: POST /demo/api/checkout 500")]
    assert len(failed) == len(r["failed_requests"]) and all("click button#pay" in t for t in failed)


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_value = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=8), st.lists(st.integers(-5, 5), max_size=3))
_event = st.fixed_dictionaries(
    {"t": st.integers(0, 20), "ts": st.integers(T0, T0 + 600_000)},
    optional={k: _value for k in ("u", "i", "x", "y", "v", "m", "s", "d", "k", "l", "h", "n", "p", "ad", "rm", "at", "tx")})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_event, max_size=40))
def test_analyze_survives_odd_events(events):
    """Schema-valid events with odd field values never crash analysis, and the summary stays in budget."""
    r = analyze(events)
    assert len(r["summary"].split()) <= MAX_SUMMARY_WORDS
    json.dumps(r, allow_nan=False)  # strict JSON: no NaN or Infinity reaches the payload


def test_analyze_refuses_events_outside_the_schema():
    """An event without an integer type or a timestamp is refused with a clear error."""
    from py_core.events import SchemaError

    with pytest.raises(SchemaError, match="'t'"):
        analyze([{"ts": T0}])
    with pytest.raises(SchemaError, match="'ts'"):
        analyze([{"t": 3, "ts": "soon"}])


EXPECTED = {  # what each persona's script does, as the detectors must see it in the recording
    "frustrated": lambda k: k["rage_click"] >= 1 and k["dead_click"] >= 1,
    "confused": lambda k: k["field_reentry"] >= 1 and k["quick_back"] + k["u_turn"] >= 1 and k["rage_click"] == 0,
    "calm": lambda k: k["rage_click"] == 0 and k["thrashed_cursor"] == 0 and k["field_reentry"] == 0,
    "skimming": lambda k: k["rage_click"] == 0 and k["form_abandonment"] == 0 and k["field_reentry"] == 0,
}


@pytest.mark.parametrize("name", corpus_names())
def test_signals_on_recorded_personas(name):
    """Each recorded persona shows the signals its script acts out, and not the others'."""
    r = analyze(load(name))
    counts = {k: 0 for k in KINDS}
    for m in r["signals"]:
        counts[m["kind"]] += 1
    assert EXPECTED[name.split("-")[0]](counts), counts


def test_spa_navigation_counts_as_page_views():
    """History and hash-route navigations are page views: a fast pop back is a quick back."""
    nav = lambda ts, u, k: {"t": T.NAVIGATION, "ts": ts, "u": u, "k": k}  # noqa: E731
    events = page(T0, "https://app.test/#/list") + [nav(T0 + 4000, "https://app.test/#/item/7", "hash"),
                                                    nav(T0 + 6000, "https://app.test/#/list", "pop")]
    tl = build(events)
    assert [p.key for p in tl.pages] == ["/#/list", "/#/item/7", "/#/list"] and tl.pages[2].how == "pop"
    assert kinds(events) == ["quick_back"]
    assert page_key("https://app.test/docs/index.html#install") == "/docs/"  # an anchor is not a page


def test_one_fragment_navigation_reported_twice_is_one_page_view():
    """popstate and hashchange for the same URL change are one page view; anchor jumps are none."""
    nav = lambda ts, u, k: {"t": T.NAVIGATION, "ts": ts, "u": u, "k": k}  # noqa: E731
    events = page(T0, "https://app.test/#/list") + [
        nav(T0 + 4000, "https://app.test/#/item/7", "pop"), nav(T0 + 4001, "https://app.test/#/item/7", "hash"),
        nav(T0 + 6000, "https://app.test/#/list", "pop"), nav(T0 + 6002, "https://app.test/#/list", "hash")]
    assert [p.key for p in build(events).pages] == ["/#/list", "/#/item/7", "/#/list"]
    assert kinds(events) == ["quick_back"]
    plain = page(T0, "https://docs.test/guide") + [nav(T0 + 3000, "https://docs.test/guide#install", "hash"),
                                                    nav(T0 + 3001, "https://docs.test/guide#install", "pop")]
    assert [p.key for p in build(plain).pages] == ["/guide"]  # an in-page anchor is not a page


def test_summary_and_aggregation_share_one_page_key():
    """Heatmaps and journeys split a hash-routed app by route, exactly as the timeline does."""
    from py_core import aggregate
    nav = lambda ts, u, k: {"t": T.NAVIGATION, "ts": ts, "u": u, "k": k}  # noqa: E731
    events = page(T0, "https://app.test/index.html#/a") + [nav(T0 + 3000, "https://app.test/#/b", "hash"),
                                                           nav(T0 + 3001, "https://app.test/#/b", "pop")]
    views = aggregate.page_views({"sid": "s", "events": events})
    assert aggregate.page_key is page_key
    assert [v["page"] for v in views] == [p.key for p in build(events).pages] == ["/#/a", "/#/b"]


def test_lone_click_before_a_burst_neither_opens_nor_splits_it():
    """A click 0.9 s before a burst stays out of it: one burst, at its own first click, all clicks counted."""
    base = page(T0, nodes=NODES)
    burst = [click(T0 + 1000)] + [click(T0 + 1900 + k * 150) for k in range(8)]
    found = [m for m in signals.detect(build(base + burst)) if m["kind"] == "rage_click"]
    assert [(m["at_ms"], m["count"]) for m in found] == [(1900, 8)]
    slow_burst = [click(T0 + 1000 + k * 450) for k in range(11)]  # 11 clicks, 450 ms apart: one burst
    found = [m for m in signals.detect(build(base + slow_burst)) if m["kind"] == "rage_click"]
    assert [(m["at_ms"], m["count"]) for m in found] == [(1000, 11)]
    assert "rage_click" not in kinds(base + [click(T0 + 1000 + k * 700) for k in range(6)])  # steady, not rage


def test_compact_insights_keep_the_scores():
    """The worker's compact per-batch insights carry the same scores, summary and signals, in fewer bytes."""
    events = load("frustrated-02.json.gz")
    full, compact = analyze(events), analyze(events, compact=True)
    assert "features" not in compact and compact["anomaly"]["score"] == full["anomaly"]["score"]
    assert compact["sentiment"]["probabilities"] == full["sentiment"]["probabilities"]
    assert compact["sentiment"]["top_features"] == [f["feature"] for f in full["sentiment"]["top_features"][full["sentiment"]["label"]]]
    assert compact["summary"] == full["summary"] and compact["signals"] == full["signals"]
    assert len(json.dumps(compact)) < len(json.dumps(full)) - 1500  # features and per-class reasons left out


def _failing_pay(clicks: int) -> list[dict]:
    base = page(T0, nodes=NODES)
    out = base + [click(T0 + 2000 + k * 250) for k in range(clicks)]
    out += [{"t": T.NETWORK, "ts": T0 + 2100 + k * 250, "m": "POST", "u": "https://shop.test/api/pay", "s": 500,
             "d": 50} for k in range(clicks)]
    return out


def test_rage_on_a_failing_action_is_frustrated_whatever_the_model_says():
    """11 rage clicks on a failing Pay button: labelled frustrated, score >= 0.8, the model's label kept beside."""
    r = analyze(_failing_pay(11))
    assert r["rage_clicks"] and r["verdict"]["label"] == "frustrated" and r["verdict"]["rule"]
    assert r["verdict"]["model_label"] == r["sentiment"]["label"]  # the model's own output is kept as is
    assert r["frustration"]["rule_score"] >= 0.8
    calm = analyze(page(T0, nodes=NODES) + [click(T0 + 2000), mutation(T0 + 2100)])
    assert calm["verdict"]["rule"] == "" and calm["verdict"]["label"] == calm["sentiment"]["label"]


def test_features_without_data_are_never_reasons():
    """A session with no mouse movement never gets 'mouse speed' or 'curvature' as a reason."""
    from py_core.features import MOUSE_FEATURES
    r = analyze(_failing_pay(11))
    named = [f["feature"] for f in r["verdict"]["reasons"] + r["verdict"]["anomaly_reasons"]]
    assert not set(named) & set(MOUSE_FEATURES), named


def test_a_two_event_session_is_too_short_to_score():
    """The anomaly model does not flag a session for having almost no data."""
    r = analyze(page(T0))
    assert r["verdict"]["too_short"] is True and r["verdict"]["anomalous"] is False
    assert analyze(load(corpus_names()[0]))["verdict"]["too_short"] is False


def test_default_goal_recognises_a_flow_on_a_site_it_never_saw():
    """A booking POST after form input reaches the goal; the same POST failing is 'failed'; a
    thank-you route reaches it too. None of these paths is among the goal's words."""
    nav = lambda ts, u, k: {"t": T.NAVIGATION, "ts": ts, "u": u, "k": k}  # noqa: E731
    typed = page(T0, "https://inn.test/#/rooms", nodes=NODES) + [
        {"t": T.INPUT, "ts": T0 + 1000, "i": 12, "v": "***"}, click(T0 + 2000, i=14)]
    post = lambda s: {"t": T.NETWORK, "ts": T0 + 2300, "m": "POST", "u": "https://inn.test/api/stays", "s": s, "d": 200}  # noqa: E731
    assert analyze(typed + [post(201)])["goal"]["outcome"] == "reached"
    assert analyze(typed + [post(503)])["goal"]["outcome"] == "failed"
    assert analyze(page(T0, "https://inn.test/#/rooms") + [nav(T0 + 3000, "https://inn.test/#/thank-you", "hash")]
                   )["goal"]["outcome"] == "reached"
    beacon = page(T0, "https://inn.test/") + [{"t": T.NETWORK, "ts": T0 + 900, "m": "POST",
                                               "u": "https://inn.test/api/stays", "s": 200, "d": 10}]
    assert analyze(beacon)["goal"]["outcome"] == "browsing"  # no form input: not an attempt


def test_compact_insights_keep_the_rule_and_too_short():
    """The worker's compact result carries the overriding rule and the too-short mark too."""
    r = analyze(_failing_pay(11), compact=True)
    assert r["verdict"]["label"] == "frustrated" and r["verdict"]["rule"] and r["verdict"]["reasons"] is not None
    assert analyze(page(T0), compact=True)["verdict"]["too_short"] is True
