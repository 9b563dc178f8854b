"""The alert expression language: a small PromQL-like grammar, parsed by hand (never `eval`) into a
tree and evaluated over windows of the metric history.

    expr    := conj ('or' conj)*
    conj    := cmp ('and' cmp)*
    cmp     := arith (('>' | '>=' | '<' | '<=' | '==' | '!=') arith)?
    arith   := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := '-' unary | primary
    primary := NUMBER | '(' expr ')' | FUNC '(' range ')' | 'absent' '(' range ')' | selector offset?
    range   := selector '[' DURATION ']' offset?
    selector:= NAME ('{' LABEL ('=' | '!=') STRING (',' ...)* '}')?
    offset  := 'offset' DURATION

FUNC is avg, min, max, sum, last, count or delta (last minus first) over the window, per series. A bare
selector is its last value within the last 5 minutes. Arithmetic pairs the samples of both sides whose
shared labels agree (a number or a single label-less sample applies to every sample); the result keeps
the union of both sides' labels. A comparison keeps the left value and marks each sample true or
false; `or` / `and` combine marked samples by their exact label set. `absent(range)` is one sample
(labelled with the selector's `=` matchers) when no matching series has a point in the window."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from axops.core.errors import Invalid

FUNCS = ("avg", "min", "max", "sum", "last", "count", "delta")
CMP = (">=", "<=", "==", "!=", ">", "<")
DEFAULT_LOOKBACK = 300  # seconds a bare selector looks back for its last value
MAX_WINDOW = 2 * 86400  # window + offset: within the raw points kept (store.RAW_DAYS)
MAX_LENGTH = 2000
MAX_NODES = 200
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd])")
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![smhd\w])
    | (?P<dur>\d+[smhd](?:\d+[smhd])*)(?!\w)
    | (?P<name>[A-Za-z_][A-Za-z0-9_:]*)
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<op>>=|<=|==|!=|=|[-+*/(){}\[\],<>])
    )""",
    re.VERBOSE,
)


class ExpressionError(Invalid):
    """An expression that does not parse: the message and the 0-based character position."""

    def __init__(self, message: str, position: int):
        super().__init__(
            f"Invalid expression at position {position}: {message}",
            code="alert_expression_invalid",
            position=position,
            reason=message,
        )


def parse_duration(text: str, *, position: int = 0) -> int:
    """'90s', '5m', '1h30m', '2d' → seconds; '0s' is 0."""
    text = text.strip()
    if not text or _DURATION.sub("", text) != "":
        raise ExpressionError(f"'{text[:20]}' is not a duration (e.g. 30s, 5m, 1h, 1d)", position)
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))


def format_duration(seconds: int) -> str:
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


# -- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, '=' | '!=', value)
    position: int

    def matches(self, labels: dict) -> bool:
        for key, op, value in self.matchers:
            if (labels.get(key, "") == value) != (op == "="):
                return False
        return True


@dataclass(frozen=True)
class Range:
    """Points of `selector` in [now - offset - window, now - offset): the unit the store reads."""

    selector: Selector
    window: int
    offset: int

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.selector.name, self.window, self.offset)


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Func:
    func: str  # one of FUNCS, or 'absent'
    range: Range


@dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object


@dataclass
class Parsed:
    root: object
    ranges: list[Range] = field(default_factory=list)
    has_condition: bool = False  # a comparison or absent(): what a rule needs to fire

    @property
    def names(self) -> set[str]:
        return {r.selector.name for r in self.ranges}


class _Parser:
    def __init__(self, text: str):
        if len(text) > MAX_LENGTH:
            raise ExpressionError(f"longer than {MAX_LENGTH} characters", MAX_LENGTH)
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ExpressionError(f"unexpected character '{text[pos:].lstrip()[:1]}'", pos)
            kind = m.lastgroup or ""
            start = m.start(kind)
            self.tokens.append((kind, m.group(kind), start))
            pos = m.end()
        self.tokens.append(("end", "", len(text)))
        self.i = 0
        self.ranges: list[Range] = []
        self.condition = False
        self.nodes = 0

    # token helpers
    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, value: str) -> bool:
        kind, text, _ = self.peek()
        if kind in ("op", "name") and text == value:
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> int:
        kind, text, pos = self.peek()
        if not ((kind in ("op", "name")) and text == value):
            raise ExpressionError(f"expected '{value}', found {self._describe()}", pos)
        self.i += 1
        return pos

    def _describe(self) -> str:
        kind, text, _ = self.peek()
        return "the end" if kind == "end" else f"'{text}'"

    def node(self, value):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"more than {MAX_NODES} terms", self.peek()[2])
        return value

    # grammar
    def parse(self) -> Parsed:
        root = self.expr(0)
        kind, _, pos = self.peek()
        if kind != "end":
            raise ExpressionError(f"unexpected {self._describe()}", pos)
        return Parsed(root, self.ranges, self.condition)

    def expr(self, depth: int):
        if depth > 20:
            raise ExpressionError("nested too deeply", self.peek()[2])
        left = self.conj(depth)
        while self.accept("or"):
            left = self.node(Binary("or", left, self.conj(depth)))
        return left

    def conj(self, depth: int):
        left = self.cmp(depth)
        while self.accept("and"):
            left = self.node(Binary("and", left, self.cmp(depth)))
        return left

    def cmp(self, depth: int):
        left = self.arith(depth)
        kind, text, _ = self.peek()
        if kind == "op" and text in CMP:
            self.take()
            self.condition = True
            left = self.node(Binary(text, left, self.arith(depth)))
        return left

    def arith(self, depth: int):
        left = self.term(depth)
        while (tok := self.peek())[0] == "op" and tok[1] in "+-":
            self.take()
            left = self.node(Binary(tok[1], left, self.term(depth)))
        return left

    def term(self, depth: int):
        left = self.unary(depth)
        while (tok := self.peek())[0] == "op" and tok[1] in "*/":
            self.take()
            left = self.node(Binary(tok[1], left, self.unary(depth)))
        return left

    def unary(self, depth: int):
        if self.accept("-"):
            return self.node(Binary("*", Number(-1.0), self.unary(depth)))
        return self.primary(depth)

    def primary(self, depth: int):
        kind, text, pos = self.peek()
        if kind == "num":
            self.take()
            return self.node(Number(float(text)))
        if kind == "op" and text == "(":
            self.take()
            inner = self.expr(depth + 1)
            self.expect(")")
            return inner
        if kind == "name":
            if text in ("or", "and", "offset"):
                raise ExpressionError(f"expected a series or a number, found '{text}'", pos)
            if (text in FUNCS or text == "absent") and self.tokens[self.i + 1][1] == "(":
                self.take()
                self.take()
                rng = self.range(need_window=True)
                self.expect(")")
                if text == "absent":
                    self.condition = True
                return self.node(Func(text, rng))
            rng = self.range(need_window=False)
            return self.node(Func("last", rng))
        if kind == "end":
            raise ExpressionError("expected a series or a number, found the end", pos)
        raise ExpressionError(f"expected a series or a number, found '{text}'", pos)

    def range(self, *, need_window: bool) -> Range:
        selector = self.selector()
        window = DEFAULT_LOOKBACK
        if self.accept("["):
            kind, text, pos = self.take()
            if kind != "dur":
                raise ExpressionError("expected a window such as 5m", pos)
            window = parse_duration(text, position=pos)
            if window <= 0:
                raise ExpressionError("the window must be longer than 0s", pos)
            self.expect("]")
        elif need_window:
            raise ExpressionError("expected a window such as [5m] after the series", self.peek()[2])
        offset = 0
        if self.accept("offset"):
            kind, text, pos = self.take()
            if kind != "dur":
                raise ExpressionError("expected a duration after offset", pos)
            offset = parse_duration(text, position=pos)
        if window + offset > MAX_WINDOW:
            raise ExpressionError("window plus offset may reach back at most 2d", selector.position)
        rng = Range(selector, window, offset)
        self.ranges.append(rng)
        return rng

    def selector(self) -> Selector:
        kind, name, pos = self.take()
        if kind != "name":
            raise ExpressionError("expected a series name", pos)
        matchers = []
        if self.accept("{"):
            while not self.accept("}"):
                kind, label, lpos = self.take()
                if kind != "name":
                    raise ExpressionError("expected a label name", lpos)
                kind, op, opos = self.take()
                if op not in ("=", "!="):
                    raise ExpressionError("expected = or != after the label name", opos)
                kind, value, vpos = self.take()
                if kind != "str":
                    raise ExpressionError('expected a quoted value such as "a100"', vpos)
                matchers.append((label, op, re.sub(r"\\(.)", r"\1", value[1:-1])))
                if not self.accept(","):
                    self.expect("}")
                    break
        return Selector(name, tuple(matchers), pos)


def parse(text: str) -> Parsed:
    if not text or not text.strip():
        raise ExpressionError("the expression is empty", 0)
    return _Parser(text).parse()


# -- evaluation --------------------------------------------------------------------------------


@dataclass
class Sample:
    labels: dict[str, str]
    value: float
    ok: bool = True  # the condition holds for this label set


Vector = list[Sample]


class Window:
    """One range's series: per series id, (labels, count, sum, min, max, first, last) of its points in
    the window; `candidates` narrows by a selector's `=` matchers through a label index built once."""

    __slots__ = ("_index", "rows")

    def __init__(self):
        self.rows: dict[int, tuple] = {}
        self._index: dict[tuple[str, str], list[tuple]] | None = None

    def candidates(self, selector: Selector):
        equal = [(k, v) for k, op, v in selector.matchers if op == "="]
        if not equal:
            return self.rows.values()
        if self._index is None:
            index: dict[tuple[str, str], list[tuple]] = {}
            for row in self.rows.values():
                for pair in row[0].items():
                    index.setdefault(pair, []).append(row)
            self._index = index
        return min((self._index.get(pair, []) for pair in equal), key=len)


def _key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))


def _apply(op: str, a: float, b: float) -> float | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if b != 0 else None
    return {
        ">": a > b,
        ">=": a >= b,
        "<": a < b,
        "<=": a <= b,
        "==": a == b,
        "!=": a != b,
    }[op]


def _combine(op: str, left: Vector, right: Vector) -> Vector:
    """Arithmetic or comparison between two vectors, pairing samples whose shared labels agree."""
    out: Vector = []
    if not left or not right:
        return out
    scalar_right = len(right) == 1 and not right[0].labels
    scalar_left = len(left) == 1 and not left[0].labels
    if scalar_right or scalar_left:
        pairs = [(a, right[0]) for a in left] if scalar_right else [(left[0], b) for b in right]
    else:
        shared = sorted(
            set.intersection(*(set(s.labels) for s in left)) & set.intersection(*(set(s.labels) for s in right))
        )
        index: dict[tuple, list[Sample]] = {}
        for b in right:
            index.setdefault(tuple(b.labels[k] for k in shared), []).append(b)
        pairs = []
        for a in left:
            for b in index.get(tuple(a.labels[k] for k in shared), ()):
                common = set(a.labels) & set(b.labels)
                if all(a.labels[k] == b.labels[k] for k in common):
                    pairs.append((a, b))
    for a, b in pairs:
        labels = {**b.labels, **a.labels}
        result = _apply(op, a.value, b.value)
        if op in CMP:
            out.append(Sample(labels, a.value, bool(result) and a.ok and b.ok))
        elif result is not None and math.isfinite(result):
            out.append(Sample(labels, result, a.ok and b.ok))
    return out


def _window_value(func: str, count: float, total: float, lo: float, hi: float, first: float, last: float) -> float:
    return {
        "avg": total / count,
        "min": lo,
        "max": hi,
        "sum": total,
        "count": count,
        "last": last,
        "delta": last - first,
    }[func]


def evaluate(node, windows: dict[tuple, Window], allowed=None) -> Vector:
    """The samples of `node` given each range's window aggregates (keyed by Range.key); `allowed`, when
    given, tells which series' labels the rule's team may read (the others are not there for it)."""
    if isinstance(node, Number):
        return [Sample({}, node.value)]
    if isinstance(node, Func):
        window = windows.get(node.range.key)
        selector = node.range.selector
        rows = [
            row
            for row in (window.candidates(selector) if window is not None else ())
            if selector.matches(row[0]) and (allowed is None or allowed(row[0]))
        ]
        if node.func == "absent":
            if rows:
                return []
            return [Sample({k: v for k, op, v in selector.matchers if op == "="}, 1.0)]
        return [Sample(dict(row[0]), _window_value(node.func, *row[1:])) for row in rows]
    if isinstance(node, Binary):
        left, right = evaluate(node.left, windows, allowed), evaluate(node.right, windows, allowed)
        if node.op == "or":
            merged = {_key(s.labels): s for s in left}
            for s in right:
                k = _key(s.labels)
                if k not in merged or (s.ok and not merged[k].ok):
                    merged[k] = s
            return list(merged.values())
        if node.op == "and":
            index = {_key(s.labels): s for s in right}
            return [
                Sample(s.labels, s.value, s.ok and index[_key(s.labels)].ok) for s in left if _key(s.labels) in index
            ]
        return _combine(node.op, left, right)
    raise TypeError(node)
