"""Prompt references: `name` (label `production` if set, else the latest version), `name@label`, `name:3`."""

from __future__ import annotations

import re

from pydantic import TypeAdapter, ValidationError

from axops.core.errors import Invalid
from axops.registry.schemas import ModelName

LABEL_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
DEFAULT_LABEL = "production"
_NAME = TypeAdapter(ModelName)  # prompts are named as models are (pydantic's regex knows \p{L})
_LABEL = re.compile(LABEL_PATTERN)


def _invalid(ref: str, why: str) -> Invalid:
    return Invalid(
        f"'{ref[:200]}' is not a prompt reference ({why}): use name, name@label or name:version.",
        code="prompt_ref_invalid",
        ref=ref[:200],
    )


def parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    """`support` → ("support", None, None); `support@staging` → ("support", "staging", None);
    `support:3` → ("support", None, 3)."""
    if not isinstance(ref, str) or not ref or len(ref) > 300:
        raise _invalid(str(ref), "empty or too long")
    name, label, version = ref, None, None
    if "@" in ref:
        name, label = ref.split("@", 1)
        if not _LABEL.match(label):
            raise _invalid(ref, "a label is lowercase letters, digits, '_' and '-'")
    elif ":" in ref:
        name, number = ref.split(":", 1)
        if not number.isascii() or not number.isdigit() or not 0 < int(number) < 2**31:
            raise _invalid(ref, "a version is a positive number")
        version = int(number)
    if not valid_name(name):
        raise _invalid(ref, "not a prompt name")
    return name, label, version


def valid_name(name: str) -> bool:
    try:
        _NAME.validate_python(name)
    except ValidationError:
        return False
    return True


def parse_selector(selector: str) -> tuple[str | None, int | None]:
    """A version of a prompt already named: `production` or `@production` (a label), `3` or `:3` (a version)."""
    s = selector.strip()
    if s.lstrip(":").isascii() and s.lstrip(":").isdigit():
        number = int(s.lstrip(":"))
        if 0 < number < 2**31:
            return None, number
    elif _LABEL.match(s.removeprefix("@")):
        return s.removeprefix("@"), None
    raise Invalid(
        f"'{selector[:100]}' names neither a label nor a version.", code="prompt_ref_invalid", ref=selector[:100]
    )
