"""Generate the labelled masking corpus: bench/corpus/corpus.jsonl (deterministic, seeded).

    .venv/bin/python bench/corpus/generate.py [--per-locale 600] [--seed 4]

Each line is ``{"locale", "text", "spans": [[start, end, kind], ...]}``: realistic
sentences in en_US, de_DE, fr_FR, en_GB and es_ES with Faker-made personal data at known
offsets, mixed with near-miss noise that looks like PII and is not (order numbers,
prices, dates, version strings, UUIDs, EAN barcodes, ISBNs, tracking numbers, clock
times, Luhn-invalid card-like numbers, IBAN-like strings with a wrong checksum, SSN-like
numbers the SSA never issues). Noise is unlabelled: any mask on it is a false positive.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import secrets
import string
from pathlib import Path

from faker import Faker

LOCALES = ("en_US", "de_DE", "fr_FR", "en_GB", "es_ES")
OUT = Path(__file__).with_name("corpus.jsonl")

# Sentence frames per language; {} is where the value goes.
FRAMES = {
    "en": {
        "email": ["Please reply to {} before Friday.", "Contact: {}", "Sent by {} on behalf of the team",
                  "Your receipt was emailed to {}."],
        "phone": ["Call us on {} any weekday.", "Mobile: {}", "If urgent, ring {} and ask for Sam.",
                  "Delivery driver will phone {} on arrival."],
        "card": ["Card ending is on file: {}", "Charged to {} successfully.", "card_number={}"],
        "iban": ["Please transfer the deposit to {} by Monday.", "IBAN: {}", "Refund goes to account {}."],
        "ssn": ["SSN {} was verified.", "Social security number: {}", "Applicant ({}) approved."],
        "ipv4": ["Login from {} blocked.", "client_ip={}", "Request came from {} at peak time."],
        "ipv6": ["Connected via {} over IPv6.", "remote_addr={}", "Peer {} dropped the session."],
        "jwt": ["Session token {} expired.", "id_token: {}", "Debug: got {} from the auth server"],
        "api_key": ["Using key {} for the payments API.", "STRIPE_KEY={}", "Rotate {} now, it leaked."],
        "bearer": ["Authorization: Bearer {}", "curl -H 'Authorization: Bearer {}' /api/me"],
        "secret": ["password={}", "db_password: {}", "api_key = {}"],
        "url_secret": ["GET {} 401", "Redirecting to {}", "Fetch failed: {}"],
    },
    "de": {
        "email": ["Bitte antworten Sie an {} bis Freitag.", "E-Mail: {}"],
        "phone": ["Rufen Sie uns unter {} an.", "Telefon: {}"],
        "card": ["Kreditkarte {} wurde belastet."],
        "iban": ["Bitte überweisen Sie den Betrag auf {}.", "IBAN: {}"],
        "ipv4": ["Anmeldung von {} gesperrt."],
    },
    "fr": {
        "email": ["Merci de répondre à {} avant vendredi.", "Courriel : {}"],
        "phone": ["Appelez-nous au {} en semaine.", "Tél. : {}"],
        "card": ["Carte bancaire {} débitée."],
        "iban": ["Veuillez virer l'acompte sur {}.", "IBAN : {}"],
        "ipv4": ["Connexion depuis {} refusée."],
    },
    "es": {
        "email": ["Responda a {} antes del viernes.", "Correo: {}"],
        "phone": ["Llámenos al {} de lunes a viernes.", "Teléfono: {}"],
        "card": ["Tarjeta {} cargada correctamente."],
        "iban": ["Transfiera la fianza a {} antes del lunes.", "IBAN: {}"],
        "ipv4": ["Acceso desde {} bloqueado."],
    },
}

NOISE_FRAMES = [
    "Order #{} has shipped.", "Total: {} incl. VAT", "Delivered on {}.", "Running version {}.",
    "Request id {}", "Barcode {}", "ISBN {}", "Tracking number {}", "Opens at {}.", "Invoice {} is due.",
    "Gift card {} is not valid.", "Reference {} on the form.", "Build {} passed.", "Room {}, floor 3.",
    "Quantity: {} units", "Coordinates {}", "Ticket {} was closed.",
]


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def group(s: str, n: int = 4, sep: str = " ") -> str:
    return sep.join(s[i:i + n] for i in range(0, len(s), n))


class Values:
    """Faker-backed generators of one locale's PII values and near misses."""

    def __init__(self, locale: str, rng: random.Random):
        self.fake = Faker(locale)
        self.fake.seed_instance(rng.randrange(1 << 30))
        self.us = Faker("en_US")
        self.us.seed_instance(rng.randrange(1 << 30))
        self.rng = rng

    def token(self, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def pii(self, kind: str) -> str:
        f, r = self.fake, self.rng
        if kind == "email":
            return r.choice([f.email, f.free_email, f.company_email, f.ascii_safe_email])()
        if kind == "phone":
            return f.phone_number()
        if kind == "card":
            num = f.credit_card_number()
            return group(num) if len(num) == 16 and r.random() < 0.5 else num
        if kind == "iban":
            iban = f.iban()
            return group(iban) if r.random() < 0.5 else iban
        if kind == "ssn":
            ssn = self.us.ssn()
            return ssn.replace("-", " ") if r.random() < 0.1 else ssn
        if kind == "ipv4":
            return r.choice([f.ipv4_public, f.ipv4_private])()
        if kind == "ipv6":
            v = f.ipv6()
            return v if r.random() < 0.7 else f"2001:db8::{r.randrange(1, 0xffff):x}"
        if kind == "jwt":
            head = b64u(json.dumps({"alg": r.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
            body = b64u(json.dumps({"sub": str(r.randrange(10**9)), "email": f.email(),
                                    "iat": r.randrange(1_600_000_000, 1_800_000_000)}).encode())
            return f"{head}.{body}.{b64u(secrets.token_bytes(32))}"
        if kind == "api_key":
            return r.choice([
                lambda: "sk_live_" + self.token(24), lambda: "pk_test_" + self.token(24),
                lambda: "AKIA" + self.token(16, string.ascii_uppercase + string.digits),
                lambda: "ghp_" + self.token(36), lambda: "xoxb-" + "-".join(self.token(12, string.digits) for _ in range(2)) + "-" + self.token(24),
                lambda: "AIza" + self.token(35, string.ascii_letters + string.digits + "_-"),
            ])()
        if kind in ("bearer", "secret"):
            return self.token(r.randrange(16, 41), string.ascii_letters + string.digits + "-_.")
        raise ValueError(kind)

    def noise(self) -> str:
        f, r = self.fake, self.rng
        d = lambda n: str(r.randrange(1, 10)) + "".join(str(r.randrange(10)) for _ in range(n - 1))  # noqa: E731
        return r.choice([
            lambda: d(r.randrange(6, 11)),  # order numbers
            lambda: f"A-{d(8)}", lambda: f"INV-{r.randrange(2019, 2027)}-{r.randrange(1, 999999):06d}",
            lambda: f"${r.randrange(1, 9999):,}.{r.randrange(100):02d}", lambda: f"{r.randrange(1, 9999):,}".replace(",", ".") + f",{r.randrange(100):02d} €",
            lambda: f"£{r.randrange(1, 999)}.{r.randrange(100):02d}",
            lambda: f.date(), lambda: f.date(pattern="%d.%m.%Y"), lambda: f.date(pattern="%m/%d/%Y"),
            lambda: f"v{r.randrange(10)}.{r.randrange(30)}.{r.randrange(30)}", lambda: f"{r.randrange(30)}.{r.randrange(30)}.{r.randrange(2000, 30000)}",
            lambda: f.uuid4(), lambda: f.ean13(), lambda: f.isbn13(), lambda: f"1Z{self.token(6, string.ascii_uppercase + string.digits)}{d(10)}",
            lambda: f.time(), lambda: f"{r.uniform(-90, 90):.6f}, {r.uniform(-180, 180):.6f}",
            # near misses of PII that fail the checks real PII passes
            lambda: self.bad_card(), lambda: self.bad_iban(), lambda: f"{r.choice(['000', '666', '9' + d(2)])}-{r.randrange(10, 99)}-{r.randrange(1000, 9999)}",
            lambda: f"{r.randrange(1, 999)}.{r.randrange(256, 999)}.{r.randrange(1, 255)}.{r.randrange(1, 255)}",
            lambda: f"{r.randrange(1, 4)}x{r.randrange(1, 20)}",
        ])()

    def bad_card(self) -> str:
        body = "4" + "".join(str(self.rng.randrange(10)) for _ in range(14))
        good = luhn_digit(body)
        bad = str((int(good) + self.rng.randrange(1, 10)) % 10)
        return group(body + bad)

    def bad_iban(self) -> str:
        iban = self.fake.iban()
        check = int(iban[2:4])
        return iban[:2] + f"{(check + self.rng.randrange(1, 90)) % 97 + 2:02d}"[-2:] + iban[4:]


def url_secret(v: Values) -> tuple[str, int, int]:
    """A URL with a secret in a query parameter; returns (url, start, end) of the secret."""
    r = v.rng
    name = r.choice(["token", "access_token", "api_key", "password", "sig", "code", "session_id", "auth"])
    value = v.token(r.randrange(12, 33))
    prefix = f"https://{v.fake.domain_name()}/{v.fake.uri_path()}?page={r.randrange(1, 9)}&{name}="
    return prefix + value + "&lang=en", len(prefix), len(prefix) + len(value)


def sentence(v: Values, lang: str) -> tuple[str, list[list]]:
    """One labelled line: one or two PII sentences and one or two noise sentences, shuffled."""
    r = v.rng
    parts: list[tuple[str, list]] = []
    for _ in range(r.choice([1, 1, 2])):
        kind = r.choice(list(FRAMES["en"]))
        frames = FRAMES[lang].get(kind) or FRAMES["en"][kind]
        frame = r.choice(frames)
        if kind == "url_secret":
            value, s, e = url_secret(v)
        else:
            value = v.pii(kind)
            s, e = 0, len(value)
        at = frame.index("{}")
        parts.append((frame.replace("{}", value, 1), [[at + s, at + e, kind]]))
    for _ in range(r.choice([1, 2, 2, 3])):
        parts.append((r.choice(NOISE_FRAMES).replace("{}", v.noise(), 1), []))
    if r.random() < 0.5:
        parts.append((v.fake.sentence(nb_words=r.randrange(6, 14)), []))
    r.shuffle(parts)
    text, spans = "", []
    for piece, sp in parts:
        if text:
            text += " "
        spans += [[s + len(text), e + len(text), k] for s, e, k in sp]
        text += piece
    return text, spans


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-locale", type=int, default=600)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    secrets.token_bytes = lambda n: bytes(rng.randrange(256) for _ in range(n))  # deterministic
    lines = []
    for locale in LOCALES:
        v = Values(locale, rng)
        for _ in range(args.per_locale):
            text, spans = sentence(v, locale[:2])
            lines.append(json.dumps({"locale": locale, "text": text, "spans": spans}, ensure_ascii=False))
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines to {args.out}")


if __name__ == "__main__":
    main()
