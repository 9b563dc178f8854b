"""Turn an uploaded file (CSV, TSV, JSONL or Parquet, any common encoding) into a canonical Parquet
file, streamed and column-wise: nothing here holds the whole file in Python objects.

Errors are `IngestError`s whose message names the line (or column) at fault; the service turns
them into 422 answers.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from charset_normalizer import from_bytes

FORMATS = ("csv", "tsv", "jsonl", "parquet")
MAX_COLUMNS = 2000
MAX_ROWS = 5_000_000  # the default of AXOPS_DATASET_MAX_ROWS
# A Parquet file's text may decode to this many times its size (at least EXPANSION_FLOOR bytes):
# beyond it, a small file would keep the background analysis busy for hours (a compression bomb).
MAX_EXPANSION = 100
EXPANSION_FLOOR = 4 * 1024**3
_BLOCK = 4 * 1024 * 1024
_SAMPLE = 1024 * 1024


class IngestError(ValueError):
    pass


@dataclass
class Ingested:
    format: str
    encoding: str | None
    rows: int
    columns: list[dict]  # [{"name", "type"}]
    parquet: Path


def detect_format(filename: str, head: bytes) -> str:
    if head.startswith(b"PAR1"):
        return "parquet"
    suffix = Path(filename).suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv", "parquet"):
        return suffix
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if suffix == "txt" or not suffix:
        text = head[:4096].decode("utf-8", "ignore").lstrip("\ufeff").lstrip()
        if text.startswith("{"):
            return "jsonl"
        first = text.splitlines()[0] if text else ""
        return "tsv" if first.count("\t") > first.count(",") else "csv"
    raise IngestError(f"Unsupported file type '.{suffix}': upload CSV, TSV, JSONL or Parquet.")


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or CP949/EUC-KR (what Excel writes for Korean)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp949"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
            return encoding
        except UnicodeDecodeError as exc:
            if encoding == "utf-8" and not sample[: exc.start].isascii():
                # Real UTF-8 text up to here, then bytes that are not: two encodings in one file.
                line = sample[: exc.start].count(b"\n") + 1
                raise IngestError(
                    f"Line {line} is not valid UTF-8 although the lines before it are; "
                    "the file seems to mix encodings. Save it again with one encoding."
                ) from None
    best = from_bytes(sample).best()
    if best is None:
        raise IngestError("The file is not text in any encoding we recognise (is it binary?).")
    return best.encoding


def to_utf8(src: Path, encoding: str, dst: Path) -> Path:
    """Check every byte decodes; transcode to UTF-8 when needed. A byte that does not decode is
    reported with its line number (typically a file that mixes encodings)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    transcode = encoding not in ("utf-8",)
    line = 1
    with src.open("rb") as f, dst.open("w", encoding="utf-8", newline="") if transcode else io.StringIO() as out:
        while block := f.read(_BLOCK):
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                bad_line = line + block[: exc.start].count(b"\n")
                raise IngestError(
                    f"Line {bad_line} is not valid {encoding} text; the file seems to mix encodings. "
                    "Save it again with one encoding (UTF-8 is best)."
                ) from None
            line += block.count(b"\n")
            if transcode:
                out.write(text)
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise IngestError(f"The file ends in the middle of a {encoding} character (truncated?).") from None
        if transcode:
            out.write(tail)
    return dst if transcode else src


def _check_columns(names: list[str]) -> None:
    if len(names) > MAX_COLUMNS:
        raise IngestError(f"The file has {len(names):,} columns; the limit is {MAX_COLUMNS:,}.")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise IngestError(f"The column name {name!r} appears twice; column names must be unique.")
        seen.add(name)


def _header(path: Path, delimiter: str) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        # The header line alone; its width can be huge (10,000 columns), so no per-field limit.
        first = f.readline(64 * 1024 * 1024)
    if not first.strip():
        raise IngestError("The file is empty: there is no header line.")
    names = next(csv.reader([first], delimiter=delimiter))
    return [n.strip() or f"column_{i + 1}" for i, n in enumerate(names)]


def _zero_padded(path: Path, delimiter: str, names: list[str], sample_rows: int = 2000) -> dict[str, pa.DataType]:
    """Columns whose sampled values are digits with a leading zero (phone numbers, postcodes,
    codes): kept as text, where number inference would silently drop the zeros."""
    found: set[str] = set()
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        next(reader, None)
        for _, row in zip(range(sample_rows), reader, strict=False):
            for name, value in zip(names, row, strict=False):
                if len(value) > 1 and value[0] == "0" and value.isdigit():
                    found.add(name)
    return dict.fromkeys(found, pa.string())


def too_many_rows(rows: int, max_rows: int, exact: bool = True) -> IngestError:
    count = f"{rows:,}" if exact else f"more than {max_rows:,}"
    return IngestError(
        f"The file has {count} rows; the limit is {max_rows:,} (AXOPS_DATASET_MAX_ROWS). Split it into smaller files."
    )


def _csv_to_parquet(path: Path, delimiter: str, out: Path, max_rows: int = MAX_ROWS) -> None:
    names = _header(path, delimiter)
    _check_columns(names)
    csv.field_size_limit(64 * 1024 * 1024)
    forced: dict[str, pa.DataType] = _zero_padded(path, delimiter, names)
    while True:  # a later block can contradict the type guessed from the first: read that column as text
        bad_rows: list[int] = []

        def invalid(row, bad_rows=bad_rows):
            bad_rows.append(row.number)
            return "error"

        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(
                    column_names=names, skip_rows=1, block_size=16 * 1024 * 1024, use_threads=False, encoding="utf-8"
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid
                ),
                convert_options=pacsv.ConvertOptions(column_types=forced, strings_can_be_null=True),
            )
            rows = 0
            with pq.ParquetWriter(out, reader.schema, compression="zstd") as writer:
                for batch in reader:
                    rows += batch.num_rows
                    if rows > max_rows:
                        raise too_many_rows(rows, max_rows, exact=False)
                    writer.write_batch(batch)
            return
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if bad_rows:
                raise IngestError(
                    f"Line {bad_rows[0]}: expected {len(names)} fields like the header. "
                    f"({message.split(': ', 2)[-1][:200]})"
                ) from None
            column = _failed_column(message, names)
            if column is None or column in forced:
                raise IngestError(
                    f"The file could not be read as {'TSV' if delimiter == chr(9) else 'CSV'}: {message[:300]}"
                ) from None
            forced[column] = pa.string()


def _failed_column(message: str, names: list[str]) -> str | None:
    # Arrow says: "In CSV column #3: CSV conversion error to int64: invalid value 'abc'"
    marker = "column #"
    if marker not in message:
        return None
    digits = message.split(marker, 1)[1].split(":", 1)[0]
    return names[int(digits)] if digits.isdigit() and int(digits) < len(names) else None


def _jsonl_to_parquet(path: Path, out: Path, max_rows: int = MAX_ROWS) -> None:
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        rel = con.sql(f"SELECT * FROM read_json({_literal(path)}, format='newline_delimited', sample_size=-1)")
        _check_columns(rel.columns)
        rel.limit(max_rows + 1).write_parquet(str(out), compression="zstd")
    except duckdb.Error as exc:
        bad = _first_bad_line(path)
        if bad:
            raise IngestError(f"Line {bad[0]} is not a JSON object: {bad[1]}") from None
        message = str(exc).split("Error: ", 1)[-1].replace(f' in file "{path}",', "")
        raise IngestError(f"The JSONL file could not be read: {message[:300]}") from None
    finally:
        con.close()


def _first_bad_line(path: Path) -> tuple[int, str] | None:
    """Only on the error path: the first line that is not a JSON object, and why."""
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                return number, str(exc).split(":")[0]
            if not isinstance(value, dict):
                return number, f"found a JSON {type(value).__name__}, expected an object"
    return None


def _literal(value: Path | str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _check_parquet_size(path: Path, pf: pq.ParquetFile, max_rows: int) -> None:
    """Refuse a Parquet file with too many rows, or whose text decodes to far more than its size
    (a dictionary or run of one huge value repeated): the row count is in its footer, the decoded
    lengths of its text (also inside lists, structs and maps) are summed by DuckDB from the values'
    lengths, streamed, stopping at the limit."""
    rows = pf.metadata.num_rows
    if rows > max_rows:
        raise too_many_rows(rows, max_rows)
    limit = max(path.stat().st_size * MAX_EXPANSION, EXPANSION_FLOOR)
    decoded = 0
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2; SET memory_limit = '1GB'")
        rel = con.sql(f"SELECT * FROM read_parquet({_literal(path)})")
        lengths = [e for n, t in zip(rel.columns, rel.dtypes, strict=True) if (e := _decoded_length(_quote(n), t))]
        if lengths and rows:
            per_row = " + ".join(lengths)
            batches = con.sql(f"SELECT {per_row} FROM read_parquet({_literal(path)})").to_arrow_reader(8192)
            for batch in batches:  # streamed, so a bomb is stopped as soon as it crosses the limit
                decoded += pc.sum(batch.column(0)).as_py() or 0
                if decoded > limit:
                    break
    except duckdb.Error as exc:
        raise IngestError(f"The Parquet file could not be read: {str(exc)[:200]}") from None
    finally:
        con.close()
    if decoded > limit:
        raise IngestError(
            f"The file's text decodes to over {limit:,} bytes, {MAX_EXPANSION}x its size on disk "
            f"(and over {EXPANSION_FLOOR // 1024**3} GiB): refused as a compression bomb."
        )


def _decoded_length(expr: str, dtype: duckdb.DuckDBPyType, depth: int = 0) -> str | None:
    """SQL for the bytes a value of this type decodes to, counted from lengths (no value is copied):
    text and bytes, and the text inside lists, structs and maps; None for fixed-size types."""
    kind = dtype.id
    if kind == "varchar":
        return f"coalesce(strlen({expr}), 0)"
    if kind == "blob":
        return f"coalesce(octet_length({expr}), 0)"
    if kind in ("list", "array"):
        return _list_length(expr, dtype.children[0][1], depth)
    if kind == "map":
        (_, key), (_, value) = dtype.children
        sizes = [_list_length(f"map_keys({expr})", key, depth), _list_length(f"map_values({expr})", value, depth)]
    elif kind == "struct":
        sizes = [_decoded_length(f"struct_extract({expr}, {_literal(name)})", t, depth) for name, t in dtype.children]
    elif kind == "union":
        return f"coalesce(strlen(CAST({expr} AS VARCHAR)), 0)"
    else:
        return None
    return " + ".join(size for size in sizes if size) or None


def _list_length(expr: str, element: duckdb.DuckDBPyType, depth: int) -> str | None:
    x = f"x{depth}"
    inner = _decoded_length(x, element, depth + 1)
    return f"coalesce(list_sum(list_transform({expr}, lambda {x}: {inner})), 0)" if inner else None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ingest(src: Path, filename: str, workdir: Path, max_rows: int = MAX_ROWS) -> Ingested:
    """Validate `src` and write its canonical Parquet copy into `workdir` (at most `max_rows` rows)."""
    size = src.stat().st_size
    if size == 0:
        raise IngestError("The file is empty (0 bytes).")
    with src.open("rb") as f:
        head = f.read(_SAMPLE)
    fmt = detect_format(filename, head)
    out = workdir / "data.parquet"
    encoding = None
    if fmt == "parquet":
        try:
            pf = pq.ParquetFile(src)
        except (pa.ArrowInvalid, OSError) as exc:
            raise IngestError(f"The file is not a valid Parquet file ({str(exc)[:200]}).") from None
        _check_columns(pf.schema_arrow.names)
        _check_parquet_size(src, pf, max_rows)
        out = src
    else:
        encoding = detect_encoding(head)
        text = to_utf8(src, encoding, workdir / "utf8.txt")
        if fmt == "jsonl":
            if not text.read_bytes()[:_SAMPLE].strip():
                raise IngestError("The file is empty: no JSON lines.")
            _jsonl_to_parquet(text, out, max_rows)
        else:
            _csv_to_parquet(text, "\t" if fmt == "tsv" else ",", out, max_rows)
        if text != src:
            text.unlink()
    pf = pq.ParquetFile(out)
    if pf.metadata.num_rows > max_rows:
        raise too_many_rows(pf.metadata.num_rows, max_rows, exact=False)
    columns = [{"name": f.name, "type": str(f.type)} for f in pf.schema_arrow]
    return Ingested(format=fmt, encoding=encoding, rows=pf.metadata.num_rows, columns=columns, parquet=out)
