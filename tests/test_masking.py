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


# ----------------------------------------------------------------------------- issue 12

from py_core.masking import MASK, MASK_WIDE, iban_shaped, mask_attr, mask_css, personal_key, shape_mask  # noqa: E402

# Issuer prefixes per length that bench/heldout_corpus.py does not share with the rules'
# tables by import: Maestro 12-19, Visa 13/16/19, Amex 15, Diners 14, JCB 16-19, UATP 15,
# UnionPay 16-19, RuPay 81, Troy 9792, Mir 2200.
CARD_PREFIXES = [("5018", range(12, 20)), ("4", (13, 16, 19)), ("37", (15,)), ("36", (14, 16)), ("3530", range(16, 20)),
                 ("1", (15,)), ("62", range(16, 20)), ("81", (16,)), ("9792", (16,)), ("2200", range(16, 20)),
                 ("6011", (16, 19)), ("51", (16,))]


def luhn_complete(body: str) -> str:
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError(body)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([(p, n) for p, ns in CARD_PREFIXES for n in ns]), st.randoms(use_true_random=False),
       st.sampled_from(["", " ", "-"]))
def test_cards_of_every_issued_length(prefix_len, rnd, sep):
    """Any Luhn-valid number of an issuer range, 12 to 19 digits, bare or grouped in fours,
    is masked after a card word; the same number with one digit changed is not."""
    prefix, n = prefix_len
    num = luhn_complete(prefix + "".join(rnd.choice("0123456789") for _ in range(n - len(prefix) - 1)))
    shown = sep.join(num[i:i + 4] for i in range(0, n, 4)) if sep else num
    text = f"Paid with card {shown}, thanks"
    assert mask_text(text) == text.replace(shown, re.sub(r"\S", "*", shown)), find_pii(text)
    wrong = num[:-1] + str((int(num[-1]) + 1) % 10)
    assert not any(k == "card" for *_, k in find_pii(f"Paid with card {wrong}, thanks"))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(__import__("py_core.masking", fromlist=["_IBAN_LENGTH"])._IBAN_LENGTH.items())),
       st.randoms(use_true_random=False), st.booleans())
def test_iban_of_every_registered_length(country_len, rnd, grouped):
    """A mod-97-valid IBAN of each registry country and length is masked, grouped or not;
    a wrong check digit is not."""
    country, n = country_len
    bban = "".join(rnd.choice("0123456789") for _ in range(n - 4))
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    iban = f"{country}{check:02d}{bban}"
    assert iban_ok(iban)
    shown = " ".join(iban[i:i + 4] for i in range(0, n, 4)) if grouped else iban
    assert mask_text(f"Pay to {shown} today") == f"Pay to {re.sub(r'[^ ]', '*', shown)} today"
    bad = f"{country}{check % 97 + 1:02d}{bban}"  # another check digit: mod 97 fails
    assert not iban_ok(bad) and not iban_shaped(bad)
    assert not any(k == "iban" for *_, k in find_pii(f"Pay to {bad} today"))


def test_iban_shaped_values_of_unregistered_lengths():
    """Faker's en_IN/ja_JP IBANs (GB, 21 characters) pass mod-97 at a length GB does not use."""
    assert not iban_ok("GB15NVFL8517812865707") and iban_shaped("GB15NVFL8517812865707")
    assert mask_text("IBAN GB15NVFL8517812865707.") == "IBAN *********************."
    assert mask_text("IBAN GB16NVFL8517812865707.") == "IBAN GB16NVFL8517812865707."


NATIONAL_PHONES = {
    "US": ["202 555 0143", "(202) 555-0143"], "IT": ["347 123 4567", "347 1234567", "06 1234 5678"],
    "BR": ["(11) 91234-5678", "11 91234-5678", "(21) 3456-7890"], "IN": ["98765 43210", "098765 43210"],
    "JP": ["090-1234-5678", "03-1234-5678"], "DE": ["030 12345678", "0151 23456789"], "FR": ["01 23 45 67 89"],
    "GB": ["020 7946 0018", "07700 900123"], "ES": ["612 34 56 78"], "NL": ["06-12345678", "020 123 4567"],
}


@pytest.mark.parametrize("country,number", [(c, n) for c, ns in NATIONAL_PHONES.items() for n in ns])
def test_national_phone_formats_without_country_code(country, number):
    """Each country's national grouping is found without a country code or a phone word."""
    text = f"Reach me at {number} tonight"
    assert mask_text(text) == text.replace(number, re.sub(r"\S", "*", number)), find_pii(text)


@pytest.mark.parametrize("number", ["912 345 678", "11987654321", "3471234567", "765155860"])
def test_bare_national_numbers_after_a_phone_word(number):
    assert number not in mask_text(f"Telefone: {number}")
    assert mask_text(f"Order {number} shipped") == f"Order {number} shipped"


@pytest.mark.parametrize("text", ["Call (213) 365-7140 after 1707453712.", "SKU 357 710 573", "Order 123-4567890-1234567",
                                  "at 2000-05-04T03:37:05.824797", "build 10.0.19041.1234", "Order 5621 3348 4435 shipped"])
def test_phone_and_card_decoys(text):
    """Numbers next to a phone number, 3-3-3 SKUs, Amazon-style order numbers, timestamps."""
    masked = mask_text(text)
    for piece in ("1707453712", "357 710 573", "123-4567890-1234567", "05.824797", "19041", "5621 3348 4435"):
        if piece in text:
            assert piece in masked, masked


@pytest.mark.parametrize("email", ["name+können@gmx.de", "直樹+拡張@yahoo.co.jp", "jürgen@müller-bau.de",
                                   "山田@例え.日本", "zoë.ß@xn--mller-kva.de", "tomás.garcía@correo.es"])
def test_non_ascii_email(email):
    """RFC 6531 local parts and IDNA domains (U-labels and A-labels)."""
    assert mask_text(f"Mail: {email} ok") == f"Mail: {shape_mask(email)} ok"
    assert set(shape_mask(email)) <= {MASK, MASK_WIDE}


@pytest.mark.parametrize("style", [
    "background-image: url(https://t.example/px.gif?email=zelda%40example.org&v=2)",
    "background: url('https://t.example/px.gif?u=zelda@example.org') no-repeat",
    'background-image:url("https://t.example/p?to=2025550143")',
    "background: url(https://t.example/p?e=(0551) 684064&v=8)",
    "background: url(https://t.example/p?c=+49(0)2344 26998&v=2); margin: 0 12px",
])
def test_urls_in_css_values_are_masked(style):
    """A style attribute, a <style> element, a STYLE rule and an adopted sheet: each masks
    personal data in url() queries whatever the parameter is called; CSS values stay."""
    for masked in (mask_attr("style", style), mask_css(f".hero{{{style}}}"),
                   mask_event({"t": 14, "ts": 0, "i": 1, "ins": [f".x{{{style}}}", 0]})["ins"][0],
                   mask_event({"t": 15, "ts": 0, "i": 1, "s": [2], "css": {"2": style}})["css"]["2"],
                   json.dumps(mask_event({"t": 1, "ts": 0, "n": {"t": 1, "n": "style", "c": [{"t": 3, "x": style}]}}))):
        for secret in ("zelda", "2025550143", "684064", "26998"):
            assert secret not in masked, masked
        assert "t.example" in masked
    keep = "margin: 0 12px 0 24px; color: rgba(12, 34, 56, 0.5); transform: matrix(1, 0, 0, 1, 120, 240)"
    assert mask_attr("style", keep) == keep
    assert mask_attr("style", "background: url(/img/hero.png?v=3&w=1200) center") == \
        "background: url(/img/hero.png?v=3&w=1200) center"


def _p(*kids):
    return {"t": 1, "ts": 0, "n": {"t": 1, "n": "div", "c": [{"t": 1, "n": "p", "c": [
        {"t": 3, "x": k} if isinstance(k, str) else {"t": 1, "n": k[0], "c": [{"t": 3, "x": k[1]}]} for k in kids]}]}}


def test_text_split_over_inline_elements():
    """An e-mail over <b> and <i>, a card over two <span>s: every piece is masked, the
    surrounding text and the pieces' lengths kept; block siblings are not joined."""
    ev = mask_event(_p("Write to ", ("b", "zelda.q"), ("i", "@example.org"), " or pay ", ("span", "4242 4242 "),
                       ("span", "4242 4242"), "."))
    kids = ev["n"]["c"][0]["c"]
    texts = [k["x"] if k["t"] == 3 else k["c"][0]["x"] for k in kids]
    assert texts == ["Write to ", "*******", "************", " or pay ", "**** **** ", "**** ****", "."]
    cells = {"t": 1, "ts": 0, "n": {"t": 1, "n": "tr", "c": [{"t": 1, "n": "td", "c": [{"t": 3, "x": "4242 4242"}]},
                                                              {"t": 1, "n": "td", "c": [{"t": 3, "x": "4242 4242"}]}]}}
    assert "4242 4242" in json.dumps(mask_event(cells))  # two table cells are two texts
    add = {"t": 2, "ts": 0, "ad": [[1, None, _p(("b", "zelda.q"), ("i", "@example.org"))["n"]]], "rm": [], "at": [], "tx": []}
    assert "zelda" not in json.dumps(mask_event(add)) and "example.org" not in json.dumps(mask_event(add))


def test_deep_inline_nesting_is_bounded():
    """Hostile nesting (300 <span>s) is masked node by node, without recursion errors."""
    node = {"t": 3, "x": "zelda.q@example.org"}
    for _ in range(300):
        node = {"t": 1, "n": "span", "c": [node]}
    assert "zelda" not in json.dumps(mask_event({"t": 1, "ts": 0, "n": {"t": 1, "n": "p", "c": [node]}}))


@pytest.mark.parametrize("attrs,secret", [
    ({"data-ssn": "536221847"}, "536221847"), ({"name": "ssn", "value": "536221847"}, "536221847"),
    ({"value": "536221847"}, "536221847"), ({"data-tax-id": "536221847"}, "536221847"),
    ({"data-phone": "2025550143"}, "2025550143"), ({"title": "SSN 536221847"}, "536221847"),
])
def test_ssn_without_dashes_in_attributes(attrs, secret):
    node = {"t": 1, "ts": 0, "n": {"t": 1, "n": "input", "a": dict(attrs)}}
    assert secret not in json.dumps(mask_event(node))


@pytest.mark.parametrize("text,value", [
    ("Passport no. L41224824 checked", "L41224824"), ("Reisepass Nr.: C01X00T47", "C01X00T47"),
    ("Passeport n° 12AB34567", "12AB34567"), ("旅券番号 TK1234567", "TK1234567"), ("passport number: 598386756", "598386756"),
    ("Date of birth: 1962-08-06", "1962-08-06"), ("DOB 06/08/1962.", "06/08/1962"), ("born on August 6, 1962", "August 6, 1962"),
    ("Geburtsdatum: 14. Januar 1977", "14. Januar 1977"), ("Date de naissance : 14 janvier 1977", "14 janvier 1977"),
    ("Fecha de nacimiento: 14 de enero de 1977", "14 de enero de 1977"), ("data di nascita 14/01/1977", "14/01/1977"),
    ("Geboortedatum: 14 januari 1977", "14 januari 1977"), ("Data de nascimento: 14 de janeiro de 1977", "14 de janeiro de 1977"),
    ("生年月日：1977年1月14日", "1977年1月14日"), ("SSN: 536221847", "536221847"),
])
def test_values_next_to_their_labels(text, value):
    """Passport numbers, birth dates (ISO and written out, eight languages) and bare SSNs
    after their labels."""
    assert value not in mask_text(text) and len(mask_text(text)) == len(text)


@pytest.mark.parametrize("text", ["Delivered on 2024-03-15.", "Released August 6, 2024", "Ticket 598386756 closed",
                                  "Passing 12 tests in 3.2s", "born to run: 1975"])
def test_dates_and_numbers_without_labels_stay(text):
    assert mask_text(text) == text, find_pii(text)


@pytest.mark.parametrize("text,name", [
    ("Name: Zelda Quist", "Zelda Quist"), ("Hi Zelda,", "Zelda"), ("Dear Dr. Caio das Neves,", "Dr. Caio das Neves"),
    ("Sehr geehrte Frau Mechtild Seifert,", "Frau Mechtild Seifert"), ("Bonjour Marie Verdier,", "Marie Verdier"),
    ("氏名：山口 晃", "山口 晃"), ("山田 太郎様", "山田 太郎"), ("Zelda Quist <zelda@example.org>", "Zelda Quist"),
    ("| Ana Lopez | +34 612 34 56 78 |", "Ana Lopez"),
])
def test_names_in_their_common_contexts(text, name):
    assert name not in mask_text(text)


@pytest.mark.parametrize("text,address", [
    ("Ship to: 36 King Lakes, Nicholasmouth, ML1E 5UA", "36 King Lakes, Nicholasmouth, ML1E 5UA"),
    ("Adresse : 18, boulevard Suzanne Dumont, 66896 Leclercnec", "18, boulevard Suzanne Dumont, 66896 Leclercnec"),
    ("Indirizzo: Piazza Sollima, 89, 10012, Bollengo (TO)", "Piazza Sollima, 89, 10012, Bollengo (TO)"),
    ("住所：山口県横浜市都筑区天神島26丁目17番12号", "山口県横浜市都筑区天神島26丁目17番12号"),
])
def test_addresses_after_their_labels(text, address):
    masked = mask_text(text)
    assert all(a in (MASK, MASK_WIDE) or a.isspace() for a in masked[text.index(address):][:len(address)]), masked


@pytest.mark.parametrize("text", ["Hi there, welcome back", "Dear customer, your order shipped", "The address book is empty",
                                  "Name your price", "Hello world"])
def test_greetings_and_labels_without_names_stay(text):
    assert mask_text(text) == text, find_pii(text)


def test_json_numbers_in_track_properties():
    """Personal keys mask whatever they hold; numbers that read as cards/phones/SSNs under
    any key are masked; ids, timestamps, prices and quantities stay numbers."""
    ev = mask_event({"t": 11, "ts": 0, "n": "lead", "p": {
        "phone": 2025550143, "card": 4242424242424242, "ssn": 536221847, "x": 4242424242424242.0,
        "contact": {"tel": "202 555 0143", "mobile": 3471234567}, "dob": "1962-08-06", "items": [{"cc": 5555555555554444}],
        "orderId": 48291736, "ts": 1711234567890, "price": 12.5, "qty": 3, "plan": "pro", "firstName": "Zelda"}})
    p = ev["p"]
    assert p["phone"] == "*" * 10 and p["card"] == "*" * 16 and p["ssn"] == "*" * 9 and p["x"] == "*" * 16
    assert p["contact"] == {"tel": "*** *** ****", "mobile": "*" * 10} and p["dob"] == "**********"
    assert p["items"] == [{"cc": "*" * 16}] and p["firstName"] == "*****"
    assert (p["orderId"], p["ts"], p["price"], p["qty"], p["plan"]) == (48291736, 1711234567890, 12.5, 3, "pro")
    assert personal_key("billing_address") and personal_key("ccNumber") and not personal_key("product_name")


def test_mask_glyph_keeps_the_width_class():
    """Wide (CJK, kana, hangul, full-width) characters mask to the full-width asterisk, the
    rest to ``*``: the masked run keeps its length and close to its rendered width."""
    assert shape_mask("山田 太郎") == "＊＊ ＊＊"
    assert shape_mask("직원@例え.jp") == "＊＊*＊＊***"
    assert shape_mask("Zoë Ångström") == "*** ********"
    assert shape_mask("ＡＢＣ１２") == "＊＊＊＊＊"


@pytest.mark.parametrize("text, value", [
    ("携帯番号は090-2923-8563です。", "090-2923-8563"),  # CJK letters touch the digits
    ("電話:03-7811-4429まで", "03-7811-4429"),
    ("Reach me on 619 129 633 after six.", "619 129 633"),  # a phone word, no trunk 0
    ("Support line 3289042565 (Mon-Fri)", "3289042565"),
    ("Reach me on 87921035906 after six.", "87921035906"),
    ("| Mobile | 054322969 |", "054322969"),  # 9 digits after a trunk 0, after a phone word
])
def test_phones_after_phone_words_and_beside_cjk(text, value):
    masked = mask_text(text)
    i = text.index(value)
    assert all(c in (MASK, MASK_WIDE) or c.isspace() for c in masked[i:i + len(value)]), masked
    assert masked[:i] == text[:i] and masked[i + len(value):] == text[i + len(value):], masked


@pytest.mark.parametrize("text", ["SKU 761 461 753", "Order 798 969 364 shipped.", "Subtotal 633 608 970",
                                  "see line 12 of 40", "v2.0.22 build 0412"])
def test_three_three_three_groups_without_a_phone_word_stay(text):
    assert mask_text(text) == text, find_pii(text)


def test_contact_key_masks_a_json_number():
    ev = mask_event({"t": 11, "ts": 0, "n": "lead", "p": {"contact": 5519962486228, "orderId": 376951356}})
    assert ev["p"] == {"contact": "*" * 13, "orderId": 376951356}


def test_dutch_particle_die_in_a_name():
    assert mask_text("Recipient: Evie die Bont") == "Recipient: **** *** ****"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_shape_mask_keeps_length_spaces_and_width_class(text):
    import unicodedata
    out = shape_mask(text)
    assert len(out) == len(text)
    for a, b in zip(text, out):
        if a.isspace():
            assert b == a
        else:
            # Unicode puts no wide character below U+1100 (this machine's unicodedata says 'F'
            # for some unassigned and Tamil code points there; the masker follows the standard)
            assert b == (MASK_WIDE if a >= "\u1100" and unicodedata.east_asian_width(a) in "WF" else MASK)


@pytest.mark.parametrize("text, value", [
    ("Thanks, Veronica Williams!", "Veronica Williams"),
    ("Good morning Nicole Weiss-Picard,", "Nicole Weiss-Picard"),
    ("Welcome back, Aoife Curran!", "Aoife Curran"),
    ("Name David Ekwueme", "David Ekwueme"),  # a bare label: two capitalised words
    ("Account holder: Rebecca Watson", "Rebecca Watson"),
    ("- name: عبد اللطيف آل قصير", "عبد اللطيف آل قصير"),  # a script without case
    ("Name: देवराज मित्रा", "देवराज मित्रा"),  # letters with combining vowel signs
    ("Ship to देवराज मित्रा", "देवराज मित्रा"),
    ("- name: pan Mateusz Czosnyka", "Mateusz Czosnyka"),
])
def test_names_in_more_contexts_and_scripts(text, value):
    masked = mask_text(text)
    i = text.index(value)
    assert all(c in (MASK, MASK_WIDE) or c.isspace() for c in masked[i:i + len(value)]), masked


@pytest.mark.parametrize("text", ["Name your price", "Name Tags", "Thanks for your order!", "Good morning, team",
                                  "Welcome back!", "Account holder: none"])
def test_name_contexts_without_names_stay(text):
    assert mask_text(text) == text, find_pii(text)


@pytest.mark.parametrize("email", ["दावा@yahoo.com", "सुनीता.शर्मा@example.in", "ସାହେବ@hotmail.com",
                                   "রাজিয়া.কাদের@কাদের.in"])
def test_email_local_parts_with_combining_marks(email):
    assert mask_text(f"Contact email {email} ok") == f"Contact email {shape_mask(email)} ok"


@pytest.mark.parametrize("row, card", [("2017-03-02,6584304692828604474,captured", "6584304692828604474"),
                                       ("#66639088,5231924118273748,captured", "5231924118273748"),
                                       ("928 625 238,1134 9652 2722 473,captured", "1134 9652 2722 473")])
def test_card_as_a_csv_field_after_a_number(row, card):
    assert mask_text(row) == row.replace(card, shape_mask(card))


def test_thousands_separated_amounts_are_not_cards():
    for text in ["Total 1,234,567,890,123,456", "¥98,891,602 paid", "1,000,000,000,000 views"]:
        assert mask_text(text) == text, find_pii(text)


@pytest.mark.parametrize("text, value", [("Your phone: (61)/503-4603", "(61)/503-4603"),
                                         ("- phone: 09/ 119 40 40", "09/ 119 40 40"),
                                         ("Tel.: 1-663-335-7778", "1-663-335-7778"),
                                         ("Tel.: 57628089", "57628089"), ("- phone: 59 87 46 34", "59 87 46 34")])
def test_phone_shapes_with_slashes_nanp_one_and_eight_digits(text, value):
    assert mask_text(text) == text.replace(value, shape_mask(value))


@pytest.mark.parametrize("text", ["due 09/12/2024", "build 12345678", "page 1-2-3", "Order 57628089 shipped"])
def test_dates_and_eight_digit_ids_without_phone_words_stay(text):
    assert mask_text(text) == text, find_pii(text)


# ----------------------------------------------------------------------------- issue 12, third round
# Each test below fails on masking.py of b0ab56a (the rules before this round).

def _row(*cells: tuple[str, str]) -> list[str]:
    """Mask one recorded table row (a SNAPSHOT tree) and return its cells' texts."""
    tr = {"t": 1, "n": "tr", "c": [{"t": 1, "n": tag, "c": [{"t": 3, "x": text}]} for tag, text in cells]}
    doc = {"t": 9, "c": [{"t": 1, "n": "table", "c": [{"t": 1, "n": "tbody", "c": [tr]}]}]}
    ev = mask_event({"t": 1, "ts": 0, "n": doc})
    return [c["c"][0]["x"] for c in ev["n"]["c"][0]["c"][0]["c"][0]["c"]]


_passports = st.builds(lambda a, d: a + d, st.sampled_from(["", "K", "CJ", "P", "U"]),
                       st.text("0123456789", min_size=7, max_size=8))


@settings(max_examples=60, deadline=None)
@given(label=st.sampled_from(["Passport", "Passport no.", "Reisepass", "Passeport:"]), value=_passports,
       tag=st.sampled_from(["td", "th"]))
def test_a_label_cell_masks_the_value_cell_beside_it(label, value, tag):
    out = _row((tag, label), ("td", value))
    assert out == [label, "*" * len(value)]


@pytest.mark.parametrize("label, value", [
    ("Address", "808 Soto Tunnel, Port Michaelhaven, MA 38445"),
    ("Name", "Hubert Janda"),
    ("Date of birth", "28-08-1981"),
    ("Phone", "24950375"),
    ("Full name:", "Niracha Sujjaboriboon"),
])
def test_label_cells_of_each_kind(label, value):
    assert _row(("th", label), ("td", value))[1] == shape_mask(value)


def test_a_label_cell_after_a_phone_number():
    assert _row(("td", "24 95 03 75"), ("td", "mobile")) == ["** ** ** **", "mobile"]


@pytest.mark.parametrize("cells", [
    (("th", "Order"), ("td", "1292995803"), ("td", "shipped")),
    (("th", "Total"), ("td", "$1,234.00")),
    (("th", "Date of birth"), ("td", "28-08-1981"), ("td", "03/10/1983")),  # only the cell beside the label
    (("th", "SKU"), ("td", "4006381333931")),
])
def test_decoys_under_labels_stay(cells):
    out = _row(*cells)
    for (_, text), masked in zip(cells[1:], out[1:]):
        if "birth" not in cells[0][1] or text == cells[-1][1]:
            assert masked == text


def test_table_markup_in_text_reads_cells_as_label_and_value():
    assert mask_text("<td>Passport</td><td>K21752808</td>") == "<td>Passport</td><td>*********</td>"
    assert mask_text("<tr><th>Name</th><td class=x>Sara Azevedo</td></tr>").count("*") == 11
    assert mask_text("<td>Order</td><td>1292995803</td>") == "<td>Order</td><td>1292995803</td>"


_streets = st.builds(lambda n, s, z, c: f"{s} {n}, {z} {c}", st.integers(1, 999).map(str),
                     st.sampled_from(["Ringgränd", "Mezi Lysinami", "aleja Stroma", "Hamilton Flat"]),
                     st.integers(1000, 99999).map(str), st.sampled_from(["Alingsås", "Broumov", "Guben", "Lyon"]))


@settings(max_examples=60, deadline=None)
@given(ctx=st.sampled_from(["Billing: ", "Shipping — ", "Residence: ", "Your parcel goes to ", "It ships to ",
                            "She lives at "]), address=_streets)
def test_addresses_after_weak_contexts(ctx, address):
    assert mask_text(ctx + address) == ctx + shape_mask(address)


@pytest.mark.parametrize("text", ["Billing: 3 items, total 12", "Shipping: 5-7 business days, tracked (DHL)",
                                  "Delivery: 2-3 days, free over 50", "Location: 12 stores in Europe",
                                  "Ships to 40 countries, Worldwide", "Home: 4 new messages, 2 alerts",
                                  "Refund sent to DE52 0225 1057 8090 3652 33 on 31/10/2015."])
def test_weak_address_contexts_without_an_address_stay(text):
    spans = find_pii(text)
    assert all(k != "address" for _, _, k in spans), spans


@settings(max_examples=60, deadline=None)
@given(word=st.sampled_from(["Fax ", "Hotline: ", "Tel. ", "phone number ", "Mobile: "]),
       number=st.sampled_from(["2006027", "339-3687", "575 58 75", "99 32 23", "8824996"]))
def test_local_numbers_right_after_a_phone_word(word, number):
    assert mask_text(word + number) == word + shape_mask(number)


@pytest.mark.parametrize("text", ["Ticket 2006027", "Batch 339-3687 · 3 items", "Fax cover sheet, ref 2006027",
                                  "Call us about order 1234567", "Request id 29.26.15943 Contact: x"])
def test_seven_digit_numbers_without_a_phone_word_beside_them_stay(text):
    assert all(k != "phone" for _, _, k in find_pii(text))


@pytest.mark.parametrize("text, value", [
    ("Hotline: 1 (343) 991-6165", "1 (343) 991-6165"),
    ('<a href="tel:+(370) 57438147">call</a>', "+(370) 57438147"),
    ("phone number 07738/18264646 verified", "07738/18264646"),
    ("number 4330662638367 exp 11/28 cvc ***", "4330662638367"),
    ("Passport ID: 84 36 730663", "84 36 730663"),
    ("passport no 7249 733347 checked", "7249 733347"),
    ("Invoice addressed to: Steven Long", "Steven Long"),
    ("Hello, მარინე ბერიანიძე.", "მარინე ბერიანიძე."),  # the final dot goes with the name, as in Latin
    ("Hello, Galih Wijaya, S.Farm.", "Galih Wijaya, S.Farm."),
    ("Name: добродій Аврелій Саєнко", "добродій Аврелій Саєнко"),
])
def test_more_shapes_of_this_round(text, value):
    s = text.index(value)
    assert mask_text(text) == text[:s] + shape_mask(value) + text[s + len(value):]
