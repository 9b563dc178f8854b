"""The runs search language: `params.lr < 0.001 and metrics.loss < 2.0 and tags.method = 'lora'`.

A tokenizer and a recursive-descent parser turn an expression into a SQL condition over `runs r` whose
values are all bind parameters ($n, asyncpg style): keys and literals never become SQL text.

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" expr ")" | comparison
    comparison := field op value | field ["not"] "in" "(" value ("," value)* ")"
    field      := ("params" | "metrics" | "tags" | "attributes") "." key  |  attribute
    op         := = | == | != | <> | < | <= | > | >= | like | ilike

The MLflow spellings are accepted too (`param.`, `metric.`, `tag.`, `attribute.`/`attr.`/`run.`, keys quoted
with backticks or double quotes, `attributes.status`, `tags.mlflow.runName`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from axops.core.errors import Invalid


class InvalidFilter(Invalid):
    """A run filter or order-by the parser refuses; `detail` says where."""

    code = "invalid_filter"


MAX_LENGTH = 4000
MAX_COMPARISONS = 50
MAX_DEPTH = 20

_PREFIXES = {
    "params": "params",
    "param": "params",
    "parameters": "params",
    "parameter": "params",
    "metrics": "metrics",
    "metric": "metrics",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
# attribute → (SQL expression over `r`, kind)
ATTRIBUTES = {
    "status": ("r.status", "str"),
    "name": ("r.name", "str"),
    "run_name": ("r.name", "str"),
    "run_id": ("r.id::text", "id"),
    "id": ("r.id::text", "id"),
    "user_id": ("r.created_by::text", "id"),
    "job_id": ("r.job_id::text", "id"),
    "start_time": ("(extract(epoch FROM r.start_time) * 1000)", "num"),
    "end_time": ("(extract(epoch FROM r.end_time) * 1000)", "num"),
}
_OPS = {"=": "=", "==": "=", "!=": "<>", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_NUMERIC_TEXT = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"  # a constant of this module, never input

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
      | (?P<str>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
      | (?P<bq>`[^`]*`)
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),.])
      | (?P<word>[A-Za-z_][A-Za-z0-9_\-/:]*)
    )""",
    re.VERBOSE,
)


@dataclass
class Token:
    kind: str  # num, str, bq (backtick-quoted), op, punct, word, end
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_LENGTH:
        raise InvalidFilter(f"The filter is too long ({len(source)} characters, at most {MAX_LENGTH}).")
    tokens, pos = [], 0
    while True:
        while pos < len(source) and source[pos].isspace():
            pos += 1
        if pos >= len(source):
            break
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            raise InvalidFilter(f"Unexpected character {source[pos]!r} at position {pos + 1} of the filter.")
        kind = m.lastgroup
        tokens.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


def _unquote(text: str) -> str:
    quote, body = text[0], text[1:-1]
    return re.sub(r"\\(.)", r"\1", body.replace(quote * 2, quote))


@dataclass
class Compiled:
    sql: str  # a condition over `runs r`, or "TRUE" for an empty filter
    params: list = field(default_factory=list)


class _Parser:
    def __init__(self, source: str, params: list) -> None:
        self.tokens = tokenize(source)
        self.i = 0
        self.params = params
        self.comparisons = 0
        self.depth = 0

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def keyword(self, word: str) -> bool:
        if self.tok.kind == "word" and self.tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, text: str | None = None) -> Token:
        t = self.tok
        if t.kind != kind or (text is not None and t.text != text):
            raise self.error(f"expected {text or kind}")
        return self.next()

    def error(self, what: str) -> Invalid:
        t = self.tok
        found = "the end" if t.kind == "end" else repr(t.text)
        return InvalidFilter(f"Invalid filter: {what} at position {t.pos + 1}, found {found}.")

    def bind(self, value, cast: str = "") -> str:
        self.params.append(value)
        return f"${len(self.params)}{cast}"

    # -- grammar
    def parse(self) -> str:
        if self.tok.kind == "end":
            return "TRUE"
        sql = self.expr()
        if self.tok.kind != "end":
            raise self.error("expected 'and', 'or' or the end")
        return sql

    def expr(self) -> str:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidFilter(f"The filter nests deeper than {MAX_DEPTH} levels.")
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.not_expr()]
        while self.keyword("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def not_expr(self) -> str:
        if self.keyword("not"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise InvalidFilter(f"The filter nests deeper than {MAX_DEPTH} levels.")
            inner = self.not_expr()
            self.depth -= 1
            return f"(NOT coalesce({inner}, FALSE))"
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.next()
            inner = self.expr()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def field(self) -> tuple[str, str]:
        t = self.tok
        if t.kind != "word":
            raise self.error("expected a field such as params.lr, metrics.loss, tags.method or status")
        self.next()
        word = t.text
        lower = word.lower()
        if lower in _PREFIXES and self.tok.kind == "punct" and self.tok.text == ".":
            self.next()
            kind, key = _PREFIXES[lower], self.key()
            if kind == "attributes" and key.lower() not in ATTRIBUTES:
                raise InvalidFilter(
                    f"Invalid filter: unknown attribute {key[:100]!r}; the attributes are {', '.join(ATTRIBUTES)}."
                )
            return kind, key.lower() if kind == "attributes" else key
        if "." in word:  # never produced by the tokenizer; kept for clarity
            raise self.error("unknown field")
        if lower in ATTRIBUTES:
            return "attributes", lower
        self.i -= 1
        raise self.error(
            "expected params.<key>, metrics.<key>, tags.<key> or an attribute (status, name, start_time ...)"
        )

    def key(self) -> str:
        t = self.tok
        if t.kind in ("str", "bq"):
            self.next()
            key = t.text[1:-1] if t.kind == "bq" else _unquote(t.text)
        elif t.kind in ("word", "num"):
            self.next()
            key = t.text
            # dotted keys: tags.mlflow.runName, metrics.eval.loss
            while self.tok.kind == "punct" and self.tok.text == "." and self.tokens[self.i + 1].kind in ("word", "num"):
                self.next()
                key += "." + self.next().text
        else:
            raise self.error("expected a key after the dot")
        if not key or len(key) > 250:
            raise InvalidFilter("Invalid filter: keys are 1 to 250 characters.")
        return key

    def value(self):
        t = self.tok
        if t.kind == "num":
            self.next()
            return float(t.text)
        if t.kind == "str":
            self.next()
            return _unquote(t.text)
        raise self.error("expected a number or a quoted string")

    def comparison(self) -> str:
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise InvalidFilter(f"The filter has more than {MAX_COMPARISONS} comparisons.")
        kind, key = self.field()
        negate = False
        if self.tok.kind == "word" and self.tok.text.lower() == "not":
            self.next()
            negate = True
            if not (self.tok.kind == "word" and self.tok.text.lower() in ("in", "like", "ilike")):
                raise self.error("expected 'in', 'like' or 'ilike' after 'not'")
        if self.keyword("in"):
            self.expect("punct", "(")
            values = [self.value()]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.next()
                values.append(self.value())
            self.expect("punct", ")")
            if len(values) > 1000:
                raise InvalidFilter("Invalid filter: at most 1000 values in a list.")
            return self.render(kind, key, "NOT IN" if negate else "IN", values)
        if self.tok.kind == "word" and self.tok.text.lower() in ("like", "ilike"):
            op = self.next().text.upper()
            return self.render(kind, key, ("NOT " if negate else "") + op, self.value())
        if self.tok.kind != "op":
            raise self.error("expected a comparison (=, !=, <, <=, >, >=, like, ilike, in)")
        op = _OPS[self.next().text]
        return self.render(kind, key, op, self.value())

    # -- SQL
    def render(self, kind: str, key: str, op: str, value) -> str:
        values = value if isinstance(value, list) else [value]
        numeric = all(isinstance(v, float) for v in values)
        text = all(isinstance(v, str) for v in values)
        if not (numeric or text):
            raise InvalidFilter("Invalid filter: a list mixes numbers and strings.")
        like = op.endswith("LIKE")
        if like and not text:
            raise InvalidFilter(f"Invalid filter: {op.lower()} needs a quoted pattern.")
        listed = op.endswith("IN")

        def rhs(cast: str) -> str:
            if listed:
                return "(SELECT unnest(" + self.bind(values, cast + "[]") + "))"
            return self.bind(values[0], cast)

        if kind == "metrics":
            if not numeric:
                raise InvalidFilter(f"Invalid filter: metrics.{key} compares with a number.")
            k = self.bind(key)
            return f"EXISTS (SELECT 1 FROM run_latest_metrics m WHERE m.run_id = r.id AND m.key = {k} AND m.value {op} {rhs('::float8')})"
        if kind in ("params", "tags"):
            col = f"(r.{kind} ->> {self.bind(key)})"
            if numeric:
                col = f"(CASE WHEN {col} ~ '{_NUMERIC_TEXT}' THEN {col}::float8 END)"
                return f"{col} {op} {rhs('::float8')}"
            return f"{col} {op} {rhs('::text')}"
        sql, attr_kind = ATTRIBUTES[key]
        if attr_kind == "num":
            if not numeric or like:
                raise InvalidFilter(f"Invalid filter: {key} compares with a number (milliseconds since the epoch).")
            return f"{sql} {op} {rhs('::float8')}"
        if not text:
            raise InvalidFilter(f"Invalid filter: {key} compares with a quoted string.")
        if attr_kind == "id":
            values[:] = [v.replace("-", "").lower() if not like else v for v in values]
            sql = f"replace({sql}, '-', '')"
        return f"{sql} {op} {rhs('::text')}"


def compile_filter(source: str | None, params: list | None = None) -> Compiled:
    """A SQL condition over `runs r`, with its values appended to `params` (numbered after those present)."""
    params = [] if params is None else params
    return Compiled(_Parser(source or "", params).parse(), params)


def compile_order_by(clauses: list[str] | None, params: list) -> str:
    """ORDER BY items for `metrics.loss ASC`, `params.lr`, `start_time DESC` ... (values bound as well)."""
    items = []
    for clause in clauses or []:
        if not clause.strip():
            continue
        p = _Parser(clause, params)
        kind, key = p.field()
        direction = "ASC"
        if p.keyword("desc"):
            direction = "DESC"
        elif p.keyword("asc"):
            pass
        if p.tok.kind != "end":
            raise p.error("expected ASC, DESC or the end of the order clause")
        if kind == "metrics":
            expr = f"(SELECT m.value FROM run_latest_metrics m WHERE m.run_id = r.id AND m.key = {p.bind(key)})"
        elif kind in ("params", "tags"):
            col = f"(r.{kind} ->> {p.bind(key)})"
            expr = f"(CASE WHEN {col} ~ '{_NUMERIC_TEXT}' THEN {col}::float8 END) {direction} NULLS LAST, {col}"
        else:
            expr = ATTRIBUTES[key][0]
        items.append(f"{expr} {direction} NULLS LAST")
        if len(items) > 10:
            raise InvalidFilter("At most 10 order-by clauses.")
    return ", ".join(items)
