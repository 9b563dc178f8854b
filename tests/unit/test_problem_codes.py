"""Every problem code the server can send has a message in both UI languages and is documented: the UI translates
server errors by their stable code (web/src/api/client.ts), so a code without a `problems.<code>` message would reach
a Korean reader as a generic status message, and one missing from docs/PROBLEMS.md is a contract nobody wrote down."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from axops.core.errors import PROBLEM_TYPE_BASE, AppError, Conflict, NotFound, _clean_errors, problem_response

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "axops"

_PATTERNS = [
    re.compile(r'\bcode\s*=\s*"([a-z][a-z0-9_]*)"'),  # raise NotFound(..., code="x"); class X: code = "x"
    re.compile(r'\bcode,\s*title\s*=\s*\d+,\s*"([a-z][a-z0-9_]*)"'),  # status, code, title = 404, "not_found", ...
    re.compile(r'problem_response\(\s*\d+,\s*"([a-z][a-z0-9_]*)"'),  # problem_response(422, "validation_error", ...)
    re.compile(r'\d{3}:\s*\("([a-z][a-z0-9_]*)",\s*"'),  # _STATUS_CODES = {405: ("method_not_allowed", ...)}
    re.compile(r'error\.get\("code"\)\s*or\s*"([a-z][a-z0-9_]*)"'),  # the Playground's upstream failure
    re.compile(r'\.get\([^,()]+,\s*\("([a-z][a-z0-9_]*)",\s*"'),  # _STATUS_CODES.get(status, ("http_error", ...))
]


def server_codes() -> dict[str, str]:
    """code → where it is first raised."""
    codes: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for pattern in _PATTERNS:
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                codes.setdefault(m.group(1), f"{path.relative_to(ROOT)}:{line}")
    return codes


def ui_problem_keys(lang: str) -> set[str]:
    text = (ROOT / "web" / "src" / "i18n" / f"{lang}.ts").read_text(encoding="utf-8")
    start = text.index("\n  problems: {")
    end = text.index("\n  },", start)
    return set(re.findall(r"^ {4}([a-z][a-z0-9_]*):", text[start:end], re.M))


def test_the_scan_finds_the_codes_it_should():
    codes = server_codes()
    for code in (
        "not_found",
        "validation_error",
        "malformed_json",
        "method_not_allowed",
        "invalid_credentials",
        "dataset_not_found",
        "username_taken",
        "invalid_filter",
        "budget_exceeded",
        "upstream_error",
    ):
        assert code in codes, code


def test_every_server_code_has_a_message_in_korean_and_english():
    codes = server_codes()
    for lang in ("ko", "en"):
        missing = sorted(f"{c} ({where})" for c, where in codes.items() if c not in ui_problem_keys(lang))
        assert not missing, f"web/src/i18n/{lang}.ts has no problems.<code> message for: " + ", ".join(missing)


def test_every_server_code_is_documented():
    doc = (ROOT / "docs" / "PROBLEMS.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z][a-z0-9_]*)` \|", doc, re.M))
    missing = sorted(set(server_codes()) - listed)
    assert not missing, "docs/PROBLEMS.md does not list: " + ", ".join(missing)


def test_a_specific_code_refines_the_class_and_carries_its_fields():
    err = Conflict("The username 'kim' is taken.", code="username_taken", username="kim")
    assert (err.status, err.code, err.extra) == (409, "username_taken", {"username": "kim"})
    assert NotFound().code == "not_found" and AppError.code == "bad_request"  # the class default is untouched
    body = orjson.loads(problem_response(err.status, err.code, err.title, err.detail, **err.extra).body)
    assert body["type"] == PROBLEM_TYPE_BASE + "username_taken"
    assert body["detail"] == "The username 'kim' is taken." and body["username"] == "kim" and body["status"] == 409
    clash = orjson.loads(problem_response(409, "conflict", "Conflict", "x", type="evil", request_id="forged").body)
    assert clash["type"] == PROBLEM_TYPE_BASE + "conflict" and clash["request_id"] != "forged"


def test_field_errors_carry_the_constraint_but_never_the_value():
    errors = _clean_errors(
        [
            {
                "loc": ("body", "password"),
                "msg": "too short",
                "type": "string_too_short",
                "input": "hunter2",
                "ctx": {"min_length": 12},
            },
            {
                "loc": ("body", "n"),
                "msg": "bad",
                "type": "value_error",
                "input": "x",
                "ctx": {"error": ValueError("x")},
            },
        ]
    )
    assert errors == [
        {"loc": ["body", "password"], "msg": "too short", "type": "string_too_short", "ctx": {"min_length": 12}},
        {"loc": ["body", "n"], "msg": "bad", "type": "value_error"},
    ]
    assert "hunter2" not in orjson.dumps(errors).decode()
