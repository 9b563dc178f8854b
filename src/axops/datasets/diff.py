"""Diff two versions' Parquet files with DuckDB: schema changes, then rows added, removed and
changed — matched on a key column when the dataset has a unique one, else by whole-row hash.

The row matching is computed once per pair and kept as a small Parquet file (kind + row key), so
paging through samples does not redo the join."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

from axops.datasets.quality import connect, literal, quote

KINDS = ("added", "removed", "changed")


def _jsonable(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (dt.date, dt.datetime, dt.time, decimal.Decimal)):
        return str(value) if not isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def schema_changes(old: list[dict], new: list[dict]) -> dict:
    before, after = {c["name"]: c["type"] for c in old}, {c["name"]: c["type"] for c in new}
    return {
        "added": [n for n in after if n not in before],
        "removed": [n for n in before if n not in after],
        "retyped": [
            {"name": n, "from": before[n], "to": after[n]} for n in after if n in before and before[n] != after[n]
        ],
    }


def _match(con, old: Path, new: Path, common: list[str], key: str | None, out: Path) -> str:
    """Write (kind, k, n) for every added/removed/changed row to `out` (n: its place in key order,
    for paging); returns the mode used."""
    hashed = "hash(" + ", ".join(quote(c) for c in common) + ")" if common else "0"
    con.execute(f"CREATE VIEW a AS SELECT *, {hashed} AS __h FROM read_parquet({literal(old)})")
    con.execute(f"CREATE VIEW b AS SELECT *, {hashed} AS __h FROM read_parquet({literal(new)})")
    if key:
        k = quote(key)
        unique = con.execute(
            f"SELECT (SELECT count(*) = count(DISTINCT {k}) AND count({k}) = count(*) FROM a) "
            f"AND (SELECT count(*) = count(DISTINCT {k}) AND count({k}) = count(*) FROM b)"
        ).fetchone()[0]
        if unique:
            con.execute(f"""COPY (
                SELECT kind, CAST(key AS VARCHAR) AS k, row_number() OVER (PARTITION BY kind ORDER BY key) AS n FROM (
                    SELECT CASE WHEN a.{k} IS NULL THEN 'added' WHEN b.{k} IS NULL THEN 'removed' ELSE 'changed' END AS kind,
                           coalesce(b.{k}, a.{k}) AS key
                    FROM a FULL OUTER JOIN b ON a.{k} = b.{k}
                    WHERE a.{k} IS NULL OR b.{k} IS NULL OR a.__h <> b.__h)
            ) TO {literal(out)} (FORMAT parquet)""")
            return "key"
    # Multisets of row hashes: the n-th copy of a row on one side matches the n-th on the other.
    con.execute(f"""COPY (
        WITH x AS (SELECT __h, row_number() OVER (PARTITION BY __h) AS n FROM a),
             y AS (SELECT __h, row_number() OVER (PARTITION BY __h) AS n FROM b)
        SELECT kind, CAST(h AS VARCHAR) AS k, row_number() OVER (PARTITION BY kind ORDER BY h) AS n FROM (
            SELECT 'added' AS kind, y.__h AS h FROM y ANTI JOIN x USING (__h, n)
            UNION ALL
            SELECT 'removed', x.__h FROM x ANTI JOIN y USING (__h, n))
    ) TO {literal(out)} (FORMAT parquet)""")
    return "hash"


def diff(
    old: Path,
    new: Path,
    old_columns: list[dict],
    new_columns: list[dict],
    key: str | None,
    cache: Path,
    kind: str = "changed",
    offset: int = 0,
    limit: int = 20,
) -> dict:
    """Counts of each kind and one page of samples of `kind`. `cache` is this pair's match file."""
    schema = schema_changes(old_columns, new_columns)
    new_names = [c["name"] for c in new_columns]
    common = [c["name"] for c in old_columns if c["name"] in set(new_names)]
    key = key if key in common else None
    con = connect()
    try:
        mode_file = cache.with_suffix(".mode")
        if not cache.exists():
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(".partial")
            mode_file.write_text(_match(con, old, new, common, key, partial))
            partial.rename(cache)
        else:
            hashed = "hash(" + ", ".join(quote(c) for c in common) + ")" if common else "0"
            con.execute(f"CREATE VIEW a AS SELECT *, {hashed} AS __h FROM read_parquet({literal(old)})")
            con.execute(f"CREATE VIEW b AS SELECT *, {hashed} AS __h FROM read_parquet({literal(new)})")
        mode = mode_file.read_text()
        con.execute(f"CREATE VIEW m AS SELECT * FROM read_parquet({literal(cache)})")
        counts = dict.fromkeys(KINDS, 0) | dict(con.execute("SELECT kind, count(*) FROM m GROUP BY kind").fetchall())
        rows = {
            "old": con.execute("SELECT count(*) FROM a").fetchone()[0],
            "new": con.execute("SELECT count(*) FROM b").fetchone()[0],
        }
        page = [
            r[0]
            for r in con.execute(
                "SELECT k FROM m WHERE kind = ? ORDER BY n LIMIT ? OFFSET ?", [kind, limit, offset]
            ).fetchall()
        ]
        samples = _samples(con, kind, page, mode, key, common) if page else []
        return {
            "schema": schema,
            "mode": mode,
            "key_column": key if mode == "key" else None,
            "rows": rows,
            "counts": counts,
            "kind": kind,
            "offset": offset,
            "samples": samples,
        }
    finally:
        con.close()


def _fetch(con, view: str, column: str, cast: str, keys: list[str]) -> dict[str, dict]:
    cur = con.execute(
        f"SELECT CAST({column} AS VARCHAR) AS __k, * EXCLUDE (__h) FROM {view} WHERE CAST({column} AS {cast}) IN "
        f"(SELECT unnest(?::{cast}[]))",
        [keys],
    )
    names = [d[0] for d in cur.description]
    out: dict[str, dict] = {}
    for row in cur.fetchall():
        record = dict(zip(names, row, strict=True))
        out.setdefault(record.pop("__k"), {k: _jsonable(v) for k, v in record.items()})
    return out


def _samples(con, kind: str, keys: list[str], mode: str, key: str | None, common: list[str]) -> list[dict]:
    column, cast = (quote(key), "VARCHAR") if mode == "key" else ("__h", "UBIGINT")
    if kind == "added":
        rows = _fetch(con, "b", column, cast, keys)
        return [{"key": k, "row": rows.get(k)} for k in keys]
    if kind == "removed":
        rows = _fetch(con, "a", column, cast, keys)
        return [{"key": k, "row": rows.get(k)} for k in keys]
    before, after = _fetch(con, "a", column, cast, keys), _fetch(con, "b", column, cast, keys)
    out = []
    for k in keys:
        old, new = before.get(k, {}), after.get(k, {})
        out.append(
            {"key": k, "old": old, "new": new, "changed_columns": [c for c in common if old.get(c) != new.get(c)]}
        )
    return out
