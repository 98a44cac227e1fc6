"""The collector's side of alerts: check a device's alert, bound and post webhook messages.

The device decides (py_core.alerts: ``device_check``, ``decide``, ``Policy``); the
collector only checks what arrives against the site's policy (:func:`validate_alert`),
de-duplicates per session and rule (py_core.collector.team), and posts to the team's
webhooks in Slack's or Discord's format (:func:`send`). This module lives under
``collector/`` so the copy of py_core shipped to visitors' workers carries no webhook
code. ``POST /v1/alerts`` is open to the world, so:

- :func:`validate_alert` never raises anything but :class:`~py_core.alerts.AlertError`,
  whatever JSON it is given (lone surrogates, 400-digit integers, nested junk), and its
  messages are ASCII-safe;
- :class:`PostBudget` bounds webhook posts **per rule and per site**, whatever the
  session id says: by default at most 3 posts per rule and 10 per site in any 10
  minutes. Alerts over the budget are held: counted, and reported in the next post for
  that rule ("+N more sessions since the last message"). A policy file may set
  ``"limits": {"per_rule": [posts, seconds], "per_site": [posts, seconds]}``.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Mapping

from py_core.alerts import _BUCKETS, _PAGE, _REQUIRED, _SID, AlertError, Policy

__all__ = ["DEFAULT_LIMITS", "MAX_ALERT_BYTES", "PostBudget", "discord_payload", "load_policy", "send",
           "slack_payload", "validate_alert"]

MAX_ALERT_BYTES = 2048
#: Webhook posts allowed: (posts, per seconds), per rule and per site.
DEFAULT_LIMITS = {"per_rule": (3, 600.0), "per_site": (10, 600.0)}
_FLOAT_MAX = 2 ** 1023  # ints beyond this cannot become floats


def _show(value: Any, n: int = 40) -> str:
    """A client-given value for an error message: short and ASCII (no lone surrogates)."""
    text = value if isinstance(value, str) else type(value).__name__
    return ascii(text[:n])


def _finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return -_FLOAT_MAX < value < _FLOAT_MAX if isinstance(value, int) else math.isfinite(value)


def validate_alert(obj: Any, policy: Policy) -> dict:
    """The collector's check of a device's alert: known rule, allowed fields only, sane values.

    Raises :class:`AlertError` (an ASCII-safe message) for anything else."""
    if not isinstance(obj, Mapping):
        raise AlertError("an alert is a JSON object")
    extra = [k for k in obj if k not in _REQUIRED and k not in policy.fields]
    if extra:
        shown = ", ".join(sorted(_show(k, 20) for k in extra)[:5])
        raise AlertError(f"fields not allowed by this site: {shown}")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise AlertError(f"missing fields: {', '.join(missing)}")
    rule = next((r for r in policy.rules if isinstance(obj["rule"], str) and r.name == obj["rule"]), None)
    if rule is None:
        raise AlertError(f"unknown rule {_show(obj['rule'])}")
    if obj["metric"] != rule.metric:
        raise AlertError(f"rule {rule.name} watches {rule.metric}, not {_show(obj['metric'], 20)}")
    if not _finite(obj["value"]) or not _finite(obj["threshold"]):
        raise AlertError("value and threshold must be finite numbers")
    if float(obj["threshold"]) != rule.at_least or obj["value"] < rule.at_least:
        raise AlertError(f"value {float(obj['value']):g} does not cross rule {rule.name} (at least {rule.at_least:g})")
    if "sid" in obj and not (isinstance(obj["sid"], str) and _SID.fullmatch(obj["sid"])):
        raise AlertError("sid must be 8-64 of A-Z a-z 0-9 _ -")
    if "page" in obj and not (isinstance(obj["page"], str) and _PAGE.fullmatch(obj["page"])):
        raise AlertError("page must be a URL path (no query, no fragment)")
    if "bucket" in obj and not (isinstance(obj["bucket"], str) and obj["bucket"] in _BUCKETS):
        raise AlertError(f"bucket must be one of {', '.join(_BUCKETS)}")
    out = {k: obj[k] for k in (*_REQUIRED, *policy.fields) if k in obj}
    out["value"], out["threshold"] = float(out["value"]), float(out["threshold"])
    return out


def _limits(obj: Any) -> dict[str, tuple[int, float]]:
    limits = dict(DEFAULT_LIMITS)
    if obj is None:
        return limits
    if not isinstance(obj, Mapping) or set(obj) - set(DEFAULT_LIMITS):
        raise AlertError("limits is {per_rule: [posts, seconds], per_site: [posts, seconds]}")
    for key, value in obj.items():
        if not (isinstance(value, list) and len(value) == 2 and all(_finite(v) for v in value)
                and isinstance(value[0], int) and value[0] >= 1 and value[1] > 0):
            raise AlertError(f"limits.{key} is [posts >= 1, seconds > 0]")
        limits[key] = (int(value[0]), float(value[1]))
    return limits


def load_policy(path: str) -> tuple[Policy, dict[str, tuple[int, float]]]:
    """Read a policy file: the :class:`Policy` and its webhook limits (``"limits"``, optional)."""
    with open(path, encoding="utf-8") as fh:
        try:
            obj = json.load(fh)
        except ValueError as exc:
            raise AlertError(f"{path}: not JSON ({exc})") from None
    if isinstance(obj, dict) and "limits" in obj:
        obj = dict(obj)
        return Policy.from_json({k: v for k, v in obj.items() if k != "limits"}), _limits(obj["limits"])
    return Policy.from_json(obj), _limits(None)


class PostBudget:
    """Sliding-window budgets of webhook posts, per rule and for the whole site.

    :meth:`take` answers whether an alert for ``rule`` may be posted now; if not, the
    alert is held (counted). :meth:`take` returns ``(allowed, held_before)``: the number
    of alerts held for this rule since its last post, to mention in this one.
    """

    def __init__(self, limits: Mapping[str, tuple[int, float]] | None = None, clock: Callable[[], float] = time.monotonic):
        limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.per_rule, self.per_site, self.clock = limits["per_rule"], limits["per_site"], clock
        self._rule: dict[str, collections.deque] = {}
        self._site: collections.deque = collections.deque()
        self._held: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    @staticmethod
    def _room(times: collections.deque, limit: tuple[int, float], now: float) -> bool:
        while times and now - times[0] >= limit[1]:
            times.popleft()
        return len(times) < limit[0]

    def take(self, rule: str) -> tuple[bool, int]:
        now = self.clock()
        with self._lock:
            times = self._rule.setdefault(rule, collections.deque())
            if not (self._room(times, self.per_rule, now) and self._room(self._site, self.per_site, now)):
                self._held[rule] += 1
                return False, self._held[rule]
            times.append(now)
            self._site.append(now)
            return True, self._held.pop(rule, 0)


def _lines(alert: Mapping, more: int = 0) -> list[tuple[str, str]]:
    rows = [("Rule", alert["rule"]), ("Metric", f"{alert['metric']} = {alert['value']:g} (threshold {alert['threshold']:g})")]
    for key, name in (("page", "Page"), ("bucket", "Device"), ("sid", "Session")):
        if key in alert:
            rows.append((name, str(alert[key])))
    if more:
        rows.append(("Also", f"{more} more session{'s' if more != 1 else ''} crossed this rule since the last message"))
    return rows


def _title(alert: Mapping, site: str) -> str:
    return f"{site}: a session crossed \"{alert['rule']}\" ({alert['metric']} {alert['value']:g} ≥ {alert['threshold']:g})"


def slack_payload(alert: Mapping, site: str = "Sightline", more: int = 0) -> dict:
    """A Slack incoming-webhook body: ``text`` fallback plus Block Kit blocks."""
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
    rows = _lines(alert, more)
    return {
        "text": esc(_title(alert, site)),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"{site} alert: {alert['rule']}"[:150]}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{n}*\n{esc(v)}"} for n, v in rows][:10]},
            {"type": "context", "elements": [{"type": "mrkdwn",
                                              "text": "Decided on the visitor's device; open the session in the Sightline viewer."}]},
        ],
    }


def discord_payload(alert: Mapping, site: str = "Sightline", more: int = 0) -> dict:
    """A Discord webhook body: ``content`` plus one embed; mentions disabled."""
    return {
        "content": _title(alert, site)[:2000],
        "embeds": [{
            "title": f"{site} alert: {alert['rule']}"[:256],
            "color": 0xE02424,
            "fields": [{"name": n, "value": v[:1024], "inline": True} for n, v in _lines(alert, more)][:25],
            "footer": {"text": "Decided on the visitor's device"},
        }],
        "allowed_mentions": {"parse": []},
    }


def send(webhook: Mapping, alert: Mapping, site: str = "Sightline", timeout: float = 5.0, more: int = 0) -> int:
    """POST ``alert`` to one webhook in its format; return the HTTP status (0: unreachable)."""
    body = (slack_payload if webhook["format"] == "slack" else discord_payload)(alert, site, more)
    req = urllib.request.Request(webhook["url"], data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "sightline-alerts/1"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0
