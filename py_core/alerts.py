"""Alerts: the device decides, the collector relays only what the site allows.

The collector cannot read sessions, so it cannot tell when one goes wrong. The
visitor's worker can: after analysing a batch it compares the session's running
metrics with the site's alert *rules* and, when one is crossed, posts a small clear
alert that holds only the *fields* the site's policy allows (never events, text or
URLs beyond the page path). The collector checks the alert against the same policy,
drops anything else, de-duplicates per session and rule, and posts it to the team's
webhooks in Slack's or Discord's payload format. See docs/adr/0601-alerts-decided-on-device.md
and docs/adr/0508-alerts-decide-from-the-verdict.md (rules read the session's verdict).

A policy (JSON, given to the collector with ``SIGHTLINE_ALERTS=<file>``)::

    {"site": "Demo shop",
     "rules": [{"name": "errors", "metric": "errors", "at_least": 1},
               {"name": "frustrated", "metric": "frustration", "at_least": 0.6}],
     "fields": ["sid", "page"],
     "webhooks": [{"format": "slack", "url": "https://hooks.slack.com/services/..."},
                  {"format": "discord", "url": "https://discord.com/api/webhooks/..."}]}

Devices read the public part (rules and fields, never webhook URLs) from
``GET /v1/alerts/policy``. Pure Python, no I/O. The collector's side (checking an alert,
bounding and posting webhook messages) is py_core/collector/relay.py.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

__all__ = [
    "METRICS",
    "OPTIONAL_FIELDS",
    "AlertError",
    "Policy",
    "Rule",
    "decide",
    "device_check",
    "metrics",
]

#: Metrics a rule can watch, each computed from analyze()'s result by :func:`metrics`.
#: Counts: ``errors``, ``failed_requests``, ``rage_clicks``. From the session's ``verdict``
#: (docs/adr/0508-alerts-decide-from-the-verdict.md): ``frustrated`` and ``anomalous``
#: (1 or 0: the verdict's label is frustrated / the verdict flags it), ``frustration`` (the
#: verdict's 0-1 score: a strong rule's ``rule_score`` when one overrode the model, else the
#: model's P(frustrated)) and ``anomaly`` (the raw anomaly score). A session too short to
#: score gets neither model score, and is ``frustrated`` only by a rule.
METRICS = ("errors", "failed_requests", "rage_clicks", "frustration", "frustrated", "anomalous", "anomaly")
#: Metrics that keep their maximum across a session's batches (the counts add up).
_SCORES = ("frustration", "frustrated", "anomalous", "anomaly")
#: Context fields a site may allow an alert to carry besides rule, metric, value, threshold.
OPTIONAL_FIELDS = ("sid", "page", "bucket")
_REQUIRED = ("rule", "metric", "value", "threshold")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_SID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_PAGE = re.compile(r"/[A-Za-z0-9_./~%-]{0,199}")
_BUCKETS = ("mobile", "tablet", "desktop")


class AlertError(ValueError):
    """A policy or alert that does not follow the rules; the message says why."""


@dataclass(frozen=True)
class Rule:
    """Fire once per session when ``metric`` reaches ``at_least``."""

    name: str
    metric: str
    at_least: float


@dataclass(frozen=True)
class Policy:
    """A site's alert rules, the fields an alert may carry, and where alerts go."""

    rules: tuple[Rule, ...]
    fields: tuple[str, ...] = ()
    webhooks: tuple[dict, ...] = ()
    site: str = "Sightline"
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, obj: Any) -> "Policy":
        """Validate a policy object (see the module docstring); raise AlertError on any fault."""
        if not isinstance(obj, Mapping):
            raise AlertError("a policy is a JSON object")
        unknown = set(obj) - {"site", "rules", "fields", "webhooks"}
        if unknown:
            raise AlertError(f"unknown policy keys: {', '.join(sorted(unknown))}")
        rules = []
        for r in obj.get("rules") or ():
            if not isinstance(r, Mapping) or set(r) != {"name", "metric", "at_least"}:
                raise AlertError("each rule is {name, metric, at_least}")
            if not isinstance(r["name"], str) or not _NAME.fullmatch(r["name"]):
                raise AlertError(f"rule name {r['name']!r}: 1-40 of A-Z a-z 0-9 _ . -")
            if r["metric"] not in METRICS:
                raise AlertError(f"rule {r['name']}: metric must be one of {', '.join(METRICS)}")
            if not _number(r["at_least"]):
                raise AlertError(f"rule {r['name']}: at_least must be a finite number")
            rules.append(Rule(r["name"], r["metric"], float(r["at_least"])))
        if len({r.name for r in rules}) != len(rules):
            raise AlertError("rule names must be unique")
        fields = tuple(obj.get("fields") or ())
        bad = [f for f in fields if f not in OPTIONAL_FIELDS]
        if bad:
            raise AlertError(f"fields may only be {', '.join(OPTIONAL_FIELDS)}; not {', '.join(map(str, bad))}")
        hooks = []
        for h in obj.get("webhooks") or ():
            if not isinstance(h, Mapping) or h.get("format") not in ("slack", "discord") \
                    or not isinstance(h.get("url"), str) or not re.match(r"https?://", h["url"]):
                raise AlertError("each webhook is {format: slack|discord, url: http(s)://...}")
            hooks.append({"format": h["format"], "url": h["url"]})
        site = obj.get("site", "Sightline")
        if not isinstance(site, str) or not 0 < len(site) <= 80:
            raise AlertError("site is a name of 1-80 characters")
        return cls(tuple(rules), fields, tuple(hooks), site)

    @classmethod
    def load(cls, path: str) -> "Policy":
        """Read and validate a policy file."""
        with open(path, encoding="utf-8") as fh:
            try:
                obj = json.load(fh)
            except ValueError as exc:
                raise AlertError(f"{path}: not JSON ({exc})") from None
        return cls.from_json(obj)

    def public(self) -> dict:
        """What devices need to decide: rules and allowed fields (no webhook URLs)."""
        return {"rules": [{"name": r.name, "metric": r.metric, "at_least": r.at_least} for r in self.rules],
                "fields": list(self.fields)}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _score(value: Any) -> float | None:
    """A score from an insight that may be a number or ``{"score": n}`` (absent: None)."""
    if isinstance(value, Mapping):
        value = value.get("score")
    return float(value) if _number(value) else None


def metrics(insights: Mapping) -> dict[str, float]:
    """The metrics rules watch, from one analyze() result; keys absent from it are left out.

    Scores come from the session's ``verdict`` only (the policy of py_core.insights: a
    strong rule overrides the model's label, a too-short session is never anomalous), not
    from the models' raw outputs: a result without a verdict yields the counts alone. On a
    session too short to score (``verdict.too_short``: the device's first passes over a
    visit) only a rule can make it frustrated; the models' scores are left out."""
    out: dict[str, float] = {}
    for name in ("errors", "failed_requests", "rage_clicks"):
        if isinstance(insights.get(name), list):
            out[name] = float(len(insights[name]))
    verdict = insights.get("verdict")
    if not isinstance(verdict, Mapping):
        return out
    rule, scored = bool(verdict.get("rule")), not verdict.get("too_short")
    # A strong rule decides on any session; the models only on one long enough to score.
    out["frustrated"] = 1.0 if verdict.get("label") == "frustrated" and (rule or scored) else 0.0
    out["anomalous"] = 1.0 if verdict.get("anomalous") is True else 0.0
    frustration = insights.get("frustration")
    if isinstance(frustration, Mapping):
        score = _score(frustration.get("rule_score")) if rule else None
        if score is None and scored:
            score = _score(frustration)
        if score is not None:
            out["frustration"] = score
    if scored:
        score = _score(insights.get("anomaly"))
        if score is not None:
            out["anomaly"] = score
    return out


def decide(totals: Mapping[str, float], policy: Mapping | Policy, fired: Iterable[str] = (),
           context: Mapping[str, Any] | None = None) -> list[dict]:
    """Alerts to send now: rules whose metric in ``totals`` reached the threshold and have
    not ``fired`` yet this session; each carries only the fields the policy allows.

    ``policy`` may be the public JSON the device fetched; ``context`` offers sid, page,
    bucket, of which only the allowed ones are copied.
    """
    if not isinstance(policy, Policy):
        policy = Policy.from_json(policy)
    done = set(fired)
    context = context or {}
    out = []
    for rule in policy.rules:
        value = totals.get(rule.metric)
        if rule.name in done or value is None or value < rule.at_least:
            continue
        alert = {"rule": rule.name, "metric": rule.metric, "value": round(float(value), 4),
                 "threshold": rule.at_least}
        for key in policy.fields:
            if context.get(key) is not None:
                alert[key] = context[key]
        out.append(alert)
    return out


def device_check(state_json: str, payload_json: str, policy_json: str) -> str:
    """One step of the decision on the visitor's device, called by the recorder's worker
    after each batch is analysed (plain JSON strings cross the Pyodide boundary).

    ``state`` is what the previous step returned (``"{}"`` at first): running totals
    (counts add up, scores keep their maximum), rules already fired, and the page path
    and width bucket last seen. Returns ``{"state": ..., "alerts": [...]}``.
    """
    from .aggregate import page_key, width_bucket

    state = json.loads(state_json or "{}") or {}
    payload = json.loads(payload_json)
    policy = Policy.from_json(json.loads(policy_json))
    totals = dict(state.get("totals") or {})
    for name, value in metrics(payload.get("insights") or {}).items():
        totals[name] = max(totals.get(name, value), value) if name in _SCORES \
            else totals.get(name, 0.0) + value
    page, bucket = state.get("page"), state.get("bucket")
    for ev in payload.get("events") or ():
        if ev.get("t") == 0:  # META: a page load
            page, bucket = page_key(str(ev.get("u") or "")), width_bucket(ev.get("w"))
    context = {"sid": payload.get("sid"), "page": page, "bucket": bucket}
    fired = list(state.get("fired") or ())
    found = decide(totals, policy, fired, context)
    state = {"totals": totals, "fired": fired + [a["rule"] for a in found], "page": page, "bucket": bucket}
    return json.dumps({"state": state, "alerts": found})


#: Collector-side names that used to live here; they are in py_core.collector.relay now
#: (not shipped to visitors' workers). Resolved on first use, on CPython only.
_RELAY_NAMES = ("MAX_ALERT_BYTES", "discord_payload", "send", "slack_payload", "validate_alert")


def __getattr__(name: str):
    if name in _RELAY_NAMES:
        from py_core.collector import relay

        return getattr(relay, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
