"""PII scanner benchmark: throughput on one core and precision / recall on synthetic
Korean/English text with embedded entities and decoys.

    .venv/bin/python bench/pii/run.py

Knobs: BENCH_PII_ROWS (20000 rows per corpus), BENCH_PII_REPEAT (3: best of N timings).
Results are printed and written to bench/pii/results.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from axops import pii
from axops.pii import names, persons, synthetic

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heldout

ROWS = int(os.environ.get("BENCH_PII_ROWS", "20000"))
REPEAT = int(os.environ.get("BENCH_PII_REPEAT", "3"))
NO_NAMES = pii.ALL_ENTITIES - {pii.PERSON}

# name: (generate() keyword arguments, what it stands for)
CORPORA = {
    "plain": (
        {"n_rows": ROWS, "seed": 9, "pii_rate": 0.0, "decoy_rate": 0.0, "sentences": (2, 8)},
        "Korean/English sentences without PII (numbers, dates, percentages only)",
    ),
    "mixed": (
        {"n_rows": ROWS, "seed": 42, "pii_rate": 0.10, "decoy_rate": 0.10, "sentences": (2, 8)},
        "2-8 sentences per row; 10% of sentences carry an entity, 10% are decoys",
    ),
    "dense": (
        {"n_rows": ROWS, "seed": 7, "pii_rate": 0.30, "decoy_rate": 0.25, "sentences": (1, 3)},
        "1-3 sentences per row; 30% carry an entity, 25% are decoys (accuracy set)",
    ),
    "short_dense": (
        {"n_rows": ROWS, "seed": 11, "pii_rate": 0.60, "decoy_rate": 0.30, "sentences": (1, 2)},
        "chat-like rows of ~65 bytes; 60% of sentences carry an entity, 30% are decoys",
    ),
    "long_sparse": (
        {"n_rows": max(1, ROWS // 60), "seed": 12, "pii_rate": 0.01, "decoy_rate": 0.01, "sentences": (40, 80)},
        "documents of ~4 kB; 1% of sentences carry an entity, 1% are decoys",
    ),
}


def _cold() -> None:
    """Forget the analyser verdicts cached per word / phrase, so every timing starts cold."""
    persons._tokens_cache.clear()
    names._cache.clear()


def best_of(fn) -> float:
    """CPU seconds of one core (process time: the machine is shared), best of REPEAT cold runs."""
    times = []
    for _ in range(REPEAT):
        _cold()
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    t0 = time.perf_counter()
    persons.kiwi().tokenize("김철수님 안녕하세요")  # load + first analysis, timed apart
    kiwi_load_s = time.perf_counter() - t0

    results: dict = {
        "date": dt.date.today().isoformat(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "rows_per_corpus": ROWS,
        "repeat": REPEAT,
        "kiwi_load_s": round(kiwi_load_s, 2),
        "corpora": {},
    }
    for name, (kwargs, desc) in CORPORA.items():
        samples = synthetic.generate(**kwargs)
        texts = [s.text for s in samples]
        mb = sum(len(t.encode()) for t in texts) / 1e6
        runs = {
            "scan_no_names": lambda texts=texts: [pii.scan(t, NO_NAMES) for t in texts],
            "scan_many_no_names": lambda texts=texts: pii.scan_many(texts, NO_NAMES),
            "scan_all": lambda texts=texts: [pii.scan(t) for t in texts],
            "scan_many_all": lambda texts=texts: pii.scan_many(texts),
        }
        speeds = {k: round(mb / best_of(fn), 1) for k, fn in runs.items()}
        entry = {
            "description": desc,
            "mb": round(mb, 2),
            "bytes_per_row": round(mb * 1e6 / len(texts)),
            "mb_per_s": speeds,
        }
        if name in ("mixed", "dense"):
            found = pii.scan_many(texts)
            res = synthetic.evaluate(samples, found)
            res_nn = synthetic.evaluate(samples, found, NO_NAMES)
            entry["accuracy"] = {
                "overall": res["overall"],
                "overall_no_names": res_nn["overall"],
                "by_entity": res["by_entity"],
                "sample_errors": [list(e) for e in res["errors"][:25]],
            }
        results["corpora"][name] = entry
        print(f"\n{name}: {desc}\n  {mb:.1f} MB, {entry['bytes_per_row']} bytes/row")
        for k, v in speeds.items():
            print(f"  {k:20s} {v:7.1f} MB/s")
        if "accuracy" in entry:
            o, onn = entry["accuracy"]["overall"], entry["accuracy"]["overall_no_names"]
            print(
                f"  precision {o['precision']:.4f} recall {o['recall']:.4f} "
                f"(without names: {onn['precision']:.4f} / {onn['recall']:.4f}; "
                f"tp {o['tp']}, fp {o['fp']}, fn {o['fn']})"
            )
            for ent, st in entry["accuracy"]["by_entity"].items():
                print(
                    f"    {ent:15s} P {st['precision']:.4f} R {st['recall']:.4f}  "
                    f"(tp {st['tp']}, fp {st['fp']}, fn {st['fn']})"
                )
    for set_name in heldout.SETS:
        rows = heldout.load(set_name)
        res = heldout.evaluate(rows, [pii.scan(r["text"]) for r in rows])
        results[f"handwritten_{set_name}"] = {
            "texts": len(rows),
            "overall": res["overall"],
            "by_entity": res["by_entity"],
            "errors": [list(e) for e in res["errors"]],
        }
        o = res["overall"]
        print(
            f"\n{set_name} (hand-written, {len(rows)} texts): precision {o['precision']:.4f} recall {o['recall']:.4f}"
        )
        for ent, st in res["by_entity"].items():
            print(
                f"    {ent:15s} P {st['precision']:.4f} R {st['recall']:.4f}  (tp {st['tp']}, fp {st['fp']}, fn {st['fn']})"
            )
    print(f"\nkiwi load + first analysis: {kiwi_load_s:.1f} s (not in the figures above)")
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
