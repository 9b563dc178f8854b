"""The hand-written held-out PII set: build ``tests/data/pii_heldout.jsonl`` from its marked-up
source and score the scanner on it.

    .venv/bin/python bench/pii/heldout.py build          # *_src.txt -> *.jsonl
    .venv/bin/python bench/pii/heldout.py [heldout|blind]  # precision / recall per entity

The source (``tests/data/pii_heldout_src.txt``) is written by hand, independently of
``axops.pii.synthetic``: one text per line, entities marked ``[[TYPE:value]]``; a ``?`` in an
RRN / ARN / BRN / card value is replaced by its check digit (the standard algorithms, written out
here again rather than imported from the recognizers).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
# name: (marked-up source, built JSONL). "heldout" was used while tuning the name recognizer;
# "blind" was written afterwards and never tuned on.
SETS = {
    "heldout": (DATA / "pii_heldout_src.txt", DATA / "pii_heldout.jsonl"),
    "blind": (DATA / "pii_blind_src.txt", DATA / "pii_blind.jsonl"),
}

TYPES = {
    "P": "PERSON",
    "R": "RRN",
    "A": "ARN",
    "PP": "PASSPORT",
    "DL": "DRIVER_LICENSE",
    "B": "BRN",
    "T": "PHONE",
    "E": "EMAIL",
    "C": "CREDIT_CARD",
    "BA": "BANK_ACCOUNT",
    "IP": "IP_ADDRESS",
    "AD": "ADDRESS_KR",
}
MARK = re.compile(r"\[\[([A-Z]+):(.+?)\]\]")


def _check_digit(kind: str, digits: str) -> str:
    d = [int(c) for c in digits]
    if kind in ("R", "A"):
        s = sum(x * w for x, w in zip(d, (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=True))
        return str(((11 if kind == "R" else 13) - s % 11) % 10)
    if kind == "B":
        s = sum(x * w for x, w in zip(d, (1, 3, 7, 1, 3, 7, 1, 3, 5), strict=True)) + d[8] * 5 // 10
        return str((10 - s % 10) % 10)
    if kind == "C":  # Luhn over the digits without the check digit
        total = 0
        for i, x in enumerate(reversed(d)):
            if i % 2 == 0:
                x *= 2
                x = x - 9 if x > 9 else x
            total += x
        return str((10 - total % 10) % 10)
    raise ValueError(kind)


def parse_line(line: str) -> dict:
    text, spans, pos = [], [], 0
    last = 0
    for m in MARK.finditer(line):
        text.append(line[last : m.start()])
        pos += m.start() - last
        kind, value = m.group(1), m.group(2)
        if "?" in value:
            digits = re.sub(r"\D", "", value.replace("?", ""))
            value = value.replace("?", _check_digit(kind, digits))
        text.append(value)
        spans.append([TYPES[kind], pos, pos + len(value)])
        pos += len(value)
        last = m.end()
    text.append(line[last:])
    return {"text": "".join(text), "spans": spans}


def build(name: str) -> list[dict]:
    src, out = SETS[name]
    rows = [parse_line(ln) for ln in src.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return rows


def load(name: str = "heldout") -> list[dict]:
    return [json.loads(ln) for ln in SETS[name][1].read_text().splitlines() if ln.strip()]


def evaluate(rows: list[dict], findings: list[list]) -> dict:
    """Per-entity tp/fp/fn: a finding is a true positive when a gold span of the same entity
    overlaps it; gold spans no finding overlaps are misses."""
    sys.path.insert(0, str(ROOT / "src"))
    from axops.pii import synthetic

    samples = [synthetic.Sample(r["text"], [tuple(s) for s in r["spans"]]) for r in rows]
    return synthetic.evaluate(samples, findings)


def main() -> None:
    if sys.argv[1:] == ["build"]:
        for name in SETS:
            rows = build(name)
            print(f"{name}: {len(rows)} texts, {sum(len(r['spans']) for r in rows)} spans")
        return
    sys.path.insert(0, str(ROOT / "src"))
    from axops import pii

    name = sys.argv[1] if len(sys.argv) > 1 else "heldout"
    rows = load(name)
    res = evaluate(rows, [pii.scan(r["text"]) for r in rows])
    o = res["overall"]
    print(f"overall P {o['precision']:.4f} R {o['recall']:.4f} (tp {o['tp']}, fp {o['fp']}, fn {o['fn']})")
    for ent, st in res["by_entity"].items():
        print(
            f"  {ent:15s} P {st['precision']:.4f} R {st['recall']:.4f}  (tp {st['tp']}, fp {st['fp']}, fn {st['fn']})"
        )
    for kind, ent, text in res["errors"]:
        print(f"  {kind} {ent:14s} {text}")


if __name__ == "__main__":
    main()
