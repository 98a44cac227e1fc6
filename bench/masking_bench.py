"""Masking benchmark: py_core.masking vs presidio-analyzer's predefined recognizers.

    .venv/bin/python bench/masking_bench.py [--corpus bench/corpus/corpus.jsonl] [--json out.json]

Both run on the same labelled corpus (bench/corpus/generate.py) in the same process.
presidio's AnalyzerEngine needs a spaCy model that cannot be downloaded here, so its
predefined pattern recognizers are called directly (no NLP context boost), with every
result kept (score threshold 0, AnalyzerEngine's default).

Metrics, per entity kind and overall (micro):
- recall: a labelled value counts as found when every non-space character of it lies
  inside the system's detected spans (what masking needs: a half-masked card leaks);
- precision: a detected span counts as right when it overlaps a labelled value; spans on
  noise (order numbers, prices, dates, versions, UUIDs...) are false positives.
Throughput (characters per second, CPython) is measured over the whole corpus, best of 3.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from py_core.masking import find_pii  # noqa: E402

CORPUS = Path(__file__).with_name("corpus") / "corpus.jsonl"
KINDS = ["email", "card", "phone", "iban", "ssn", "ipv4", "ipv6", "jwt", "api_key", "bearer", "secret",
         "url_secret"]
PRESIDIO_KINDS = {"email", "card", "phone", "iban", "ssn", "ipv4", "ipv6"}  # what presidio has recognizers for


def presidio_detector():
    """A find_pii-like function over presidio's predefined recognizers."""
    logging.disable(logging.CRITICAL)  # tldextract's offline fallback logs a traceback per call
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer, EmailRecognizer, IbanRecognizer, IpRecognizer, PhoneRecognizer, UsSsnRecognizer)

    recognizers = [EmailRecognizer(), CreditCardRecognizer(), IbanRecognizer(), UsSsnRecognizer(), IpRecognizer(),
                   PhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "ES"))]
    names = {"EMAIL_ADDRESS": "email", "CREDIT_CARD": "card", "PHONE_NUMBER": "phone", "IBAN_CODE": "iban",
             "US_SSN": "ssn"}

    def detect(text: str) -> list[tuple[int, int, str]]:
        spans = []
        for rec in recognizers:
            for r in rec.analyze(text, rec.supported_entities, None) or ():
                kind = names.get(r.entity_type) or ("ipv6" if ":" in text[r.start:r.end] else "ipv4")
                spans.append((r.start, r.end, kind))
        return spans

    return detect


def score(corpus: list[dict], detect) -> dict:
    """Per-kind recall and precision counts of one detector on the corpus."""
    found, total, right, made = Counter(), Counter(), Counter(), Counter()
    for row in corpus:
        text, gold = row["text"], row["spans"]
        pred = detect(text)
        covered = bytearray(len(text))
        for s, e, _ in pred:
            covered[s:e] = b"\1" * (e - s)
        for s, e, kind in gold:
            total[kind] += 1
            if all(covered[i] or text[i].isspace() for i in range(s, e)):
                found[kind] += 1
        for s, e, kind in pred:
            made[kind] += 1
            if any(gs < e and s < ge for gs, ge, _ in gold):
                right[kind] += 1
    return {"found": found, "total": total, "right": right, "made": made}


def ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def summary(c: dict, kinds) -> dict:
    f = sum(c["found"][k] for k in kinds)
    t = sum(c["total"][k] for k in kinds)
    r = sum(c["right"][k] for k in kinds)
    m = sum(c["made"][k] for k in kinds)
    return {"recall": ratio(f, t), "precision": ratio(r, m), "found": f, "total": t, "right": r, "made": m}


def throughput(corpus: list[dict], detect, rounds: int = 3) -> float:
    chars = sum(len(r["text"]) for r in corpus)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for r in corpus:
            detect(r["text"])
        best = min(best, time.perf_counter() - t0)
    return chars / best


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    corpus = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line]
    systems = {"sightline": find_pii, "presidio": presidio_detector()}
    counts = {name: score(corpus, d) for name, d in systems.items()}
    speed = {name: throughput(corpus, d) for name, d in systems.items()}

    print(f"corpus: {len(corpus)} lines, {sum(len(r['text']) for r in corpus):,} chars, "
          f"{sum(len(r['spans']) for r in corpus)} labelled values, locales "
          f"{', '.join(sorted({r['locale'] for r in corpus}))}\n")
    print("| kind | n | sightline recall | sightline precision | presidio recall | presidio precision |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    result = {"corpus": str(args.corpus), "lines": len(corpus), "kinds": {}, "overall": {}, "chars_per_s": speed}
    for k in KINDS:
        row = {n: summary(c, [k]) for n, c in counts.items()}
        result["kinds"][k] = row
        s, p = row["sightline"], row["presidio"]
        print(f"| {k} | {s['total']} | {pct(s['recall'])} | {pct(s['precision'])} | "
              f"{pct(p['recall']) if k in PRESIDIO_KINDS else 'no recognizer'} | {pct(p['precision'])} |")
    for label, kinds in (("overall (all kinds)", KINDS), ("overall (kinds presidio covers)", PRESIDIO_KINDS)):
        row = {n: summary(c, kinds) for n, c in counts.items()}
        result["overall"][label] = row
        s, p = row["sightline"], row["presidio"]
        print(f"| **{label}** | {s['total']} | {pct(s['recall'])} | {pct(s['precision'])} | "
              f"{pct(p['recall'])} | {pct(p['precision'])} |")
    print()
    for n, v in speed.items():
        print(f"throughput {n} (CPython {sys.version.split()[0]}): {v:,.0f} chars/s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=dict))
    return 0


if __name__ == "__main__":
    sys.exit(main())
