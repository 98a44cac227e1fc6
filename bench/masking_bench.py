"""Masking benchmark: py_core.masking vs presidio-analyzer's predefined recognizers.

    .venv/bin/python bench/masking_bench.py [--corpus bench/corpus/corpus.jsonl] [--json out.json]
    .venv/bin/python bench/masking_bench.py --heldout /tmp/final-22.jsonl [...] [--json out.json]

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

``--heldout`` scores corpora of bench/heldout_corpus.py instead (issue 12): each row is
masked through the channel it belongs to (text, attribute, style attribute, style sheet,
text split over inline elements, ``Sightline.track`` properties, a recorded table row as a
SNAPSHOT tree), as ``mask_event`` would;
recall per kind and per locale, decoys kept per decoy kind, and precision (masked runs that
overlap a labelled value, over all masked runs), side by side with presidio on the same
text (presidio sees the joined text of split rows, the JSON text of track properties and
a table row's cells joined by tabs).
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


def presidio_detector(extra: bool = False):
    """A find_pii-like function over presidio's predefined recognizers (``extra``: also its
    US passport and date recognizers, and phone regions for all ten held-out locales)."""
    logging.disable(logging.CRITICAL)  # tldextract's offline fallback logs a traceback per call
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer, EmailRecognizer, IbanRecognizer, IpRecognizer, PhoneRecognizer, UsSsnRecognizer)

    regions = ("US", "GB", "DE", "FR", "ES") + (("IT", "NL", "BR", "IN", "JP") if extra else ())
    recognizers = [EmailRecognizer(), CreditCardRecognizer(), IbanRecognizer(), UsSsnRecognizer(), IpRecognizer(),
                   PhoneRecognizer(supported_regions=regions)]
    if extra:
        from presidio_analyzer.predefined_recognizers import DateRecognizer, UsPassportRecognizer
        recognizers += [UsPassportRecognizer(), DateRecognizer()]
    names = {"EMAIL_ADDRESS": "email", "CREDIT_CARD": "card", "PHONE_NUMBER": "phone", "IBAN_CODE": "iban",
             "US_SSN": "ssn", "US_PASSPORT": "passport", "DATE_TIME": "dob"}

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


# ----------------------------------------------------------------------------- held-out corpora

HELDOUT_KINDS = ["email", "card", "phone", "iban", "ssn", "passport", "dob", "name", "address"]


def sightline_masker():
    """Row -> masked text (same length), through the channel the row belongs to."""
    import copy

    from py_core.masking import mask_attr, mask_event, mask_text

    def mask(row: dict) -> str:
        ch, text = row["channel"], row["text"]
        if ch == "text":
            return mask_text(text)
        if ch == "attr":
            return mask_attr(row["attr"], text)
        if ch == "style":
            return mask_attr("style", text)
        if ch == "css":
            return mask_event({"t": 14, "ts": 0, "i": 1, "c": text})["c"]
        if ch == "split":
            kids = [{"t": 3, "x": t} if tag is None else {"t": 1, "n": tag, "c": [{"t": 3, "x": t}]}
                    for tag, t in row["pieces"]]
            ev = mask_event({"t": 1, "ts": 0, "n": {"t": 9, "c": [{"t": 1, "n": "body", "c": [{"t": 1, "n": "p", "c": kids}]}]}})
            out = ev["n"]["c"][0]["c"][0]["c"]
            return "".join(k["x"] if k["t"] == 3 else k["c"][0]["x"] for k in out)
        if ch == "json":
            return json_mask(row, mask_event({"t": 11, "ts": 0, "n": "x", "p": copy.deepcopy(row["props"])})["p"])
        if ch == "table":  # a recorded <table> row: <tr><th|td>text</...>...</tr> in a SNAPSHOT tree
            tr = {"t": 1, "n": "tr", "c": [{"t": 1, "n": tag, "c": [{"t": 3, "x": t}]} for tag, t in row["cells"]]}
            table = {"t": 1, "n": "table", "c": [{"t": 1, "n": "tbody", "c": [tr]}]}
            ev = mask_event({"t": 1, "ts": 0, "n": {"t": 9, "c": [{"t": 1, "n": "body", "c": [table]}]}})
            cells = ev["n"]["c"][0]["c"][0]["c"][0]["c"][0]["c"]
            return "\t".join(c["c"][0]["x"] for c in cells)
        raise ValueError(ch)

    return mask


def json_spans(row: dict) -> tuple[list, list]:
    """Labelled spans and decoy spans of a json row, as offsets in json.dumps(props)."""
    text, spans, decoys, pos = row["text"], [], [], 1
    kinds = dict(row["paths"])
    for key, value in row["props"].items():
        at = text.index(json.dumps(key) + ": ", pos) + len(json.dumps(key)) + 2
        end = at + len(json.dumps(value))
        (spans if key in kinds else decoys).append([at, end, kinds.get(key, "json_" + key)])
        pos = end
    return spans, decoys


def json_mask(row: dict, masked: dict) -> str:
    """The row's JSON text with each masked property value's characters turned into '*'."""
    text = list(row["text"])
    spans, decoys = json_spans(row)
    for (s, e, _), key in zip(sorted(spans + decoys), row["props"]):
        if masked.get(key) != row["props"][key]:
            text[s:e] = "*" * (e - s)
    return "".join(text)


def heldout_rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        if row["channel"] == "json":
            row["spans"], row["decoys"] = json_spans(row)
    return rows


def spans_of(text: str, masked: str) -> list[tuple[int, int]]:
    """Maximal runs of changed characters (whitespace inside a run joins it)."""
    if len(masked) != len(text):
        raise AssertionError(f"masking changed the length: {text!r} -> {masked!r}")
    runs, start, last = [], None, None
    for i, (a, b) in enumerate(zip(text, masked)):
        if a != b:
            if start is None:
                start = i
            last = i
        elif start is not None and not a.isspace():
            runs.append((start, last + 1))
            start = None
    if start is not None:
        runs.append((start, last + 1))
    return runs


def heldout_score(rows: list[dict], masker) -> dict:
    found, total = Counter(), Counter()
    loc_found, loc_total = Counter(), Counter()
    kept, decoys = Counter(), Counter()
    right = made = 0
    for row in rows:
        text = row["text"]
        masked = masker(row)
        runs = spans_of(text, masked)
        for s, e, kind in row["spans"]:
            total[kind] += 1
            loc_total[row["locale"]] += 1
            if all(masked[i] != text[i] or text[i].isspace() for i in range(s, e)):
                found[kind] += 1
                loc_found[row["locale"]] += 1
        for s, e, kind in row["decoys"]:
            kind = "json_number" if kind.startswith("json_") else kind
            decoys[kind] += 1
            if masked[s:e] == text[s:e]:
                kept[kind] += 1
        for s, e in runs:
            made += 1
            right += any(gs < e and s < ge for gs, ge, _ in row["spans"])
    return {"found": found, "total": total, "loc_found": loc_found, "loc_total": loc_total, "kept": kept,
            "decoys": decoys, "right": right, "made": made}


def presidio_masker():
    """Row -> masked text from presidio's predefined recognizers (every result kept)."""
    detect = presidio_detector(extra=True)

    def mask(row: dict) -> str:
        text = list(row["text"])
        for s, e, _ in detect(row["text"]):
            for i in range(s, e):
                if not text[i].isspace():
                    text[i] = "*"
        return "".join(text)

    return mask


def heldout_main(args) -> int:
    systems = {"sightline": sightline_masker()}
    if not args.no_presidio:
        systems["presidio"] = presidio_masker()
    result = {}
    for path in args.heldout:
        rows = heldout_rows(path)
        scores = {n: heldout_score(rows, m) for n, m in systems.items()}
        names = list(scores)
        print(f"## {path}: {len(rows)} rows, {sum(len(r['spans']) for r in rows)} labelled values, "
              f"{sum(len(r['decoys']) for r in rows)} planted decoys\n")
        print("| kind | n | " + " | ".join(f"{n} recall" for n in names) + " |")
        print("| --- | ---: |" + " ---: |" * len(names))
        for k in HELDOUT_KINDS:
            t = scores[names[0]]["total"][k]
            print(f"| {k} | {t} | " + " | ".join(pct(ratio(scores[n]["found"][k], t)) for n in names) + " |")
        tot = sum(scores[names[0]]["total"].values())
        print(f"| **all** | {tot} | " + " | ".join(f"**{pct(ratio(sum(scores[n]['found'].values()), tot))}**"
                                                 for n in names) + " |")
        print("\n| locale | n | " + " | ".join(f"{n} recall" for n in names) + " |")
        print("| --- | ---: |" + " ---: |" * len(names))
        for loc in sorted(scores[names[0]]["loc_total"]):
            t = scores[names[0]]["loc_total"][loc]
            print(f"| {loc} | {t} | " + " | ".join(pct(ratio(scores[n]["loc_found"][loc], t)) for n in names) + " |")
        print("\n| decoy kind | n | " + " | ".join(f"{n} kept" for n in names) + " |")
        print("| --- | ---: |" + " ---: |" * len(names))
        for k in sorted(scores[names[0]]["decoys"]):
            t = scores[names[0]]["decoys"][k]
            print(f"| {k} | {t} | " + " | ".join(pct(ratio(scores[n]["kept"][k], t)) for n in names) + " |")
        t = sum(scores[names[0]]["decoys"].values())
        print(f"| **all** | {t} | " + " | ".join(f"**{pct(ratio(sum(scores[n]['kept'].values()), t))}**" for n in names) + " |")
        print("\nprecision (masked runs overlapping a labelled value): " + ", ".join(
            f"{n} {pct(ratio(scores[n]['right'], scores[n]['made']))} ({scores[n]['right']}/{scores[n]['made']})"
            for n in names) + "\n")
        if args.misses:
            mask = systems["sightline"]
            for row in rows:
                masked = mask(row)
                for s, e, kind in row["spans"]:
                    if not all(masked[i] != row["text"][i] or row["text"][i].isspace() for i in range(s, e)):
                        print("MISS", kind, row["locale"], row["channel"], repr(row["text"]), "->", repr(masked))
                for s, e, kind in row["decoys"]:
                    if masked[s:e] != row["text"][s:e]:
                        print("DECOY", kind, row["locale"], repr(row["text"]), "->", repr(masked))
        result[str(path)] = {n: {k: dict(v) if isinstance(v, Counter) else v for k, v in sc.items()}
                             for n, sc in scores.items()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def compare_speed(before: Path, corpus_path: Path) -> int:
    """mask_text throughput of an older masking.py against the current one, interleaved."""
    import importlib.util

    texts = [json.loads(line)["text"] for line in corpus_path.read_text(encoding="utf-8").splitlines() if line]
    chars = sum(map(len, texts))
    spec = importlib.util.spec_from_file_location("py_core._masking_before", before)
    old = importlib.util.module_from_spec(spec)
    old.__package__ = "py_core"
    spec.loader.exec_module(old)
    from py_core import masking as new
    best = {"before": float("inf"), "after": float("inf")}
    for _ in range(5):
        for name, mod in (("before", old), ("after", new)):
            t0 = time.perf_counter()
            for t in texts:
                mod.mask_text(t)
            best[name] = min(best[name], time.perf_counter() - t0)
    for name, t in best.items():
        print(f"{name}: {chars / t:,.0f} chars/s over {chars:,} chars ({corpus_path})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--heldout", type=Path, nargs="+", help="score bench/heldout_corpus.py corpora instead")
    ap.add_argument("--no-presidio", action="store_true", help="--heldout: sightline only")
    ap.add_argument("--misses", action="store_true", help="--heldout: print every miss and every masked decoy")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--before", type=Path, help="a masking.py (git show REV:py_core/masking.py > f) to time "
                    "mask_text against, interleaved, on --corpus (best of 5)")
    args = ap.parse_args()
    if args.before:
        return compare_speed(args.before, args.corpus)
    if args.heldout:
        return heldout_main(args)
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
