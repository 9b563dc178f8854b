"""Scanning: :func:`scan` one text, :func:`scan_many` a column of values, :func:`summarize_column`
for a dataset column, :func:`sensitivity_level` for a classification."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from axops.pii import addresses, persons
from axops.pii import recognizers as r

DEFAULT_THRESHOLD = 0.5

RESTRICTED_ENTITIES = frozenset({r.RRN, r.ARN, r.PASSPORT, r.DRIVER_LICENSE, r.CREDIT_CARD, r.BANK_ACCOUNT})
CONFIDENTIAL_ENTITIES = frozenset({r.PHONE, r.EMAIL, r.ADDRESS_KR, r.PERSON})
INTERNAL_ENTITIES = frozenset({r.IP_ADDRESS, r.BRN})


class Finding(NamedTuple):
    """One detected entity: ``text[start:end] == finding.text``; ``score`` in [0, 1]."""

    entity: str
    start: int
    end: int
    score: float
    text: str


def _want(entities: Iterable[str] | None) -> frozenset[str]:
    if entities is None:
        return r.ALL_ENTITIES
    if isinstance(entities, str):
        entities = (entities,)
    if entities.__class__ is frozenset and entities <= r.ALL_ENTITIES:
        return entities
    want = frozenset(entities)
    unknown = want - r.ALL_ENTITIES
    if unknown:
        raise ValueError(f"unknown PII entity type(s): {', '.join(sorted(unknown))}")
    return want


_HAS_DIGIT = re.compile(r"\d")


def _candidates(text: str, want: frozenset[str], threshold: float) -> list[tuple[str, int, int, float]]:
    out: list[tuple[str, int, int, float]] = []
    if _HAS_DIGIT.search(text) is not None:
        if not want.isdisjoint(r.NUMERIC_ENTITIES):
            r.find_numbers(text, want, threshold, out)
        if r.PASSPORT in want:
            r.find_passports(text, out)
        if r.ADDRESS_KR in want:
            addresses.find_addresses(text, out)
        if r.IP_ADDRESS in want and ":" in text:
            r.find_ipv6(text, out)
    if r.EMAIL in want and "@" in text:
        r.find_emails(text, out)
    if r.PERSON in want:
        persons.find_persons(text, threshold, out)
    return out


def _resolve(cands: list[tuple[str, int, int, float]], threshold: float) -> list[tuple[str, int, int, float]]:
    """Candidates at or above the threshold, overlaps resolved (higher score, then longer, wins)."""
    cands = [c for c in cands if c[3] >= threshold]
    if len(cands) <= 1:
        return cands
    cands.sort(key=lambda c: c[1])
    kept: list[tuple[str, int, int, float]] = []
    cluster: list[tuple[str, int, int, float]] = []
    cluster_end = -1
    for c in cands:
        if c[1] >= cluster_end:
            _flush(cluster, kept)
            cluster = [c]
            cluster_end = c[2]
        else:
            cluster.append(c)
            cluster_end = max(cluster_end, c[2])
    _flush(cluster, kept)
    return kept


def _flush(cluster: list, kept: list) -> None:
    if len(cluster) == 1:
        kept.append(cluster[0])
        return
    chosen: list = []
    for c in sorted(cluster, key=lambda c: (-c[3], c[1] - c[2], c[1])):
        if all(c[2] <= k[1] or c[1] >= k[2] for k in chosen):
            chosen.append(c)
    chosen.sort(key=lambda c: c[1])
    kept.extend(chosen)


def scan(text: str, entities: Iterable[str] | None = None, threshold: float = DEFAULT_THRESHOLD) -> list[Finding]:
    """Find PII in ``text``: non-overlapping findings with ``score >= threshold``, in text order.

    ``entities`` limits the entity types looked for (default: all of :data:`ALL_ENTITIES`);
    unknown names raise ``ValueError``.
    """
    if not text:
        return []
    cands = _candidates(text, _want(entities), threshold)
    if not cands:
        return []
    return [Finding(e, s, t, round(sc, 3), text[s:t]) for e, s, t, sc in _resolve(cands, threshold)]


# --------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------

_JOIN = "\n" + r.SEP + "\n"
_BATCH_CHARS = 1 << 20


def _iter_values(values: Any, batch: int = 8192) -> Iterator[Any]:
    """Values of a Python iterable, or of a pyarrow Array / ChunkedArray in slices."""
    if hasattr(values, "to_pylist") and hasattr(values, "slice") and hasattr(values, "__len__"):
        for i in range(0, len(values), batch):
            yield from values.slice(i, batch).to_pylist()
    else:
        yield from values


def _scan_unique(texts: list[str], want: frozenset[str], threshold: float, prefix: str = "") -> list[list[Finding]]:
    """Scan distinct texts joined into one string (one pass of each pattern for the whole batch
    instead of one per row); context windows and patterns never cross the row separator. A
    ``prefix`` (column context) is written before every text and never reported itself."""
    starts = []
    pos = len(prefix)
    for t in texts:
        starts.append(pos)
        pos += len(t) + len(_JOIN) + len(prefix)
    joined = _JOIN.join(prefix + t for t in texts) if prefix else _JOIN.join(texts)
    found = _resolve(_candidates(joined, want, threshold), threshold)
    out: list[list[Finding]] = [[] for _ in texts]
    new = tuple.__new__  # Finding(...) without the NamedTuple keyword machinery: ~30% cheaper
    plen = len(prefix)
    row = 0
    nrows = len(texts)
    for ent, s, e, sc in found:
        if row + 1 < nrows and starts[row + 1] - plen <= s:
            row = bisect_right(starts, s + plen, row + 1) - 1
        base = starts[row]
        if s < base:
            continue  # inside the prefix
        out[row].append(new(Finding, (ent, s - base, e - base, round(sc, 3), joined[s:e])))
    return out


def _batches(values: Any) -> Iterator[list[Any]]:
    batch: list[Any] = []
    size = 0
    for v in _iter_values(values):
        batch.append(v)
        if isinstance(v, str):
            size += len(v)
        if size >= _BATCH_CHARS or len(batch) >= 65536:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def scan_many(
    texts: Iterable[str | None],
    entities: Iterable[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    context: str | None = None,
) -> list[list[Finding]]:
    """Findings per value of a column (a list, any iterable, or a pyarrow string Array /
    ChunkedArray), in order; ``None`` and empty values give ``[]``, other non-strings are
    scanned as ``str(value)``. Repeated values are scanned once per batch. Offsets are relative
    to each value.

    ``context`` is a label for the whole column, typically its name ("주민번호", "card_no"),
    read as if written before every value: it lets short bare values (a 13-digit RRN, a bank
    account number) be recognised as they would be after that label in a sentence."""
    want = _want(entities)
    prefix = f"{context}: " if context else ""
    result: list[list[Finding]] = []
    for batch in _batches(texts):
        index: dict[str, int] = {}
        uniq: list[str] = []
        slots: list[int] = []
        for v in batch:
            if v is None or v == "":
                slots.append(-1)
                continue
            if not isinstance(v, str):
                v = str(v)
            i = index.get(v)
            if i is None:
                i = index[v] = len(uniq)
                uniq.append(v)
            slots.append(i)
        per = _scan_unique(uniq, want, threshold, prefix) if uniq else []
        result.extend(list(per[i]) if i >= 0 else [] for i in slots)
    return result


@dataclass
class ColumnSummary:
    """What a column holds: counts by entity, affected rows, a few masked examples, a level."""

    rows: int = 0
    rows_with_pii: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    row_indexes: list[int] = field(default_factory=list)  # rows with PII, first ``max_row_indexes``
    row_indexes_truncated: bool = False
    examples: dict[str, list[str]] = field(default_factory=dict)  # masked values ("mask" mode)
    level: str = "public"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "rows_with_pii": self.rows_with_pii,
            "counts": dict(self.counts),
            "row_indexes": list(self.row_indexes),
            "row_indexes_truncated": self.row_indexes_truncated,
            "examples": {k: list(v) for k, v in self.examples.items()},
            "level": self.level,
        }


def summarize_column(
    values: Any,
    entities: Iterable[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    max_examples: int = 5,
    max_row_indexes: int = 1000,
    context: str | None = None,
) -> ColumnSummary:
    """Scan a column (iterable or pyarrow array) and summarise it. Examples are the detected
    values masked with :func:`axops.pii.mask_value` (never raw), distinct, up to
    ``max_examples`` per entity; ``context`` as for :func:`scan_many` (e.g. the column name)."""
    from axops.pii.mask import mask_value

    want = _want(entities)
    summary = ColumnSummary()
    seen: dict[str, set[str]] = {}
    row = 0
    for batch in _batches(values):
        for findings in scan_many(batch, want, threshold, context):
            if findings:
                summary.rows_with_pii += 1
                if len(summary.row_indexes) < max_row_indexes:
                    summary.row_indexes.append(row)
                else:
                    summary.row_indexes_truncated = True
                for f in findings:
                    summary.counts[f.entity] = summary.counts.get(f.entity, 0) + 1
                    ex = summary.examples.setdefault(f.entity, [])
                    if len(ex) < max_examples:
                        masked = mask_value(f.entity, f.text)
                        s = seen.setdefault(f.entity, set())
                        if masked not in s:
                            s.add(masked)
                            ex.append(masked)
            row += 1
    summary.rows = row
    summary.level = sensitivity_level(summary.counts)
    return summary


def sensitivity_level(counts_by_entity: Mapping[str, int]) -> str:
    """``restricted`` if any RRN/ARN/passport/driver licence/card/bank account; ``confidential``
    if phone/e-mail/address/person; ``internal`` if only IP addresses / BRNs; else ``public``."""
    present = {e for e, n in counts_by_entity.items() if n}
    if present & RESTRICTED_ENTITIES:
        return "restricted"
    if present & CONFIDENTIAL_ENTITIES:
        return "confidential"
    if present & INTERNAL_ENTITIES:
        return "internal"
    return "public"
