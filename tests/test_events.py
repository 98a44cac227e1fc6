"""py_core.events: implied node ids (docs/events.md#node-ids)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from py_core.events import expand_ids, walk
from py_core.timeline import build


def el(n, *children, i=None, **extra):
    o = {"t": 1, "n": n, "c": list(children), **extra}
    if i is not None:
        o["i"] = i
    return o


def text(x, i=None):
    return {"t": 3, "x": x, **({"i": i} if i is not None else {})}


def test_ids_follow_on_in_walk_order_into_shadow_roots_and_frames():
    """Children first, then the shadow root, then the iframe document; an explicit id restarts the count."""
    tree = el("body", el("p", text("a")), el("my-card", text("light"), sr={"t": 11, "c": [text("shadow")]}),
              el("iframe", f={"t": 9, "c": [el("html", i=50)]}), el("b", i=7), text("after"), i=10)
    expand_ids(tree)
    assert [(n.get("n") or n.get("x") or n["t"], n["i"]) for n in walk(tree)] == [
        ("body", 10), ("p", 11), ("a", 12), ("my-card", 13), ("light", 14), (11, 15), ("shadow", 16),
        ("iframe", 17), (9, 18), ("html", 50), ("b", 7), ("after", 8)]


def test_timeline_resolves_clicks_on_implied_ids():
    """analyze()'s timeline finds the element a click names although the snapshot left its id out."""
    snap = {"t": 1, "ts": 1, "n": {"i": 1, "t": 9, "c": [el("html", el("body", el("button", text("Pay now"))))]}}
    tl = build([{"t": 0, "ts": 0, "u": "https://shop.test/"}, snap, {"t": 3, "ts": 5, "i": 4, "x": 1, "y": 1}])
    assert tl.clicks[0]["node"] is not None and tl.clicks[0]["node"]["n"] == "button"


tree_st = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3), st.builds(dict, t=st.sampled_from([1, 3, 8]))),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.fixed_dictionaries({"t": st.sampled_from([1, 9, 11, "x"])},
                              optional={"i": st.one_of(st.integers(-3, 10**6), st.booleans(), st.text(max_size=2)),
                                        "c": st.one_of(kids, st.lists(kids, max_size=4)), "sr": kids, "f": kids})),
    max_leaves=25)


@given(tree_st)
def test_expand_ids_never_fails_on_hostile_trees(tree):
    """Decrypted events are untrusted: any JSON shape is walked without an exception."""
    if isinstance(tree, dict):
        assert expand_ids(tree) is tree
