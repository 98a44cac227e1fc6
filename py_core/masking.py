"""PII masking: find personal data in text and replace it, keeping the text's shape.

Every masked character becomes ``*``; whitespace stays, so length and spacing are kept
and a replay's layout does not move. Detection is by pattern plus a checksum or a
structural check wherever one exists, which is what keeps near misses (order numbers,
prices, dates, versions, UUIDs) unmasked:

=============  ==============================================================
kind           detected as
=============  ==============================================================
``email``      local@domain.tld (also ``%40`` for ``@`` inside URLs)
``card``       13-19 digits, optionally grouped by spaces/dashes, Luhn-valid
``iban``       country code + check digits + BBAN, per-country length, mod-97
``ssn``        US SSN ``AAA-GG-SSSS`` (or spaced), SSA validity rules
``phone``      ``+``/``00`` international or trunk-``0``/``(area)`` national
               numbers, 8-15 digits, grouped the ways phone numbers are written
``ipv4``       dotted quad, every octet 0-255
``ipv6``       any form :mod:`ipaddress` accepts (``::``, embedded IPv4, zones)
``jwt``        three base64url segments, the first a JSON header (``eyJ``)
``api_key``    well-known key prefixes (Stripe, AWS, GitHub, Slack, Google...)
``bearer``     the credential after ``Bearer``/``Basic``/``Token``
``secret``     the value after ``password``/``api_key``/``token``/... ``=`` or ``:``
``url_secret`` values of secret-named URL query/fragment parameters
=============  ==============================================================

Public API: :func:`mask_text`, :func:`find_pii`, :func:`mask_url`, :func:`mask_event`,
:func:`mask_events`. docs/privacy.md describes which event fields each one covers.
Runs unchanged on CPython and in Pyodide (stdlib only).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Callable, Iterable
from urllib.parse import unquote_plus

__all__ = ["MASK", "find_pii", "luhn_ok", "iban_ok", "mask_event", "mask_events",
           "mask_text", "mask_url", "secret_param", "shape_mask"]

MASK = "*"

# ----------------------------------------------------------------------------- checks


def luhn_ok(digits: str) -> bool:
    """True if the digits pass the Luhn checksum (payment card numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# IBAN length per country (ISO 13616 registry); unknown countries are refused.
_IBAN_LENGTH = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban_ok(text: str) -> bool:
    """True if ``text`` (spaces allowed) is an IBAN of its country's length with valid mod-97."""
    s = text.replace(" ", "").upper()
    if _IBAN_LENGTH.get(s[:2]) != len(s) or not s[2:4].isdigit():
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban(m: re.Match):
    """An IBAN match, or the longest prefix of it that is one (a word may follow it)."""
    text = m.group()
    while text:
        if iban_ok(text):
            return (m.start(), m.start() + len(text))
        cut = text.rfind(" ")
        if cut < 0:
            return False
        text = text[:cut]
    return False


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


# Issuer prefixes by length (ISO/IEC 7812): a Luhn-valid run of digits is a card number
# only with a card's length and a card issuer's first digits.
_MAESTRO_12 = ("50", "56", "57", "58", "63", "67", "06")


# Words that, shortly before a bare run of digits, say what it is. Bare 13-digit Visa
# numbers and unformatted 10-digit North-American phone numbers look exactly like
# barcodes and order numbers; they count only next to one of these words.
_CARD_WORDS = re.compile(r"(?i)(card|visa|master|amex|carte|tarjeta|karte|charged|cc|pan|payment|paiement|pago|zahlung)")
_PHONE_WORDS = re.compile(r"(?i)(phone|call|tel|mobile|cell|ring|fax|sms|whatsapp|contact|telefon|t[ée]l[ée]fono|"
                          r"appelez|llámenos|llame|rufen|handy|portable|móvil|movil)")


def _near(m: re.Match, words: re.Pattern, before: int = 40) -> bool:
    return bool(words.search(m.string[max(0, m.start() - before):m.start()]))


def _card_number(d: str) -> bool:
    if not (12 <= len(d) <= 19 and luhn_ok(d)):
        return False
    if len(d) == 12:
        return d[:2] in _MAESTRO_12
    if len(d) == 13:
        return d[0] == "4"
    return d[0] in "23456" or d[:4] in ("1800", "2131")


def _card_ok(m: re.Match, text: str, at: int) -> bool:
    d = _digits(text)
    if not _card_number(d):
        return False
    if len(d) <= 13 and text.isdigit() and not _near(m, _CARD_WORDS, 40 + at):
        return False
    # Grouped numbers must be grouped like cards are (4-4-4-4, 4-6-5, 4-4-4-4-3 ...).
    groups = re.split(r"[ -]", text)
    return len(groups) == 1 or all(3 <= len(g) <= 6 for g in groups)


def _card(m: re.Match):
    return _windows(m, _card_ok, r"\d+")


def _ssn(m: re.Match) -> bool:
    area, group, serial = m.group(1), m.group(3), m.group(4)
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_EXTENSION = re.compile(r"\s?(?:x|ext\.?)\s?\d{1,5}$")
_DATE_LIKE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}")


def _windows(m: re.Match, ok: Callable[[re.Match, str, int], bool], sep: str):
    """The longest run of the match's pieces (split at ``sep``) that ``ok`` accepts, as a span.

    Digits next to a value ("ref 0 4242 4242 4242 4242", "1 06 12 34 56 78 1") must not
    hide it, so every contiguous window of pieces is tried, longest first.
    """
    text = m.group()
    pieces = [p.span() for p in re.finditer(sep, text)]
    for size in range(len(pieces), 0, -1):
        for i in range(len(pieces) - size + 1):
            s, e = pieces[i][0], pieces[i + size - 1][1]
            if ok(m, text[s:e], s):
                return (m.start() + s, m.start() + e)
    return False


def _phone(m: re.Match):
    """The match, or its longest prefix ending at a group boundary, that is a phone number.

    Unlike cards (Luhn and issuer prefixes make any window safe to try), a phone number
    has no checksum: windows starting inside a longer run of digit groups would mask
    pieces of IBANs and reference numbers, so only the end is trimmed.
    """
    text = m.group()
    while text:
        if _phone_ok(m, text):
            return (m.start(), m.start() + len(text))
        cut = max(text.rfind(" "), text.rfind("-"), text.rfind("."))
        if cut < 0:
            return False
        text = text[:cut].rstrip(" .-")
    return False


def _phone_ok(m: re.Match, text: str, at: int = 0) -> bool:
    text = _EXTENSION.sub("", text)
    d = _digits(text)
    if not 8 <= len(d) <= 15 or _DATE_LIKE.fullmatch(text):
        return False
    if re.fullmatch(r"\d{3}-\d{2}-\d{4}", text):  # the shape of an SSN, not of a phone number
        return False
    if "." in text and any(len(g) < 2 for g in re.split(r"[.]", text)):  # versions: 0.22.14597
        return False
    if text[0] in "+(" or text.startswith("00"):
        return True
    if d[0] == "0":  # national numbers after a trunk 0 (most of Europe)
        return bool(re.search(r"[\s.-]", text)) or 10 <= len(d) <= 11
    # North-American 3-3-4 grouping, or 10 bare digits that a phone word announces.
    if re.fullmatch(r"\d{3}[.-]\d{3}[.-]\d{4}", text):
        return True
    return len(d) == 10 and text.isdigit() and d[0] in "23456789" and d[3] in "23456789" and _near(m, _PHONE_WORDS, 40 + at)


def _ipv4(m: re.Match) -> bool:
    return all(len(p) == 1 or p[0] != "0" for p in m.group().split("."))


def _ipv6(m: re.Match) -> bool:
    text = m.group()
    if text.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(text.split("%")[0])
    except ValueError:
        return False
    # "12:30:45"-like clock times never pass IPv6Address; bare "::" is not an address.
    return any(c not in ":" for c in text)


def _token(m: re.Match) -> bool:
    """A credential is long and mixes classes (not a plain word such as 'required')."""
    v = m.group(m.lastindex or 0)
    classes = sum(bool(re.search(p, v)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return len(v) >= 8 and (classes >= 2 or len(v) >= 20)


# ----------------------------------------------------------------------------- patterns

_SECRET_NAMES = (r"(?:access_?token|id_?token|refresh_?token|auth_?token|token|api_?key|apikey|"
                 r"secret|client_?secret|password|passwd|pwd|pass|session_?id|sessionid|sid|"
                 r"signature|sig|auth|authorization|code|otp|key|x-api-key|private_?key)")
# Query/fragment parameter names (or name parts between - _ .) whose values are secret or
# personal whatever they look like.
_SECRET_PARTS = frozenset((
    "token", "key", "apikey", "secret", "pass", "password", "passwd", "pwd", "auth", "authorization",
    "session", "sessionid", "sid", "sig", "signature", "code", "otp", "email", "mail", "phone", "tel",
    "mobile", "ssn", "card", "cc", "iban", "account", "user", "username", "login", "name",
    "firstname", "lastname", "address", "zip", "postcode", "dob", "birthday", "credential", "jwt",
    "bearer", "nonce", "hash", "credentials"))
_NAME_SPLIT = re.compile(r"[-_.\[\]]+|(?<=[a-z])(?=[A-Z])")


def secret_param(name: str) -> bool:
    """True if a query parameter named ``name`` carries a secret or personal value."""
    parts = [p.lower() for p in _NAME_SPLIT.split(name) if p]
    return name.lower() in _SECRET_PARTS or any(p in _SECRET_PARTS for p in parts)


_RULES: list[tuple[str, re.Pattern, Callable[[re.Match], bool] | None, int]] = [
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}|"
                       r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"), None, 0),
    ("api_key", re.compile(
        r"\b(?:(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|"
        r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20,}|"
        r"xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|"
        r"sk-(?:proj-)?[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}|shpat_[a-fA-F0-9]{32})"), None, 0),
    ("bearer", re.compile(r"(?i)\b(?:bearer|basic|token)\s+([A-Za-z0-9._~+/=-]{8,})"), _token, 1),
    ("url_secret", re.compile(r"(?i)(?<=[?&#;])(" + _SECRET_NAMES + r"|[\w.-]*(?:token|secret|password|"
                              r"apikey|api_key|signature)[\w.-]*)=([^&#;\s\"'<>]+)"), None, 2),
    ("secret", re.compile(r"(?i)(?<![A-Za-z0-9])(" + _SECRET_NAMES + r")[\"']?\s*(?:=|:)\s*[\"']?([^\s\"'&,;<>]{6,})"),
     _token, 2),
    ("email", re.compile(r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}(?:@|%40)"
                         r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"), None, 0),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
     _iban, 0),
    ("card", re.compile(r"(?<![\w.,-])\d(?:[ -]?\d){11,60}(?![\w-]|[.,]\d)"), _card, 0),
    ("ssn", re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])"),
_ssn, 0),
    ("ipv6", re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|"
                        r"(?:\d{1,3}\.){3}\d{1,3})?(?:%[\w]+)?(?![\w:])"), _ipv6, 0),
    ("ipv4", re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                        r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)"), _ipv4, 0),
    ("phone", re.compile(r"(?<![\w+#/.-])(?:(?:\+|00)\d{1,3}[\s.-]?(?:\(0\)[\s.-]?)?)?"
                         r"(?:\(\d{1,5}\)[\s.-]?)?\d{1,5}(?:[\s.-]?\d{2,5}){1,5}"
                         r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-]|[.,]\d)"), _phone, 0),
]

# Text without any of these cannot hold anything the rules find: skip it at once.
_MAYBE = re.compile(r"[\d@]|%40|eyJ|(?i:bearer|basic|token|secret|pass|key|auth|code|sig|sid|otp)")


def shape_mask(text: str) -> str:
    """Replace every character except whitespace with the mask character."""
    return "".join(ch if ch.isspace() else MASK for ch in text)


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping, sorted ``(start, end, kind)`` spans of personal data in ``text``.

    Rules run in the order of ``_RULES``; a later match that overlaps an earlier span is
    dropped, so the more specific kinds (JWT, keys, IBAN, card) win over phone numbers.
    """
    spans: list[tuple[int, int, str]] = []
    if not text or not _MAYBE.search(text):
        return spans
    for kind, pattern, valid, group in _RULES:
        for m in pattern.finditer(text):
            ok = valid(m) if valid else True
            if not ok:
                continue
            start, end = ok if isinstance(ok, tuple) else m.span(group)
            if start == end or any(s < end and start < e for s, e, _ in spans):
                continue
            spans.append((start, end, kind))
    return sorted(spans)


def mask_text(text: str) -> str:
    """``text`` with every piece of personal data masked, length and spacing kept."""
    if not text or len(text) < 6 or not isinstance(text, str):
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


# ----------------------------------------------------------------------------- URLs

_URL_HEAD = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:(?://[^/?#]*)?")
_QUERY_PAIR = re.compile(r"([?&#;])([^=&#;]*)=([^&#;]*)")
_PATH_SECRET = re.compile(r"^(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{24,}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _has_pii(piece: str) -> bool:
    """True if a URL piece holds personal data, read raw or percent-decoded."""
    if find_pii(piece):
        return True
    try:
        decoded = unquote_plus(piece)
    except Exception:  # noqa: BLE001 - undecodable is treated as raw only
        return False
    return decoded != piece and bool(find_pii(decoded))


def mask_url(url: str, *, own_origin: bool = False) -> str:
    """A URL with personal data masked: path segments, query values and the fragment.

    The scheme and host are kept (they name the site, not the visitor), except when the
    host itself is an IP address or the userinfo carries credentials. With ``own_origin``
    (the recorded page's own URL: META and NAVIGATION ``u``) an IP-address host is kept
    too: it is the site's address, not the visitor's; userinfo is still masked. A path segment or
    query value that holds personal data, raw or percent-decoded, is masked whole; the
    values of secret-named parameters (``token``, ``email``, ``password``...) are masked
    whatever they hold; long random-looking path segments (reset links, magic-link
    tokens) are masked too.
    """
    if not url or not isinstance(url, str):
        return url
    head = _URL_HEAD.match(url)
    start = head.end() if head else 0
    origin, rest = url[:start], url[start:]
    if "@" in origin or (not own_origin and find_pii(origin.split("//", 1)[-1])):
        origin = origin.split("//", 1)[0] + "//" + shape_mask(origin.split("//", 1)[-1]) \
            if "//" in origin else shape_mask(origin)
    q = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    path, tail = rest[:q], rest[q:]
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if seg and (_has_pii(seg) or (_PATH_SECRET.match(seg) and not _UUID.match(seg))):
            segments[i] = shape_mask(seg)

    def pair(m: re.Match) -> str:
        sep, name, value = m.groups()
        if value and (secret_param(unquote_plus(name)) or _has_pii(value)):
            value = shape_mask(value)
        return f"{sep}{name}={value}"

    tail = _QUERY_PAIR.sub(pair, tail)
    # Pieces without '=' (a bare fragment, "?foo") are checked as text.
    return origin + "/".join(segments) + mask_text(tail)


# ----------------------------------------------------------------------------- events

# Attributes that hold URLs; every other attribute value is masked as text.
URL_ATTRIBUTES = frozenset(("href", "src", "action", "formaction", "poster", "data", "cite",
                            "background", "ping", "xlink:href"))
# Attributes that never hold anything personal and are large: left alone for speed.
SKIP_ATTRIBUTES = frozenset(("style", "class", "d", "viewBox", "points", "transform"))


def _mask_srcset(value: str) -> str:
    parts = []
    for item in value.split(","):
        bits = item.strip().split(" ", 1)
        parts.append(" ".join([mask_url(bits[0])] + bits[1:]))
    return ", ".join(parts)


def mask_attr(name: str, value):
    """One attribute's value as it may be kept: URLs masked as URLs, the rest as text."""
    if not isinstance(value, str) or name in SKIP_ATTRIBUTES:
        return value
    if name in URL_ATTRIBUTES:
        return mask_url(value)
    if name in ("srcset", "imagesrcset"):
        return _mask_srcset(value)
    if name == "content" and re.match(r"^[a-z][a-z0-9+.-]*://", value, re.I):
        return mask_url(value)
    return mask_text(value)


def _mask_attrs(attrs: dict | None) -> None:
    if not attrs:
        return
    for name, value in attrs.items():
        attrs[name] = mask_attr(name, value)


def _mask_node(node: dict) -> None:
    from .events import walk

    for n in walk(node):
        if isinstance(n.get("x"), str):
            n["x"] = mask_text(n["x"])
        if isinstance(n.get("css"), str):
            n["css"] = mask_text(n["css"])
        _mask_attrs(n.get("a"))


def mask_value(value):
    """Any JSON value with every string in it (keys too) masked; numbers that are card
    numbers or phone numbers written as numbers are masked into strings."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and abs(value) >= 10_000_000:
        masked = mask_text(str(value))
        return masked if masked != str(value) else value
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return {mask_text(str(k)): mask_value(v) for k, v in value.items()}
    return value


# Fields holding free text, per event (docs/events.md); URLs are masked as URLs.
_URL_FIELDS = ("u", "r")
_TEXT_FIELDS = ("ti", "m", "s", "e", "v", "n")


def mask_event(event: dict) -> dict:
    """Mask every channel of one event in place and return it (see docs/privacy.md).

    Text nodes, inline CSS, every attribute, input values, page/referrer/navigation/
    network URLs, network errors, error messages and stacks, console messages, custom
    event names and properties, identify values and any field this version does not
    know (masked as text), so that a new channel cannot leak by default.
    """
    from .events import EventType as T

    t = event.get("t")
    for key, value in list(event.items()):
        if key in ("t", "ts"):
            continue
        if key in _URL_FIELDS and isinstance(value, str):
            event[key] = mask_text(value) if t == T.IDENTIFY else \
                mask_url(value, own_origin=key == "u" and t in (T.META, T.NAVIGATION))
        elif key in _TEXT_FIELDS and isinstance(value, str):
            event[key] = mask_text(value)
        elif t == T.SNAPSHOT and key == "n" and isinstance(value, dict):
            _mask_node(value)
        elif t == T.MUTATION and key in ("ad", "at", "tx", "rm"):
            _mask_mutation(key, value)
        elif (t == T.MOUSE and key == "p") or (t == getattr(T, "CANVAS", -1) and key == "d"):
            continue  # coordinates; an opt-in canvas frame (pixels: text in it cannot be masked)
        elif isinstance(value, (str, list, dict)):
            event[key] = mask_value(value)
    return event


def _mask_mutation(key: str, changes: Iterable) -> None:
    for change in changes or ():
        if key == "ad" and len(change) == 3 and isinstance(change[2], dict):
            _mask_node(change[2])
        elif key == "at" and len(change) == 2 and isinstance(change[1], dict):
            _mask_attrs(change[1])
        elif key == "tx" and len(change) == 2 and isinstance(change[1], str):
            change[1] = mask_text(change[1])


def mask_events(events: list[dict]) -> list[dict]:
    """Mask a batch of events in place and return it."""
    for event in events:
        if isinstance(event, dict):
            mask_event(event)
    return events
