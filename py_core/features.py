"""The per-session feature vector the models read: timing, mouse dynamics, clicks,
scrolling, forms, errors and the shape of the navigation.

``vector(timeline, moments)`` returns ``len(NAMES)`` floats, each rounded to 6 decimals
so that CPython and Pyodide (whose maths libraries may differ in the last bit) give the
same numbers. Counts are log1p-scaled, rates are per minute of session. Adding a feature
changes the models' input: retrain (py_core.training) and commit the new models.
"""

from __future__ import annotations

import math

from .timeline import Timeline

NAMES = (
    "log_duration_s",  # how long the session lasted
    "pages_per_min",  # page views per minute
    "log_mean_dwell_s",  # mean time on a page view
    "unique_page_ratio",  # distinct pages / page views (1 = never came back)
    "mouse_speed",  # mean cursor speed while moving, px/s (/1000)
    "mouse_speed_cv",  # its coefficient of variation
    "path_efficiency",  # straight-line distance / distance travelled, per movement
    "curvature",  # mean absolute turn between mouse steps, radians
    "pauses_per_min",  # cursor pauses (0.3 to 3 s without moving) per minute
    "clicks_per_min",
    "log_click_gap_s",  # median time between clicks
    "dead_click_ratio",  # dead clicks / clicks
    "log_rage_clicks",
    "log_error_clicks",
    "log_thrash",  # thrashed-cursor episodes
    "scroll_viewports_per_min",  # window scroll distance, in viewport heights, per minute
    "log_scroll_reversals",
    "log_excessive_scroll",
    "log_inputs",
    "log_field_reentry",
    "form_abandoned",  # 1 if a form was abandoned
    "log_errors",  # JavaScript errors
    "log_failed_requests",
    "log_quick_backs",
    "log_u_turns",
    "log_hesitations",
    "log_idle_s",  # longest gap without any recorded event
)


def _count(moments: list[dict], kind: str) -> int:
    return sum(1 for m in moments if m["kind"] == kind)


def _mouse(tl: Timeline) -> tuple[float, float, float, float, int]:
    """(mean speed, speed cv, path efficiency, curvature, pauses) of the cursor path."""
    speeds: list[float] = []
    turns: list[float] = []
    efficiencies: list[float] = []
    pauses = 0
    seg_start = None
    seg_len = 0.0
    prev_vec = None
    pts = tl.mouse
    for a, b in zip(pts, pts[1:]):
        dt = b[0] - a[0]
        dx, dy = b[1] - a[1], b[2] - a[2]
        step = math.sqrt(dx * dx + dy * dy)
        if dt > 300:  # a pause ends a movement
            if 300 < dt <= 3000:
                pauses += 1
            if seg_start is not None and seg_len > 20:
                efficiencies.append(math.sqrt((a[1] - seg_start[1]) ** 2 + (a[2] - seg_start[2]) ** 2) / seg_len)
            seg_start, seg_len, prev_vec = b, 0.0, None
            continue
        if seg_start is None:
            seg_start = a
        seg_len += step
        if dt > 0 and step > 0:
            speeds.append(step / dt * 1000.0)
        if step > 2:
            if prev_vec is not None:
                turns.append(abs(math.atan2(prev_vec[0] * dy - prev_vec[1] * dx, prev_vec[0] * dx + prev_vec[1] * dy)))
            prev_vec = (dx, dy)
    if seg_start is not None and seg_len > 20 and pts:
        last = pts[-1]
        efficiencies.append(math.sqrt((last[1] - seg_start[1]) ** 2 + (last[2] - seg_start[2]) ** 2) / seg_len)
    mean = sum(speeds) / len(speeds) if speeds else 0.0
    sd = math.sqrt(sum((s - mean) ** 2 for s in speeds) / len(speeds)) if speeds else 0.0
    return (mean, sd / mean if mean else 0.0,
            sum(efficiencies) / len(efficiencies) if efficiencies else 1.0,
            sum(turns) / len(turns) if turns else 0.0, pauses)


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def vector(tl: Timeline, moments: list[dict]) -> list[float]:
    """The session's features, in the order of NAMES."""
    minutes = max(tl.duration, 1000) / 60000.0
    n_pages = max(len(tl.pages), 1)
    speed, speed_cv, efficiency, curvature, pauses = _mouse(tl)
    clicks = tl.clicks
    gaps = [b["at"] - a["at"] for a, b in zip(clicks, clicks[1:])]
    scroll_vp = 0.0
    last: dict[int, float] = {}
    for s in tl.scrolls:
        if s["i"] == 0:
            page = tl.pages[s["page"]] if 0 <= s["page"] < len(tl.pages) else None
            h = page.height if page and page.height else 800
            scroll_vp += abs(s["y"] - last.get(s["page"], 0.0)) / h
            last[s["page"]] = s["y"]
    times = [e["ts"] for e in tl.events]
    idle = max((b - a for a, b in zip(times, times[1:])), default=0)
    log = math.log1p
    values = [
        log(tl.duration / 1000.0),
        len(tl.pages) / minutes,
        log(sum(p.end - p.start for p in tl.pages) / n_pages / 1000.0),
        len({p.key for p in tl.pages}) / n_pages,
        speed / 1000.0,
        speed_cv,
        efficiency,
        curvature,
        pauses / minutes,
        len(clicks) / minutes,
        log(_median(gaps) / 1000.0),
        _count(moments, "dead_click") / len(clicks) if clicks else 0.0,
        log(_count(moments, "rage_click")),
        log(_count(moments, "error_click")),
        log(_count(moments, "thrashed_cursor")),
        scroll_vp / minutes,
        log(_count(moments, "scroll_reversals")),
        log(_count(moments, "excessive_scrolling")),
        log(len(tl.inputs)),
        log(_count(moments, "field_reentry")),
        1.0 if _count(moments, "form_abandonment") else 0.0,
        log(len(tl.errors)),
        log(len(tl.failed)),
        log(_count(moments, "quick_back")),
        log(_count(moments, "u_turn")),
        log(_count(moments, "hesitation")),
        log(idle / 1000.0),
    ]
    return [_finite(v) for v in values]


LIMIT = 1e9  # recorded numbers are untrusted: features stay finite and within float32's range


def _finite(v: float) -> float:
    v = float(v)
    if v != v:  # NaN
        return 0.0
    return round(max(-LIMIT, min(LIMIT, v)), 6)


MOUSE_FEATURES = ("mouse_speed", "mouse_speed_cv", "path_efficiency", "curvature", "pauses_per_min")


def undefined(tl: Timeline) -> frozenset[str]:
    """Features with no data behind them in this session: with no cursor movement to
    measure, the mouse features read 0 but mean "unknown", so they are never offered as
    a reason (py_core.insights drops them from every model's top features); with fewer
    than two clicks there is no click gap; with no scroll, no scroll rate."""
    out: set[str] = set()
    if len(tl.mouse) < 2:
        out.update(MOUSE_FEATURES)
    if len(tl.clicks) < 2:
        out.add("log_click_gap_s")
    if not tl.scrolls:
        out.add("scroll_viewports_per_min")
    return frozenset(out)
