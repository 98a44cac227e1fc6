"""The Sightline viewer (PyScript on the site's own Pyodide).

Loads every session from the collector, decrypts it in this browser (decrypt.js: HPKE
on WebCrypto), analyses it with py_core (the same code the visitor's worker runs) and
aggregates across sessions with py_core.aggregate. Drawing is views.js (replayer
panels, heatmap overlay, d3 journey graph, three.js scroll paths, live stream).
Secrets given in the URL fragment (#key=...&token=...) are read (on load, and when a link
is pasted into this tab) and then removed from the address bar; the analyst may keep the
key (a non-extractable CryptoKey) and the token in this browser's IndexedDB until they
click Forget. docs/viewer.md describes every view.
"""

import asyncio
import json
import re
import time
from datetime import datetime, timezone
from html import escape
from urllib.parse import parse_qs

import numpy as np
from pyodide.ffi import JsException, create_proxy, to_js
from pyscript import document, fetch, when, window
from pyscript.js_modules import decrypt, loader, views

from py_core import aggregate
from py_core.events import one_per_batch
from py_core.alerts import metrics
from py_core.insights import analyze, clock, correlate_errors, issue_items

E_META, E_SNAPSHOT, E_CLICK, E_NAV, E_ERROR, E_NETWORK, E_CUSTOM = 0, 1, 3, 8, 9, 10, 11
E_VIEWPORT, E_VISIBILITY, E_IDENTIFY = 7, 12, 13
LOAD_PARALLEL = 6  # sessions fetched and decrypted concurrently while loading
RETRAIN_MIN_SESSIONS = 8  # py_core.training.retrain_anomaly refuses fewer
# Why an envelope could not be opened (decrypt.js error codes, docs/envelope.md), as shown.
UNREADABLE = {"unknown_kid": "sealed for a key not loaded", "tampered": "tampered or wrong key",
              "too_large": "inflates beyond 64 MiB", "bad_payload": "not a gzip'd JSON payload",
              "bad_envelope": "not a valid envelope", "fetch_failed": "could not be fetched"}

state = {
    "token": "", "base": "", "player": None, "sid": None, "rows": [], "sessions": {},
    "notes": {}, "sort": ("started", True), "view": "sessions", "measured": set(),
    "heat_player": None, "journey": None, "live": None, "live_events": [], "live_player": None,
    "scorer": None, "model_url": None, "status": ("", False), "unreadable": {},
}


def by_id(element_id):
    return document.getElementById(element_id)


def status(text, error=False):
    el = by_id("status")
    el.textContent = text
    el.className = "status error" if error else "status"


def progress(fraction):
    """Show load progress (0..1); hidden when done."""
    bar = by_id("progress")
    pct = max(0, min(100, round(fraction * 100)))
    bar.firstElementChild.style.width = f"{pct}%"
    bar.setAttribute("aria-valuenow", str(pct))
    bar.hidden = pct >= 100


async def api(path, method="GET", body=None):
    headers = {"Authorization": f"Bearer {state['token']}"}
    kwargs = {"method": method, "headers": headers}
    if body is not None:
        headers["Content-Type"] = "application/json"
        kwargs["body"] = body
    resp = await fetch(state["base"] + path, **kwargs)
    if not resp.ok:
        detail = (await resp.text())[:200]
        raise RuntimeError(f"{path}: HTTP {resp.status} {detail}")
    return await resp.json()


def read_fragment():
    """Fill the form from #key=...&token=... and drop the secrets from the address bar."""
    params = parse_qs(str(window.location.hash).lstrip("#"))
    if params.get("key"):
        by_id("keys").value = "\n".join(params["key"])
    if params.get("token"):
        by_id("token").value = params["token"][0]
    if params:
        window.history.replaceState(None, "", window.location.pathname + window.location.search)
    return bool(params.get("key") and params.get("token"))


def on_hashchange(event):
    """A viewer link pasted into this tab: read it and load that collector's sessions."""
    if read_fragment():
        asyncio.ensure_future(connect())


def unreadable_reason(exc):
    """The decrypt.js error code of a failed envelope (its message starts with it)."""
    m = re.search(r"\b(" + "|".join(UNREADABLE) + r"):", str(exc))
    return m.group(1) if m else "bad_envelope"


# --------------------------------------------------------------------------- loading


@when("click", "#connect")
async def on_connect(event):
    await connect()


def reset_sessions():
    """Forget every loaded session (a new link, another collector, Forget)."""
    for name in ("player", "heat_player", "live_player"):
        if state[name]:
            state[name].destroy()
            state[name] = None
    if state["live"]:
        state["live"].close()
        state["live"] = None
    state.update(rows=[], sessions={}, notes={}, sid=None, measured=set(), unreadable={}, scorer=None)
    by_id("session-panel").hidden = True
    by_id("model-state").textContent = "Model: shipped with Sightline."
    by_id("model-download").hidden = True


async def connect():
    keys = [k for k in by_id("keys").value.split() if k]
    token = by_id("token").value.strip()
    kept = not keys and bool(decrypt.loadedKids().length)  # the key kept in this browser
    if not (keys or kept) or not token:
        status("Give at least one private key and the read token.", error=True)
        return
    state["token"] = token
    state["base"] = by_id("collector").value.strip().rstrip("/")
    try:
        kids = list(await decrypt.loadKeys(to_js(keys), True)) if keys else list(decrypt.loadedKids())
        status(f"Loaded {len(kids)} key(s). Fetching sessions…")
        progress(0.3)
        synced = await sync_feed(by_id("keep").checked or kept)  # None: a collector without the change feed
        listing = [] if synced is not None else (await api("/v1/sessions?limit=500"))["sessions"]
    except (JsException, RuntimeError) as exc:
        status(f"Could not connect: {exc}", error=True)
        progress(0.2)
        return
    reset_sessions()
    failures, done = (await load_synced(synced) if synced is not None else 0), 0

    async def one(meta):
        nonlocal failures, done
        try:
            lost = await load_session(meta)  # await first: `x += await f()` reads x before awaiting,
            failures += lost  # and the concurrent loads would overwrite each other's counts
        except (JsException, RuntimeError) as exc:
            failures += 1
            state["unreadable"][meta["sid"]] = {"fetch_failed": 1}
            window.console.warn(f"session {meta['sid']}: {exc}")
        done += 1
        status(f"Decrypted {done} of {len(listing)} sessions…")
        progress(0.3 + 0.65 * done / max(1, len(listing)))

    for start in range(0, len(listing), LOAD_PARALLEL):  # a few fetches in flight at once
        await asyncio.gather(*(one(m) for m in listing[start:start + LOAD_PARALLEL]))
    await load_notes()
    progress(1)
    by_id("keys").value = ""  # the keys live on as non-extractable CryptoKeys in decrypt.js only
    by_id("connect-panel").hidden = True
    by_id("tabs").hidden = False
    fill_page_selects()
    show_view("sessions")
    render_list()
    render_unreadable()
    note = f" {failures} envelope(s) could not be opened and are not shown (see the list)." if failures else ""
    set_summary(f"{len(state['rows'])} session(s) decrypted with key(s) {', '.join(kids)}.{note}", bool(failures))
    if by_id("keep").checked and not kept:
        await keep_here()
    await show_keeping()


def set_summary(text, error=False):
    """The status line of the loaded sessions: shown now, and again by every view that has none."""
    state["status"] = (text, error)
    status(text, error)


def render_unreadable():
    """Sessions nothing could be read of, and envelopes that failed in listed sessions, with why."""
    whole = {sid: why for sid, why in state["unreadable"].items() if sid not in state["sessions"]}
    partly = sum(n for sid, why in state["unreadable"].items() if sid in state["sessions"] for n in why.values())
    el = by_id("unreadable")
    items = [f'<li data-unreadable="{escape(sid)}"><code>{escape(sid)}</code>: '
             + escape(", ".join(f"{n} envelope(s) {UNREADABLE.get(code, code)}" for code, n in sorted(why.items())))
             + "</li>" for sid, why in sorted(whole.items())]
    parts = []
    if items:
        parts.append(f"<p><b>{len(items)} session(s) could not be read</b> and are not listed:</p><ul>{''.join(items)}</ul>")
    if partly:
        parts.append(f"<p>{partly} envelope(s) of listed sessions could not be opened (see each session's facts).</p>")
    el.innerHTML = "".join(parts)
    el.hidden = not parts


async def sync_feed(persist):
    """The change feed, through viewer/loader.js: what this browser keeps (only when the
    analyst keeps the key here: `persist`), plus only what the collector stored since
    (docs/viewer.md). None on a collector without /v1/envelopes."""
    try:
        return json.loads(await loader.sync(state["base"], state["token"], create_proxy(status), persist))
    except JsException as exc:
        if getattr(exc.js_error, "status", None) == 404:
            return None
        raise


async def load_synced(synced):
    """Analyse every synced session (its envelopes opened by the loader); returns failures."""
    failures, total = 0, len(synced["sids"])
    for n, sid in enumerate(synced["sids"]):
        items = sorted(json.loads(loader.session(sid)), key=lambda i: (i["ts"], i["pid"], i["seq"], i["id"]))
        dropped, reasons, modes, payloads = {}, {}, {}, []
        for item in items:
            try:
                payload = json.loads(item["p"]) if "p" in item else None
            except ValueError:
                payload = None
            if isinstance(payload, dict) and isinstance(payload.get("events", []), list):
                payloads.append(payload)
                continue
            code = item.get("err") if item.get("err") in UNREADABLE else "bad_payload"
            reasons[code] = reasons.get(code, 0) + 1
        lost = sum(reasons.values())
        failures += lost
        if reasons:
            state["unreadable"][sid] = reasons
        events = batch_events(payloads, dropped, modes)
        if events:
            events.sort(key=lambda e: e["ts"])
            add_session(sid, events, items)
            state["sessions"][sid].update(unreadable=lost, dropped=dropped, modes=modes)
        if n % 10 == 9 or n == total - 1:
            status(f"Analysed {n + 1} of {total} sessions ({synced['fetched']} new envelope(s),"
                   f" {synced['cached']} kept in this browser)…")
            progress(0.3 + 0.65 * (n + 1) / max(1, total))
            await asyncio.sleep(0)
    return failures


async def open_envelopes(envelopes, dropped=None, reasons=None, modes=None):
    """Open envelopes; those that fail (tampered, unknown key, inflating beyond 64 MiB, not
    a JSON object) are counted, never shown. `reasons`, if given, counts them by code.

    `dropped`, if given, sums the batches the visitor's device evicted on a full store
    (each payload's optional `dropped`: {batches, events}; docs/queue.md). `modes`, if
    given, counts batches by how the device masked them (`device`, `light`).
    """
    failures, payloads = 0, []
    for env in envelopes:
        env = {k: v for k, v in env.items() if k != "received"} if isinstance(env, dict) else env
        try:
            payload = json.loads(await decrypt.openEnvelope(json.dumps(env)))
            if not isinstance(payload, dict) or not isinstance(payload.get("events", []), list):
                raise ValueError("bad_payload: not a JSON object with an events list")
        except (JsException, ValueError) as exc:
            failures += 1
            if reasons is not None:
                code = unreadable_reason(exc) if isinstance(exc, JsException) else "bad_payload"
                reasons[code] = reasons.get(code, 0) + 1
            continue
        payloads.append(payload)
    return batch_events(payloads, dropped, modes), failures


def batch_events(payloads, dropped=None, modes=None):
    """The events of opened payloads, with `dropped` and `modes` counted (see open_envelopes)."""
    events = []
    # A batch sent in light form at pagehide and masked by Python on the next page counts
    # once, in its device form (docs/processing.md).
    for payload in one_per_batch(payloads):
        events.extend(payload.get("events", []))
        if modes is not None:
            mode = payload.get("mode") if payload.get("mode") in ("device", "light") else "device"
            modes[mode] = modes.get(mode, 0) + 1
        if dropped is not None and isinstance(payload.get("dropped"), dict):
            for k in ("batches", "events"):
                dropped[k] = dropped.get(k, 0) + int(payload["dropped"].get(k) or 0)
    return events


async def load_session(meta):
    """Fetch, decrypt and analyse one session; add its row to the list. Returns failures."""
    data = await api(f"/v1/sessions/{meta['sid']}")
    dropped, reasons, modes = {}, {}, {}
    events, failures = await open_envelopes(data["envelopes"], dropped, reasons, modes)
    if reasons:
        state["unreadable"][meta["sid"]] = reasons
    if not events:
        return failures
    events.sort(key=lambda e: e["ts"])
    add_session(meta["sid"], events, data["envelopes"])
    state["sessions"][meta["sid"]].update(unreadable=failures, dropped=dropped, modes=modes)
    return failures


def add_session(sid, events, envelopes=()):
    insights = analyze(events)
    if state["scorer"] and insights.get("features"):  # the model retrained in this page scores new sessions too
        from py_core.anomaly import assess
        from py_core.features import NAMES

        insights["anomaly"] = assess([insights["features"][n] for n in NAMES], state["scorer"])
    views = aggregate.page_views({"sid": sid, "events": events})
    m = metrics(insights)
    first = next((v for v in views), None)
    words = []
    for e in events:
        for key in ("u", "ti", "m", "n"):
            if isinstance(e.get(key), str):
                words.append(e[key])
        if e["t"] == E_CUSTOM and e.get("p"):
            words.append(json.dumps(e["p"]))
    words += [c["label"] for v in views for c in v["clicks"]]
    words += component_words(events)
    row = {
        "sid": sid,
        "started": events[0]["ts"],
        "duration": insights["duration_ms"],
        "pages": [v["page"] for v in views],
        "entry": first["page"] if first else "",
        "events": len(events),
        "errors": int(m.get("errors", 0) + m.get("failed_requests", 0)),
        "frustration": m.get("frustration"),
        "anomaly": m.get("anomaly"),
        "rage": int(m.get("rage_clicks", 0)),
        "device": first["bucket"] if first else "",
        "width": first["width"] if first else 0,
        "text": " ".join(words).lower(),
        "last_received": max((e.get("received", 0) for e in envelopes), default=0),
    }
    state["sessions"][sid] = {"events": events, "insights": insights, "views": views}
    state["rows"] = [r for r in state["rows"] if r["sid"] != sid] + [row]


async def load_notes(sid=None):
    """Fetch and open the team's sealed notes (all, or one session's)."""
    try:
        rows = (await api("/v1/annotations" + (f"?sid={sid}" if sid else "")))["annotations"]
    except (JsException, RuntimeError) as exc:
        status(f"Could not load notes: {exc}", error=True)
        return
    notes = {}
    for env in rows:
        try:
            note = json.loads(await decrypt.openEnvelope(json.dumps({k: v for k, v in env.items() if k != "received"})))
        except (JsException, ValueError):
            continue
        notes.setdefault(env["sid"], []).append({**note, "id": env["id"]})
    if sid:
        state["notes"][sid] = notes.get(sid, [])
    else:
        state["notes"] = notes


# --------------------------------------------------------------------------- list


def fill_page_selects():
    pages = aggregate.pages(all_sessions())
    opts = "".join(f'<option value="{escape(p["page"])}">{escape(p["page"])} ({p["views"]})</option>' for p in pages)
    by_id("f-page").innerHTML = '<option value="">any</option>' + opts
    by_id("s-page").innerHTML = '<option value="">all pages</option>' + opts
    by_id("h-page").innerHTML = opts


def number(element_id):
    text = by_id(element_id).value.strip()
    try:
        return float(text) if text else None
    except ValueError:
        return None


def day_ms(element_id, end=False):
    text = by_id(element_id).value
    if not text:
        return None
    day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp() * 1000
    return day + (86_400_000 if end else 0)


def component_words(events):
    """Search words for the components clicks, inputs and errors happened in (the events'
    ``cp`` field, docs/frameworks.md): the name and ``component:<name>``."""
    names = {e["cp"] for e in events if isinstance(e.get("cp"), str)}
    return [w for n in sorted(names) for w in (n, f"component:{n}")]


def filtered_rows():
    """The session rows passing every filter, in the chosen order."""
    q = by_id("f-search").value.strip().lower()
    page, device = by_id("f-page").value, by_id("f-device").value
    since, until = day_ms("f-from"), day_ms("f-to", end=True)
    min_dur, min_fr, min_an = number("f-duration"), number("f-frustration"), number("f-anomaly")
    errors_only = by_id("f-errors").checked
    out = []
    for r in state["rows"]:
        if q and not all(word in r["text"] for word in q.split()):
            continue
        if page and page not in r["pages"] or device and r["device"] != device:
            continue
        if since is not None and r["started"] < since or until is not None and r["started"] >= until:
            continue
        if min_dur is not None and r["duration"] < min_dur * 1000:
            continue
        if min_fr is not None and (r["frustration"] if r["frustration"] is not None else r["rage"]) < min_fr:
            continue
        if min_an is not None and (r["anomaly"] is None or r["anomaly"] < min_an):
            continue
        if errors_only and not r["errors"]:
            continue
        out.append(r)
    key, desc = state["sort"]

    def sort_key(r):
        if key == "notes":
            return len(state["notes"].get(r["sid"], []))
        if key == "frustration":
            return r["frustration"] if r["frustration"] is not None else r["rage"]
        value = r.get(key)
        return (value is not None, value if value is not None else 0)

    return sorted(out, key=sort_key, reverse=desc)


def score(value, fallback=None):
    if value is None:
        return "—" if fallback is None else f"{fallback} rage"
    return f"{value:.2f}"


def render_list():
    rows = filtered_rows()
    html = []
    for r in rows:
        started = datetime.fromtimestamp(r["started"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        pages = " → ".join(escape(p) for p in r["pages"][:4]) + (" …" if len(r["pages"]) > 4 else "")
        notes = len(state["notes"].get(r["sid"], []))
        html.append(
            f'<tr data-sid="{escape(r["sid"])}" class="{"selected" if r["sid"] == state["sid"] else ""}">'
            f'<td>{started}</td><td>{clock(r["duration"])}</td><td class="pages">{pages}</td><td>{r["events"]}</td>'
            f'<td class="{"bad" if r["errors"] else ""}">{r["errors"]}</td>'
            f'<td>{score(r["frustration"], r["rage"] if r["rage"] else None)}</td><td>{score(r["anomaly"])}</td>'
            f'<td>{escape(r["device"])} {r["width"] or ""}</td><td>{notes or ""}</td></tr>')
    body = by_id("sessions").querySelector("tbody")
    body.innerHTML = "".join(html) or '<tr><td colspan="9">No sessions match.</td></tr>'
    by_id("list-count").textContent = f"{len(rows)} of {len(state['rows'])}"
    key, desc = state["sort"]
    for th in by_id("sessions").querySelectorAll("th[data-sort]"):
        if th.dataset.sort == key:
            th.setAttribute("aria-sort", "descending" if desc else "ascending")
        else:
            th.removeAttribute("aria-sort")


@when("input", "#filters")
def on_filter(event):
    render_list()


@when("change", "#filters")
def on_filter_change(event):
    render_list()


@when("click", "#sessions thead")
def on_sort(event):
    th = event.target.closest("th")
    if not th or not th.dataset.sort:
        return
    key, desc = state["sort"]
    state["sort"] = (th.dataset.sort, not desc if key == th.dataset.sort else True)
    render_list()


@when("click", "#sessions tbody")
def pick(event):
    row = event.target.closest("tr")
    if row and row.dataset.sid:
        open_session(row.dataset.sid)


# --------------------------------------------------------------------------- replay


def timeline_extras(events, insights, t0):
    """Markers on the timeline and rows for the synchronised panels."""
    markers, rows = [], []
    for e in events:
        at, t = e["ts"] - t0, e["t"]
        if t == E_NAV:
            markers.append({"at": at, "kind": "route", "label": f"route change → {e.get('u', '')}"})
            rows.append({"at": at, "panel": "state", "text": f"navigation ({e.get('k', '')}) {e.get('u', '')}"})
        elif t == E_NETWORK:
            s = e.get("s")
            bad = isinstance(s, int) and (s == 0 or s >= 400)
            rows.append({"at": at, "panel": "network", "bad": bad,
                         "text": f"{e.get('m', 'GET')} {e.get('u', '')} → {s or 'failed'} in {e.get('d', '?')} ms"})
            if bad:
                rows.append({"at": at, "panel": "errors", "bad": True, "text": f"{e.get('m', 'GET')} {e.get('u', '')} failed ({s or 'network'})"})
        elif t == E_ERROR:
            kind = e.get("k", "error")
            rows.append({"at": at, "panel": "console" if kind == "console" else "errors", "bad": kind != "console",
                         "text": f"{kind}: {e.get('m', '')}"})
        elif t == E_CUSTOM:
            name = str(e.get("n", ""))
            props = json.dumps(e.get("p") or {}, separators=(",", ":"))[:160]
            panel = "console" if name.startswith("console:") else "state" if ":" in name else "custom"
            rows.append({"at": at, "panel": panel, "text": f"{name} {props}"})
        elif t in (E_IDENTIFY, E_VISIBILITY, E_VIEWPORT):
            label = {E_IDENTIFY: f"identify {e.get('u', '')}", E_VISIBILITY: f"tab {e.get('v', '')}",
                     E_VIEWPORT: f"viewport {e.get('w')}×{e.get('h')}"}[t]
            rows.append({"at": at, "panel": "state", "text": label})
    for r in insights.get("rage_clicks") or ():
        markers.append({"at": r["at_ms"], "kind": "frustration", "label": f"rage clicks ({r.get('count', '')})"})
    for key in ("signals", "frustration_signals", "frustrations"):
        for s in insights.get(key) or ():
            if isinstance(s, dict) and isinstance(s.get("at_ms"), (int, float)):
                markers.append({"at": s["at_ms"], "kind": "frustration", "label": str(s.get("kind", key))})
    return {"markers": markers, "rows": sorted(rows, key=lambda r: r["at"]), "t0": t0}


def note_markers(sid):
    return [{"at": n.get("at_ms", 0), "kind": "note", "label": f"note: {n.get('text', '')[:40]}"}
            for n in state["notes"].get(sid, [])]


def open_session(sid):
    data = state["sessions"].get(sid)
    if not data:
        return
    state["sid"] = sid
    for other in by_id("sessions").querySelectorAll("tr.selected"):
        other.classList.remove("selected")
    row = by_id("sessions").querySelector(f'tr[data-sid="{sid}"]')
    if row:
        row.classList.add("selected")
    events, insights = data["events"], data["insights"]
    by_id("session-panel").hidden = False
    by_id("session-title").textContent = f"Session {sid}"
    by_id("summary").textContent = insights["summary"]
    m = metrics(insights)
    facts = [
        ("Pages", len(insights["pages"]), False),
        ("Duration", clock(insights["duration_ms"]), False),
        ("Clicks", insights["clicks"], False),
        ("Inputs", insights["inputs"], False),
        ("JS errors", len(insights["errors"]), bool(insights["errors"])),
        ("Failed requests", len(insights["failed_requests"]), bool(insights["failed_requests"])),
        ("Rage clicks", len(insights["rage_clicks"]), bool(insights["rage_clicks"])),
    ]
    for name in ("frustration", "anomaly"):
        if name in m:
            facts.append((name.capitalize(), f"{m[name]:.2f}", m[name] >= 0.5))
    modes = data.get("modes") or {}
    if modes:  # where the visitor's device ran Python (docs/processing.md)
        chosen = sorted({e.get("pm") for e in events if e.get("t") == 0 and e.get("pm")}) or ["device"]
        light = modes.get("light", 0)
        detail = "" if not light or chosen == ["light"] else f" ({light} of {sum(modes.values())} batches in light form)"
        facts.append(("Processing", " + ".join(chosen) + detail, False))
    if data.get("unreadable"):  # tampered or sealed to a key not loaded: counted, not shown
        facts.append(("Unreadable envelopes", data["unreadable"], True))
    if data.get("dropped", {}).get("batches"):  # evicted on the visitor's full storage
        d = data["dropped"]
        facts.append(("Dropped on device (storage full)", f"{d['batches']} batches, {d.get('events', 0)} events", True))
    by_id("facts").innerHTML = "".join(
        f'<span class="fact{" bad" if bad else ""}">{escape(name)}: <b>{value}</b></span>' for name, value, bad in facts)
    render_findings(insights)
    by_id("activity").innerHTML = activity_bars(events)
    if state["player"]:
        state["player"].destroy()
    extras = timeline_extras(events, insights, events[0]["ts"])
    extras["markers"] += note_markers(sid)
    state["player"] = views.createPlayer(by_id("player"), by_id("panels"), json.dumps(events), json.dumps(extras))
    render_notes()


def activity_bars(events, bins=60):
    """A small histogram of events over the session's time (numpy)."""
    if len(events) < 2:
        return ""
    ts = np.array([e["ts"] for e in events], dtype=np.float64)
    counts, _ = np.histogram(ts, bins=bins)
    peak = counts.max() or 1
    return "".join(f'<span style="height:{100 * c / peak:.0f}%"></span>' for c in counts)


def feature_label(name):
    return name.replace("_", " ")


def number_text(value):
    return f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.2f}"


def render_findings(insights):
    """What happened (each failure with the steps that led to it, each frustration or
    confusion moment; a click seeks the replay) and why the scores are what they are."""
    items = issue_items(insights)
    by_id("findings").innerHTML = "".join(
        f'<li data-at="{int(at)}" class="{"failure" if text.startswith(("Error:", "Failed:")) else ""}">'
        f'<span class="at">{clock(at)}</span>{escape(text)}</li>' for at, text in items
    ) or '<li class="empty">No errors, frustration or confusion.</li>'
    render_why(insights)


def shown_reasons(reasons, with_typical=False):
    """A verdict's reasons (dicts from analyze(), or bare names in compact form) as text."""
    parts = []
    for f in reasons:
        if isinstance(f, str):
            parts.append(feature_label(f))
            continue
        text = f"{feature_label(f['feature'])} {number_text(f['value'])}"
        if with_typical and "typical" in f:
            text += f" (typical {number_text(f['typical'])})"
        parts.append(text)
    return ", ".join(parts)


def render_why(insights):
    """The "why" panel: the session's verdict (py_core.insights, ADR 0507): its label, whether
    a rule overrode the model's label and which, the reasons (features with data behind
    them only), the anomaly flag (or "too short to score") and the model's probabilities."""
    v, a, s = insights.get("verdict"), insights.get("anomaly"), insights.get("sentiment")
    if not v:
        by_id("why").innerHTML = "<dt>No model scores for this session.</dt>"
        return
    why = []
    if v.get("rule"):
        by = f"a rule overrode the model (model: {escape(v['model_label'])})"
        score = (insights.get("frustration") or {}).get("rule_score")
        detail = escape(v["rule"]) + (f"; frustration {score:.2f}" if isinstance(score, (int, float)) else "")
    else:
        by, detail = "the model's label", ""
    why.append(f'<dt data-part="label">Verdict: <b>{escape(v["label"])}</b> '
               f'<span data-part="source">({by})</span></dt><dd data-part="rule">{detail}</dd>')
    reasons = shown_reasons(v.get("reasons") or [])
    why.append(f'<dt>Reasons</dt><dd data-part="reasons">{escape(reasons or "no single feature stands out")}</dd>')
    if a:
        anomaly_reasons = v.get("anomaly_reasons") or []
        if state["scorer"]:  # re-scored by the model retrained in this page: the verdict's reasons are the shipped model's
            from py_core.features import undefined
            from py_core.timeline import build

            data = state["sessions"].get(state["sid"]) or {}
            missing = undefined(build(data.get("events") or []))
            anomaly_reasons = [f for f in a["top_features"] if f["feature"] not in missing]
        if v.get("too_short"):
            flag = "too short to score (under 10 events or 3 s): never flagged"
        else:
            flag = "flagged" if a["anomalous"] else "not flagged"
        why.append(f'<dt data-part="anomaly">Anomaly {a["score"]:.2f}: {flag}</dt>'
                   f'<dd data-part="anomaly-reasons">{escape(shown_reasons(anomaly_reasons, True))}</dd>')
    if s:
        probs = ", ".join(f"{k} {p:.0%}" for k, p in sorted(s["probabilities"].items(), key=lambda kv: -kv[1]))
        why.append(f'<dt data-part="model">Model: mostly {escape(s["label"])}</dt><dd>{escape(probs)}</dd>')
    by_id("why").innerHTML = "".join(why)


@when("click", "#findings")
def on_finding_click(event):
    item = event.target.closest("li[data-at]")
    if item and state["player"]:
        state["player"].seek(int(item.dataset.at))


# --------------------------------------------------------------------------- errors and models


def render_errors():
    """Every failure signature across the loaded sessions (py_core.insights.correlate_errors)."""
    sessions = list(state["sessions"].items())
    groups = correlate_errors([d["insights"] for _, d in sessions])
    rows = []
    for g in groups:
        example = next(sid for sid, d in sessions if any(p["what"] == g["what"] for p in d["insights"].get("error_paths", ())))
        steps = "".join(f"<li>{escape(step)}</li>" for step in g["common_steps"]) or "<li>no step in the last seconds</li>"
        rows.append(
            f'<tr data-what="{escape(g["what"])}"><td>{"JS error" if g["kind"] == "error" else "Request"}: '
            f'<b>{escape(g["what"])}</b><br><button type="button" data-open="{escape(example)}">Replay one</button></td>'
            f'<td>{g["count"]}</td><td>{g["sessions"]}</td>'
            f'<td><ol>{steps}</ol><span class="hint">{g["common_steps_count"]} of {g["count"]} times</span></td></tr>')
    by_id("error-table").querySelector("tbody").innerHTML = "".join(rows) or '<tr><td colspan="4">No errors in these sessions.</td></tr>'


@when("click", "#error-table")
async def on_error_open(event):
    button = event.target.closest("button[data-open]")
    if button:
        await show_view_async("sessions")
        open_session(button.dataset.open)
        path = next((p for p in state["sessions"][button.dataset.open]["insights"]["error_paths"]
                     if p["what"] == button.closest("tr").dataset.what), None)
        if path and state["player"]:
            state["player"].seek(int(path["at_ms"]))
        by_id("player").scrollIntoView()  # the session panel is below the list: bring the player up


@when("click", "#retrain")
async def on_retrain(event):
    """Fit an IsolationForest on the loaded sessions with scikit-learn in this page's
    Pyodide, then score every session with it (the same numpy scorer the worker runs)."""
    button, note = by_id("retrain"), by_id("model-state")
    sessions = list(state["sessions"].values())
    if len(sessions) < RETRAIN_MIN_SESSIONS:  # say so before fetching about 26 MB of scikit-learn
        note.textContent = (f"Retraining needs at least {RETRAIN_MIN_SESSIONS} decrypted sessions; "
                            f"{len(sessions)} loaded. Nothing was downloaded.")
        return
    button.disabled = True
    try:
        note.textContent = "Loading scikit-learn into this page…"
        import pyodide_js

        await pyodide_js.loadPackage("scikit-learn")
        from py_core.anomaly import IsolationForestScorer, assess
        from py_core.features import NAMES
        from py_core.training import retrain_anomaly

        note.textContent = f"Training on {len(sessions)} sessions…"
        await asyncio.sleep(0.05)  # let the page paint the message
        model = retrain_anomaly([d["events"] for d in sessions])
        scorer = IsolationForestScorer(model)
    except (ValueError, ImportError, JsException) as exc:
        note.textContent = f"Could not retrain: {exc}"
        button.disabled = False
        return
    before = sum(1 for d in sessions if (d["insights"].get("anomaly") or {}).get("anomalous"))
    for d in sessions:
        d["insights"]["anomaly"] = assess([d["insights"]["features"][n] for n in NAMES], scorer)
    for r in state["rows"]:
        r["anomaly"] = state["sessions"][r["sid"]]["insights"]["anomaly"]["score"]
    after = sum(1 for d in sessions if d["insights"]["anomaly"]["anomalous"])
    state["scorer"] = scorer
    if state["model_url"]:
        window.URL.revokeObjectURL(state["model_url"])
    blob = window.Blob.new([json.dumps(model)], to_js({"type": "application/json"}, dict_converter=window.Object.fromEntries))
    state["model_url"] = window.URL.createObjectURL(blob)
    link = by_id("model-download")
    link.href, link.hidden = state["model_url"], False
    note.textContent = (f"Model: retrained here on {len(sessions)} sessions; {after} flagged as anomalous "
                        f"(the shipped model flagged {before}).")
    note.dataset.sessions = str(len(sessions))
    button.disabled = False
    render_list()
    if state["sid"]:
        render_findings(state["sessions"][state["sid"]]["insights"])


# --------------------------------------------------------------------------- notes


def render_notes():
    sid = state["sid"]
    items = sorted(state["notes"].get(sid, []), key=lambda n: n.get("at_ms", 0))
    by_id("notes").innerHTML = "".join(
        f'<li data-at="{int(n.get("at_ms", 0))}"><span class="at">{clock(n.get("at_ms", 0))}</span> '
        f'<b>{escape(str(n.get("author") or "someone"))}</b>: {escape(str(n.get("text", "")))}</li>' for n in items
    ) or '<li class="empty">No notes yet.</li>'


@when("click", "#notes")
def on_note_click(event):
    item = event.target.closest("li[data-at]")
    if item and state["player"]:
        state["player"].seek(int(item.dataset.at))


@when("submit", "#note-form")
async def add_note(event):
    text = by_id("note-text").value.strip()
    sid = state["sid"]
    if not text or not sid or not state["player"]:
        return
    note = {"schema": 1, "kind": "annotation", "at_ms": int(state["player"].time), "text": text[:2000],
            "author": by_id("author").value.strip()[:60] or "analyst", "created": int(time.time() * 1000)}
    try:
        sealed = await decrypt.sealNote(sid, json.dumps(note))
        await api("/v1/annotations", method="POST", body=sealed)
    except (JsException, RuntimeError) as exc:
        status(f"Could not save the note (kept in the box): {exc}", error=True)
        return
    by_id("note-text").value = ""
    await load_notes(sid)
    render_notes()
    state["player"].addMarkers(json.dumps([{"at": note["at_ms"], "kind": "note", "label": f"note: {text[:40]}"}]))
    render_list()
    status(f"Note sealed and stored at {clock(note['at_ms'])}.")


def tick_note_time():
    if state["player"] and not by_id("session-panel").hidden:
        by_id("note-at").textContent = clock(state["player"].time)


# --------------------------------------------------------------------------- views


@when("click", "#tabs")
async def on_tab(event):
    button = event.target.closest("button[data-view]")
    if button:
        await show_view_async(button.dataset.view)


def show_view(name):
    state["view"] = name
    for b in by_id("tabs").querySelectorAll("button[data-view]"):
        b.classList.toggle("active", b.dataset.view == name)
    for section in document.querySelectorAll("section.view"):
        section.hidden = section.dataset.view != name
    document.documentElement.dataset.view = name


async def show_view_async(name):
    show_view(name)
    status(*state["status"])  # no previous view's line: the loaded sessions' own, until this view says more
    if name == "heatmaps":
        await render_heatmap()
    elif name == "journeys":
        render_journeys()
    elif name == "scroll3d":
        render_scroll3d()
    elif name == "errors":
        render_errors()
    elif name == "live":
        await refresh_live()


def all_sessions():
    """Every decrypted session with its cached page views (aggregate.views_of reuses them)."""
    return [{"sid": s, "events": d["events"], "views": d["views"]} for s, d in state["sessions"].items()]


def measure(page):
    """Measure in-element click positions (views.measureClicks) for every session of a page, once."""
    for sid, data in state["sessions"].items():
        if (sid, page) in state["measured"]:
            continue
        state["measured"].add((sid, page))
        # The replayed frame is scrolled as recorded, so viewport coordinates are compared.
        clicks = [{"ts": c["ts"], "x": c["x"], "y": c["y"], "selector": c["selector"]}
                  for v in data["views"] if v["page"] == page for c in v["clicks"] if c["selector"]]
        if not clicks:
            continue
        found = {ts: (fx, fy) for ts, fx, fy in json.loads(views.measureClicks(json.dumps(data["events"]), json.dumps(clicks)))}
        for e in data["events"]:
            if e["t"] == E_CLICK and e["ts"] in found and found[e["ts"]][0] is not None:
                e["fx"], e["fy"] = found[e["ts"]]
        data["views"] = aggregate.page_views({"sid": sid, "events": data["events"]})


def representative(page, bucket):
    """(session events, ms offset) of the latest snapshot of `page` in the bucket; for all widths,
    in the bucket with the most views of that page."""
    if not bucket:
        counts = next((p["buckets"] for p in aggregate.pages(all_sessions()) if p["page"] == page), {})
        bucket = max(counts, key=counts.get) if counts else None
    best = None
    for sid, data in state["sessions"].items():
        for v in data["views"]:
            if v["page"] != page or bucket and v["bucket"] != bucket:
                continue
            snap = next((e for e in data["events"] if e["t"] == E_SNAPSHOT and v["start"] <= e["ts"] <= v["end"]), None)
            # A route of a single-page app has no snapshot of its own: show the DOM as it was
            # just before the visitor's first click there (or at the end of the view).
            at = snap["ts"] if snap else (v["clicks"][0]["ts"] - 1 if v["clicks"] else v["end"])
            if best is None or v["start"] > best[2]:
                best = (data["events"], at - data["events"][0]["ts"], v["start"])
    return best


@when("change", "#h-page, #h-bucket, #h-mode")
async def on_heat_change(event):
    await render_heatmap()


async def render_heatmap():
    page, bucket, mode = by_id("h-page").value, by_id("h-bucket").value or None, by_id("h-mode").value
    if not page:
        by_id("heat-info").textContent = "No pages recorded yet."
        return
    status("Measuring clicks against their elements…")
    await asyncio.sleep(0)
    measure(page)
    heat = aggregate.heatmap(all_sessions(), page, bucket)
    shown = representative(page, bucket) or representative(page, None)
    total = sum(c["count"] for c in heat["clicks"])
    measured = sum(len(c["points"]) for c in heat["clicks"])
    by_id("heat-info").textContent = (
        f"{heat['views']} view(s) of {page} in {heat['sessions']} session(s), widths {', '.join(map(str, heat['widths'])) or '—'} px; "
        f"{total} clicks on {len(heat['clicks'])} elements ({measured} placed inside their element), "
        f"{len(heat['unanchored'])} on unknown elements.")
    by_id("heat-top").innerHTML = "".join(
        f'<li><b>{c["count"]}</b> {escape(c["label"])} <code>{escape(c["selector"])}</code></li>' for c in heat["clicks"][:5])
    if state["heat_player"]:
        state["heat_player"].destroy()
        state["heat_player"] = None
    if shown:
        state["heat_player"] = views.showHeatmap(by_id("heatmap"), json.dumps(shown[0]), shown[1], json.dumps(heat), mode)
    status(f"Heatmap of {page} ({bucket or 'all widths'}, {mode}).")


def render_journeys():
    graph = aggregate.journeys(all_sessions())
    if state["journey"]:
        state["journey"].stop()
    state["journey"] = views.showJourneys(by_id("journeys"), json.dumps(graph))
    by_id("journey-table").querySelector("tbody").innerHTML = "".join(
        f'<tr><td>{escape(n["page"])}</td><td>{n["views"]}</td><td>{n["entries"]}</td><td>{n["exits"]}</td>'
        f'<td>{n["drop_off"] * 100:.0f}%</td></tr>' for n in graph["nodes"] if n["kind"] == "page")


@when("change", "#s-page, #s-bucket, #s-duration")
def on_scroll_filter(event):
    render_scroll3d()


def render_scroll3d():
    page, bucket = by_id("s-page").value or None, by_id("s-bucket").value
    min_ms = (number("s-duration") or 0) * 1000
    paths = [p for p in aggregate.scroll_paths(all_sessions(), page)
             if (not bucket or p["bucket"] == bucket) and p["duration"] >= min_ms]
    views.showScroll3D(by_id("scroll3d"), json.dumps(paths))


# --------------------------------------------------------------------------- live


@when("click", "#live-refresh")
async def on_live_refresh(event):
    await refresh_live()


async def refresh_live():
    try:
        rows = (await api("/v1/live"))["sessions"]
    except (JsException, RuntimeError) as exc:
        status(f"Could not list live sessions: {exc}", error=True)
        return
    by_id("live-list").innerHTML = "".join(
        f'<li><button type="button" data-live="{escape(r["sid"])}">Watch {escape(r["sid"])}</button> '
        f'{r["envelopes"]} batch(es), last received {max(0, int(time.time() - r["last_received"] / 1000))} s ago</li>' for r in rows
    ) or "<li>Nobody is being recorded right now.</li>"


@when("click", "#live-list")
def on_watch(event):
    button = event.target.closest("button[data-live]")
    if button:
        watch(button.dataset.live)


def watch(sid):
    """Follow a session live: decrypt each sealed batch as it arrives and keep the replay at its end."""
    if state["live"]:
        state["live"].close()
    state["live_events"] = []
    state["live_sid"] = sid
    lag = by_id("live-state")
    lag.textContent = f"Connecting to {sid}…"

    async def on_envelope(text):
        env = json.loads(text)
        events, failed = await open_envelopes([env])
        if failed:
            lag.textContent = "A batch could not be opened (wrong key?)."
            return
        state["live_events"].extend(events)
        state["live_events"].sort(key=lambda e: e["ts"])
        if state["live_player"]:
            state["live_player"].destroy()
        state["live_player"] = views.createPlayer(by_id("live-player"), document.createElement("div"),
                                                  json.dumps(state["live_events"]),
                                                  json.dumps({"markers": [], "rows": [], "t0": state["live_events"][0]["ts"]}))
        state["live_player"].seek(10**12)
        behind = max(0.0, time.time() - state["live_events"][-1]["ts"] / 1000)
        by_id("live-player").dataset.batches = str(int(by_id("live-player").dataset.batches or 0) + 1)
        lag.textContent = (f"Live: {len(state['live_events'])} events from {by_id('live-player').dataset.batches} batch(es); "
                           f"latest event {behind:.1f} s ago.")

    def on_state(text):
        if text != "open":
            lag.textContent = f"Stream {text}."

    state["live_proxies"] = [create_proxy(on_envelope), create_proxy(on_state)]
    by_id("live-player").dataset.batches = "0"
    state["live"] = views.follow(state["base"], state["token"], sid, 0, *state["live_proxies"])


# --------------------------------------------------------------------------- start


# --------------------------------------------------------------------------- kept in this browser


async def keep_here():
    """Keep the loaded keys (non-extractable CryptoKeys), the token and the collector URL in
    this browser's IndexedDB, until Forget."""
    try:
        await decrypt.keep(state["token"], state["base"])
    except JsException as exc:
        status(f"Could not keep the key in this browser: {exc}", error=True)


async def show_keeping():
    kept = bool(await decrypt.isKept())
    box = by_id("keeping")
    box.hidden = False
    box.dataset.kept = "1" if kept else "0"
    by_id("keep-now").hidden = kept
    by_id("forget").hidden = not kept
    by_id("kept-text").textContent = (
        "Key and token kept in this browser (IndexedDB): the key as a non-extractable CryptoKey, the token as text."
        if kept else "Key and token are in this tab only.")


@when("click", "#keep-now")
async def on_keep(event):
    await keep_here()
    await show_keeping()


@when("click", "#forget")
async def on_forget(event):
    """Delete what this browser kept, and drop the keys, token and sessions from this page."""
    await decrypt.forget()
    await loader.forget()
    reset_sessions()
    state["token"] = ""
    for element_id in ("keys", "token"):
        by_id(element_id).value = ""
    by_id("keep").checked = False
    by_id("tabs").hidden = True
    for section in document.querySelectorAll("section.view"):
        section.hidden = True
    by_id("connect-panel").hidden = False
    by_id("keeping").hidden = True
    set_summary("Forgotten: this browser keeps no key or token now. Load a key and token to continue.")


async def start(linked):
    if linked:  # a link's key and token come first
        await connect()
        return
    kept = await decrypt.restore()
    if kept:
        kept = json.loads(kept)
        by_id("token").value = kept["token"]
        by_id("collector").value = kept["collector"]
        status(f"Using the key kept in this browser ({', '.join(kept['kids'])})…")
        await connect()


def main():
    linked = read_fragment()  # the secrets leave the address bar before the page says it is ready
    by_id("connect").disabled = False
    document.documentElement.dataset.ready = "1"
    progress(0.2)
    status("Ready. Load your private key and token, then load sessions.")
    window.setInterval(create_proxy(tick_note_time), 250)
    window.addEventListener("hashchange", create_proxy(on_hashchange))
    asyncio.ensure_future(start(linked))


main()
