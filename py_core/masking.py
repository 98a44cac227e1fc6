"""PII masking: find personal data in text and replace it, keeping the text's shape.

Every masked character becomes ``*``; whitespace stays, so length and spacing are kept
and a replay's layout does not move. Detection is by pattern plus a checksum or a
structural check wherever one exists, which is what keeps near misses (order numbers,
prices, dates, versions, UUIDs) unmasked:

=============  ==============================================================
kind           detected as
=============  ==============================================================
``email``      local@domain.tld (also ``%40`` for ``@`` inside URLs), RFC 6531
               local parts and IDNA domains
``card``       12-19 digits, bare or grouped, Luhn-valid, issuer range per length
``iban``       country code + check digits + BBAN, per-country length, mod-97 (or
               IBAN-shaped and mod-97-valid at an unregistered length)
``ssn``        US SSN ``AAA-GG-SSSS`` (or spaced), SSA validity rules; 9 bare
               digits after an SSN label
``phone``      ``+``/``00`` international, trunk-``0``/``(area)`` national, national
               groupings per country; bare digits only after (or right before) a
               phone word; 6-7 digit local numbers only right beside one
``passport``   a passport-like token after a passport label
``dob``        a date (ISO, numeric, written out) after a birth-date label
``name``       capitalised words after a name label or a greeting, or before an
               e-mail or phone number
``address``    the rest of the field after an address label, or after a weak
               context ("Billing:", "goes to") when it is shaped like an address
``ipv4``       dotted quad, every octet 0-255
``ipv6``       any form :mod:`ipaddress` accepts (``::``, embedded IPv4, zones)
``jwt``        three base64url segments, the first a JSON header (``eyJ``)
``api_key``    well-known key prefixes (Stripe, AWS, GitHub, Slack, Google...)
``bearer``     the credential after ``Bearer``/``Basic``/``Token``
``secret``     the value after ``password``/``api_key``/``token``/... ``=`` or ``:``
``url_secret`` values of secret-named URL query/fragment parameters
=============  ==============================================================

In a recorded table each cell is read with the label cell beside it (:func:`_row_contexts`),
and table markup inside text reads ``</td><td>`` as a label's ``:`` (ADR 0208).

Public API: :func:`mask_text`, :func:`find_pii`, :func:`mask_url`, :func:`mask_css`,
:func:`mask_event`, :func:`mask_events`. ADR 0202, 0203, 0207, 0208. docs/privacy.md describes which event fields each one covers.
Runs unchanged on CPython and in Pyodide (stdlib only).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Callable, Iterable
from urllib.parse import unquote_plus

__all__ = ["MASK", "MASK_WIDE", "find_pii", "luhn_ok", "iban_ok", "iban_shaped", "mask_attr", "mask_css", "mask_event",
           "mask_events", "mask_text", "mask_url", "personal_key", "secret_param", "shape_mask"]

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


def iban_shaped(text: str) -> bool:
    """True if ``text`` passes mod-97 in the shape of an IBAN but with a length its country
    does not use (or an unlisted country): generators and test data make these, and a value
    that passes a 1-in-97 check in this shape is an account number far more often than not."""
    s = text.replace(" ", "").upper()
    if not (15 <= len(s) <= 34 and s[2:4].isdigit() and sum(c.isdigit() for c in s[4:]) >= 8):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban(m: re.Match):
    """An IBAN match, or the longest prefix of it that is one (a word may follow it); else
    the longest IBAN-shaped prefix that passes mod-97 (:func:`iban_shaped`)."""
    for check in (iban_ok, iban_shaped):
        text = m.group()
        while text:
            if check(text):
                return (m.start(), m.start() + len(text))
            cut = text.rfind(" ")
            if cut < 0:
                break
            text = text[:cut]
    return False


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


# Issuer prefixes (ISO/IEC 7812 major industry identifier and the networks' ranges): a
# Luhn-valid run of digits is a card number only with a card's length (12-19) and an
# issuer's first digits. 1: UATP; 2: Mastercard 2-series, Mir; 3: Amex, Diners, JCB; 4: Visa,
# Elo; 5: Mastercard, Maestro, Verve; 6: Discover, Maestro, UnionPay, RuPay; 81/82: RuPay;
# 9792: Troy. 0, 7 and the rest of 8 and 9 are not issued to cards.
_MAESTRO_12 = ("50", "56", "57", "58", "63", "67", "06")


# Words that, shortly before a bare run of digits, say what it is. Bare 12- and 13-digit
# card numbers and unformatted national phone numbers look exactly like barcodes and
# order numbers; they count only next to one of these words (or an attribute name).
_CARD_WORDS = re.compile(r"(?i)(card|visa|master|amex|maestro|carte|tarjeta|karte|kaart|carta|cart[ãa]o|"
                         r"charged|\bcc|\bpan\b|payment|paiement|pago|zahlung|betaling|pagamento|カード)")
_PHONE_WORDS = re.compile(r"(?i)(phone|call|\btel|mobile|cell|ring|fax|sms|whatsapp|contact|telefon|t[ée]l[ée]fono|"
                          r"appel|llam|rufen|handy|portable|m[óo]vil|celular|ligue|liga[rn]?\b|chiam|cellulare|"
                          r"\bbel\b|bellen|mobiel|contato|contacto|contatto|kontakt|numero|número|nummer|"
                          r"\bph\b|\bmob\b|\bcel\b|\bfone|電話|携帯|連絡|tél|tel\.|reach|\bline\b|hotline|\bdial|\btext\b|"
                          r"\bwa\b|anruf|erreichbar|joindre|contactez|chiama|bereikbaar|番号)")


# Words right after a card number that say it is one: its expiry or security code.
_CARD_AFTER = re.compile(r"(?i)[\s,;(]{1,3}(?:exp\b|exp\.|expiry|expires|valid[ \t]thru|cvc|cvv|ccv)")


def _near(m: re.Match, words: re.Pattern, before: int = 40) -> bool:
    return bool(words.search(m.string[max(0, m.start() - before):m.start()]))


def _announced(m: re.Match, words: re.Pattern, at: int = 0) -> bool:
    """A word of ``words`` stands at most 40 characters before the value (at ``at`` in the
    match), with no other number between them ("Call 555-0100 after 1707453712": the
    second number is not announced)."""
    start = m.start() + at
    window = m.string[max(0, start - 40):start]
    last = None
    for last in words.finditer(window):
        pass
    return last is not None and not any(c.isdigit() for c in window[last.end():])


def _followed(m: re.Match, words: re.Pattern, end: int | None = None) -> bool:
    """A word of ``words`` follows the value at once, past separators only ("555 0143
    (mobile)", "0612 345678 | cell", a table row's next cell)."""
    after = m.string[m.end() if end is None else end:][:40]
    sep = re.match(r"[\s:(|,–—-]*", after).end()
    w = words.match(after, sep) if sep > 0 else None
    # "... 28.11.21734 Telefon: +49 ..." : a label of the value after it, not of this one
    return bool(w) and not re.match(r"[\w.]*[ \t]*[:：]", after[w.end():])


def _announced_close(m: re.Match, words: re.Pattern, at: int = 0) -> bool:
    """A word of ``words`` ends at most 12 characters before the value, with no letters or
    digits between ("Fax 2006027", "Hotline: 339-3687")."""
    start = m.start() + at
    window = m.string[max(0, start - 40):start]
    last = None
    for last in words.finditer(window):
        pass
    if last is None:
        return False
    gap = _NUMBER_WORD.sub("", window[last.end():])
    return len(gap) <= 12 and not any(c.isalnum() for c in gap)


_NUMBER_WORD = re.compile(r"(?i)\b(?:number|no\.?|nr\.?|num\.?)(?=[\s:#.]*$)")


def _card_number(d: str) -> bool:
    if not (12 <= len(d) <= 19 and luhn_ok(d)):
        return False
    if len(d) == 12:
        return d[:2] in _MAESTRO_12
    if len(d) == 13:
        return d[0] in "456"
    if d[0] == "3":  # Amex 34/37 (15), JCB 3528-3589 (16-19), Diners 300-305/3095/36/38/39 (14-19)
        if d[:2] in ("34", "37"):
            return len(d) == 15
        if d[:2] == "35":  # JCB is 3528-3589; test generators (Faker) use all of 35
            return len(d) >= 16
        return d[:2] in ("36", "38", "39") or "300" <= d[:3] <= "305" or d[:4] == "3095"
    if d[0] in "2456":
        return True
    if d[0] == "1":
        return len(d) == 15  # UATP
    return d[:2] in ("81", "82") or d[:4] == "9792"


def _card_ok(m: re.Match, text: str, at: int) -> bool:
    d = _digits(text)
    if not _card_number(d):
        return False
    if (len(d) == 12 or (len(d) == 13 and text.isdigit())) and not _near(m, _CARD_WORDS, 40 + at) and \
            not _CARD_AFTER.match(m.string, m.start() + at + len(text)):
        return False
    # Grouped numbers must be grouped like cards are (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3, 6-13 ...).
    groups = re.split(r"[ -]", text)
    if len(groups) == 1:
        return True
    if len(groups) == 2:
        return len(groups[0]) in (4, 6) and 4 <= len(groups[1]) <= 13
    if all(len(g) == 4 for g in groups[:-1]) and 1 <= len(groups[-1]) <= 4:  # in fours, as card inputs format
        return True
    return 4 <= len(groups[0]) <= 6 and all(3 <= len(g) <= 6 for g in groups[1:])


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
    pieces of IBANs and reference numbers, so only the end is trimmed, and only for numbers
    that say they are phone numbers (``+``, ``00``, ``(area)``, a trunk ``0``): a national
    grouping without one must be the whole run ("123-4567890-1234567" is an order number).
    """
    text = m.group()
    strong = text[0] in "+(0" or bool(_NANP_TRUNK.match(text))
    while text:
        if _phone_ok(m, text):
            return (m.start(), m.start() + len(text))
        if not strong:
            return False
        cut = max(text.rfind(" "), text.rfind("-"), text.rfind("."))
        if cut < 0:
            return False
        text = text[:cut].rstrip(" .-")
    return False


# National groupings written without a trunk 0 or a country code, as each country writes
# its numbers: US/CA 3-3-4 (any separator; area and exchange codes start 2-9), Italian
# mobiles 3xx, Brazilian (DDD) 9xxxx-xxxx, Indian mobiles 5-5 starting 6-9, Spanish
# 6xx/7xx/9xx 3-2-2-2.
_NATIONAL = re.compile(
    r"[2-9]\d{2}([ .-])[2-9]\d{2}\1\d{4}|3\d{2}([ .-])\d{3}\2\d{4}|3\d{2} \d{6,7}|[1-9]\d[ .-]9?\d{4}-\d{4}|"
    r"[6-9]\d{4} \d{5}|[6-9]\d{2} \d{2} \d{2} \d{2}|1([ .-])[2-9]\d{2}\3[2-9]\d{2}\3\d{4}")


def _phone_ok(m: re.Match, text: str, at: int = 0) -> bool:
    text = _EXTENSION.sub("", text)
    d = _digits(text)
    if _DATE_LIKE.fullmatch(text):
        return False
    if 6 <= len(d) <= 7:  # a local number without its area code: only right after (or before) a phone word
        return (text.isdigit() or all(len(g) >= 2 for g in re.split(r"[ .-]", text))) and \
            (_announced_close(m, _PHONE_WORDS, at) or _followed(m, _PHONE_WORDS, m.start() + at + len(text)))
    if not 8 <= len(d) <= 15:
        return False
    if re.fullmatch(r"\d{3}-\d{2}-\d{4}", text):  # the shape of an SSN, not of a phone number
        return False
    if "." in text and any(len(g) < 2 for g in re.split(r"[.]", text)):  # versions: 0.22.14597
        return False
    if text[0] in "+(" or text.startswith("00") or _NANP_TRUNK.match(text):
        return True
    if d[0] == "0" and (re.search(r"[\s./-]", text) or 10 <= len(d) <= 11):
        return True  # national numbers after a trunk 0 (most of Europe, Japan, India)
    if _NATIONAL.fullmatch(text):
        return True
    # Any other grouping of 8-12 digits, or bare digits, only after a phone word.
    return 8 <= len(d) <= 12 and (_announced(m, _PHONE_WORDS, at) or
                                  _followed(m, _PHONE_WORDS, m.start() + at + len(text))) and \
        (text.isdigit() or all(len(g) >= 2 for g in re.split(r"[ ./-]", text)))


_NANP_TRUNK = re.compile(r"1[ .-]?\(\d{3}\)")


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


# RFC 5321 local parts, and RFC 6531 ones (any non-ASCII letter: "name+können", "再現する");
# domains as DNS names or IDNA U-labels ("müller-bau.de", "例え.日本") or A-labels (xn--).
# Combining marks (Mn/Mc) that letters of Indic, Thai, Arabic, Hebrew... scripts carry: ``\w``
# does not match them, so "सुनीता" would end at its first vowel sign.
_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
          "\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f\u17b4-\u17d3\u1ab0-\u1aff\u1dc0-\u1dff\u200c\u200d"
          "\u20d0-\u20ff\ufe20-\ufe2f")
_EMAIL = re.compile(r"(?<![\w.%+" + _MARKS + r"-])[^\W_][\w.%+" + _MARKS + r"-]{0,63}(?:@|%40)"
                    r"(?:[^\W_](?:[\w" + _MARKS + r"-]{0,61}[\w" + _MARKS + r"])?\.)+(?:[A-Za-z]{2,24}(?![A-Za-z0-9-])|xn--[a-z0-9-]{2,59}|"
                    r"[^\W\d_A-Za-z]{2,24})")

_RULES: list[tuple[str, re.Pattern, Callable[[re.Match], bool] | None, int, tuple | None]] = [
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}|"
                       r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"), None, 0, None),
    ("api_key", re.compile(
        r"\b(?:(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|"
        r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20,}|"
        r"xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|"
        r"sk-(?:proj-)?[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}|shpat_[a-fA-F0-9]{32})"), None, 0, None),
    ("bearer", re.compile(r"(?i)\b(?:bearer|basic|token)\s+([A-Za-z0-9._~+/=-]{8,})"), _token, 1, None),
    ("url_secret", re.compile(r"(?i)(?<=[?&#;])(" + _SECRET_NAMES + r"|[\w.-]*(?:token|secret|password|"
                              r"apikey|api_key|signature)[\w.-]*)=([^&#;\s\"'<>]+)"), None, 2, None),
    ("secret", re.compile(r"(?i)(?<![A-Za-z0-9])(" + _SECRET_NAMES + r")[\"']?\s*(?:=|:)\s*[\"']?([^\s\"'&,;<>]{6,})"),
     _token, 2, None),
    ("email", _EMAIL, None, 0, None),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
     _iban, 0, None),
    ("card", re.compile(r"(?<![\w.-])(?<!\d,)\d(?:[ -]?\d){11,60}(?![\w-]|[.,]\d)|"
                        r"(?<=\d,)(?:\d{4,6}(?:[ -]\d{3,6}){1,4}|\d{12,19})(?![\w-]|[.,]\d)"), _card, 0, None),
    ("ssn", re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])"),
_ssn, 0, None),
    ("ipv6", re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|"
                        r"(?:\d{1,3}\.){3}\d{1,3})?(?:%[\w]+)?(?![\w:])"), _ipv6, 0, None),
    ("ipv4", re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                        r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)"), _ipv4, 0, None),
    ("phone", re.compile(r"(?<![0-9A-Za-z_\u00C0-\u024F+#/.-])(?<!\d:)(?:(?:\+|00)\d{1,3}[\s.-]?(?:\(0\)[\s.-]?)?|"
                         r"\+\(\d{1,3}\)[\s.-]?|1[ .-]?(?=\(\d{3}\)))?"
                         r"(?:\(\d{1,5}\)[\s./-]?|0\d{1,4}/ ?)?\d{1,5}(?:[\s.-]?\d{2,5}){1,5}"
                         r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![0-9A-Za-z_\u00C0-\u024F-]|[.,]\d)"), _phone, 0, None),
]

# ----------------------------------------------------------------------------- label rules
# Values with no checksum that are personal by what stands before them: a passport number
# after a passport label, a date after a birth-date label, a bare 9-digit SSN after an SSN
# label, a name after a name label or a greeting, an address after an address label.

_LETTER = r"[^\W\d_]"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TITLES = frozenset(("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "herr", "frau", "m", "mme", "mlle",
                     "sr", "sra", "srta", "d", "dª", "don", "doña", "dott", "dott.ssa", "sig", "sig.ra", "dhr", "mevr",
                     "shri", "smt", "kumari", "ing", "lic", "eng", "pan", "pani", "pán", "paní", "gospodin", "г-н", "г-жа",
                     "пан", "пані", "добродій", "добродійка", "господин", "госпожа", "господа", "г."))
_PARTICLES = frozenset(("van", "von", "de", "der", "den", "del", "della", "di", "da", "das", "do", "dos", "du", "le",
                        "la", "el", "y", "e", "ten", "ter", "zu", "bin", "al", "'t", "het", "des", "'s", "die", "in"))

_PASSPORT = re.compile(
    r"(?i:passport|pass\.?-?nr|reisepass|passeport|pasaporte|passaporto|paspoort|passaporte|旅券|パスポート)"
    r"[^\n\d<>]{0,24}?(?<![A-Za-z0-9])(\d{2} ?\d{2} \d{6}|\d{4} \d{6}|[A-Z]{1,2} \d{6,8}|"
    r"[A-Z]{0,2}\d{6,9}[A-Z]{0,2}|[A-Z0-9]{2}[A-Z0-9]{4,8})(?![A-Za-z0-9])")
_MONTHISH = _LETTER + r"{3,12}\.?"
_DATE = (r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}[./]\d{1,2}[./]\d{1,2}|\d{4}年\d{1,2}月\d{1,2}日|"
         r"\d{1,2}\.?[ \t]+(?:de[ \t]+)?" + _MONTHISH + r",?[ \t]+(?:de[ \t]+)?\d{4}|" + _MONTHISH + r"[ \t]+\d{1,2}(?:st|nd|rd|th)?,?[ \t]+\d{4}")
_DOB = re.compile(
    r"(?i:date[ \t]of[ \t]birth|birth[ \t]?date|birthday|d\.?o\.?b\b\.?|\bborn(?:[ \t]on)?|geburtsdatum|geboren(?:[ \t]am|[ \t]op)?|"
    r"\bgeb\.|date[ \t]de[ \t]naissance|n[ée]e?[ \t]le|fecha[ \t]de[ \t]nacimiento|f\.[ \t]?nac\.?|nacid[oa][ \t]el|"
    r"data[ \t]di[ \t]nascita|nat[oa][ \t]il|geboortedatum|data[ \t]de[ \t]nascimento|nascid[oa][ \t]em|生年月日|誕生日)"
    r"[^\n\d]{0,14}?(?<!\d)(" + _DATE + r")(?!\d)")
_SSN_LABEL = re.compile(r"(?i:\bssn|social[ \t]security(?:[ \t]number|[ \t]no\.?)?|\bitin\b|\btin\b|tax[ \t]id)"
                        r"[^\n\d]{0,12}?(?<!\d)(\d{9})(?!\d)")

_NAME_WORDS = r"(" + _LETTER + r"[\w'’." + _MARKS + r"-]*(?:[ \t]+" + _LETTER + r"[\w'’." + _MARKS + r"-]*){0,5})"
# "Invoice addressed to: ...", "issued to", "made out to", "prepared for": a document's person.
_NAME_TO = r"(?:addressed|issued|made[ \t]out|prepared|invoiced|registered)[ \t]+(?:to|for)"
_NAME_LABEL = re.compile(
    r"(?<![\w-])(?i:name|full[ \t]name|first[ \t]name|last[ \t]name|surname|customer|recipient|cardholder|attn\.?|"
    r"nom|nom[ \t]complet|prénom|nome|nome[ \t]completo|nombre|nombre[ \t]completo|apellidos?|naam|volledige[ \t]naam|"
    r"vorname|nachname|empfänger|kunde|klant|cliente|destinataire|destinatario|titular|karteninhaber|"
    r"account[ \t]holder|holder|name[ \t]on[ \t]card|contact[ \t]person|addressee|payee|beneficiary|passenger|"
    r"guest|patient|applicant|kontoinhaber|rekeninghouder|intestatario|" + _NAME_TO + r")"
    r"[ \t]*[:：|\t][ \t]*" + _NAME_WORDS)
_NAME_BARE_LABEL = re.compile(r"(?<![\w-])(?i:name|full[ \t]name|nom|nome|nombre|naam|account[ \t]holder|" + _NAME_TO + r")[ \t]+"
                              + _NAME_WORDS)
_NAME_CJK = re.compile(r"(?:氏名|名前|お名前|宛名|担当)[ \t]*[:：]?[ \t　]*([" + _CJK + r"]{1,6}(?:[ 　][" + _CJK + r"]{1,6})?)")
_NAME_HONORIFIC = re.compile(r"([" + _CJK + r"]{1,5}(?:[ 　][" + _CJK + r"]{1,5})?)(?=様|さん|殿)")
_GREETING = re.compile(
    r"(?<![\w-])(?i:hi|hello|hey|dear|hallo|liebe[rs]?|sehr[ \t]geehrte[rs]?|bonjour|bonsoir|salut|cher|chère|hola|"
    r"estimad[oa]|querid[oa]|buenos[ \t]días|ciao|salve|gentile|car[oa]|beste|hoi|geachte|olá|oi|prezad[oa]|namaste|"
    r"thanks|thank[ \t]you|many[ \t]thanks|good[ \t](?:morning|afternoon|evening|day)|welcome(?:[ \t]back)?|greetings|"
    r"congratulations|congrats|guten[ \t](?:tag|morgen|abend)|danke|merci|buongiorno|buonasera|grazie|"
    r"buenas[ \t](?:tardes|noches)|buen[ \t]día|gracias|bom[ \t]dia|boa[ \t](?:tarde|noite)|obrigad[oa]|"
    r"goedemorgen|goedemiddag|bedankt|dank[ \t]je|salam|merhaba|ahoj|hej|cześć|witaj|привет|здравствуйте)"
    r"[ \t,]+" + _NAME_WORDS)
_ADDRESS_LABEL = re.compile(
    r"(?<![\w-])(?i:address|addr\.|ship(?:ping)?[ \t]to|shipping[ \t]address|billing[ \t]address|bill[ \t]to|"
    r"deliver(?:y)?[ \t]to|delivery[ \t]address|mailing[ \t]address|home[ \t]address|adresse|anschrift|lieferadresse|"
    r"rechnungsadresse|adresse[ \t]de[ \t]livraison|livraison|dirección|direccion|domicilio|dirección[ \t]de[ \t]envío|"
    r"indirizzo|indirizzo[ \t]di[ \t]spedizione|adres|afleveradres|bezorgadres|endereço|endereco|endereço[ \t]de[ \t]entrega)"
    r"[ \t]*[:：|\t]?[ \t]*([^\n|;<>\"\t]{4,160})")
# Weaker address contexts: a noun that only sometimes heads an address ("Billing: ...",
# "Shipping — ...", "Residence: ...") with a separator, or a phrase that sends something
# somewhere ("goes to", "ships to", "lives at"). The value must look like an address
# (:func:`_address_weak`).
_ADDRESS_WEAK = re.compile(
    r"(?<![\w-])(?:(?i:billing|shipping|delivery|postal|residence|residential|home|domicile|destination|location|"
    r"facturation|envío|envio|entrega|spedizione|consegna|lieferung|rechnung|levering|facturatie)"
    r"[ \t]*[:：|\t–—][ \t]*|(?i:goes|go|ships?|shipped|deliver(?:ed|s)?|dispatched|moved)[ \t]+to[ \t]+|(?i:lives|living|located|resides|residing|based)[ \t]+at[ \t]+)"
    r"([^\n|;<>\"\t]{4,160})")
_ADDRESS_CJK = re.compile(r"(?:住所|ご住所|お届け先|所在地)[ \t]*[:：]?[ \t　]*([^\n|;<>\"\t、。]{4,80})")
_SENTENCE_END = re.compile(r"[.!?][ \t]+(?=[A-Z][a-z]+[ \t]+[a-z])|[.!?]$|[ \t]{3,}|:[ \t]{2,}")


# ", S.Farm.", ", Ph.D.", ", Jr.", ", MBA" after a name: part of it.
_NAME_SUFFIX = re.compile(r",[ \t]*(?:[A-Z][a-z]{0,5}\.(?:[A-Za-z]{1,6}\.?){1,3}|Jr\.?|Sr\.?|II|III|IV|MBA|PhD|MD|Esq\.?)"
                          r"(?=[\s,!?]|$)")


def _name_tokens(m: re.Match, group: int = 1, need_comma: bool = False):
    """The span of the leading capitalised words of a candidate name (a title before them,
    particles and degrees among them: "Dr. Caio das Neves", "Gina Kuhl MBA."), or False.
    Words in a script without case (CJK) count as capitalised."""
    text, start = m.group(group), m.start(group)
    kept, words, cjk, suffixed = 0, 0, 0, False
    for tok in re.finditer(r"\S+", text):
        w = tok.group()
        bare = w.rstrip(",;:!?)")
        low = bare.lower().rstrip(".")
        if low in _TITLES or (bare[:1].isupper() and "." in bare[:-1]):  # Dr. / Univ.Prof. / B.Sc.
            kept = tok.start() + len(bare)
            if bare != w:
                break
            continue
        if low in _PARTICLES and words and bare[0].islower():
            continue
        is_cjk = bool(bare) and "\u3040" <= bare[0] <= "\ufaff"
        caseless = bool(bare) and not is_cjk and bare[0].isalpha() and \
            ((not bare[0].isupper() and not bare[0].islower()) or "\u10d0" <= bare[0] <= "\u10ff")  # Georgian: written caseless
        if not bare or not (bare[0].isupper() or is_cjk or caseless) or any(c.isdigit() for c in bare) or cjk >= 2 \
                or words >= 5:
            break
        cjk += is_cjk
        words += 1
        kept = tok.start() + len(bare)
        if bare != w:  # punctuation ends the name
            break
    if not words:
        return False
    suffix = _NAME_SUFFIX.match(m.string, start + kept)  # a degree or suffix after its comma
    if suffix:
        kept, suffixed = suffix.end() - start, True
    if need_comma and not suffixed and kept < len(text) and not re.match(r"[ \t]*[,!]", text[kept:]):
        return False
    first = re.search(r"\S", text)
    return (start + (first.start() if first else 0), start + kept)


def _name_bare_label(m: re.Match):
    """"Name Zelda Quist": without a colon the label must be followed by two or more
    capitalised (or caseless-script) words, so "Name your price" and "Name Tags" stay."""
    span = _name_tokens(m, 1)
    return span if span and len(m.string[span[0]:span[1]].split()) >= 2 else False


def _greeting(m: re.Match):
    return _name_tokens(m, 1, need_comma=True)


def _address(m: re.Match):
    """An address after its label: up to the end of the line, a field separator or the
    sentence; it must start like one (a digit or a capital) and hold a digit or two words."""
    text, start = m.group(1), m.start(1)
    end = _SENTENCE_END.search(text)
    text = text[:end.start()] if end else text
    text = text.rstrip(" \t,")
    if text.endswith(".") and not re.search(r"(?:^|[\s,])" + _LETTER + r"{1,4}\.$", text):  # "küç.", "pr.", "St." stay
        text = text.rstrip(".")
    caseless = text[:1].isalpha() and not text[0].isupper() and not text[0].islower()
    if len(text) < 4 or not (text[0].isdigit() or text[0].isupper() or "\u3040" <= text[0] or caseless
                             or any(c.isdigit() for c in text)):
        return False
    if not (any(c.isdigit() for c in text) or len(text.split()) >= 2):
        return False
    return (start, start + len(text))


def _address_weak(m: re.Match):
    """An address after a weak context: as :func:`_address`, and it must hold a digit and
    either a comma, three words or a CJK character ("47 Hamilton Flat, West Elainehaven"),
    so "goes to 3 people" and "Shipping: 2 items" stay."""
    span = _address(m)
    if not span:
        return False
    text = m.string[span[0]:span[1]]
    if not any(c.isdigit() for c in text):
        return False
    if any("\u3040" <= c <= "\ufaff" for c in text):
        return span
    first = text.split()[0]
    if "@" in text or (len(first) >= 8 and any(c.isdigit() for c in first) and any(c.isalpha() for c in first)):
        return False  # an account number or code, not a house number
    words = [w for w in text.split() if sum(c.isalpha() or unicodedata.category(c)[0] == "M" for c in w) >= 3]
    if len(words) < 2 or not ("," in text or len(text.split()) >= 3):
        return False
    if not any(w[0].isupper() or (w[0].isalpha() and not w[0].islower()) for w in words):
        return False  # a place has a proper name ("3 items, total 12" has none)
    # and a house number beside a name ("Stroma 742", "47 Hamilton") or a postcode (4+ digits)
    toks = text.replace(",", " ").split()
    proper = [bool(t) and (t[0].isupper() or (t[0].isalpha() and not t[0].islower())) for t in toks]
    for i, t in enumerate(toks):
        if t[0].isdigit() and (sum(c.isdigit() for c in t) >= 4 or (i and proper[i - 1]) or
                               (i + 1 < len(toks) and proper[i + 1])):
            return span
    return False


def _passport(m: re.Match):
    v = m.group(1)
    return sum(c.isdigit() for c in v) >= 5 and m.span(1)


# Names beside an e-mail address or a phone number: "Zelda Quist <zelda@...>", "| Zelda Quist | +44...".
_NAME_BEFORE = re.compile(r"((?:[A-ZÀ-ÖØ-Þ][\w'’.-]+[ \t]+(?:(?:van|von|de|der|den|del|da|di|dos|le|la)[ \t]+)*){1,3}"
                          r"[A-ZÀ-ÖØ-Þ][\w'’-]+)[ \t]*(?:[<(,|:–—-]|\t)?[ \t]*[<(\"]?$")


def _names_beside(text: str, spans: list) -> list:
    extra = []
    for s, e, kind in spans:
        if kind not in ("email", "phone"):
            continue
        lo = max(0, s - 60)
        m = _NAME_BEFORE.search(text[lo:s])
        if m:
            a, b = lo + m.start(1), lo + m.end(1)
            if not any(x < b and a < y for x, y, _ in spans + extra):
                extra.append((a, b, "name"))
    return extra


# Label rules, each with the lower-case words one of which the text must hold for the rule
# to run at all (a substring test is far cheaper than a case-insensitive alternation).
_K_ADDRESS = ("addr", "adres", "ship to", "shipping", "bill to", "billing", "deliver to", "delivery", "anschrift",
              "direcci", "domicilio", "indirizzo", "endere")
_K_ADDRESS_WEAK = ("billing", "shipping", "delivery", "postal", "residen", "home", "domicile", "destination",
                   "location", "facturation", "envío", "envio", "entrega", "spedizione", "consegna", "lieferung",
                   "rechnung", "levering", "facturatie", " to ", " at ")
_K_NAME = ("nam", "nom", "naam", "custom", "recipient", "holder", "account", "contact", "addressee", "payee",
           "beneficiary", "passenger", "guest", "patient", "applicant", "houder", "intestat", "attn", "prénom", "apellido", "empfänger", "kunde",
           "klant", "client", "destinat", "titular", "inhaber", "addressed", "issued", "made out", "prepared",
           "invoiced", "registered")
_K_GREETING = ("hi ", "hello", "hey ", "dear ", "hallo", "liebe", "geehrte", "bonjour", "bonsoir", "salut ", "cher ",
               "chère ", "hola", "estimad", "querid", "buenos d", "ciao", "salve ", "gentile ", "caro ", "cara ",
               "beste ", "hoi ", "geachte", "olá", "oi ", "prezad", "namaste", "thank", "good ", "welcome", "greetings",
               "congrat", "guten ", "danke", "merci", "buon", "grazie", "buen", "gracias", "bom dia", "boa ", "obrigad",
               "goede", "bedankt", "dank je", "salam", "merhaba", "ahoj", "hej", "cześć", "witaj", "привет", "здравств")
_K_PASSPORT = ("pass", "pasap", "pasp", "旅券", "パスポート")
_K_DOB = ("birth", "dob", "d.o.b", "born", "geburt", "geboren", "geb.", "naissance", "née", "né ", "nacimiento",
          "nac.", "nacid", "nascita", "nato", "nata", "geboorte", "nascimento", "nascid", "生年月日", "誕生日")
_K_SSN = ("ssn", "social", "tin", "tax")

_LABEL_RULES: list = [
    ("address", _ADDRESS_LABEL, _address, 0, _K_ADDRESS),
    ("address", _ADDRESS_CJK, _address, 0, ("住所", "お届け先", "所在地")),
    ("address", _ADDRESS_WEAK, _address_weak, 0, _K_ADDRESS_WEAK),
    ("name", _NAME_LABEL, _name_tokens, 0, _K_NAME),
    ("name", _NAME_CJK, None, 1, ("氏名", "名前", "宛名", "担当")),
    ("name", _NAME_HONORIFIC, None, 1, ("様", "さん", "殿")),
    ("name", _GREETING, _greeting, 0, _K_GREETING),
    ("name", _NAME_BARE_LABEL, _name_bare_label, 0, _K_NAME),
]
_VALUE_LABEL_RULES: list = [
    ("passport", _PASSPORT, _passport, 0, _K_PASSPORT),
    ("dob", _DOB, None, 1, _K_DOB),
    ("ssn", _SSN_LABEL, None, 1, _K_SSN),
]

# Text without any of these cannot hold anything the rules find: skip it at once.
_MAYBE = re.compile(r"[\d@]|%40|eyJ|(?i:bearer|basic|token|secret|pass|key|auth|code|sig|sid|otp)")


MASK_WIDE = "\uff0a"  # FULLWIDTH ASTERISK: one em, the width of the CJK and full-width characters it hides


def _mask_char(ch: str) -> str:
    if ch.isspace():
        return ch
    if ch < "\u1100":  # nothing below U+1100 is East Asian wide
        return MASK
    return MASK_WIDE if unicodedata.east_asian_width(ch) in "WF" else MASK


def shape_mask(text: str) -> str:
    """Replace every character except whitespace with a mask glyph of its width class: ``*``
    for proportional (Latin, Greek, Cyrillic, Arabic...) characters, ``＊`` (U+FF0A, one
    em) for East Asian wide and full-width ones, so masked CJK text keeps its rendered
    width instead of shrinking to half."""
    if text.isascii():
        return "".join(ch if ch.isspace() else MASK for ch in text)
    return "".join(map(_mask_char, text))


_CELL_BOUNDARY = re.compile(r"(?i)</t[dh]>\s*<t[dh](?:\s[^<>]{0,80})?>")
_CELL_TAG = re.compile(r"(?i)</?t(?:[dhr]|body|head)(?:\s[^<>]{0,80})?>")


def _cells_as_labels(text: str) -> str:
    """``text`` with table-cell markup read as separators, same length (spans stay valid):
    ``</td><td>`` becomes ``:`` and spaces ("<td>Passport</td><td>X1234567</td>" reads as
    "Passport: X1234567"), other row and cell tags spaces."""
    text = _CELL_BOUNDARY.sub(lambda m: ":" + " " * (len(m.group()) - 1), text)
    return _CELL_TAG.sub(lambda m: " " * len(m.group()), text)


def find_pii(text: str, context: str = "") -> list[tuple[int, int, str]]:
    """Non-overlapping, sorted ``(start, end, kind)`` spans of personal data in ``text``.

    Rules run in order (label rules for addresses and names first, then the checksum and
    structure rules of ``_RULES``, then the value label rules); a later match that overlaps
    an earlier span is dropped, so the more specific kinds (JWT, keys, IBAN, card) win over
    phone numbers. ``context`` is text that stands before ``text`` without being part of it
    (an attribute's name, a property's key): it is read by the rules that need words
    before a value ("card", "phone", "SSN", "passport"...).
    """
    spans: list[tuple[int, int, str]] = []
    if not text:
        return spans
    offset = 0
    if context:
        offset = len(context) + 2
        text = f"{context}: {text}"
    if "</t" in text:  # markup of a table in text (innerHTML in a log): a cell boundary reads as a label's ':'
        text = _cells_as_labels(text)
    values = _MAYBE.search(text)
    low = text.lower()
    rules = _LABEL_RULES + (_RULES + _VALUE_LABEL_RULES if values else [])
    for kind, pattern, valid, group, keys in rules:
        if keys and not any(k in low for k in keys):
            continue
        if pattern is _GREETING and "," not in text and "!" not in text:
            continue  # a greeting's name ends at a comma or "!"
        for m in pattern.finditer(text):
            ok = valid(m) if valid else True
            if not ok:
                continue
            start, end = ok if isinstance(ok, tuple) else m.span(group)
            if end <= offset or start == end or any(s < end and start < e for s, e, _ in spans):
                continue
            spans.append((max(start, offset), end, kind))
    if spans and values:
        spans += _names_beside(text, spans)
    if offset:
        spans = [(s - offset, e - offset, k) for s, e, k in spans]
    return sorted(spans)


def mask_text(text: str, context: str = "") -> str:
    """``text`` with every piece of personal data masked, length and spacing kept.
    ``context``: words before the text that are not part of it (see :func:`find_pii`)."""
    if not text or not isinstance(text, str) or len(text) < 4:
        return text
    spans = find_pii(text, context)
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


# ----------------------------------------------------------------------------- CSS

_CSS_URL = re.compile(r"""(?i)url\(\s*(?:(["'])(.*?)\1|([^"'].*?))\s*\)(?=\s*(?:[;,}!]|$|[a-z#-]))""")
_CSS_URL_PLAIN = re.compile(r"""(?i)url\(\s*(?:(["'])(.*?)\1|([^"')]*))\s*\)""")
_LONG_DIGITS = re.compile(r"\d{7,}")


def _mask_css_url(url: str) -> str:
    """A URL inside CSS: as :func:`mask_url`, and query values holding a long number or an
    ``@`` are masked too (a background image needs none of them to draw; tracking pixels
    carry the visitor's e-mail or phone there under any parameter name)."""
    masked = mask_url(url)
    q = masked.find("?")
    if q < 0:
        return masked

    def pair(m: re.Match) -> str:
        sep, name, value = m.groups()
        v = unquote_plus(value)
        if "@" in v or _LONG_DIGITS.search(_digits_only_run(v)):
            value = shape_mask(value)
        return f"{sep}{name}={value}"

    return masked[:q] + _QUERY_PAIR.sub(pair, masked[q:])


def _digits_only_run(v: str) -> str:
    """The value with phone/card separators removed, so "+1 202-555-0143" reads as digits."""
    return re.sub(r"(?<=\d)[ ().-]+(?=\d)", "", v)


def mask_css(text: str) -> str:
    """Style text (a ``style`` attribute, a style sheet, a rule): every ``url(...)`` masked
    as a URL (:func:`_mask_css_url`), the rest as text (``content: "..."`` strings, custom
    properties). An unquoted URL runs to the ``)`` that ends the value, so a query value
    holding ``(0551) 684064`` (invalid CSS, but recorded as written) is read whole."""
    if not text or not isinstance(text, str):
        return text
    low = text.lower()
    if "url(" not in low:
        return mask_text(text)
    out, pos = [], 0
    while True:
        i = low.find("url(", pos)
        if i < 0:
            break
        m = _CSS_URL.match(text, i) or _CSS_URL_PLAIN.match(text, i)
        if not m:
            out.append(mask_text(text[pos:i + 4]))
            pos = i + 4
            continue
        g = 2 if m.group(2) is not None else 3
        out.append(mask_text(text[pos:m.start(g)]))
        out.append(_mask_css_url(m.group(g)))
        pos = m.end(g)
    out.append(mask_text(text[pos:]))
    return "".join(out)


# ----------------------------------------------------------------------------- events

# Attributes that hold URLs; every other attribute value is masked as text.
URL_ATTRIBUTES = frozenset(("href", "src", "action", "formaction", "poster", "data", "cite",
                            "background", "ping", "xlink:href"))
# Attributes that never hold anything personal and are large: left alone for speed.
SKIP_ATTRIBUTES = frozenset(("class", "d", "viewBox", "points", "transform"))
# Attributes whose words say what the element's value is (<input name="ssn" value="...">).
_LABEL_ATTRIBUTES = ("name", "id", "autocomplete", "aria-label", "placeholder", "data-field", "for", "title")
# Inline elements: their text runs on with their neighbours' (a value split over <b> and
# <i> reads as one), so a run of them is masked as one text.
INLINE_TAGS = frozenset(("a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i",
                         "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup",
                         "time", "tt", "u", "var"))


def _mask_srcset(value: str) -> str:
    parts = []
    for item in value.split(","):
        bits = item.strip().split(" ", 1)
        parts.append(" ".join([mask_url(bits[0])] + bits[1:]))
    return ", ".join(parts)


def mask_attr(name: str, value, context: str = ""):
    """One attribute's value as it may be kept: URLs masked as URLs, CSS as CSS, the rest as
    text. A personal attribute name (``data-ssn``, ``data-phone``) masks the whole value;
    ``context`` (the element's other label-like attributes) is read as words before it."""
    if not isinstance(value, str) or name in SKIP_ATTRIBUTES or not value:
        return value
    if name in URL_ATTRIBUTES:
        return mask_url(value)
    if name == "style":
        return mask_css(value)
    if name in ("srcset", "imagesrcset"):
        return _mask_srcset(value)
    if name == "content" and re.match(r"^[a-z][a-z0-9+.-]*://", value, re.I):
        return mask_url(value)
    if name.startswith("data-") and (personal_key(name[5:]) or name[5:] in _ATTR_PERSONAL) and _has_value_chars(value):
        return shape_mask(value)
    if name == "value" and context and personal_key(context) and _has_value_chars(value):
        return shape_mask(value)
    if name == "value":  # what a visitor typed or chose: any word with 6+ digits in it goes
        return _VALUE_DIGITS.sub(lambda m: shape_mask(m.group()), mask_text(value, context=context))
    return mask_text(value, context=f"{name} {context}".strip())


_VALUE_DIGITS = re.compile(r"[^\s,;]*(?:\d[^\s,;]*){6,}")


def _has_value_chars(value: str) -> bool:
    """A value worth masking whole: not a flag such as "true" / "on" / "1"."""
    return len(value) >= 3 and value.lower() not in ("true", "false", "null", "none", "yes", "no", "off", "on")


def _mask_attrs(attrs: dict | None) -> None:
    if not attrs or not isinstance(attrs, dict):
        return
    context = " ".join(v for k in _LABEL_ATTRIBUTES if isinstance(v := attrs.get(k), str))[:80]
    for name, value in attrs.items():
        attrs[name] = mask_attr(name, value, context if name not in _LABEL_ATTRIBUTES else "")


def _inline(node: dict, depth: int = 0) -> bool:
    """A text node, or an inline element holding only text and inline elements (nested at
    most 6 deep: deeper markup is masked node by node)."""
    t = node.get("t")
    if t == 3:
        return True
    if t != 1 or depth > 6 or node.get("n") not in INLINE_TAGS or node.get("sr") or node.get("f"):
        return False
    kids = node.get("c")
    return kids is None or (isinstance(kids, list) and all(isinstance(k, dict) and _inline(k, depth + 1) for k in kids))


def _texts(node: dict, out: list) -> None:
    if node.get("t") == 3:
        if isinstance(node.get("x"), str):
            out.append(node)
        return
    for k in node.get("c") or ():
        _texts(k, out)


def mask_run(nodes: list[dict], context: str = "") -> None:
    """Mask the text nodes of one run of inline content as one text, in place: personal
    data split over them ("<b>zelda</b><i>@example.org</i>") is masked in every piece.
    ``context``: a label that stands before the run without being part of it (the label
    cell of a table row, see :func:`_row_contexts`)."""
    texts: list[dict] = []
    for n in nodes:
        _texts(n, texts)
    if len(texts) == 1:
        texts[0]["x"] = mask_text(texts[0]["x"], context)
        return
    joined = "".join(t["x"] for t in texts)
    spans = find_pii(joined, context)
    if not spans:
        return
    pos = 0
    for t in texts:
        x, end = t["x"], pos + len(t["x"])
        hit = [(max(s, pos) - pos, min(e, end) - pos) for s, e, _ in spans if s < end and pos < e]
        if hit:
            out, at = [], 0
            for s, e in hit:
                out.append(x[at:s])
                out.append(shape_mask(x[s:e]))
                at = e
            out.append(x[at:])
            t["x"] = "".join(out)
        pos = end


_CELLS = ("td", "th")
_LABEL_CELL = re.compile(r"[^\d@<>{}=]{1,40}")


def _cell_text(cell: dict) -> str:
    texts: list[dict] = []
    _texts(cell, texts)
    return "".join(t["x"] for t in texts).strip()


def _row_contexts(row: dict, contexts: dict) -> None:
    """The label of each cell of a table row (``<tr>``), into ``contexts`` by ``id(cell)``.

    A row of a recorded table is "label cell, value cell" ("Passport | X1234567",
    "Address | 12 Main St"): the value's own text has no label, so the rules that need
    words before a value (passport, birth date, SSN, names, addresses, bare phone numbers)
    see the previous cell's text as its context. A cell holding a digit or ``@`` with no
    label before it takes the next cell's ("0612 345678 | mobile"). A label is a short cell
    without digits (at most 40 characters, 6 words)."""
    cells = [k for k in row.get("c") or () if isinstance(k, dict) and k.get("n") in _CELLS]
    if len(cells) < 2:
        return
    texts = [_cell_text(c) for c in cells]
    label = [bool(_LABEL_CELL.fullmatch(t)) and len(t.split()) <= 6 for t in texts]
    for i, cell in enumerate(cells):
        if i and label[i - 1]:
            contexts[id(cell)] = texts[i - 1].rstrip(" :：")
        elif i + 1 < len(cells) and label[i + 1] and not label[i]:
            contexts[id(cell)] = texts[i + 1].rstrip(" :：")


def _mask_children(node: dict, context: str = "") -> None:
    """Mask an element's direct text content: runs of inline children joined (mask_run),
    with ``context`` (a table cell's label) read before each run."""
    kids = node.get("c")
    if not isinstance(kids, list):
        return
    if node.get("n") == "style":
        for k in kids:
            if isinstance(k, dict) and isinstance(k.get("x"), str):
                k["x"] = mask_css(k["x"])
        return
    run: list[dict] = []
    for k in kids + [None]:
        if k is not None and isinstance(k, dict) and _inline(k):
            run.append(k)
            continue
        if run:
            mask_run(run, context)
            run = []


def _mask_node(node: dict) -> None:
    from .events import walk

    if node.get("t") == 3 and isinstance(node.get("x"), str):  # a lone text node (a mutation's add)
        node["x"] = mask_text(node["x"])
    contexts: dict[int, str] = {}
    for n in walk(node):  # depth first, a node before its children: a row before its cells
        if n.get("t") == 3:
            continue  # masked with its run, by its parent
        if n.get("n") == "tr":
            _row_contexts(n, contexts)
        _mask_children(n, contexts.get(id(n), "") if contexts else "")
        if isinstance(n.get("css"), str):
            n["css"] = mask_css(n["css"])
        _mask_attrs(n.get("a"))


# Property names whose values are personal whatever they hold ("phone": 2025550143).
_PERSONAL_PARTS = frozenset((
    "email", "mail", "phone", "tel", "telephone", "telefon", "telefono", "mobile", "cell", "fax", "msisdn",
    "card", "cc", "ccnum", "pan", "cvv", "cvc", "ssn", "sin", "nino", "tin", "taxid", "iban", "dob", "birthday",
    "birthdate", "birth", "passport", "address", "street", "zip", "postcode", "postal", "firstname", "lastname",
    "fullname", "surname", "givenname", "familyname", "username", "password", "passwd", "pwd", "secret", "token",
    "apikey", "otp", "credential", "credentials", "jwt", "bearer", "nif", "nie", "dni", "cpf", "cnpj", "aadhaar",
    "pesel", "bsn", "codicefiscale", "personnummer", "social", "security", "ssnumber", "socialsecurity", "contact"))
_ATTR_PERSONAL = frozenset(("user", "customer", "contact", "account", "member", "owner", "holder", "client"))
_NAME_KEYS = frozenset(("name", "fullname", "customername", "contactname", "recipient", "cardholder"))


def personal_key(name: str) -> bool:
    """True if a property, attribute or field named ``name`` holds personal data."""
    if not isinstance(name, str) or not name:
        return False
    low = name.lower()
    if re.sub(r"[\W_]+", "", low) in _NAME_KEYS | _PERSONAL_PARTS:
        return True
    parts = [p.lower() for p in _NAME_SPLIT.split(name) if p]
    joined = "".join(parts)
    return joined in _PERSONAL_PARTS or any(p in _PERSONAL_PARTS for p in parts) or \
        any(re.sub(r"[\W_]+", "", w) in _PERSONAL_PARTS for w in low.split())


def _mask_number(value, key: str):
    """A JSON number: masked into a string of its length when its key says it is personal,
    or when it reads as a card, phone, SSN or IBAN number."""
    if isinstance(value, float):
        if not value.is_integer() or abs(value) < 1e7:
            return value
        value = int(value)
    text = str(value)
    if key and personal_key(key):
        return shape_mask(text)
    if abs(value) < 10_000_000:
        return value
    masked = mask_text(text, context=key)
    return masked if masked != text else value


def mask_value(value, key: str = ""):
    """Any JSON value with every string in it (keys too) masked. ``key`` is the property
    name the value sits under: a personal one (``phone``, ``card``, ``email``, ``dob``...)
    masks the value whatever it is; numbers that are card, phone or SSN numbers written as
    numbers are masked into strings of the same length."""
    if isinstance(value, str):
        if key and personal_key(key) and _has_value_chars(value):
            return shape_mask(value)
        return mask_text(value, context=key)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return _mask_number(value, key)
    if isinstance(value, list):
        return [mask_value(v, key) for v in value]
    if isinstance(value, dict):
        return {mask_text(str(k)): mask_value(v, str(k)) for k, v in value.items()}
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
    if t == T.STYLE or t == getattr(T, "ADOPT", -1):
        _mask_style_event(event)
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
        elif t in (T.STYLE, getattr(T, "ADOPT", -1)) and key in ("ins", "c", "css"):
            continue  # masked as CSS above
        elif (t == T.MOUSE and key == "p") or (t == getattr(T, "CANVAS", -1) and key == "d"):
            continue  # coordinates; an opt-in canvas frame (pixels: text in it cannot be masked)
        elif isinstance(value, (str, list, dict)):
            event[key] = mask_value(value)
    return event


def _mask_style_event(event: dict) -> None:
    """STYLE ``ins`` [rule, index] and ``c`` (sheet text), ADOPT ``css`` {id: text}: as CSS."""
    ins = event.get("ins")
    if isinstance(ins, list) and ins and isinstance(ins[0], str):
        ins[0] = mask_css(ins[0])
    elif ins is not None:
        event["ins"] = mask_value(ins)
    if "c" in event:
        event["c"] = mask_css(event["c"]) if isinstance(event["c"], str) else mask_value(event["c"])
    css = event.get("css")
    if isinstance(css, dict):
        event["css"] = {k: mask_css(v) if isinstance(v, str) else mask_value(v) for k, v in css.items()}
    elif css is not None:
        event["css"] = mask_value(css)


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
