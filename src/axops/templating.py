"""Prompt templates: Jinja2 in an immutable sandbox with strict undefined, checked against the
variables a version declares. Imports only jinja2: the server (prompts, the gateway's resolver) and
the applications' client (`axops.client`) render with this one module.

The sandbox stops attribute access to internals (`''.__class__`), but on its own it bounds neither
time nor size: nested loops, recursive macros, `'x' * 10**9`, `s|center(10**9)` or a string doubled
in a loop would each stall or exhaust a gateway process. So, on top of Jinja's sandbox:
- every `for` iterates through `_steps()` and every call (methods, macros) goes through the
  environment's `call`, both counting against a per-render budget of steps and wall time;
- `*`, `**`, `%`, `+` and `~` and every filter are checked for the size of what they would make;
- widths and counts given to size-making filters and string methods are capped;
- the output is gathered chunk by chunk and refused past a size limit.
A template is parsed and checked once at save time (syntax with line and column, undeclared names,
reserved names); compiled templates are cached by source, so a render costs tens of microseconds.
"""

from __future__ import annotations

import functools
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from string import Formatter

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_TEMPLATE_CHARS = 50_000  # all of a version's template text together
MAX_MESSAGES = 50
MAX_OUTPUT_CHARS = 200_000
MAX_STEPS = 100_000  # loop iterations and calls in one render
MAX_RENDER_S = 0.25
MAX_WIDTH = 10_000  # widths, paddings and repeat counts
MAX_VARIABLES = 100
ROLES = ("system", "user", "assistant", "developer")
VARIABLE_TYPES = ("string", "number", "integer", "boolean", "list", "object")
VARIABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_BUILTINS = frozenset({"range", "loop", "dict", "lipsum", "cycler", "joiner", "namespace", "true", "false", "none"})
_SIZING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_SIZING_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice", "format", "replace", "join"})
_WIDTH = re.compile(r"\d+")


class TemplateError(ValueError):
    """A template refused at save time: where and why."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None, message_index=None):
        super().__init__(message)
        self.message, self.line, self.column, self.message_index = message, line, column, message_index


class RenderError(ValueError):
    """A render refused: a variable missing, unknown or of the wrong type, or a limit reached."""

    def __init__(self, message: str, code: str, variable: str | None = None):
        super().__init__(message)
        self.message, self.code, self.variable = message, code, variable


class _Budget:
    __slots__ = ("deadline", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.perf_counter() + MAX_RENDER_S

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise RenderError(f"The template took more than {MAX_STEPS:,} loop steps and calls.", "prompt_render_limit")
        if not self.steps & 255 and time.perf_counter() > self.deadline:
            raise RenderError(
                f"The template took longer than {MAX_RENDER_S * 1000:.0f} ms to render.", "prompt_render_limit"
            )


_budget: ContextVar[_Budget] = ContextVar("prompt_budget")


def _too_big(size: int) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise SecurityError(f"the template would make a value of {size:,} characters (at most {MAX_OUTPUT_CHARS:,})")


def _sized(value):
    if isinstance(value, (str, list, tuple)):
        _too_big(len(value))
    return value


def _check_numbers(args, kwargs) -> None:
    for v in (*args, *kwargs.values()):
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_WIDTH:
            raise SecurityError(f"numbers given to width and count arguments are limited to {MAX_WIDTH:,}")


def _check_spec(spec: str) -> None:
    if any(int(w) > MAX_WIDTH for w in _WIDTH.findall(spec)) or "*" in spec:
        raise SecurityError(f"format widths are limited to {MAX_WIDTH:,}")


def _steps(iterable):
    budget = _budget.get()
    for item in iterable:
        budget.step()
        yield item


def _concat(*parts):
    _too_big(sum(len(p) if isinstance(p, str) else 0 for p in parts))
    return "".join(str(p) for p in parts)


def _guard_filter(name: str, f):
    sizing = name in _SIZING_FILTERS

    @functools.wraps(f)
    def guarded(*args, **kwargs):
        if sizing:
            _check_numbers(args[2:] if getattr(f, "jinja_pass_arg", None) else args[1:], kwargs)
            if name == "format" and args:
                _check_spec(str(args[1] if getattr(f, "jinja_pass_arg", None) else args[0]))
        return _sized(f(*args, **kwargs))

    return guarded


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, auto_reload=False)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.globals["_steps"] = _steps
        self.globals["_concat"] = _concat

    def call_binop(self, context, operator, left, right):
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    _too_big(len(seq) * n)
        elif operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise SecurityError("exponents are limited to 64")
        elif operator == "%" and isinstance(left, str):
            for spec in re.findall(r"%[-#0 +]*[\d*]*(?:\.[\d*]+)?", left):
                _check_spec(spec)
        return _sized(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj, *args, **kwargs):
        _budget.get().step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            method = getattr(__obj, "__name__", "")
            if method in _SIZING_METHODS:
                _check_numbers(args, kwargs)
            elif method == "replace" and len(args) >= 2:
                old, new = str(args[0]), str(args[1])
                hits = owner.count(old) if old else len(owner) + 1
                _too_big(len(owner) + hits * max(0, len(new) - len(old)))
            elif method == "join" and len(args) == 1 and hasattr(args[0], "__len__"):
                _too_big(len(owner) * len(args[0]))
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value):
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:  # str.format: widths are checked before anything is made
            for _text, _field, spec, _conversion in Formatter().parse(value.__self__):
                if spec and ("{" in spec or any(int(w) > MAX_WIDTH for w in _WIDTH.findall(spec))):
                    raise SecurityError(f"format widths are limited to {MAX_WIDTH:,}")
        return wrapper


class _Guard(NodeTransformer):
    """Loops iterate through `_steps`, `~` concatenations through `_concat`."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.Name("_steps", "load"), [node.iter], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:
        self.generic_visit(node)
        return nodes.Call(nodes.Name("_concat", "load"), list(node.nodes), [], None, None, lineno=node.lineno)


_env = _Sandbox()


def _column(source: str, line: int | None) -> int:
    """Jinja reports the line of a syntax error, not the column: point at the last tag opened on it."""
    if not line:
        return 1
    text = source.splitlines()[line - 1] if line <= len(source.splitlines()) else ""
    opened = max(text.rfind("{{"), text.rfind("{%"), text.rfind("{#"))
    return opened + 1 if opened >= 0 else 1


def _parse(source: str, message_index: int | None = None) -> nodes.Template:
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"Template syntax error: {exc.message}", exc.lineno, _column(source, exc.lineno), message_index
        ) from None
    for name in tree.find_all(nodes.Name):
        if name.name.startswith("_"):
            raise TemplateError(f"Names starting with '_' are reserved: '{name.name}'.", name.lineno, 1, message_index)
    return tree


@functools.lru_cache(maxsize=4096)
def _compiled(source: str):
    tree = _Guard().visit(_parse(source))
    # A plain dict, not the ChainMap make_globals returns: every render copies the globals into its
    # context, and copying a ChainMap key by key was a third of a render. The globals never change.
    return _env.template_class.from_code(_env, _env.compile(tree), dict(_env.make_globals(None)), None)


def _pieces(kind: str, template) -> list[str]:
    return [template] if kind == "text" else [m["content"] for m in template]


def check_template(kind: str, template, variables: list[dict]) -> None:
    """Refuse at save time what could never render: bad shape, over the size limit, a syntax error
    (with line and column), reserved names, names used but not declared."""
    if kind == "text" and not isinstance(template, str):
        raise TemplateError("A text prompt's template is a string.")
    if kind == "chat":
        if not isinstance(template, list) or not template or len(template) > MAX_MESSAGES:
            raise TemplateError(f"A chat prompt's template is a list of 1 to {MAX_MESSAGES} messages.")
        for i, m in enumerate(template):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise TemplateError(
                    f"Message {i + 1} needs a role ({', '.join(ROLES)}) and a text content.", message_index=i
                )
    pieces = _pieces(kind, template)
    size = sum(len(p) for p in pieces)
    if size > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"The template is {size:,} characters; at most {MAX_TEMPLATE_CHARS:,} are allowed.")
    declared = {v["name"] for v in variables}
    for i, piece in enumerate(pieces):
        tree = _parse(piece, i if kind == "chat" else None)
        undeclared = sorted(meta.find_undeclared_variables(tree) - declared - _BUILTINS)
        if undeclared:
            raise TemplateError(
                "The template uses variables that are not declared: " + ", ".join(undeclared) + ".",
                message_index=i if kind == "chat" else None,
            )


def check_variables(variables: list[dict]) -> None:
    """Declarations: unique names, known types, defaults of the declared type."""
    if len(variables) > MAX_VARIABLES:
        raise TemplateError(f"At most {MAX_VARIABLES} variables can be declared.")
    seen = set()
    for v in variables:
        name = v["name"]
        if not VARIABLE_NAME.match(name):
            raise TemplateError(f"'{name}' is not a variable name: a letter, then letters, digits or '_'.")
        if name in seen:
            raise TemplateError(f"The variable '{name}' is declared twice.")
        seen.add(name)
        if v["type"] not in VARIABLE_TYPES:
            raise TemplateError(f"'{v['type']}' is not a variable type ({', '.join(VARIABLE_TYPES)}).")
        if v.get("default") is not None and not _is_type(v["default"], v["type"]):
            raise TemplateError(f"The default of '{name}' is not of type {v['type']}.")


_PYTHON_TYPES = {"string": str, "number": (int, float), "integer": int, "boolean": (), "list": list, "object": dict}


def _is_type(value, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    return isinstance(value, _PYTHON_TYPES[kind])


def bind_variables(declared: list[dict], given: dict) -> dict:
    """The values a render uses: the given ones checked against the declarations, defaults for the rest."""
    if not isinstance(given, dict):
        raise RenderError("Variables are an object of name → value.", "prompt_variables_invalid")
    by_name = {v["name"]: v for v in declared}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise RenderError(
            f"Unknown variable '{unknown[0]}': this version declares "
            + (", ".join(by_name) if by_name else "no variables")
            + ".",
            "prompt_variable_unknown",
            unknown[0],
        )
    values = {}
    for name, v in by_name.items():
        if name in given and given[name] is not None:
            if not _is_type(given[name], v["type"]):
                raise RenderError(f"The variable '{name}' must be of type {v['type']}.", "prompt_variable_type", name)
            values[name] = given[name]
        elif v.get("default") is not None:
            values[name] = v["default"]
        elif v.get("required", True):
            raise RenderError(f"The variable '{name}' is required.", "prompt_variable_missing", name)
        else:
            values[name] = None
    return values


def _render_piece(source: str, values: dict) -> str:
    template = _compiled(source)
    out, size = [], 0
    for chunk in template.root_render_func(template.new_context(values)):
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise RenderError(
                f"The rendered prompt is longer than {MAX_OUTPUT_CHARS:,} characters.", "prompt_render_limit"
            )
        out.append(chunk)
    return "".join(out)


@dataclass(frozen=True)
class Rendered:
    text: str | None  # a text prompt
    messages: list[dict] | None  # a chat prompt


def render(kind: str, template, declared: list[dict], given: dict) -> Rendered:
    """Render a saved version with the caller's variables (checked; defaults filled in)."""
    values = bind_variables(declared, given)
    token = _budget.set(_Budget())
    try:
        if kind == "text":
            return Rendered(_render_piece(template, values), None)
        return Rendered(None, [{"role": m["role"], "content": _render_piece(m["content"], values)} for m in template])
    except RenderError:
        raise
    except UndefinedError as exc:
        raise RenderError(f"Render failed: {exc.message}", "prompt_render_failed") from None
    except SecurityError as exc:
        raise RenderError(f"The template did something the sandbox refuses: {exc}.", "prompt_render_refused") from None
    except RecursionError:
        raise RenderError("The template recursed too deeply.", "prompt_render_limit") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RenderError(f"Render failed: {type(exc).__name__}: {exc}", "prompt_render_failed") from None
    finally:
        _budget.reset(token)


def placeholders(kind: str, template) -> list[str]:
    """The names a template uses (for the UI's 'declare the variables you used')."""
    names: set[str] = set()
    for piece in _pieces(kind, template):
        try:
            names |= meta.find_undeclared_variables(_env.parse(piece))
        except TemplateSyntaxError:
            continue
    return sorted(names - _BUILTINS)
