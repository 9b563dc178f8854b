"""Before/after throughput of the PII scanner on the same load: the package at a git revision
(exported to a temporary directory under another name) and the working tree, timed in one
process, interleaved, best of 3 cold runs, MB/s per CPU second.

    .venv/bin/python bench/pii/ab.py 6a09c6e          # knobs: BENCH_PII_ROWS (8000)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

from axops import pii
from axops.pii import names, persons, synthetic


def _export(rev: str, into: Path) -> None:
    """src/axops/pii at ``rev`` as the package ``pii_before`` in ``into``."""
    pkg = into / "pii_before"
    pkg.mkdir()
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, "src/axops/pii/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for path in listing:
        src = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
        ).stdout
        src = re.sub(r"\baxops\.pii\b", "pii_before", src)
        (pkg / Path(path).name).write_text(src)


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    rows = int(os.environ.get("BENCH_PII_ROWS", "8000"))
    no_names = pii.ALL_ENTITIES - {pii.PERSON}
    with tempfile.TemporaryDirectory() as tmp:
        _export(rev, Path(tmp))
        sys.path.insert(0, tmp)
        import pii_before
        import pii_before.names
        import pii_before.persons

        sides = {"before": (pii_before, pii_before.persons, pii_before.names), "after": (pii, persons, names)}
        for _, pe, _ in sides.values():
            pe.kiwi().tokenize("김철수님 안녕하세요")
        print(f"{rev} -> working tree, {rows} rows, MB/s per CPU second")
        for cname in ("short_dense", "dense", "long_sparse"):
            kwargs = dict(bench.CORPORA[cname][0])
            kwargs["n_rows"] = rows if cname != "long_sparse" else max(1, rows // 60)
            texts = [s.text for s in synthetic.generate(**kwargs)]
            mb = sum(len(t.encode()) for t in texts) / 1e6
            best: dict[tuple[str, str], float] = {}
            for _ in range(3):
                for side, (m, pe, na) in sides.items():
                    runs = {
                        "scan": lambda m=m, texts=texts: [m.scan(t, no_names) for t in texts],
                        "scan_many": lambda m=m, texts=texts: m.scan_many(texts, no_names),
                        "scan+names": lambda m=m, texts=texts: [m.scan(t) for t in texts],
                        "scan_many+names": lambda m=m, texts=texts: m.scan_many(texts),
                    }
                    for k, fn in runs.items():
                        pe._tokens_cache.clear()
                        na._cache.clear()
                        t0 = time.process_time()
                        fn()
                        dt = time.process_time() - t0
                        best[(k, side)] = min(best.get((k, side), 9e9), dt)
            cells = [f"{k}: {mb / best[(k, 'before')]:.1f} -> {mb / best[(k, 'after')]:.1f}" for k in runs]
            print(f"{cname} ({mb * 1e6 / len(texts):.0f} B/row): " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
