"""Run the PII scanner over a version's text columns, batch by batch, and build the report; write
masked copies. Columns are read from Parquet in record batches, so memory stays bounded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from axops import pii

BATCH = 8192
MAX_EXAMPLES = 5
MAX_ROW_IDS = 200


def _text_columns(schema: pa.Schema, only: list[str] | None = None) -> list[str]:
    names = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    return [n for n in names if only is None or n in only]


def _long_integer_columns(pf: pq.ParquetFile) -> list[str]:
    """Integer columns holding 9+ digit numbers (resident, card or phone numbers typed as numbers)."""
    out = []
    for i, f in enumerate(pf.schema_arrow):
        if not pa.types.is_integer(f.type):
            continue
        stats = [pf.metadata.row_group(g).column(i).statistics for g in range(pf.num_row_groups)]
        if any(s is not None and s.has_min_max and max(abs(s.min), abs(s.max)) >= 10**8 for s in stats):
            out.append(f.name)
    return out


def _as_text(array: pa.Array) -> list:
    return (
        array.to_pylist()
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
        else array.cast(pa.string()).to_pylist()
    )


def mask_values(values: list[str], column: str) -> list[str]:
    """Values with every PII entity found in them masked (names too), the column's name read as context."""
    return [
        pii.mask(v, found) if found else v
        for v, found in zip(values, pii.scan_many(values, context=column), strict=True)
    ]


def scan(parquet: Path, progress: Callable[[int, int], None] = lambda done, total: None) -> dict:
    """Per text column: findings by entity type, masked examples, affected row numbers (0-based,
    first few hundred) and the count of affected rows; overall counts and sensitivity level."""
    pf = pq.ParquetFile(parquet)
    columns = _text_columns(pf.schema_arrow) + _long_integer_columns(pf)
    report = {c: {"entities": Counter(), "rows_affected": 0, "row_ids": [], "examples": []} for c in columns}
    total_rows, row = pf.metadata.num_rows, 0
    if columns:
        for batch in pf.iter_batches(batch_size=BATCH, columns=columns):
            for name, array in zip(batch.schema.names, batch.columns, strict=True):
                entry = report[name]
                texts = _as_text(array)
                for i, found in enumerate(pii.scan_many(texts, context=name)):  # the header reads as context
                    if not found:
                        continue
                    text = texts[i]
                    entry["entities"].update(f.entity for f in found)
                    entry["rows_affected"] += 1
                    if len(entry["row_ids"]) < MAX_ROW_IDS:
                        entry["row_ids"].append(row + i)
                    if len(entry["examples"]) < MAX_EXAMPLES:
                        entry["examples"].append(
                            {
                                "row": row + i,
                                "masked": pii.mask(text[:500], [f for f in found if f.end <= 500])[:300],
                                "entities": sorted({f.entity for f in found}),
                            }
                        )
            row += batch.num_rows
            progress(row, total_rows)
    totals: Counter = Counter()
    for entry in report.values():
        totals.update(entry["entities"])
        entry["entities"] = dict(entry["entities"])
    return {
        "rows": total_rows,
        "entities": dict(totals),
        "sensitivity": pii.sensitivity_level(totals),
        "columns": {c: e for c, e in report.items() if e["entities"]},
        "scanned_columns": columns,
    }


def write_masked(
    parquet: Path,
    out: Path,
    entities: set[str],
    mode: str,
    salt: bytes,
    columns: list[str] | None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """A copy of the file with the chosen entity types masked, hashed or removed in its text
    columns (and long-number columns, which become text); returns the number of values changed."""
    pf = pq.ParquetFile(parquet)
    numeric = [c for c in _long_integer_columns(pf) if columns is None or c in columns]
    targets = set(_text_columns(pf.schema_arrow, columns)) | set(numeric)
    schema = pf.schema_arrow
    for name in numeric:
        schema = schema.set(schema.get_field_index(name), pa.field(name, pa.string()))
    changed, done = 0, 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for batch in pf.iter_batches(batch_size=BATCH):
            arrays = []
            for name, array in zip(batch.schema.names, batch.columns, strict=True):
                if name not in targets:
                    arrays.append(array)
                    continue
                values = _as_text(array)
                for i, found in enumerate(pii.scan_many(values, entities=entities, context=name)):
                    if found:
                        changed += 1
                        values[i] = pii.mask(values[i], found, mode=mode, salt=salt)
                arrays.append(pa.array(values, type=schema.field(name).type))
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            done += batch.num_rows
            progress(done, pf.metadata.num_rows)
    return changed
