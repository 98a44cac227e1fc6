"""A held-out masking corpus: Faker values in ten locales, in sentence and markup templates
kept apart from the rules, plus decoys. Written for issue 12.

    .venv/bin/python bench/heldout_corpus.py --templates tune  --seed 11 --out /tmp/tune.jsonl
    .venv/bin/python bench/heldout_corpus.py --templates final --seed 22 --out /tmp/final-22.jsonl
    .venv/bin/python bench/heldout_corpus.py --templates final --seed 33 --out /tmp/final-33.jsonl

Two template sets: ``tune`` (written before the rules of issue 12, the one the rules were
tuned on, with seed 11) and ``final`` (written after the rules were frozen, never tuned
on; report on seeds 22 and 33). The values come from the same generators in both (their
shapes are the issue's: every card network and length, national phone formats, non-ASCII
e-mail, IBANs as Faker makes them...); what the ``final`` set changes is everything
around them: sentences, labels, tables, logs, JSON, attributes, CSS, split markup.

Each line: ``{"locale", "channel", "text", "spans": [[start, end, kind]], ...}``:

- ``text``: the string is masked with ``mask_text``;
- ``attr``: an attribute value, masked with ``mask_attr(row["attr"], text)``;
- ``style``: a ``style`` attribute value (``mask_attr("style", text)``);
- ``css``: style sheet text (a STYLE event's ``c``);
- ``split``: ``row["pieces"]`` (``[[tag or null, text], ...]``) are the inline children of
  one ``<p>``; ``text`` is their concatenation and spans are offsets in it;
- ``json``: ``row["props"]`` are ``Sightline.track`` properties; ``row["paths"]`` are
  ``[key, kind]`` for the personal values; every other key is a decoy.

Unlabelled text is decoy: any mask on it is a false positive (``decoys`` counts the
decoy values planted on purpose, by kind, at ``row["decoys"]`` offsets).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import string
from pathlib import Path

from faker import Faker

LOCALES = ("en_US", "de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL", "pt_BR", "en_IN", "ja_JP")
KINDS = ("email", "card", "phone", "iban", "ssn", "passport", "dob", "name", "address")


def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


# Card networks: (name, prefixes, lengths) from the issuers' published ranges.
NETWORKS = [
    ("visa", ["4"], [13, 16, 19]), ("mastercard", ["51", "52", "53", "54", "55", "2221", "2720"], [16]),
    ("amex", ["34", "37"], [15]), ("diners", ["300", "305", "36", "38"], [14, 16]),
    ("discover", ["6011", "644", "65"], [16, 19]), ("jcb", ["3528", "3589"], [16, 17, 18, 19]),
    ("maestro", ["5018", "5020", "5038", "5893", "6304", "6759", "6761", "6763"], list(range(12, 20))),
    ("unionpay", ["62"], [16, 17, 18, 19]), ("mir", ["2200", "2204"], [16, 17, 18, 19]),
    ("rupay", ["60", "652", "81", "82", "508"], [16]), ("uatp", ["1"], [15]), ("troy", ["9792"], [16]),
    ("verve", ["5061", "6500"], [16, 18, 19]), ("elo", ["4011", "5067", "6363"], [16]),
]
GROUPINGS = {12: [(4, 4, 4)], 13: [(4, 4, 5), (4, 3, 3, 3)], 14: [(4, 6, 4), (4, 4, 4, 2)], 15: [(4, 6, 5), (4, 4, 4, 3)],
             16: [(4, 4, 4, 4)], 17: [(4, 4, 4, 5)], 18: [(4, 4, 4, 6), (6, 12)], 19: [(4, 4, 4, 4, 3), (6, 13)]}

# National phone formats without a country code ('#' a digit), and international ones.
PHONE_FORMATS = {
    "en_US": ["### ### ####", "(###) ###-####", "###-###-####", "###.###.####", "+1 ### ### ####"],
    "de_DE": ["030 ########", "0### #######", "0151 ########", "(0###) ######", "+49 ### #######"],
    "fr_FR": ["0# ## ## ## ##", "0#.##.##.##.##", "+33 # ## ## ## ##"],
    "en_GB": ["020 #### ####", "07### ######", "01### ######", "0161 ### ####", "+44 7### ######"],
    "es_ES": ["9## ### ###", "6## ## ## ##", "6## ### ###", "+34 6## ### ###"],
    "it_IT": ["3## ### ####", "3## #######", "06 #### ####", "02 ########", "+39 3## ### ####"],
    "nl_NL": ["06-########", "06 ## ## ## ##", "020 ### ####", "010-#######", "+31 6 ########"],
    "pt_BR": ["(##) 9####-####", "## 9####-####", "(##) ####-####", "##9########", "+55 ## 9####-####"],
    "en_IN": ["9#### #####", "09#### #####", "7#########", "0## ########", "+91 9#### #####"],
    "ja_JP": ["090-####-####", "03-####-####", "0#-####-####", "06 #### ####", "+81 90-####-####"],
}

LANG = {"en_US": "en", "de_DE": "de", "fr_FR": "fr", "en_GB": "en", "es_ES": "es", "it_IT": "it", "nl_NL": "nl",
        "pt_BR": "pt", "en_IN": "en", "ja_JP": "ja"}
MONTHS = {
    "en": "January February March April May June July August September October November December",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
}

# ----------------------------------------------------------------------------- templates
# "{v}" is the personal value; "{d}" a decoy. One dict per set: kind -> lang -> templates
# ("*" applies to every language without its own list).

TUNE = {
    "email": {"*": ["Reply to {v} please.", "E-mail: {v}", "from {v} ({d})"],
              "de": ["Antwort an {v}, Bestellung {d}."], "ja": ["連絡先：{v}"]},
    "card": {"*": ["Card {v} was charged {d}.", "PAN: {v}"], "fr": ["Carte {v} débitée."],
             "de": ["Karte {v} belastet."], "ja": ["カード番号 {v}"]},
    "phone": {"*": ["Phone: {v}", "Call {v} after {d}.", "tel {v}"], "it": ["Chiamare il {v}."],
              "pt": ["Ligue para {v}."], "ja": ["電話 {v}"], "de": ["Telefon {v}"], "nl": ["Bel {v}."],
              "es": ["Llame al {v}."], "fr": ["Tél {v}"]},
    "iban": {"*": ["IBAN {v}", "Pay to {v} ref {d}."]},
    "ssn": {"*": ["SSN: {v}", "social security {v}"]},
    "passport": {"*": ["Passport no. {v}", "passport number: {v}"], "de": ["Reisepass Nr. {v}"],
                 "fr": ["Passeport n° {v}"], "es": ["Pasaporte: {v}"], "it": ["Passaporto n. {v}"],
                 "nl": ["Paspoort {v}"], "pt": ["Passaporte {v}"], "ja": ["旅券番号 {v}"]},
    "dob": {"*": ["Date of birth: {v}", "DOB {v}"], "de": ["Geburtsdatum: {v}"], "fr": ["Date de naissance : {v}"],
            "es": ["Fecha de nacimiento: {v}"], "it": ["Data di nascita: {v}"], "nl": ["Geboortedatum: {v}"],
            "pt": ["Data de nascimento: {v}"], "ja": ["生年月日：{v}"]},
    "name": {"*": ["Name: {v}", "Hi {v},"], "de": ["Hallo {v},"], "fr": ["Bonjour {v},"], "es": ["Hola {v},"],
             "it": ["Ciao {v},"], "nl": ["Beste {v},"], "pt": ["Olá {v},"], "ja": ["氏名：{v}"]},
    "address": {"*": ["Address: {v}", "Ship to: {v}"], "de": ["Adresse: {v}"], "fr": ["Adresse : {v}"],
                "es": ["Dirección: {v}"], "it": ["Indirizzo: {v}"], "nl": ["Adres: {v}"], "pt": ["Endereço: {v}"],
                "ja": ["住所：{v}"]},
    "decoy": {"*": ["Order {d} shipped.", "Total {d}", "at {d}", "build {d}", "SKU {d}", "ref {d} ok"]},
}
TUNE_CHANNELS = {"attr": ["title", "data-user", "aria-label", "value"],
                 "style": ["background-image: url({u})", "background: url('{u}') no-repeat; width: {d}"],
                 "css": [".hero{{background-image:url({u});margin:0 12px}}"],
                 "split": [[None, "Mail: "], ["b", 0.5], ["i", 1.0]],
                 "json": ["phone", "card", "ssn"]}

# Written after the rules of issue 12 were frozen (commit "masking: every issued card
# length..."); never tuned on. Tables, logs, JSON text, chat lines, receipts.
FINAL = {
    "email": {"*": ["| {v} | active | {d} |", "2024-05-01 12:00:03 INFO user={v} logged in", '{"contact": "{v}", "ref": "{d}"}',
                    "Questions? Write us at {v}", "cc: {v}; bcc: none", "<{v}> wrote on {d}:"],
              "de": ["Ihre Anmeldung mit {v} war erfolgreich."], "fr": ["Votre compte {v} a été créé."],
              "es": ["Hemos enviado el enlace a {v}."], "it": ["Abbiamo inviato la ricevuta a {v}."],
              "nl": ["We hebben een bevestiging gestuurd naar {v}."], "pt": ["Enviamos o código para {v}."],
              "ja": ["{v} 宛にメールを送信しました。"]},
    "card": {"*": ["Payment method: {v} (exp 09/27)", "| VISA/MC | {v} | {d} |", "txn ok pan={v} amount={d}",
                   "Your card number {v} has been saved", "credit card: {v}"],
             "de": ["Zahlung mit Kreditkarte {v} bestätigt."], "fr": ["Paiement par carte {v} accepté."],
             "es": ["Pago con tarjeta {v} aprobado."], "it": ["Pagamento con carta {v} riuscito."],
             "nl": ["Betaling met kaart {v} gelukt."], "pt": ["Pagamento no cartão {v} aprovado."],
             "ja": ["お支払いカード：{v}"]},
    "phone": {"*": ["| Mobile | {v} |", "Reach me on {v} after six.", "Support line {v} (Mon-Fri)", "WhatsApp {v}",
                    "Contact number: {v}", "Phone {v} · order {d}"],
              "de": ["Rückruf unter {v} erbeten."], "fr": ["Joignable au {v} le matin."], "es": ["Mi móvil es {v}."],
              "it": ["Il mio cellulare è {v}."], "nl": ["Mijn nummer is {v}."], "pt": ["Meu celular: {v}"],
              "ja": ["携帯番号は{v}です。"]},
    "iban": {"*": ["| Account | {v} |", "Bank details — IBAN: {v}", "Refund sent to {v} on {d}.", "payout_account={v}"],
             "de": ["Kontoverbindung: {v}"], "fr": ["Coordonnées bancaires : {v}"], "es": ["Cuenta: {v}"],
             "it": ["Conto corrente {v}"], "nl": ["Rekeningnummer {v}"], "pt": ["Conta para reembolso: {v}"]},
    "ssn": {"*": ["| SSN | {v} |", "Applicant SSN {v} verified", "ssn={v}", "Social Security No. {v}"]},
    "passport": {"*": ["| Passport | {v} |", "Travel document: passport {v}", "passport_no={v}"],
                 "de": ["Reisepassnummer {v}"], "fr": ["Numéro de passeport : {v}"], "es": ["Número de pasaporte {v}"],
                 "it": ["Numero passaporto {v}"], "nl": ["Paspoortnummer {v}"], "pt": ["Número do passaporte: {v}"],
                 "ja": ["パスポート番号：{v}"]},
    "dob": {"*": ["| Date of birth | {v} |", "Born: {v}", "birthdate={v}", "Birthday {v}"],
            "de": ["geboren am {v}"], "fr": ["née le {v}"], "es": ["Nacido el {v}"], "it": ["nato il {v}"],
            "nl": ["geboren op {v}"], "pt": ["Data de nascimento {v}"], "ja": ["誕生日 {v}"]},
    "name": {"*": ["| Customer | {v} |", "Dear {v},", "Full name: {v}", "Recipient: {v}", "Hello {v}!"],
             "de": ["Sehr geehrte {v},", "Kunde: {v}"], "fr": ["Cher {v},", "Nom complet : {v}"],
             "es": ["Estimado {v},", "Cliente: {v}"], "it": ["Gentile {v},", "Cliente: {v}"],
             "nl": ["Geachte {v},", "Klant: {v}"], "pt": ["Prezado {v},", "Cliente: {v}"], "ja": ["{v}様", "お名前：{v}"]},
    "address": {"*": ["| Shipping address | {v} |", "Deliver to: {v}", "Billing address: {v}"],
                "de": ["Lieferadresse: {v}"], "fr": ["Adresse de livraison : {v}"], "es": ["Dirección de envío: {v}"],
                "it": ["Indirizzo di spedizione: {v}"], "nl": ["Bezorgadres: {v}"], "pt": ["Endereço de entrega: {v}"],
                "ja": ["お届け先：{v}"]},
    "decoy": {"*": ["| Order | {d} | paid |", "2024-05-01 12:00:03 INFO request_id={d} done", '{"sku": "{d}"}',
                    "Invoice {d} — thank you", "Tracking: {d}", "Subtotal {d}", "v{d}", "Updated {d}", "style=\"{d}\""]},
}
FINAL_CHANNELS = {"attr": ["data-email", "alt", "data-contact", "placeholder", "value", "aria-describedby"],
                  "style": ["background:#fff url(\"{u}\") 0 0 / cover; height: {d}", "--avatar: url({u}); border-radius: 50%",
                            "list-style-image: url('{u}')"],
                  "css": ["@media (min-width: 600px){{.avatar{{background-image:url(\"{u}\")}}}}", "div.p::after{{content:url({u})}}"],
                  "split": None,
                  "json": ["tel", "mobile", "cc", "telefon", "ss_number", "contact"]}


# ----------------------------------------------------------------------------- values

class Values:
    """One locale's personal values and decoys, from Faker and the tables above."""

    def __init__(self, locale: str, rng: random.Random):
        self.locale, self.lang, self.rng = locale, LANG[locale], rng
        self.fake = Faker(locale)
        self.fake.seed_instance(rng.randrange(1 << 30))

    def digits(self, n: int) -> str:
        return "".join(str(self.rng.randrange(10)) for _ in range(n))

    def fill(self, fmt: str) -> str:
        return "".join(str(self.rng.randrange(10)) if c == "#" else c for c in fmt)

    def card(self) -> str:
        r = self.rng
        _, prefixes, lengths = r.choice(NETWORKS)
        n = r.choice(lengths)
        p = r.choice(prefixes)
        num = luhn_complete(p + self.digits(n - len(p) - 1))
        style = r.random()
        if style < 0.4:
            return num
        sizes = r.choice(GROUPINGS[n])
        out, i = [], 0
        for s in sizes:
            out.append(num[i:i + s])
            i += s
        return (" " if style < 0.8 else "-").join(out)

    def email(self) -> str:
        f, r = self.fake, self.rng
        style = r.random()
        if style < 0.35:
            return f.email()
        local = f.first_name().lower().replace(" ", "")
        if r.random() < 0.6:
            local += "+" + f.word().lower().replace(" ", "")
        elif r.random() < 0.5:
            local += "." + f.last_name().lower().replace(" ", "")
        if style < 0.7:
            return f"{local}@{f.free_email_domain()}"
        host = f.last_name().lower().replace(" ", "-") + r.choice(["", "-shop", "-bau", ""])
        tld = r.choice({"de": ["de", "com"], "fr": ["fr"], "es": ["es"], "it": ["it"], "nl": ["nl"], "pt": ["com.br"],
                        "ja": ["jp", "co.jp", "日本"], "en": ["com", "co.uk", "in", "org"]}[self.lang])
        return f"{local}@{host}.{tld}"

    def phone(self) -> str:
        if self.rng.random() < 0.3:
            return self.fake.phone_number()
        return self.fill(self.rng.choice(PHONE_FORMATS[self.locale]))

    def iban(self) -> str:
        iban = self.fake.iban()
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if self.rng.random() < 0.5 else iban

    def ssn(self) -> str:
        r = self.rng
        area = r.choice([n for n in range(1, 900) if n != 666])
        s = f"{area:03d}{r.randrange(1, 100):02d}{r.randrange(1, 10000):04d}"
        return r.choice([f"{s[:3]}-{s[3:5]}-{s[5:]}", f"{s[:3]} {s[3:5]} {s[5:]}", s])

    def passport(self) -> str:
        try:
            return self.fake.passport_number()
        except AttributeError:
            return self.rng.choice(string.ascii_uppercase) + self.digits(8)

    def dob(self) -> str:
        d = self.fake.date_of_birth(minimum_age=18, maximum_age=90)
        r, lang = self.rng, self.lang
        style = r.random()
        if style < 0.3:
            return d.isoformat()
        if style < 0.6:
            return r.choice([d.strftime("%d/%m/%Y"), d.strftime("%d.%m.%Y"), d.strftime("%m/%d/%Y"), d.strftime("%d-%m-%Y")])
        if lang == "ja":
            return f"{d.year}年{d.month}月{d.day}日"
        month = MONTHS[lang].split()[d.month - 1]
        return {"en": r.choice([f"{d.day} {month} {d.year}", f"{month} {d.day}, {d.year}"]),
                "de": f"{d.day}. {month} {d.year}", "fr": f"{d.day} {month} {d.year}",
                "es": f"{d.day} de {month} de {d.year}", "it": f"{d.day} {month} {d.year}",
                "nl": f"{d.day} {month} {d.year}", "pt": f"{d.day} de {month} de {d.year}"}[lang]

    def name(self) -> str:
        f = self.fake
        return f.name() if self.rng.random() < 0.6 else f"{f.first_name()} {f.last_name()}"

    def address(self) -> str:
        return self.fake.address().replace("\n", ", ")

    def value(self, kind: str) -> str:
        return getattr(self, kind)()

    def decoy(self) -> tuple[str, str]:
        f, r = self.fake, self.rng
        d = lambda n: str(r.randrange(1, 10)) + self.digits(n - 1)  # noqa: E731
        kind, make = r.choice([
            ("order", lambda: r.choice([d(r.randrange(6, 12)), f"#{d(8)}", f"ORD-{d(6)}-{d(4)}", f"{d(3)}-{d(7)}-{d(7)}"])),
            ("price", lambda: r.choice([f"${r.randrange(1, 99999):,}.{r.randrange(100):02d}", f"{r.randrange(1, 9999)},{r.randrange(100):02d} €",
                                        f"¥{r.randrange(100, 999999):,}", f"R$ {r.randrange(1, 9999)},{r.randrange(100):02d}",
                                        f"₹{r.randrange(100, 99999):,}"])),
            ("timestamp", lambda: r.choice([f.iso8601(), str(r.randrange(1_500_000_000_000, 1_800_000_000_000)),
                                            str(r.randrange(1_500_000_000, 1_800_000_000)), f.time(), f.date(),
                                            f.date_time().strftime("%d/%m/%Y %H:%M")])),
            ("sku", lambda: r.choice([f"SKU-{d(4)}-{r.choice(['XS', 'M', 'XL'])}", f"{self.fake.lexify('??').upper()}{d(4)}-{d(3)}",
                                      f.ean13(), f.ean8(), f"{d(3)} {d(3)} {d(3)}"])),
            ("css", lambda: r.choice([f"margin: 0 {r.randrange(40)}px 0 {r.randrange(40)}px", f"rgba({r.randrange(256)}, {r.randrange(256)}, {r.randrange(256)}, 0.5)",
                                      f"translate({r.randrange(999)}px, {r.randrange(999)}px)", f"#{self.fake.hexify('^^^^^^')}",
                                      f"matrix(1, 0, 0, 1, {r.randrange(999)}, {r.randrange(999)})"])),
            ("version", lambda: r.choice([f"v{r.randrange(10)}.{r.randrange(30)}.{r.randrange(30)}", f"10.0.{d(5)}.{r.randrange(9999)}",
                                          f"{r.randrange(1, 30)}.{r.randrange(30)}.{r.randrange(999)}-rc.{r.randrange(9)}"])),
            ("uuid", lambda: f.uuid4()),
            ("tracking", lambda: r.choice([f"1Z{self.fake.bothify('???###').upper()}{d(10)}", f"JD{d(18)}", f"{d(4)} {d(4)} {d(4)} {d(4)} {d(2)}"[:r.choice([14, 19, 22])],
                                           f"LX{d(9)}CN"])),
            ("date", lambda: r.choice([f.date(), f.date(pattern="%d/%m/%Y"), f.date(pattern="%d.%m.%Y"), f.date(pattern="%B %d, %Y")])),
        ])
        return make(), kind


# ----------------------------------------------------------------------------- rows

def pick(templates: dict, kind: str, lang: str, r: random.Random) -> str:
    table = templates[kind]
    return r.choice(table.get(lang, []) + table.get("*", []))


def place(template: str, value: str, decoy: str) -> tuple[str, int, int, int | None]:
    """Fill a template; returns (text, value start, value end, decoy start or None)."""
    text, vs, ds = "", None, None
    i = 0
    while i < len(template):
        if template.startswith("{v}", i):
            vs = len(text)
            text += value
            i += 3
        elif template.startswith("{d}", i):
            ds = len(text)
            text += decoy
            i += 3
        else:
            text += template[i]
            i += 1
    return text, vs, (vs or 0) + len(value), ds


def row_text(v: Values, templates: dict, kind: str) -> dict:
    r = v.rng
    value = v.value(kind)
    decoy, dkind = v.decoy()
    text, s, e, ds = place(pick(templates, kind, v.lang, r), value, decoy)
    row = {"locale": v.locale, "channel": "text", "text": text, "spans": [[s, e, kind]], "decoys": []}
    if ds is not None:
        row["decoys"].append([ds, ds + len(decoy), dkind])
    return row


def row_decoy(v: Values, templates: dict) -> dict:
    decoy, dkind = v.decoy()
    text, _, _, ds = place(pick(templates, "decoy", v.lang, v.rng), "", decoy)
    return {"locale": v.locale, "channel": "text", "text": text, "spans": [], "decoys": [[ds, ds + len(decoy), dkind]]}


def row_channel(v: Values, chans: dict, channel: str) -> dict:
    r, f = v.rng, v.fake
    if channel == "attr":
        kind = r.choice(["email", "phone", "card", "ssn"])
        value = v.value(kind)
        if kind == "ssn":
            value = value.replace("-", "").replace(" ", "")
        name = r.choice(chans["attr"]) if kind != "ssn" else r.choice(["data-ssn", "value", "data-tax-id"])
        return {"locale": v.locale, "channel": "attr", "attr": name, "text": value, "spans": [[0, len(value), kind]],
                "decoys": []}
    if channel in ("style", "css"):
        kind = r.choice(["email", "phone"])
        value = v.value(kind)
        param = r.choice(["email", "e", "u", "contact", "to"])
        url = f"https://{f.domain_name()}/px.gif?{param}={value}&v={r.randrange(9)}"
        decoy, _ = v.decoy()
        tpl = r.choice(chans[channel])
        text = tpl.replace("{u}", url).replace("{d}", f"{r.randrange(9, 999)}px").replace("{{", "{").replace("}}", "}")
        s = text.index(value)
        return {"locale": v.locale, "channel": channel, "text": text, "spans": [[s, s + len(value), kind]], "decoys": []}
    if channel == "split":
        kind = r.choice(["email", "card"])
        value = v.value(kind)
        cut = r.randrange(2, len(value) - 1)
        head = r.choice(["Mail: ", "Contact ", "Card ", "→ "])
        pieces = [[None, head], [r.choice(["b", "span", "em"]), value[:cut]], [r.choice(["i", "span", "strong"]), value[cut:]],
                  [None, r.choice([".", " today.", ""])]]
        text = "".join(p[1] for p in pieces)
        return {"locale": v.locale, "channel": "split", "pieces": pieces, "text": text,
                "spans": [[len(head), len(head) + len(value), kind]], "decoys": []}
    if channel == "json":
        key = r.choice(chans["json"])
        kind = {"phone": "phone", "card": "card", "ssn": "ssn", "tel": "phone", "mobile": "phone", "cc": "card",
                "telefon": "phone", "ss_number": "ssn", "contact": "phone"}.get(key, "phone")
        raw = _digits(v.card() if kind == "card" else v.phone() if kind == "phone" else v.ssn())
        raw = raw.lstrip("0") or "1"
        props = {key: int(raw), "orderId": r.randrange(10**5, 10**9), "ts": r.randrange(1_500_000_000_000, 1_800_000_000_000),
                 "price": round(r.uniform(1, 999), 2), "qty": r.randrange(1, 9)}
        return {"locale": v.locale, "channel": "json", "props": props, "paths": [[key, kind]],
                "text": json.dumps(props), "spans": [], "decoys": []}
    raise ValueError(channel)


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def generate(seed: int, per_locale: int, which: str) -> list[dict]:
    templates, chans = (TUNE, TUNE_CHANNELS) if which == "tune" else (FINAL, FINAL_CHANNELS)
    if not templates:
        raise SystemExit(f"the {which!r} template set is empty")
    rng = random.Random(seed)
    rows = []
    for locale in LOCALES:
        v = Values(locale, rng)
        for i in range(per_locale):
            x = rng.random()
            if x < 0.62:
                rows.append(row_text(v, templates, KINDS[i % len(KINDS)]))
            elif x < 0.80:
                rows.append(row_decoy(v, templates))
            else:
                rows.append(row_channel(v, chans, rng.choice(["attr", "style", "css", "split", "json"])))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", choices=("tune", "final"), required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--per-locale", type=int, default=300)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = generate(args.seed, args.per_locale, args.templates)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} rows ({args.templates} templates, seed {args.seed}) to {args.out}")


if __name__ == "__main__":
    main()
