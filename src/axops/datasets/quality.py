"""The data-quality report of one version, computed by DuckDB straight from its Parquet file
(column-wise, multi-threaded, bounded memory)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

BINS = 20
TOP = 10
# Warning thresholds (ratios of rows).
MOSTLY_EMPTY = 0.9
MANY_MISSING = 0.3
DUPLICATES = 0.01
TYPE_MISMATCH = (0.8, 1.0)  # a text column whose values are numbers this often, but not always
_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)


def quote(name: str) -> str:
    """A column name as a DuckDB identifier, whatever it contains."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def connect(memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = 2; SET memory_limit = '{memory_limit}'; SET preserve_insertion_order = false")
    return con


def _histogram(con, expr: str, lo: float, hi: float) -> dict:
    if lo is None or hi is None:
        return {"edges": [], "counts": []}
    width = (hi - lo) / BINS if hi > lo else 1.0
    rows = con.execute(
        f"SELECT least(CAST(floor(({expr} - ?) / ?) AS INTEGER), {BINS - 1}) AS b, count(*) FROM t "
        f"WHERE {expr} IS NOT NULL GROUP BY b ORDER BY b",
        [lo, width],
    ).fetchall()
    counts = [0] * (BINS if hi > lo else 1)
    for b, n in rows:
        counts[min(int(b), len(counts) - 1)] += n
    return {"edges": [lo + i * width for i in range(len(counts) + 1)], "counts": counts}


def _column(con, name: str, dtype: str, rows: int, redact: Callable[[list[str], str], list[str]]) -> dict:
    col = quote(name)
    nulls, distinct = con.execute(f"SELECT count(*) - count({col}), approx_count_distinct({col}) FROM t").fetchone()
    top = con.execute(
        f"SELECT CAST({col} AS VARCHAR) AS v, count(*) AS n FROM t WHERE {col} IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT {TOP}"
    ).fetchall()
    shown = redact([v[:200] for v, _ in top], name)
    out: dict = {
        "name": name,
        "type": dtype,
        "nulls": nulls,
        "null_ratio": nulls / rows if rows else 0.0,
        "distinct": distinct,
        "unique_ratio": min(distinct / (rows - nulls), 1.0) if rows - nulls else 0.0,
        "top_values": [{"value": v, "count": n} for v, (_, n) in zip(shown, top, strict=True)],
    }
    base = dtype.split("(")[0].upper()
    if base in _NUMERIC:
        lo, hi, mean, std, *qs = con.execute(
            f"SELECT min({col})::DOUBLE, max({col})::DOUBLE, avg({col})::DOUBLE, stddev({col})::DOUBLE, "
            f"quantile_cont({col}::DOUBLE, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]) FROM t"
        ).fetchone()
        names = ["p1", "p5", "p25", "p50", "p75", "p95", "p99"]
        out["numeric"] = {
            "min": lo,
            "max": hi,
            "mean": mean,
            "std": std,
            "quantiles": dict(zip(names, qs[0] or [], strict=False)),
            "histogram": _histogram(con, f"{col}::DOUBLE", lo, hi),
        }
    elif base == "VARCHAR":
        length = f"length({col})"
        lo, hi, mean, p50, p95, numeric, korean, english, other, empty = con.execute(
            f"""SELECT min({length}), max({length}), avg({length}), quantile_cont({length}, 0.5), quantile_cont({length}, 0.95),
                       count(TRY_CAST({col} AS DOUBLE)),
                       count(*) FILTER (WHERE regexp_matches({col}, '[가-힣]')),
                       count(*) FILTER (WHERE NOT regexp_matches({col}, '[가-힣]') AND regexp_matches({col}, '[A-Za-z]')),
                       count(*) FILTER (WHERE NOT regexp_matches({col}, '[가-힣A-Za-z]') AND trim({col}) <> ''),
                       count(*) FILTER (WHERE trim({col}) = '')
                FROM t WHERE {col} IS NOT NULL"""
        ).fetchone()
        present = rows - nulls
        out["text"] = {
            "length": {
                "min": lo,
                "max": hi,
                "mean": mean,
                "p50": p50,
                "p95": p95,
                "histogram": _histogram(con, f"{length}::DOUBLE", lo, hi),
            },
            "language": {
                k: (v / present if present else 0.0)
                for k, v in (("korean", korean), ("english", english), ("other", other), ("empty", empty))
            },
            "numeric_like_ratio": numeric / present if present else 0.0,
        }
    return out


def _warnings(report: dict) -> list[dict]:
    warnings = []
    rows = report["rows"]
    if rows and report["duplicate_rows"] / rows >= DUPLICATES:
        warnings.append(
            {
                "column": None,
                "kind": "duplicates",
                "level": "warning",
                "message": f"{report['duplicate_rows']:,} rows ({report['duplicate_rows'] / rows:.1%}) are exact duplicates",
            }
        )
    for c in report["columns"]:
        if c["null_ratio"] >= MOSTLY_EMPTY:
            warnings.append(
                {
                    "column": c["name"],
                    "kind": "mostly_empty",
                    "level": "warning",
                    "message": f"{c['null_ratio']:.0%} of values are empty",
                }
            )
        elif c["null_ratio"] >= MANY_MISSING:
            warnings.append(
                {
                    "column": c["name"],
                    "kind": "many_missing",
                    "level": "info",
                    "message": f"{c['null_ratio']:.0%} of values are missing",
                }
            )
        if rows > 1 and c["distinct"] == 1 and c["nulls"] < rows:
            warnings.append(
                {"column": c["name"], "kind": "constant", "level": "info", "message": "every value is the same"}
            )
        ratio = c.get("text", {}).get("numeric_like_ratio", 0.0)
        if TYPE_MISMATCH[0] <= ratio < TYPE_MISMATCH[1]:
            warnings.append(
                {
                    "column": c["name"],
                    "kind": "type_mismatch",
                    "level": "warning",
                    "message": f"{ratio:.1%} of values are numbers and the rest are not: mixed types?",
                }
            )
    return warnings


def report(
    parquet: Path,
    columns: list[dict],
    redact: Callable[[list[str], str], list[str]] = lambda values, column: values,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> dict:
    """Per column: nulls, uniqueness, top values, numeric quantiles and histogram or text lengths
    and language mix; overall: exact duplicate rows; warnings past the thresholds above.
    `redact(values, column)` masks the top values before they are kept."""
    con = connect()
    try:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({literal(parquet)})")
        rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
        hashed = "hash(" + ", ".join(quote(c["name"]) for c in columns) + ")" if columns else "0"
        # Row hashes can collide; for a count of duplicates over millions of rows, a 64-bit hash is enough.
        distinct_rows = con.execute(f"SELECT count(DISTINCT {hashed}) FROM t").fetchone()[0] if rows else 0
        out = {"rows": rows, "duplicate_rows": rows - distinct_rows, "columns": []}
        types = {
            name: dtype
            for name, dtype in zip(con.sql("SELECT * FROM t").columns, con.sql("SELECT * FROM t").dtypes, strict=True)
        }
        for i, c in enumerate(columns):
            out["columns"].append(_column(con, c["name"], str(types[c["name"]]), rows, redact))
            progress(i + 1, len(columns))
        out["warnings"] = _warnings(out)
        return out
    finally:
        con.close()
