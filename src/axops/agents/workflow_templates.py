"""Templates and expressions over a workflow run's state, through the prompt sandbox (`axops.templating`):
the same immutable sandbox, loop and call budget, size checks and output cap as saved prompts.

A string value is a literal unless it holds `{{` or `{%`; a string that is one `{{ expression }}` and
nothing else keeps the expression's type (a list stays a list), any other template renders to text."""

from __future__ import annotations

import re
from typing import Any

import orjson
from jinja2 import TemplateSyntaxError, Undefined, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser

from axops import templating

_SINGLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.S)


class TemplateFailure(ValueError):
    """A template or expression that could not be checked or evaluated: the message says why."""


def _is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def _single_expression(value: str) -> str | None:
    m = _SINGLE.match(value)
    if m is None or "{{" in m["expr"] or "}}" in m["expr"] or "{%" in m["expr"]:
        return None
    return m["expr"].strip()


def check_expression(expr: str) -> None:
    """One Jinja expression and nothing after it; names starting with '_' are refused."""
    try:
        parser = Parser(templating._env, expr, state="variable")
        parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateFailure(f"Unexpected '{parser.stream.current.value}' after the expression.")
    except TemplateSyntaxError as exc:
        raise TemplateFailure(f"Expression syntax error: {exc.message}") from None
    _check_source(_expression_source(expr))


def _expression_source(expr: str) -> str:
    return "{% set result = (" + expr + ") %}"


def _check_source(source: str) -> None:
    try:
        templating._parse(source)
    except templating.TemplateError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise TemplateFailure(exc.message + where) from None


def check_value(value: Any) -> None:
    """Check every template inside a JSON value (strings, lists and objects, recursively)."""
    if isinstance(value, str):
        if (expr := _single_expression(value)) is not None:
            check_expression(expr)
        elif _is_template(value):
            if len(value) > templating.MAX_TEMPLATE_CHARS:
                raise TemplateFailure(f"A template is at most {templating.MAX_TEMPLATE_CHARS:,} characters.")
            _check_source(value)
    elif isinstance(value, list):
        for v in value:
            check_value(v)
    elif isinstance(value, dict):
        for v in value.values():
            check_value(v)


def check_text(source: str) -> None:
    """A template rendered to text (message contents)."""
    _check_source(source)


def _run(source: str, state: dict):
    """Render `source` with the state as variables, under a fresh budget; (text, context vars)."""
    template = templating._compiled(source)
    token = templating._budget.set(templating._Budget())
    try:
        context = template.new_context(dict(state))
        out, size = [], 0
        for chunk in template.root_render_func(context):
            size += len(chunk)
            if size > templating.MAX_OUTPUT_CHARS:
                raise TemplateFailure(f"The rendered text is longer than {templating.MAX_OUTPUT_CHARS:,} characters.")
            out.append(chunk)
        return "".join(out), context.vars
    except templating.RenderError as exc:
        raise TemplateFailure(exc.message) from None
    except UndefinedError as exc:
        raise TemplateFailure(f"Render failed: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateFailure(f"The template did something the sandbox refuses: {exc}.") from None
    except RecursionError:
        raise TemplateFailure("The template recursed too deeply.") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateFailure(f"Render failed: {type(exc).__name__}: {exc}") from None
    finally:
        templating._budget.reset(token)


def _plain(value: Any) -> Any:
    """A JSON-able copy of what an expression gave (ranges, tuples and generators become lists)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range, set, frozenset)):
        return [_plain(v) for v in value]
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        raise TemplateFailure(f"The expression gave a {type(value).__name__}, which is not a JSON value.") from None


def evaluate(expr: str, state: dict) -> Any:
    _, variables = _run(_expression_source(expr), state)
    result = variables.get("result")
    if isinstance(result, Undefined):
        try:
            str(result)
        except UndefinedError as exc:
            raise TemplateFailure(f"Render failed: {exc.message}") from None
    return _plain(result)


def render_text(source: str, state: dict) -> str:
    return _run(source, state)[0] if _is_template(source) else source


def render_value(value: Any, state: dict) -> Any:
    if isinstance(value, str):
        if (expr := _single_expression(value)) is not None:
            return evaluate(expr, state)
        return render_text(value, state)
    if isinstance(value, list):
        return [render_value(v, state) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, state) for k, v in value.items()}
    return value
