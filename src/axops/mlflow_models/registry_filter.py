"""MLflow's registry search filters (`name = 'x'`, `name LIKE '%x%'`, `name ILIKE`, `tags.k = 'v'`, `run_id IN (...)`,
clauses joined by AND) compiled to SQLAlchemy conditions; anything else is INVALID_PARAMETER_VALUE."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, String, cast, or_

from axops.experiments.mlflow_protocol import MlflowError

MAX_FILTER = 2000
_CLAUSE = re.compile(
    r"""\s*(?P<key>(?:tags|tag)\.(?:`[^`]+`|"[^"]+"|[\w.\-]+)|[A-Za-z_]+)\s*
        (?P<op>!=|=|<>|(?:NOT\s+)?I?LIKE|IN)\s*
        (?P<value>'(?:[^']|'')*'|"(?:[^"]|"")*"|\((?:[^()])*\)|-?\d+)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def _bad(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def _split_and(text: str) -> list[str]:
    parts, current, quote = [], [], None
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            current.append(c)
            if c == quote:
                quote = None
        elif c in "'\"`":
            quote = c
            current.append(c)
        elif text[i : i + 5].upper() == " AND " or (text[i : i + 4].upper() == "AND " and not "".join(current).strip()):
            parts.append("".join(current))
            current = []
            i += 4
            continue
        else:
            current.append(c)
        i += 1
    if quote:
        raise _bad("Unterminated quote in the filter.")
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts)] if any(p.strip() for p in parts) else []


def _literal(raw: str) -> str:
    if raw[0] in "'\"":
        return raw[1:-1].replace(raw[0] * 2, raw[0])
    return raw


def compile_filter(text: str | None, columns: dict[str, Any], tags: Any) -> list[ColumnElement]:
    """`columns`: filterable attribute name → column; `tags`: the JSONB tags column."""
    if not text or not text.strip():
        return []
    if len(text) > MAX_FILTER:
        raise _bad(f"A filter is at most {MAX_FILTER} characters.")
    out: list[ColumnElement] = []
    for clause in _split_and(text):
        m = _CLAUSE.match(clause)
        if not m:
            raise _bad(f"Invalid filter clause {clause[:200]!r}: use e.g. name = 'x', name LIKE '%x%', tags.k = 'v'.")
        key, op, raw = m.group("key"), " ".join(m.group("op").upper().split()), m.group("value")
        if key.lower().startswith(("tags.", "tag.")):
            tag = key.split(".", 1)[1].strip('`"')
            column = tags[tag].astext
        elif key.lower() in columns:
            column = columns[key.lower()]
        else:
            raise _bad(f"Invalid attribute {key!r} in the filter; valid: {', '.join(sorted(columns))}, tags.<key>.")
        if op == "IN":
            values = [_literal(v.strip()) for v in re.findall(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", raw)]
            if not values:
                raise _bad("IN needs a list of quoted values, e.g. run_id IN ('a', 'b').")
            out.append(cast(column, String).in_(values))
            continue
        if raw.startswith("("):
            raise _bad(f"{op} compares with one quoted value.")
        value = _literal(raw)
        col = cast(column, String)
        if op == "=":
            out.append(col == value)
        elif op in ("!=", "<>"):  # a missing tag differs too (MLflow's own `tags.mlflow.prompt.is_prompt != 'true'`)
            out.append(col.is_distinct_from(value))
        elif op == "LIKE":
            out.append(col.like(value))
        elif op == "ILIKE":
            out.append(col.ilike(value))
        elif op == "NOT LIKE":
            out.append(or_(col.is_(None), ~col.like(value)))
        elif op == "NOT ILIKE":
            out.append(or_(col.is_(None), ~col.ilike(value)))
        else:
            raise _bad(f"Unsupported comparator {op!r}.")
    return out


_ORDER = re.compile(r"^\s*([A-Za-z_]+)(?:\s+(ASC|DESC))?\s*$", re.IGNORECASE)


def compile_order_by(items: list[str] | None, columns: dict[str, Any]) -> list:
    out = []
    for item in items or []:
        m = _ORDER.match(item or "")
        if not m or m.group(1).lower() not in columns:
            raise _bad(f"Invalid order_by {item!r}: use one of {', '.join(sorted(columns))} with ASC or DESC.")
        column = columns[m.group(1).lower()]
        out.append(column.desc() if (m.group(2) or "ASC").upper() == "DESC" else column.asc())
    return out
