"""MLflow's experiments/search over the caller's experiments: its filter (`name`, `tags.<key>`, `creation_time`,
`last_update_time` joined by AND), order_by and paging. The caller's experiments are few (one team's), so the
rows are filtered here rather than compiled to SQL; what the grammar does not cover is refused, never ignored."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from axops.experiments.mlflow_protocol import MlflowError
from axops.experiments.mlflow_schemas import ms
from axops.experiments.search import decode_offset, encode_offset

_CLAUSE = re.compile(
    r"""\s*(?:attributes?\.|attr\.)?(?P<key>tags?\.(?:`[^`]+`|"[^"]+"|[\w.\-]+)|`?[\w]+`?)\s*
    (?P<op>!=|>=|<=|=|<|>|\bNOT\s+LIKE\b|\bLIKE\b|\bILIKE\b)\s*
    (?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+)\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_TIMES = {"creation_time": "created_at", "last_update_time": "updated_at"}
_ORDER_KEYS = {"name", "experiment_id", "creation_time", "last_update_time"}


def _invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def _like(pattern: str, value: str, case: bool) -> bool:
    glob = "".join("*" if c == "%" else "?" if c == "_" else "[" + c + "]" if c in "*?[" else c for c in pattern)
    return fnmatch.fnmatchcase(value, glob) if case else fnmatch.fnmatchcase(value.lower(), glob.lower())


def _compare(op: str, left: Any, right: Any) -> bool:
    op = " ".join(op.upper().split())
    if left is None:
        return False
    if op in ("LIKE", "ILIKE", "NOT LIKE"):
        hit = _like(str(right), str(left), case=op != "ILIKE")
        return not hit if op == "NOT LIKE" else hit
    return {
        "=": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]


def _parse(filter: str) -> list[tuple[str, str, Any]]:
    clauses = []
    for part in re.split(r"\s+AND\s+", filter.strip(), flags=re.IGNORECASE) if filter.strip() else []:
        m = _CLAUSE.fullmatch(part)
        if m is None:
            raise _invalid(
                f"Unsupported experiment filter {part.strip()!r}: use name, tags.<key>, creation_time or last_update_time, joined by AND."
            )
        key, op, raw = m["key"].strip("`"), m["op"], m["value"]
        value: Any = raw[1:-1] if raw[0] in "'\"" else int(raw)
        if key.lower().startswith("tag"):
            key = "tags." + key.split(".", 1)[1].strip('`"')
            if op.upper() not in ("=", "!=", "LIKE", "ILIKE") or not isinstance(value, str):
                raise _invalid(f"Tags compare with =, !=, LIKE or ILIKE to a string: {part.strip()!r}.")
        elif key == "name":
            if op in ("<", "<=", ">", ">=") or not isinstance(value, str):
                raise _invalid(f"name compares with =, !=, LIKE or ILIKE to a string: {part.strip()!r}.")
        elif key in _TIMES:
            if not isinstance(value, int) or "LIKE" in op.upper():
                raise _invalid(f"{key} compares with =, !=, <, <=, >, >= to milliseconds: {part.strip()!r}.")
        else:
            raise _invalid(f"Unsupported experiment filter key {key!r}.")
        clauses.append((key, op, value))
    return clauses


def _field(e: dict, key: str) -> Any:
    if key.startswith("tags."):
        return e["tags"].get(key[5:])
    if key in _TIMES:
        return ms(e[_TIMES[key]])
    if key == "experiment_id":
        return e["id"].hex
    return e[key]


def _sort(rows: list[dict], order_by: list[str]) -> list[dict]:
    keys = []
    for spec in order_by:
        parts = spec.split()
        key = parts[0].removeprefix("attributes.").removeprefix("attribute.") if parts else ""
        direction = parts[1].upper() if len(parts) > 1 else "ASC"
        if key not in _ORDER_KEYS or len(parts) > 2 or direction not in ("ASC", "DESC"):
            raise _invalid(
                f"Unsupported order_by {spec!r}: name, experiment_id, creation_time or last_update_time, ASC or DESC."
            )
        keys.append((key, direction == "DESC"))
    keys = keys or [("creation_time", True)]
    if "experiment_id" not in [k for k, _ in keys]:
        keys.append(("experiment_id", False))
    for key, desc in reversed(keys):  # stable sorts, last key first
        rows = sorted(rows, key=lambda e, k=key: _field(e, k), reverse=desc)
    return rows


def search(rows: list[dict], body: dict) -> tuple[list[dict], str | None]:
    """The page of `rows` (list_experiments' dicts) a search-experiments body asks for, and the next page's token."""
    filter, order_by = body.get("filter") or "", body.get("order_by") or []
    if isinstance(order_by, str):
        order_by = [order_by]
    if not isinstance(filter, str) or not isinstance(order_by, list) or not all(isinstance(o, str) for o in order_by):
        raise _invalid("filter is a string and order_by a list of strings.")
    try:
        limit = int(body.get("max_results") or 1000)
    except (TypeError, ValueError):
        raise _invalid("max_results must be an integer.") from None
    if not 1 <= limit <= 50_000:
        raise _invalid(f"Invalid value {limit} for parameter 'max_results' supplied.")
    try:
        offset = decode_offset(body.get("page_token") or None)
    except Exception:
        raise _invalid("page_token is malformed; use next_page_token of the previous page.") from None
    clauses = _parse(filter)
    hits = [e for e in rows if all(_compare(op, _field(e, key), value) for key, op, value in clauses)]
    hits = _sort(hits, order_by)
    page = hits[offset : offset + limit]
    return page, encode_offset(offset + limit) if offset + limit < len(hits) else None
