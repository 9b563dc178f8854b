"""Names and paths that end up in headers, logs and file systems: control characters refused, and
download names sent as an ASCII fallback plus RFC 5987 `filename*`."""

from __future__ import annotations

import re
from urllib.parse import quote

from axops.core.errors import Invalid

# C0, DEL, C1, and the Unicode line/paragraph separators.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control(value: str) -> bool:
    return CONTROL.search(value) is not None


def no_control(value: str) -> str:
    """A pydantic AfterValidator: refuse control characters (422)."""
    if has_control(value):
        raise ValueError("must not contain control characters (line breaks, tabs, NUL, ...)")
    return value


def check_text(value: str, what: str) -> str:
    if has_control(value):
        raise Invalid(
            f"The {what} {value!r} contains control characters (line breaks, tabs, NUL, ...); they are refused."
        )
    return value


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """`attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` for any name."""
    name = CONTROL.sub("", filename.replace("/", "_").replace("\\", "_")) or "download"
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula: text starting with = + - @ (or tab, CR) gets a '."""
    text_value = "" if value is None else str(value)
    if text_value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text_value = "'" + text_value
    return text_value
