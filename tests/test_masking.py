"""py_core.masking on CPython: detectors, shape keeping, near misses, every event channel."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import given, settings, strategies as st

from py_core.masking import find_pii, iban_ok, luhn_ok, mask_event, mask_events, mask_text, mask_url, secret_param
from py_core.worker_api import process_batch

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PII = {
    "email": ["zelda.q@example.org", "j+tag@mail.co.uk", "ana.lópez@x.es".replace("ó", "o")],
    "card": ["4242 4242 4242 4242", "4242424242424242", "5555-5555-5555-4444", "378282246310005"],
    "iban": ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR1420041010050500013M02606"],
    "ssn": ["536-22-1847"],
    "phone": ["+44 20 7946 0018", "+1-202-555-0143", "(030) 1234567", "06 12 34 56 78", "+33 (0)1 23 45 67 89",
              "0049 30 1234567", "202.555.0143", "+34 912 345 678"],
    "ipv4": ["192.168.10.42", "8.8.4.4"],
    "ipv6": ["2001:db8::8a2e:370:7334", "fe80::1ff:fe23:4567:890a"],
    "jwt": [JWT],
    "api_key": ["sk_live_4eC39HqLyjWDarjtT1zdp7dc", "AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1B2" * 9],
}
NEAR_MISSES = ["Order #4829173650 shipped", "Total $1,299.00", "on 2024-03-15 at 12:30:45", "version 2.14.3",
               "id 550e8400-e29b-41d4-a716-446655440000", "4242 4242 4242 4241", "DE89 3704 0044 0532 0130 01",
               "SSN-like 000-12-3456", "EAN 4006381333931", "ISBN 978-3-16-148410-0", "build 10.0.19041.1",
               "Quantity: 12 units", "coords 48.858370, 2.294481", "10:30 to 11:45", "password required"]


@pytest.mark.parametrize("kind,value", [(k, v) for k, vs in PII.items() for v in vs])
def test_detects_each_kind_in_a_sentence(kind, value):
    """Every kind is found inside ordinary text and masked whole, shape kept."""
    text = f"Note: {value}, thanks."
    masked = mask_text(text)
    assert value not in masked and len(masked) == len(text)
    start = text.index(value)
    assert masked[start:start + len(value)] == re.sub(r"\S", "*", value)
    assert masked.startswith("Note: ") and masked.endswith(", thanks.")


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_stay(text):
    """Order numbers, prices, dates, versions, UUIDs and failed checksums are not masked."""
    assert mask_text(text) == text, find_pii(text)


def test_checksums():
    """Luhn and IBAN mod-97 accept real numbers and refuse one-digit changes."""
    assert luhn_ok("4242424242424242") and not luhn_ok("4242424242424241")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE88 3704 0044 0532 0130 00")
    assert not iban_ok("XX89 3704 0044 0532 0130 00") and not iban_ok("DE89 3704 0044 0532 0130")


def test_secrets_and_bearer_tokens():
    """Credentials after keywords and in Authorization headers are masked, keywords kept."""
    masked = mask_text("Authorization: Bearer abcDEF123456789xyz; db_password=hunter2abc api_key: 9f8e7d6c5b4a")
    assert masked == "Authorization: Bearer ******************; db_password=********** api_key: ************"
    assert mask_text("The field is required.") == "The field is required."


def test_urls_keep_host_and_mask_path_query_fragment():
    """URL secrets, PII in path segments (raw or percent-encoded) and token-like segments go."""
    url = ("https://shop.example/reset/8f7a6b5c4d3e2f1a0b9c8d7e6f5a/u/zelda%40example.org"
           "?q=%2B44%2020%207946%200018&page=2&token=abc#access_token=xyz789abc")
    masked = mask_url(url)
    assert masked.startswith("https://shop.example/reset/") and len(masked) == len(url)
    for secret in ("8f7a6b5c4d3e2f1a0b9c8d7e6f5a", "zelda%40example.org", "%2B44%2020%207946%200018", "abc#",
                   "xyz789abc"):
        assert secret not in masked
    assert "page=2" in masked
    assert mask_url("https://shop.example/p/550e8400-e29b-41d4-a716-446655440000?page=2") == \
        "https://shop.example/p/550e8400-e29b-41d4-a716-446655440000?page=2"
    assert mask_url("http://user:pw@10.1.2.3:8080/x") == "http://" + "*" * 21 + "/x"
    assert secret_param("sessionId") and secret_param("X-Amz-Signature") and not secret_param("page")


def test_mask_event_covers_every_channel():
    """Each event field that can carry text is masked: DOM, attributes, inputs, URLs, errors, custom."""
    email, card, tok = "zelda.q@example.org", "4242424242424242", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    node = {"i": 1, "t": 1, "n": "div", "a": {"title": email, "data-x": card, "href": f"/u?email={quote(email)}",
                                              "srcset": f"/a.png?token={tok} 2x", "class": "card"},
            "c": [{"i": 2, "t": 3, "x": f"Hi {email}"}]}
    events = [
        {"t": 0, "ts": 1, "u": f"https://s.example/?token={tok}", "r": f"https://ref.example/{email}", "ti": email},
        {"t": 1, "ts": 2, "n": node},
        {"t": 2, "ts": 3, "ad": [[1, None, json.loads(json.dumps(node))]], "at": [[1, {"alt": card}]],
         "tx": [[2, card]], "rm": []},
        {"t": 4, "ts": 4, "i": 1, "v": email},
        {"t": 8, "ts": 5, "u": f"https://s.example/#id_token={JWT}", "k": "hash"},
        {"t": 9, "ts": 6, "m": f"bad user {email}", "s": f"Error: {email}\n at https://s.example/x.js?key={tok}:1:2",
         "k": "console"},
        {"t": 10, "ts": 7, "k": "fetch", "m": "GET", "u": f"https://api.example/v1?api_key={tok}", "s": 0,
         "d": 5, "e": f"TypeError: Failed to fetch https://api.example/users/{email}"},
        {"t": 11, "ts": 8, "n": f"signup {email}", "p": {"email": email, "nested": [card, {email: 4242424242424242}]}},
        {"t": 13, "ts": 9, "u": email},
        {"t": 99, "ts": 10, "future": f"{email} {card}"},
    ]
    masked = json.dumps(mask_events(events))
    for secret in (email, card, tok, JWT, quote(email), "4242 4242"):
        assert secret not in masked, secret
    assert '"class": "card"' in masked and '"k": "console"' in masked


def test_process_batch_masks_before_analysis():
    """The worker's entry point returns masked events only."""
    out = process_batch(json.dumps({"sid": "s", "pid": "p", "seq": 0,
                                    "events": [{"t": 9, "ts": 1, "m": "mail a.b@example.org", "s": "", "k": "error"}]}))
    assert "a.b@example.org" not in out and '"seq":0' in out


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
       st.sampled_from([v for vs in PII.values() for v in vs]))
def test_shape_is_kept_whatever_the_surroundings(noise, value):
    """Masking keeps length and every whitespace, and finds the value whatever surrounds it."""
    text = f"{noise}: {value}. {noise}"
    once = mask_text(text)
    assert len(once) == len(text)
    assert all((a == b) or (b == "*" and not a.isspace()) for a, b in zip(text, once))
    assert value not in once
