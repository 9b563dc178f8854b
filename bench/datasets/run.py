"""Datasets benchmark: a 1 GB CSV turned into the canonical Parquet copy (what an upload does
after receiving the bytes), the diff of two 1M-row × 10-column versions, and the quality report
of one — each in a fresh child process, so its peak memory (max RSS) is its own.

    make bench-datasets          (or: .venv/bin/python bench/datasets/run.py)

Knobs: BENCH_CSV_MB (1024), BENCH_DIFF_ROWS (1000000). The PII scanner's throughput and accuracy
are measured by bench/pii. Results are printed and written to bench/datasets/results.json.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

CSV_MB = int(os.environ.get("BENCH_CSV_MB", "1024"))
DIFF_ROWS = int(os.environ.get("BENCH_DIFF_ROWS", "1000000"))


def make_csv(path: Path, megabytes: int) -> int:
    """Customer-like rows (ids, Korean and English text, numbers, dates) until the size is reached."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(1)
    words = np.array(
        ["고객", "상담", "배송", "문의", "환불", "hello", "order", "delivery", "refund", "서울", "부산", "good"]
    )
    written, start, n = 0, 0, 200_000
    with path.open("wb") as f:
        header = True
        while written < megabytes * 2**20:
            text = [" ".join(words[rng.integers(0, len(words), 8)]) for _ in range(n)]
            table = pa.table(
                {
                    "id": np.arange(start, start + n),
                    "name": pa.array([f"user{i}" for i in range(start, start + n)]),
                    "memo": pa.array(text),
                    "score": rng.normal(50, 10, n).round(2),
                    "count": rng.integers(0, 1000, n),
                    "city": pa.array(words[rng.integers(0, 12, n)]),
                    "flag": rng.integers(0, 2, n).astype(bool),
                    "amount": rng.integers(0, 10**7, n),
                    "day": pa.array(np.datetime64("2026-01-01") + rng.integers(0, 300, n)),
                    "tag": pa.array(words[rng.integers(0, 12, n)]),
                }
            )
            buf = pa.BufferOutputStream()
            pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=header))
            data = buf.getvalue().to_pybytes()
            f.write(data)
            written += len(data)
            start += n
            header = False
    return start


def make_versions(directory: Path, rows: int) -> tuple[Path, Path]:
    """Two versions: 1% of rows changed in one column, 0.5% removed, 0.5% added."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(2)
    cols = {f"c{i}": rng.integers(0, 10**6, rows) for i in range(8)}
    old = pa.table({"id": np.arange(rows), "text": pa.array([f"row {i}" for i in range(rows)]), **cols})
    keep = np.ones(rows, bool)
    keep[rng.choice(rows, rows // 200, replace=False)] = False
    changed = cols["c3"].copy()
    changed[rng.choice(rows, rows // 100, replace=False)] += 1
    new = pa.table({"id": np.arange(rows), "text": old["text"], **cols, "c3": changed}).filter(pa.array(keep))
    extra = old.slice(0, rows // 200).set_column(0, "id", pa.array(np.arange(rows, rows + rows // 200)))
    new = pa.concat_tables([new.select(old.column_names), extra])
    a, b = directory / "old.parquet", directory / "new.parquet"
    pq.write_table(old, a)
    pq.write_table(new, b)
    return a, b


def _child(fn_name: str, args: tuple, queue) -> None:
    started = time.perf_counter()
    result = globals()[fn_name](*args)
    queue.put((time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, result))


def measured(fn_name: str, *args) -> tuple[float, float, object]:
    """(seconds, peak MB, result) of fn(*args) in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn_name, args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def do_ingest(src: str, work: str) -> dict:
    from axops.datasets.ingest import ingest

    result = ingest(Path(src), "data.csv", Path(work))
    return {
        "rows": result.rows,
        "columns": len(result.columns),
        "parquet_mb": round(result.parquet.stat().st_size / 2**20),
    }


def do_diff(a: str, b: str, cache: str) -> dict:
    import pyarrow.parquet as pq

    from axops.datasets.diff import diff

    cols = [{"name": f.name, "type": str(f.type)} for f in pq.read_schema(a)]
    return diff(Path(a), Path(b), cols, cols, "id", Path(cache), "changed", 0, 10)["counts"]


def do_quality(path: str) -> int:
    import pyarrow.parquet as pq

    from axops.datasets.quality import report

    cols = [{"name": f.name, "type": str(f.type)} for f in pq.read_schema(path)]
    return len(report(Path(path), cols)["columns"])


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-datasets-"))
    results: dict = {}
    try:
        csv = tmp / "data.csv"
        rows = make_csv(csv, CSV_MB)
        size_mb = csv.stat().st_size / 2**20
        (tmp / "work").mkdir()
        seconds, peak, out = measured("do_ingest", str(csv), str(tmp / "work"))
        results["csv_to_parquet"] = {
            "csv_mb": round(size_mb),
            "rows": rows,
            "seconds": round(seconds, 1),
            "mb_per_s": round(size_mb / seconds),
            "peak_rss_mb": round(peak),
            **out,
        }
        print("csv → parquet", results["csv_to_parquet"], flush=True)
        csv.unlink()

        a, b = make_versions(tmp, DIFF_ROWS)
        seconds, peak, counts = measured("do_diff", str(a), str(b), str(tmp / "match.parquet"))
        results["diff"] = {
            "rows": DIFF_ROWS,
            "columns": 10,
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(peak),
            "counts": counts,
        }
        print("diff", results["diff"], flush=True)
        seconds, peak, columns = measured("do_quality", str(a))
        results["quality_report"] = {
            "rows": DIFF_ROWS,
            "columns": columns,
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(peak),
        }
        print("quality", results["quality_report"], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    (Path(__file__).parent / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
