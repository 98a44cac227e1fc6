"""PII masking: find personal data in text and replace it, keeping the text's shape.

Masking keeps length and spacing (every masked character becomes ``*``, whitespace and
punctuation that separate groups stay) so a replay's layout does not move.
"""

from __future__ import annotations

import re
from typing import Callable

MASK = "*"

# Each pattern is (kind, compiled regex, optional validator of the match).
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){2,4}(?!\w)")
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_BEARER = re.compile(r"(?i)\b(bearer|token|apikey|api_key|secret|password)([=: ]+)([A-Za-z0-9._~+/-]{8,})")


def luhn_ok(digits: str) -> bool:
    """True if the digits pass the Luhn checksum (payment card numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match) -> bool:
    digits = re.sub(r"\D", "", m.group())
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _phone(m: re.Match) -> bool:
    digits = re.sub(r"\D", "", m.group())
    return 8 <= len(digits) <= 15


_RULES: list[tuple[str, re.Pattern, Callable[[re.Match], bool] | None, int]] = [
    ("jwt", _JWT, None, 0),
    ("secret", _BEARER, None, 3),
    ("email", _EMAIL, None, 0),
    ("card", _CARD, _card, 0),
    ("ssn", _SSN, None, 0),
    ("ipv4", _IPV4, None, 0),
    ("phone", _PHONE, _phone, 0),
]


def shape_mask(text: str) -> str:
    """Replace every character except whitespace with the mask character."""
    return "".join(ch if ch.isspace() else MASK for ch in text)


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) spans of personal data in ``text``."""
    spans: list[tuple[int, int, str]] = []
    for kind, pattern, valid, group in _RULES:
        for m in pattern.finditer(text):
            if valid and not valid(m):
                continue
            start, end = m.span(group)
            if any(s < end and start < e for s, e, _ in spans):
                continue
            spans.append((start, end, kind))
    return sorted(spans)


def mask_text(text: str) -> str:
    """``text`` with every piece of personal data masked, length and spacing kept."""
    if not text or len(text) < 6:
        return text
    spans = find_pii(text)
    if not spans:
        return text
    out, pos = [], 0
    for start, end, _ in spans:
        out.append(text[pos:start])
        out.append(shape_mask(text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


# --------------------------------------------------------------------------- events

_SECRET_PARAM = re.compile(r"(?i)(token|key|secret|pass(word)?|auth|session|sig(nature)?|code|email|phone)")
_QUERY_PAIR = re.compile(r"([?&#;])([^=&#;]*)=([^&#;]*)")
# Attributes whose values can carry text a visitor typed or personal data.
MASKED_ATTRIBUTES = frozenset(
    ("value", "placeholder", "title", "alt", "aria-label", "href", "src", "action", "content", "data-value")
)


def mask_url(url: str) -> str:
    """A URL with personal data and the values of secret-looking query parameters masked.

    The scheme and host are kept (they name the site, not the visitor); the path, query
    and fragment are masked.
    """
    if not url:
        return url
    head = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*", url)
    if head:
        return head.group() + mask_url(url[head.end():]) if len(url) > head.end() else url

    def pair(m: re.Match) -> str:
        sep, name, value = m.groups()
        if _SECRET_PARAM.search(name):
            value = shape_mask(value)
        return f"{sep}{name}={value}"

    return mask_text(_QUERY_PAIR.sub(pair, url))


def _mask_attrs(attrs: dict | None) -> None:
    if not attrs:
        return
    for name, value in attrs.items():
        if isinstance(value, str) and name in MASKED_ATTRIBUTES:
            attrs[name] = mask_url(value) if name in ("href", "src", "action") else mask_text(value)


def _mask_node(node: dict) -> None:
    from .events import walk

    for n in walk(node):
        if isinstance(n.get("x"), str):
            n["x"] = mask_text(n["x"])
        _mask_attrs(n.get("a"))


def _mask_value(value):
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_mask_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    return value


def mask_event(event: dict) -> dict:
    """Mask every channel of one event in place and return it (see docs/privacy.md)."""
    from .events import EventType as T

    t = event.get("t")
    for field in ("u", "r"):
        if isinstance(event.get(field), str) and t != T.IDENTIFY:
            event[field] = mask_url(event[field])
    for field in ("ti", "m", "s", "e", "v"):  # NETWORK's "s" is a status number
        if isinstance(event.get(field), str):
            event[field] = mask_text(event[field])
    if t == T.SNAPSHOT and isinstance(event.get("n"), dict):
        _mask_node(event["n"])
    elif t == T.MUTATION:
        for add in event.get("ad") or ():
            if len(add) == 3 and isinstance(add[2], dict):
                _mask_node(add[2])
        for change in event.get("at") or ():
            if len(change) == 2 and isinstance(change[1], dict):
                _mask_attrs(change[1])
        for change in event.get("tx") or ():
            if len(change) == 2 and isinstance(change[1], str):
                change[1] = mask_text(change[1])
    elif t == T.CUSTOM and "p" in event:
        event["p"] = _mask_value(event["p"])
    return event


def mask_events(events: list[dict]) -> list[dict]:
    """Mask a batch of events in place and return it."""
    for event in events:
        mask_event(event)
    return events
