"""Masking detected PII: ``mask`` (partial hint), ``remove`` (type tag) or ``hash`` (salted,
stable pseudonym).

``mode="mask"`` keeps a hint of the shape and replaces the rest with ``*``:

- RRN, ARN: the first 7 digits (birth date, gender): ``900101-1******``
- PHONE: the first digit group and the last 4 digits when at least 3 others stay hidden:
  ``010-****-5678``, ``(02) ***-4567``, ``1588-****``; without separators the first 3 digits:
  ``010****5678``
- CREDIT_CARD, BANK_ACCOUNT: the last 4 digits: ``****-****-****-1111``, ``***-***-**6789``
- BRN: the first 5 digits (tax office, type): ``123-45-*****``
- DRIVER_LICENSE: the first 2 digits and any region name: ``11-**-******-**``, ``서울 12-******-**``
- PASSPORT: the first letter: ``M********``
- EMAIL: the first character of the local part and the domain: ``k***@example.com``
- IP_ADDRESS: IPv4 the first two octets (``192.168.*.*``), IPv6 the first group
- ADDRESS_KR: everything but the digits: ``서울 강남구 테헤란로 ***``
- PERSON: the first character of each word: ``김**``, ``J*** S****``

In numbers and addresses every hidden digit becomes one ``*`` and separators are kept.
``mode="remove"`` gives ``[RRN]``; ``mode="hash"`` gives ``RRN_3f9a1c2b``: the first
``digest_chars`` hex digits of HMAC-SHA256(salt, entity + value), where the value is
normalised (digits only for numbers, lower-case e-mail, single spaces) so ``010-1234-5678`` and
``01012345678`` map to the same token. The same salt gives the same token; keep the salt
secret, or short values such as phone numbers can be recovered by trying them all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

from axops.pii import recognizers as r
from axops.pii.scanner import DEFAULT_THRESHOLD, Finding, scan

MODES = ("mask", "hash", "remove")
# What redact() looks for by default: everything but PERSON (names need the morphological
# analyser, which is slow to load and to run; pass entities=ALL_ENTITIES to include them).
REDACT_ENTITIES = r.ALL_ENTITIES - {r.PERSON}

_DIGIT = re.compile(r"\d")
_NOT_DIGIT = re.compile(r"\D+")
_WS = re.compile(r"\s+")
_HEX = re.compile(r"[0-9A-Fa-f]")
_KEEP = {  # entity -> (leading digits kept, trailing digits kept)
    r.RRN: (7, 0),
    r.ARN: (7, 0),
    r.CREDIT_CARD: (0, 4),
    r.BANK_ACCOUNT: (0, 4),
    r.BRN: (5, 0),
    r.DRIVER_LICENSE: (2, 0),
}


def _keep_digits(value: str, first: int, last: int) -> str:
    total = sum(c.isdigit() for c in value)
    out = []
    i = 0
    for c in value:
        if c.isdigit():
            out.append(c if i < first or i >= total - last else "*")
            i += 1
        else:
            out.append(c)
    return "".join(out)


def _mask_phone(value: str) -> str:
    groups = _DIGIT.findall(value)
    total = len(groups)
    m = re.match(r"\D*\d+", value)
    first = len(_DIGIT.findall(m.group())) if m else 0
    if first == total:  # no separators: keep a 3-digit prefix
        first = 3 if value[:1] != "+" else min(total, 4)
    # the last 4 digits only when at least 3 others stay masked ("1588-1234" -> "1588-****")
    return _keep_digits(value, first, 4 if total - first >= 7 else 0)


def _mask_ip(value: str) -> str:
    if ":" in value:
        head, _, rest = value.partition(":")
        return head + ":" + _HEX.sub("*", rest)
    parts = value.split(".")
    return ".".join(parts[:2] + ["*"] * (len(parts) - 2))


def mask_value(entity: str, value: str, mode: str = "mask", salt: bytes | None = None, digest_chars: int = 8) -> str:
    """The replacement for one detected value (see the module doc for the scheme)."""
    if mode == "remove":
        return f"[{entity}]"
    if mode == "hash":
        if not salt:
            raise ValueError("mode='hash' needs a salt (bytes); keep it secret")
        digest = hmac.new(salt, f"{entity}\x1f{_normalise(entity, value)}".encode(), hashlib.sha256)
        return f"{entity}_{digest.hexdigest()[:digest_chars]}"
    if mode != "mask":
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if entity in _KEEP:
        first, last = _KEEP[entity]
        return _keep_digits(value, first, last)
    if entity == r.PHONE:
        return _mask_phone(value)
    if entity == r.EMAIL:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if entity == r.IP_ADDRESS:
        return _mask_ip(value)
    if entity == r.PASSPORT:
        return value[:1] + "*" * (len(value) - 1)
    if entity == r.ADDRESS_KR:
        return _DIGIT.sub("*", value)
    if entity == r.PERSON:
        return " ".join(w[:1] + "*" * (len(w) - 1) for w in value.split(" "))
    return "*" * len(value)


def _normalise(entity: str, value: str) -> str:
    if entity in r.NUMERIC_ENTITIES and entity != r.IP_ADDRESS:
        return _NOT_DIGIT.sub("", value)
    if entity in (r.EMAIL, r.IP_ADDRESS, r.PASSPORT):
        return value.strip().lower()
    return _WS.sub(" ", value.strip())


def mask(
    text: str,
    findings: Iterable[Finding] | Iterable[str] | None = None,
    mode: str = "mask",
    salt: bytes | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    digest_chars: int = 8,
) -> str:
    """``text`` with PII replaced. ``findings`` is either the findings of :func:`scan` for this
    text, or a set of entity names to scan for (``None``: all)."""
    if not text:
        return text
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if mode == "hash" and not salt:
        raise ValueError("mode='hash' needs a salt (bytes); keep it secret")
    if (
        findings is None
        or isinstance(findings, (set, frozenset))
        or (isinstance(findings, (list, tuple)) and findings and isinstance(findings[0], str))
    ):
        found = scan(text, findings, threshold)
    else:
        found = sorted(findings, key=lambda f: f.start)
    if not found:
        return text
    out = []
    pos = 0
    for f in found:
        if f.start < pos:
            continue  # overlapping findings passed in by hand: keep the first
        out.append(text[pos : f.start])
        out.append(mask_value(f.entity, text[f.start : f.end], mode, salt, digest_chars))
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def redact(text: str, entities: Iterable[str] | None = None) -> str:
    """Log-line convenience: ``mask(text, REDACT_ENTITIES)`` in ``mask`` mode."""
    return mask(text, frozenset(entities) if entities is not None else REDACT_ENTITIES)
