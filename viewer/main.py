"""The Sightline viewer (PyScript on the site's own Pyodide).

Lists sessions from the collector, decrypts them in this browser (decrypt.js: HPKE on
WebCrypto), analyses them with py_core (the same code the visitor's worker runs) and
hands the events to the replayer (replayer.js). Secrets given in the URL fragment
(#key=...&token=...) are read once and then removed from the address bar.
"""

import asyncio
import json
from datetime import datetime, timezone
from html import escape
from urllib.parse import parse_qs

import numpy as np
from pyodide.ffi import JsException, to_js
from pyscript import document, fetch, when, window
from pyscript.js_modules import decrypt, replayer

from py_core.insights import analyze, clock

state = {"token": "", "base": "", "player": None, "sessions": {}}


def by_id(element_id):
    return document.getElementById(element_id)


def status(text, error=False):
    el = by_id("status")
    el.textContent = text
    el.className = "status error" if error else "status"


async def api(path):
    resp = await fetch(state["base"] + path, headers={"Authorization": f"Bearer {state['token']}"})
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
        window.history.replaceState(None, "", window.location.pathname)
    return bool(params.get("key") and params.get("token"))


@when("click", "#connect")
async def on_connect(event):
    await connect()


async def connect():
    keys = [k for k in by_id("keys").value.split() if k]
    state["token"] = by_id("token").value.strip()
    state["base"] = by_id("collector").value.strip().rstrip("/")
    if not keys or not state["token"]:
        status("Give at least one private key and the read token.", error=True)
        return
    try:
        kids = await decrypt.loadKeys(to_js(keys))
        status(f"Loaded {len(kids)} key(s). Fetching sessions…")
        data = await api("/v1/sessions")
    except (JsException, RuntimeError) as exc:
        status(f"Could not connect: {exc}", error=True)
        return
    render_list(data["sessions"])
    status(f"{len(data['sessions'])} session(s). Keys: {', '.join(kids)}.")


def render_list(sessions):
    state["sessions"] = {s["sid"]: s for s in sessions}
    rows = []
    for s in sessions:
        started = datetime.fromtimestamp(s["first_ts"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        rows.append(
            f'<tr data-sid="{escape(s["sid"])}"><td>{started}</td><td>{clock(s["last_ts"] - s["first_ts"])}</td>'
            f'<td>{s.get("pages", "")}</td><td>{s["envelopes"]}</td><td>{s["bytes"] / 1024:.1f} KB</td></tr>'
        )
    body = by_id("sessions").querySelector("tbody")
    body.innerHTML = "".join(rows) or '<tr><td colspan="5">No sessions yet.</td></tr>'
    by_id("list-panel").hidden = False


@when("click", "#sessions tbody")
async def pick(event):
    row = event.target.closest("tr")
    if row and row.dataset.sid:
        for other in by_id("sessions").querySelectorAll("tr.selected"):
            other.classList.remove("selected")
        row.classList.add("selected")
        await open_session(row.dataset.sid)


async def open_session(sid):
    status("Fetching and decrypting the session…")
    try:
        data = await api(f"/v1/sessions/{sid}")
    except (JsException, RuntimeError) as exc:
        status(f"Could not fetch the session: {exc}", error=True)
        return
    events, failures = [], []
    for env in data["envelopes"]:
        try:
            payload = json.loads(await decrypt.openEnvelope(json.dumps(env)))
        except JsException as exc:
            failures.append(str(exc))
            continue
        events.extend(payload.get("events", []))
    events.sort(key=lambda e: e["ts"])
    insights = analyze(events)
    render_session(sid, events, insights, failures)
    note = f" {len(failures)} envelope(s) could not be opened and are not shown." if failures else ""
    status(f"Session {sid}: {len(events)} events from {len(data['envelopes'])} envelope(s).{note}",
           error=bool(failures))


def render_session(sid, events, insights, failures):
    by_id("session-panel").hidden = False
    by_id("session-title").textContent = f"Session {sid}"
    by_id("summary").textContent = insights["summary"]
    facts = [
        ("Pages", len(insights["pages"]), False),
        ("Duration", clock(insights["duration_ms"]), False),
        ("Clicks", insights["clicks"], False),
        ("Inputs", insights["inputs"], False),
        ("Errors", len(insights["errors"]), bool(insights["errors"])),
        ("Failed requests", len(insights["failed_requests"]), bool(insights["failed_requests"])),
        ("Rage clicks", len(insights["rage_clicks"]), bool(insights["rage_clicks"])),
        ("Unreadable envelopes", len(failures), bool(failures)),
    ]
    by_id("facts").innerHTML = "".join(
        f'<span class="fact{" bad" if bad else ""}">{escape(name)}: <b>{value}</b></span>' for name, value, bad in facts
    )
    by_id("activity").innerHTML = activity_bars(events)
    items = [(e["at_ms"], f"Error: {e['message']}") for e in insights["errors"]]
    items += [(f["at_ms"], f"{f['method']} {f['url']} → {f['status'] or 'network error'}") for f in insights["failed_requests"]]
    items += [(r["at_ms"], f"Rage clicks ({r['count']})") for r in insights["rage_clicks"]]
    by_id("issues").innerHTML = "<ul>" + "".join(
        f'<li data-at="{at}">{clock(at)} — {escape(text)}</li>' for at, text in sorted(items)
    ) + "</ul>" if items else ""
    if state["player"]:
        state["player"].destroy()
    state["player"] = replayer.createReplayer(by_id("player"), json.dumps(events))


def activity_bars(events, bins=60):
    """A small histogram of events over the session's time (numpy)."""
    if len(events) < 2:
        return ""
    ts = np.array([e["ts"] for e in events], dtype=np.float64)
    counts, _ = np.histogram(ts, bins=bins)
    peak = counts.max() or 1
    return "".join(f'<span style="height:{100 * c / peak:.0f}%"></span>' for c in counts)


@when("click", "#issues")
def jump(event):
    item = event.target.closest("li")
    if item and state["player"]:
        state["player"].seek(int(item.dataset.at))


def main():
    by_id("connect").disabled = False
    document.documentElement.dataset.ready = "1"
    status("Ready. Load your private key and token, then load sessions.")
    if read_fragment():
        asyncio.ensure_future(connect())


main()
