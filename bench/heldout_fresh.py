"""A second held-out masking corpus, over every locale Faker has (issue 12).

    .venv/bin/python bench/heldout_fresh.py --seed 4111 --out /tmp/fresh-4111.jsonl
    .venv/bin/python bench/masking_bench.py --heldout /tmp/fresh-4111.jsonl
    .venv/bin/python bench/heldout_fresh.py --templates second --seed 9377 --out /tmp/second-9377.jsonl
    .venv/bin/python bench/heldout_fresh.py --templates third --seed 5821 --out /tmp/third-5821.jsonl

``--templates third`` (THIRD below, with a ``table`` channel of recorded table rows) is the
held-out set after the round that fixed the second set's misses: written before that
round's rule changes, its results not looked at until they were frozen.

``--templates second`` (the held-out set now; see SECOND below) was written after the rules
were frozen again at d3dbaa6. Written on 2026-12-02 after py_core/masking.py was frozen at commit 18aa157 (the ``tune``
and ``final`` sets of bench/heldout_corpus.py had both been looked at by then: their
misses led to fixes, so neither is held out any more). Its templates below and its seed
(4111, picked after the templates) were not used to change any rule. Rows have the format
of bench/heldout_corpus.py (``masking_bench.py --heldout`` scores them).

What differs from the other sets: every locale of ``faker.config.AVAILABLE_LOCALES``
(phone numbers are Faker's own per-locale formats, names and addresses in each locale's
script), and new surroundings: forms, receipts, CSV lines, key: value logs, chat, e-mail
signatures, HTML-ish fragments, query strings, markdown lists. Decoys are the same
generators as the other sets (orders, SKUs, prices, dates, versions, UUIDs, tracking codes).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from faker import Faker
from faker.config import AVAILABLE_LOCALES

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heldout_corpus as hc  # noqa: E402

KINDS = hc.KINDS

FRESH = {
    "email": {"*": ["- owner: {v}", "Signed in as {v} · {d}", "{v},{d},active", "send_receipt(to='{v}')",
                    "— sent from {v}", "[reply]({v}) | ticket {d}", "Contact email {v}"]},
    "card": {"*": ["Saved cards: {v} · expires 04/29", "charge ok; number={v}; total {d}", "Card on file {v}",
                   "{d},{v},captured", "- card: {v}", "Paid by card ({v})"]},
    "phone": {"*": ["Tel.: {v}", "- phone: {v}", "mobile={v}&consent=1", "Call us: {v} (ref {d})", "Ph {v}",
                    "phone_number,{v}", "Your phone: {v}"]},
    "iban": {"*": ["- iban: {v}", "Transfer to IBAN {v} by {d}", "iban,{v}", "Beneficiary account (IBAN) {v}"]},
    "ssn": {"*": ["- ssn: {v}", "SSN on file: {v}", "applicant.ssn = {v}", "Social security number {v}"]},
    "passport": {"*": ["- passport: {v}", "Passport #: {v}", "passport={v}&nat=XX", "Passport number {v} (expires {d})"]},
    "dob": {"*": ["- date of birth: {v}", "DOB: {v}", "dob={v}", "Date of birth {v}"]},
    "name": {"*": ["- name: {v}", "Thanks, {v}!", "Name {v}", "Ship to {v}", "Good morning {v},",
                   "Account holder: {v}"]},
    "address": {"*": ["- address: {v}", "Ship to: {v}", "Address {v}", "Mailing address: {v}"]},
    "decoy": {"*": ["- order: {d}", "{d},shipped", "Ticket {d} closed", "Batch {d} · 3 items", "id={d}&page=2",
                    "Last sync {d}", "Release {d}"]},
}
# The second fresh set, written after the rules were frozen again at d3dbaa6 (the misses
# of the first fresh set, seed 4111, led to that round of fixes, so that set is no longer
# held out). Seed 9377 picked after these templates. Not used to change a rule.
SECOND = {
    "email": {"*": ["login: {v} (2FA on)", "To: {v}\nSubject: Order {d}", "unsubscribe {v} from the list",
                    "<td>{v}</td><td>{d}</td>", "user {v} reset the password", "mailto:{v}?subject=hi"]},
    "card": {"*": ["<td>{v}</td><td>Visa</td>", "Last used payment: {v}", "credit_card_number: {v}",
                   "We could not charge {v}.", "number {v} exp 11/28 cvc ***"]},
    "phone": {"*": ["<a href=\"tel:{v}\">call</a>", "Hotline: {v}", "SMS code sent to {v}", "<td>{v}</td><td>mobile</td>",
                    "phone number {v} verified", "Fax {v}"]},
    "iban": {"*": ["<td>IBAN</td><td>{v}</td>", "SEPA mandate for account {v}", "Bank account: {v}"]},
    "ssn": {"*": ["<td>SSN</td><td>{v}</td>", "taxpayer id (SSN) {v}", "SSN#{v}"]},
    "passport": {"*": ["<td>Passport</td><td>{v}</td>", "passport no {v} checked", "Passport ID: {v}"]},
    "dob": {"*": ["<td>Date of birth</td><td>{v}</td>", "Birth date {v}", "born on {v}"]},
    "name": {"*": ["<td>Name</td><td>{v}</td>", "Hey {v}, your order is on its way", "Welcome, {v}!",
                   "Customer name: {v}", "Invoice addressed to: {v}", "Hello, {v}."]},
    "address": {"*": ["<td>Address</td><td>{v}</td>", "Delivery address: {v}", "Billing: {v}",
                      "Your parcel goes to {v}"]},
    "decoy": {"*": ["<td>{d}</td><td>in stock</td>", "Build {d} passed", "Coupon {d} applied", "Page {d} of 40",
                    "Serial: {d}", "Shipment {d} left the depot"]},
}
# The third set, written on 2026-12-02 before the rules of the issue-12 round after b0ab56a
# were changed and before any result on it was looked at (the second set's misses led to
# that round, so the second set is no longer held out). Seed 5821 picked after these
# templates. New sentences and contexts, and a ``table`` channel: rows of a recorded
# <table> (cells as the snapshot's tree holds them), a label cell before or after the
# value, or a decoy under a label.
THIRD = {
    "email": {"*": ["Reply-To: {v}", "cc {v} on ticket {d}", "{{\"user\": \"{v}\", \"plan\": \"pro\"}}",
                    "notify -> {v}", "owner <{v}> since {d}", "Receipt will be e-mailed to {v} shortly"]},
    "card": {"*": ["PAN {v} declined (code {d})", "tokenised card {v}", "card_no={v}", "Karte {v} belastet",
                   "Retry payment with {v}?", "• {v} (default)"]},
    "phone": {"*": ["WhatsApp {v}", "Phone (home): {v}", "reach me at {v} after 6", "Office line {v}",
                    "phone:{v};", "Mobile no. {v}", "Emergency contact {v}", "Tel/Fax: {v}"]},
    "iban": {"*": ["IBAN: {v} (BIC on request)", "pay into {v} before {d}", "Refund to account {v}"]},
    "ssn": {"*": ["SSN: {v}", "ssn={v}", "Social Security No. {v}", "employee SSN {v} on W-2"]},
    "passport": {"*": ["Passport No.: {v}", "passport {v} expires in 2031", "travel document (passport) {v}",
                       "Passport: {v}, issued 2019"]},
    "dob": {"*": ["DOB {v}", "birthday: {v}", "Date of Birth - {v}", "born {v} in Lyon"]},
    "name": {"*": ["Full name: {v}", "Dear {v},", "Passenger: {v}", "Signed, {v}", "Recipient {v}",
                   "Cardholder name: {v}", "Order placed by {v}", "Hi {v}! Your code is ready"]},
    "address": {"*": ["Home address: {v}", "Ship-to: {v}", "Deliver to {v}", "Residence: {v}",
                      "Shipping address — {v}", "We will pick up at {v}"]},
    "decoy": {"*": ["Invoice {d} paid", "SKU {d} restocked", "Qty 3 × {d}", "ref={d}", "Version {d} deployed",
                    "Tracking {d}", "Total: {d}", "Updated {d}"]},
}
THIRD_CHANNELS = {"attr": ["data-contact", "aria-description", "value", "data-recipient", "alt"],
                  "style": ["list-style: url({u}) inside", "border-image: url(\"{u}\") 30 round"],
                  "css": ["li{{background-image:url('{u}')}}", ":root{{--pixel:url({u})}}"],
                  "split": None,
                  "json": ["telephone", "card_number", "ssn", "phoneNumber", "mobile", "contact"],
                  "table": None}
# Label cells of the table channel (before the value, or after it for the kinds listed in
# THIRD_AFTER), and decoy rows: a label that says what the number is not.
THIRD_TABLE = {"email": ["E-mail", "Contact e-mail", "Correo"], "card": ["Card number", "Payment card"],
               "phone": ["Telephone", "Mobile", "Téléphone", "Phone (work)"], "iban": ["Bank (IBAN)", "Account"],
               "ssn": ["SSN", "Social security"], "passport": ["Passport no.", "Passport number", "Reisepass"],
               "dob": ["Date of birth", "Born", "Geburtsdatum"], "name": ["Full name", "Holder", "Nom"],
               "address": ["Home address", "Shipping", "Adresse"]}
THIRD_AFTER = {"phone": ["work", "home", "cell"], "email": ["primary", "verified"]}
THIRD_DECOY_LABELS = ["Order", "Total", "SKU", "Items", "Updated", "Build"]

SECOND_CHANNELS = {"attr": ["data-user-email", "data-customer", "title", "value", "data-info"],
                   "style": ["background-image:url({u});width:{d}", "cursor: url('{u}'), auto"],
                   "css": ["#x{{background:url({u})}}", "@font-face{{src:url(\"{u}\")}}"],
                   "split": None,
                   "json": ["phone_number", "cardNumber", "ssn", "tel", "contact_phone", "mobile"]}

FRESH_CHANNELS = {"attr": ["data-owner", "title", "data-value", "aria-label", "content"],
                  "style": ["mask-image: url({u})", "background: no-repeat url('{u}'); padding: {d}"],
                  "css": [".card::before{{content:'';background:url({u}) center}}"],
                  "split": None,
                  "json": ["phone", "telephone", "cell", "ccnum", "ssn", "mobile_number"]}


class _Fallback:
    """A locale's Faker, falling back to en_US for providers the locale does not have."""

    def __init__(self, own: Faker, other: Faker):
        self.own, self.other = own, other

    def seed_instance(self, seed: int) -> None:
        self.own.seed_instance(seed)
        self.other.seed_instance(seed)

    def __getattr__(self, name):
        try:
            return getattr(self.own, name)
        except AttributeError:
            return getattr(self.other, name)


class FreshValues(hc.Values):
    """Values for any Faker locale: phone numbers are Faker's own national/international
    formats for the locale; languages without a month table write dates as numbers."""

    def __init__(self, locale: str, rng: random.Random):
        self.locale, self.rng = locale, rng
        self.lang = hc.LANG.get(locale, locale.split("_")[0] if locale.split("_")[0] in hc.MONTHS else "en")
        self.fake = _Fallback(Faker(locale), Faker("en_US"))
        self.fake.seed_instance(rng.randrange(1 << 30))

    def phone(self) -> str:
        return self.fake.phone_number()

    def email(self) -> str:
        if self.lang not in ("de", "fr", "es", "it", "nl", "pt", "ja", "en"):
            return self.fake.email()
        return super().email()

    def value(self, kind: str) -> str:
        try:
            return getattr(self, kind)()
        except (AttributeError, KeyError, ValueError):
            return getattr(FreshValues("en_US", self.rng), kind)()


def row_table(v: FreshValues, kind: str | None) -> dict:
    """One recorded table row: ``row["cells"]`` are ``[tag, text]`` (td/th), ``text`` their
    texts joined by tabs (spans and decoys are offsets in it). ``kind`` None: a decoy row."""
    r = v.rng
    if kind is None:
        decoy, dkind = v.decoy()
        cells = [["th", r.choice(THIRD_DECOY_LABELS)], ["td", decoy]]
        if r.random() < 0.5:
            cells.append(["td", r.choice(["in stock", "shipped", "3", "ok"])])
        marks = [(1, dkind, "decoys")]
    else:
        value = v.value(kind)
        if kind in THIRD_AFTER and r.random() < 0.4:
            cells = [["td", value], ["td", r.choice(THIRD_AFTER[kind])]]
            marks = [(0, kind, "spans")]
        else:
            cells = [[r.choice(["th", "td"]), r.choice(THIRD_TABLE[kind])], ["td", value]]
            marks = [(1, kind, "spans")]
        if r.random() < 0.4:
            decoy, dkind = v.decoy()
            cells.append(["td", decoy])
            marks.append((len(cells) - 1, dkind, "decoys"))
    row = {"locale": v.locale, "channel": "table", "cells": cells, "text": "\t".join(c[1] for c in cells),
           "spans": [], "decoys": []}
    for i, k, where in marks:
        s = sum(len(c[1]) + 1 for c in cells[:i])
        row[where].append([s, s + len(cells[i][1]), k])
    return row


def generate(seed: int, per_locale: int, which: str = "fresh") -> list[dict]:
    FRESH, FRESH_CHANNELS = {"fresh": (globals()["FRESH"], globals()["FRESH_CHANNELS"]),
                             "second": (SECOND, SECOND_CHANNELS), "third": (THIRD, THIRD_CHANNELS)}[which]
    channels = [c for c in ("attr", "style", "css", "split", "json", "table") if c in FRESH_CHANNELS]
    rng = random.Random(seed)
    rows = []
    for locale in sorted(AVAILABLE_LOCALES):
        v = FreshValues(locale, rng)
        for i in range(per_locale):
            x = rng.random()
            if x < 0.62:
                rows.append(hc.row_text(v, FRESH, KINDS[i % len(KINDS)]))
            elif x < 0.80:
                rows.append(hc.row_decoy(v, FRESH))
            else:
                channel = rng.choice(channels)
                if channel == "table":
                    rows.append(row_table(v, None if rng.random() < 0.25 else rng.choice(KINDS)))
                else:
                    rows.append(hc.row_channel(v, FRESH_CHANNELS, channel))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", choices=("fresh", "second", "third"), default="fresh",
                    help="fresh: written after 18aa157 (seed 4111); second: written after d3dbaa6 (seed 9377); "
                         "third: written after b0ab56a, before that round's fixes (seed 5821)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--per-locale", type=int, default=60)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = generate(args.seed, args.per_locale, args.templates)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} rows ({len(AVAILABLE_LOCALES)} locales, seed {args.seed}) to {args.out}")


if __name__ == "__main__":
    main()
