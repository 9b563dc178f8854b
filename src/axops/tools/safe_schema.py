"""The JSON-schema validator for tool arguments, with bounded regular expressions.

A parameter schema is written by a tool's author (or sent by an MCP server) and the arguments by a
model; jsonschema matches `pattern` and `patternProperties` with Python's `re`, which backtracks
without limit: `^(a+)+$` against forty `a`s and a `!` would hold the event loop for hours. Here the
same keywords match with the `regex` module under a time limit, and a match that runs out of time
is a validation error (the call is refused as `invalid_arguments`)."""

from __future__ import annotations

from typing import Any

import jsonschema
import regex
from jsonschema import ValidationError
from jsonschema import _keywords as keywords

MATCH_TIMEOUT_S = 0.05
MAX_DEPTH = 32  # nesting of a parameter schema (objects and lists); the checks recurse through it


def depth(value: Any) -> int:
    """How deeply `value` nests (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
        else:
            continue
        deepest = max(deepest, d + 1)
    return deepest


class _TooSlow(Exception):
    pass


def _search(pattern: str, text: str) -> bool:
    try:
        return regex.search(pattern, text, timeout=MATCH_TIMEOUT_S) is not None
    except TimeoutError:
        raise _TooSlow from None
    except regex.error:
        return False


def _slow(pattern: str) -> ValidationError:
    return ValidationError(f"matching the pattern {pattern[:80]!r} took too long")


def _pattern(validator, patrn: str, instance: Any, schema: dict):
    if not validator.is_type(instance, "string"):
        return
    try:
        if not _search(patrn, instance):
            yield ValidationError(f"the value does not match {patrn[:80]!r}")
    except _TooSlow:
        yield _slow(patrn)


def _pattern_properties(validator, pattern_properties: dict, instance: Any, schema: dict):
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in pattern_properties.items():
        for k, v in instance.items():
            try:
                hit = _search(patrn, k)
            except _TooSlow:
                yield _slow(patrn)
                return
            if hit:
                yield from validator.descend(v, subschema, path=k, schema_path=patrn)


def _additional_properties(validator, ap: Any, instance: Any, schema: dict):
    if "patternProperties" not in schema:  # no regular expression involved
        yield from keywords.additionalProperties(validator, ap, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    extras = []
    for k in instance:
        if k in properties:
            continue
        try:
            if not any(_search(p, k) for p in schema["patternProperties"]):
                extras.append(k)
        except _TooSlow:
            yield ValidationError("matching a property name against patternProperties took too long")
            return
    if validator.is_type(ap, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], ap, path=extra)
    elif not ap and extras:
        yield ValidationError(f"{', '.join(repr(e) for e in sorted(extras)[:10])} not allowed")


Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties},
)
