"""The metric catalogue and its scorers (docs/EVALUATION.md "Metrics" defines each one exactly).

Lexical metrics compare an output with its references after ``text.normalize`` and the run's
tokenizer (``auto``: morphemes for Korean): ``exact_match``, ``token_f1``, ``bleu`` and ``chrf``
(sacrebleu), ``rouge1``, ``rouge2``, ``rougeL`` (our own, over the same tokens, so Korean is
scored). Checks look at the output alone and score 1.0 or 0.0: ``json_valid``, ``json_schema``,
``regex``, ``contains``, ``not_contains``, ``length``. ``embedding_similarity`` is computed by the
runner through the gateway with :func:`cosine`; here it is only validated.

Scores are fractions in [0, 1] (BLEU and chrF divided by 100). A row is tokenised once and its
tokens shared by every metric; with several references a row scores its best reference (BLEU and
chrF: sacrebleu's own multi-reference statistics). A lexical metric of a row without references
is None.

Over 500 lines: the catalogue (bilingual summaries and a JSON schema of each metric's params) and
the validation of those params (regex safety, JSON schema checks) stay next to the scorers that
read them.
"""

from __future__ import annotations

import functools
import json
import math
import re
import re._constants as _sre  # the parsed-pattern opcodes, to refuse nested quantifiers
import re._parser as _sre_parse
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import regex
from sacrebleu.metrics import BLEU, CHRF

from axops.evaluation.text import TOKENIZERS, BoundedCache, clear_caches, fold, normalize, resolve, tokenize

__all__ = ["CATALOGUE", "TOKENIZERS", "MetricSpec", "corpus_scores", "cosine", "score_row", "validate_metrics"]

MAX_PATTERN = 500  # characters of a regex pattern
MAX_SEARCHED = 100_000  # characters of an output a regex searches
REGEX_TIMEOUT_S = 0.1  # one row's regex search; past it the row's regex score is None
MAX_SCHEMA = 100_000  # characters of a JSON schema (serialised)
MAX_METRICS = 50


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str  # "lexical" | "check" | "embedding"
    higher_is_better: bool
    params: dict  # JSON schema of the metric's params
    summary_en: str
    summary_ko: str
    needs_reference: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def _object(properties: dict | None = None, **extra: Any) -> dict:
    return {"type": "object", "properties": properties or {}, "additionalProperties": False, **extra}


_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
_FENCES = {"type": "boolean", "default": False, "description": "unwrap one ```json fenced block first"}


def _lexical(name: str, en: str, ko: str) -> MetricSpec:
    return MetricSpec(name, "lexical", True, _object(), en, ko, needs_reference=True)


CATALOGUE: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        _lexical(
            "exact_match",
            "1 when the normalised output equals a normalised reference (NFKC, case, punctuation, spaces), else 0.",
            "정규화(NFKC, 대소문자, 문장부호, 공백)한 출력이 참조와 같으면 1, 아니면 0.",
        ),
        _lexical(
            "token_f1",
            "F1 of the tokens shared by output and reference (SQuAD-style bag of tokens; morphemes for Korean).",
            "출력과 참조가 공유하는 토큰의 F1 (SQuAD 방식, 한국어는 형태소 단위).",
        ),
        _lexical(
            "bleu",
            "Sentence BLEU (sacrebleu, 4-grams, exp smoothing, effective order) over the run's tokens; corpus BLEU in the summary.",
            "실행 토크나이저 기준 문장 BLEU (sacrebleu, 4-gram, exp 스무딩); 요약은 코퍼스 BLEU.",
        ),
        _lexical(
            "chrf",
            "chrF (sacrebleu, character 6-grams, β=2) of the normalised text; independent of the tokenizer.",
            "정규화한 텍스트의 chrF (sacrebleu, 문자 6-gram, β=2); 토크나이저와 무관.",
        ),
        _lexical("rouge1", "ROUGE-1 F-measure: unigram overlap.", "ROUGE-1 F값: 단일 토큰 겹침."),
        _lexical("rouge2", "ROUGE-2 F-measure: bigram overlap.", "ROUGE-2 F값: 연속 두 토큰 겹침."),
        _lexical("rougeL", "ROUGE-L F-measure: longest common subsequence.", "ROUGE-L F값: 최장 공통 부분열."),
        MetricSpec(
            "json_valid",
            "check",
            True,
            _object({"strip_fences": _FENCES}),
            "1 when the output parses as JSON.",
            "출력이 JSON으로 파싱되면 1.",
        ),
        MetricSpec(
            "json_schema",
            "check",
            True,
            _object(
                {
                    "schema": {"type": ["object", "boolean"], "description": "JSON Schema draft 2020-12"},
                    "strip_fences": _FENCES,
                },
                required=["schema"],
            ),
            "1 when the output is JSON valid against the schema (draft 2020-12, local $ref only).",
            "출력이 스키마(draft 2020-12, 로컬 $ref만)에 맞는 JSON이면 1.",
        ),
        MetricSpec(
            "regex",
            "check",
            True,
            _object({"pattern": {"type": "string", "minLength": 1, "maxLength": MAX_PATTERN}}, required=["pattern"]),
            "1 when the Python regular expression matches somewhere in the output.",
            "파이썬 정규식이 출력 어딘가에 일치하면 1.",
        ),
        MetricSpec(
            "contains",
            "check",
            True,
            _object(
                {"text": {"type": "string", "minLength": 1}, "any": _STRINGS, "all": _STRINGS},
                oneOf=[{"required": ["text"]}, {"required": ["any"]}, {"required": ["all"]}],
            ),
            "1 when the output contains the text (any / all of a list); case-insensitive after NFKC.",
            "출력에 텍스트(목록 중 하나 / 모두)가 있으면 1; NFKC 후 대소문자 무시.",
        ),
        MetricSpec(
            "not_contains",
            "check",
            True,
            _object(
                {"text": {"type": "string", "minLength": 1}, "any": _STRINGS},
                oneOf=[{"required": ["text"]}, {"required": ["any"]}],
            ),
            "1 when the output contains none of the texts; case-insensitive after NFKC.",
            "출력에 텍스트가 하나도 없으면 1; NFKC 후 대소문자 무시.",
        ),
        MetricSpec(
            "length",
            "check",
            True,
            _object(
                {
                    "min": {"type": "integer", "minimum": 0},
                    "max": {"type": "integer", "minimum": 0},
                    "unit": {"enum": ["chars", "tokens"], "default": "chars"},
                },
                anyOf=[{"required": ["min"]}, {"required": ["max"]}],
            ),
            "1 when the output's length (characters, or tokens of the run's tokenizer) is within [min, max].",
            "출력 길이(문자 수 또는 실행 토크나이저의 토큰 수)가 [min, max] 안이면 1.",
        ),
        MetricSpec(
            "embedding_similarity",
            "embedding",
            True,
            _object({"route": {"type": "string", "minLength": 1}}, required=["route"]),
            "Cosine similarity of output and reference embeddings (the route's embedding model); best reference.",
            "출력과 참조 임베딩(라우트의 임베딩 모델)의 코사인 유사도; 가장 가까운 참조.",
            needs_reference=True,
        ),
    )
}


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _want(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise ValueError(f"{where}: {message}")


def validate_metrics(metrics: list[dict]) -> list[dict]:
    """``[{"name": "bleu"}, {"name": "regex", "params": {"pattern": "..."}}]`` (a bare name is
    accepted for a metric without params) -> the same with every params dict complete (defaults
    filled). ValueError with a message naming the item and the problem."""
    _want(isinstance(metrics, list), "metrics", f"must be a list, got {_type_name(metrics)}")
    _want(len(metrics) <= MAX_METRICS, "metrics", f"at most {MAX_METRICS} metrics")
    out: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(metrics):
        if isinstance(item, str):
            item = {"name": item}
        where = f"metrics[{i}]"
        _want(isinstance(item, dict), where, f"must be an object with a name, got {_type_name(item)}")
        extra = set(item) - {"name", "params"}
        _want(not extra, where, f"unknown field(s) {', '.join(sorted(extra))}: only name and params")
        name = item.get("name")
        _want(isinstance(name, str) and bool(name), where, "name must be a non-empty string")
        if name not in CATALOGUE:
            raise ValueError(f"{where}: unknown metric {name!r}; known metrics: {', '.join(CATALOGUE)}")
        where = f"metrics[{i}] ({name})"
        _want(name not in seen, where, "listed twice (one entry per metric; contains/not_contains take a list)")
        seen.add(name)
        params = item.get("params")
        params = {} if params is None else params
        _want(isinstance(params, dict), where, f"params must be an object, got {_type_name(params)}")
        out.append({"name": name, "params": _validate_params(name, dict(params), where)})
    return out


def _validate_params(name: str, params: dict, where: str) -> dict:
    allowed = set(CATALOGUE[name].params["properties"])
    unknown = set(params) - allowed
    if unknown:
        takes = f"takes {', '.join(sorted(allowed))}" if allowed else "takes no params"
        raise ValueError(f"{where}: unknown param(s) {', '.join(sorted(unknown))}; {name} {takes}")
    if "strip_fences" in allowed:
        params["strip_fences"] = params.get("strip_fences", False)
        _want(isinstance(params["strip_fences"], bool), where, "params.strip_fences must be true or false")
    if name == "json_schema":
        _want("schema" in params, where, "params.schema is required (a JSON Schema object)")
        try:
            _check_schema(params["schema"], where)
        except RecursionError:
            raise ValueError(f"{where}: params.schema is nested too deeply") from None
    elif name == "regex":
        _check_pattern(params.get("pattern"), where)
    elif name in ("contains", "not_contains"):
        forms = [k for k in ("text", "any", "all") if k in params]
        one_of = "text, any" + (" or all" if name == "contains" else "")
        _want(len(forms) == 1, where, f"give exactly one of params.{one_of}")
        key = forms[0]
        if key == "text":
            _want(
                isinstance(params["text"], str) and bool(params["text"]),
                where,
                "params.text must be a non-empty string",
            )
        else:
            value = params[key]
            ok = isinstance(value, list) and bool(value) and all(isinstance(s, str) and s for s in value)
            _want(ok, where, f"params.{key} must be a non-empty list of non-empty strings")
    elif name == "length":
        _want("min" in params or "max" in params, where, "give params.min, params.max or both")
        for key in ("min", "max"):
            if key in params:
                value = params[key]
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
                _want(ok, where, f"params.{key} must be an integer >= 0, got {value!r}")
        if "min" in params and "max" in params:
            _want(params["min"] <= params["max"], where, "params.min must not exceed params.max")
        params["unit"] = params.get("unit", "chars")
        _want(params["unit"] in ("chars", "tokens"), where, "params.unit must be 'chars' or 'tokens'")
    elif name == "embedding_similarity":
        route = params.get("route")
        _want(
            isinstance(route, str) and bool(route.strip()),
            where,
            "params.route must be a non-empty string (a gateway route)",
        )
    return params


def _check_schema(schema: Any, where: str) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    _want(isinstance(schema, dict | bool), where, f"params.schema must be an object, got {_type_name(schema)}")
    _want(len(json.dumps(schema)) <= MAX_SCHEMA, where, f"params.schema is over {MAX_SCHEMA} characters")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        raise ValueError(
            f"{where}: params.schema is not a valid draft 2020-12 schema at '/{path}': {exc.message}"
        ) from None
    for key, value, parent in _walk_schema(schema, ""):
        at = parent or "/"
        if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
            raise ValueError(
                f"{where}: params.schema {key} {value!r} at '{at}': only local references ('#...') are allowed"
            )
        if key == "pattern" and isinstance(value, str):
            _check_pattern(value, where, f"params.schema pattern at '{at}'")
        if key == "patternProperties" and isinstance(value, dict):
            for pattern in value:
                _check_pattern(pattern, where, f"params.schema patternProperties key at '{at}'")


def _walk_schema(node: Any, at: str):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value, at
            yield from _walk_schema(value, f"{at}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_schema(value, f"{at}/{i}")


_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT)


def _nested_quantifier(items) -> bool:
    """A variable repeat (``+``, ``*``, ``{2,9}``) inside another repeat that can run more than
    once, one of them unbounded — ``(a+)+``, ``(\\w+\\s?)*``, ``(a{1,9})+``: the shape of
    catastrophic backtracking. Possessive repeats and atomic groups never backtrack and pass."""

    def walk(seq, outer: bool | None) -> bool:
        # outer: None outside any repeat that can run twice, else whether one of those is unbounded
        for op, av in seq:
            if op in _REPEATS:
                lo, hi, sub = av
                unbounded = hi == _sre.MAXREPEAT
                if outer is not None and lo != hi and hi > 1 and (unbounded or outer):
                    return True
                if walk(sub, (bool(outer) or unbounded) if hi > 1 else outer):
                    return True
            elif op == _sre.SUBPATTERN:
                if walk(av[-1], outer):
                    return True
            elif op == _sre.BRANCH:
                if any(walk(branch, outer) for branch in av[1]):
                    return True
            elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
                if walk(av[1], outer):
                    return True
            elif op == _sre.GROUPREF_EXISTS:
                if any(walk(branch, outer) for branch in av[1:] if branch is not None):
                    return True
            # POSSESSIVE_REPEAT and ATOMIC_GROUP: no backtracking into them, not walked
        return False

    return walk(items, None)


def _check_pattern(pattern: Any, where: str, what: str = "params.pattern") -> None:
    _want(isinstance(pattern, str) and bool(pattern), where, f"{what} must be a non-empty string")
    _want(len(pattern) <= MAX_PATTERN, where, f"{what} is longer than {MAX_PATTERN} characters")
    try:
        parsed = _sre_parse.parse(pattern)
        _compiled(pattern)
    except (re.error, regex.error, RecursionError) as exc:
        raise ValueError(f"{where}: {what} is not a valid Python regular expression: {exc}") from None
    if _nested_quantifier(list(parsed)):
        raise ValueError(
            f"{where}: {what} nests a repeat inside a repeat (like '(a+)+'), which can take exponential time; "
            "rewrite it, or make the inner repeat possessive ('a++') or atomic ('(?>a+)')"
        )


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern:
    # The `regex` engine, not `re`: its searches take a timeout and release the GIL, so an ordinary but
    # quadratic pattern on a long output cannot stall the process the worker shares with the API.
    return regex.compile(pattern)


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str):
    from jsonschema import Draft202012Validator
    from referencing import Registry

    # An empty registry that retrieves nothing: a $ref outside the schema fails instead of being
    # fetched (validation refuses non-local refs anyway).
    return Draft202012Validator(json.loads(schema_json), registry=Registry())


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------

_STATS = BoundedCache(max_entries=65536, max_chars=16_000_000)
_BLEU_SENTENCE = BLEU(tokenize="none", effective_order=True, smooth_method="exp", force=True)
_BLEU_CORPUS = BLEU(tokenize="none", smooth_method="exp", force=True)  # the full 4-gram order
_CHRF = CHRF()  # char_order 6, word_order 0, beta 2, whitespace excluded


class _Row:
    """One output and its references, normalised and tokenised once, lazily, for every metric."""

    __slots__ = ("_grams", "_norm", "_tokens", "kind", "output", "references")

    def __init__(self, output: str | None, references: Sequence[str | None], tokenizer: str):
        self.output = output or ""
        self.references = [r for r in references if r is not None and r.strip()]
        self.kind = resolve(tokenizer, self.output, *self.references)
        self._norm: list[str] | None = None
        self._tokens: list[list[str]] | None = None
        self._grams: dict[tuple[int, int], Counter] = {}

    @property
    def norm(self) -> list[str]:
        """Normalised output, then normalised references."""
        if self._norm is None:
            self._norm = [normalize(t) for t in (self.output, *self.references)]
        return self._norm

    @property
    def tokens(self) -> list[list[str]]:
        """Tokens of the output, then of each reference."""
        if self._tokens is None:
            if self.kind == "morpheme":
                self._tokens = [tokenize(t, "morpheme") for t in (self.output, *self.references)]
            elif self.kind == "word":
                self._tokens = [n.split() for n in self.norm]
            else:
                self._tokens = [[c for c in n if c != " "] for n in self.norm]
        return self._tokens

    def grams(self, i: int, n: int) -> Counter:
        """n-gram counts of text ``i`` (0: the output), shared by token F1 and ROUGE-1."""
        counts = self._grams.get((i, n))
        if counts is None:
            counts = self._grams[(i, n)] = _ngrams(self.tokens[i], n)
        return counts


def _f1(overlap: int, n_out: int, n_ref: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / n_out, overlap / n_ref
    return 2 * precision * recall / (precision + recall)


def _ngrams(tokens: list[str], n: int) -> Counter:
    if n == 1:
        return Counter(tokens)
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one big-integer
    step per token of ``a`` instead of a len(a) x len(b) table."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[str, int] = {}
    for i, token in enumerate(b):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(b)) - 1
    v = full
    for token in a:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def _exact_match(row: _Row, _p: dict) -> float:
    out, *refs = row.norm
    return 1.0 if out in refs else 0.0


def _token_f1(row: _Row, _p: dict) -> float:
    out, *refs = row.tokens
    best = 0.0
    for i, ref in enumerate(refs, 1):
        if not out or not ref:
            score = 1.0 if out == ref else 0.0
        else:
            score = _f1(sum((row.grams(0, 1) & row.grams(i, 1)).values()), len(out), len(ref))
        best = max(best, score)
    return best


def _rouge_n(n: int):
    def score(row: _Row, _p: dict) -> float:
        out, *refs = row.tokens
        total = max(len(out) - n + 1, 0)
        best = 0.0
        for i, ref in enumerate(refs, 1):
            overlap = sum((row.grams(0, n) & row.grams(i, n)).values())
            best = max(best, _f1(overlap, total, max(len(ref) - n + 1, 0)))
        return best

    return score


def _rouge_l(row: _Row, _p: dict) -> float:
    out, *refs = row.tokens
    return max((_f1(_lcs(out, ref), len(out), len(ref)) for ref in refs), default=0.0)


def _fraction(score: float) -> float:
    """sacrebleu's 0-100 score as a fraction, with its rounding above 100 clipped."""
    return min(1.0, max(0.0, score / 100))


def _segment(name: str, row: _Row) -> list:
    """sacrebleu's statistics of the row as one segment (n-gram matches and totals, lengths):
    what its ``sentence_score`` scores alone and its ``corpus_score`` sums over segments. Cached
    by the row's raw texts, so the corpus pass after a run's rows neither re-extracts nor
    re-tokenises."""

    def extract() -> list:
        if name == "bleu":
            out, *refs = (" ".join(t) for t in row.tokens)
        else:
            out, *refs = row.norm
        metric = _BLEU_SENTENCE if name == "bleu" else _CHRF
        return metric._extract_corpus_statistics([out], [[r] for r in refs])[0]

    key = (name, row.kind, row.output, *row.references)
    return _STATS.get(key, len(row.output) + sum(map(len, row.references)), extract)


def _bleu(row: _Row, _p: dict) -> float:
    return _fraction(_BLEU_SENTENCE._aggregate_and_compute([_segment("bleu", row)]).score)


def _chrf(row: _Row, _p: dict) -> float:
    return _fraction(_CHRF._aggregate_and_compute([_segment("chrf", row)]).score)


def _strip_fences(text: str) -> str:
    m = re.fullmatch(r"\s*```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```\s*", text, re.DOTALL)
    return m.group(1) if m else text


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_MISSING = object()


def _parse_json(text: str, params: dict) -> Any:
    if params.get("strip_fences"):
        text = _strip_fences(text)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _MISSING


def _json_valid(row: _Row, params: dict) -> float:
    return 0.0 if _parse_json(row.output, params) is _MISSING else 1.0


def _json_schema(row: _Row, params: dict) -> float:
    value = _parse_json(row.output, params)
    if value is _MISSING:
        return 0.0
    validator = _validator(json.dumps(params["schema"], sort_keys=True))
    try:
        return 1.0 if validator.is_valid(value) else 0.0
    except Exception:  # an unresolvable $ref, a recursion too deep: not valid
        return 0.0


def _regex(row: _Row, params: dict) -> float | None:
    try:
        found = _compiled(params["pattern"]).search(row.output[:MAX_SEARCHED], timeout=REGEX_TIMEOUT_S, concurrent=True)
    except TimeoutError:
        return None  # not scored: counted as missing, like a judge that could not answer
    return 1.0 if found else 0.0


def _needles(params: dict) -> tuple[str, list[str]]:
    if "text" in params:
        return "any", [fold(params["text"])]
    key = "all" if "all" in params else "any"
    return key, [fold(s) for s in params[key]]


def _contains(row: _Row, params: dict) -> float:
    mode, needles = _needles(params)
    haystack = fold(row.output)
    found = (n in haystack for n in needles)
    return 1.0 if (all(found) if mode == "all" else any(found)) else 0.0


def _not_contains(row: _Row, params: dict) -> float:
    _mode, needles = _needles(params)
    haystack = fold(row.output)
    return 0.0 if any(n in haystack for n in needles) else 1.0


def _length(row: _Row, params: dict) -> float:
    if params.get("unit", "chars") == "tokens":
        n = len(row.tokens[0])
    else:
        n = len(unicodedata.normalize("NFC", row.output).strip())
    return 1.0 if params.get("min", 0) <= n <= params.get("max", math.inf) else 0.0


_SCORERS: dict[str, Any] = {
    "exact_match": _exact_match,
    "token_f1": _token_f1,
    "bleu": _bleu,
    "chrf": _chrf,
    "rouge1": _rouge_n(1),
    "rouge2": _rouge_n(2),
    "rougeL": _rouge_l,
    "json_valid": _json_valid,
    "json_schema": _json_schema,
    "regex": _regex,
    "contains": _contains,
    "not_contains": _not_contains,
    "length": _length,
}


def _score(metrics: list[dict], row: _Row) -> dict[str, float | None]:
    scores: dict[str, float | None] = {}
    for metric in metrics:
        name = metric["name"]
        spec = CATALOGUE.get(name)
        if spec is None:
            raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(CATALOGUE)}")
        if spec.kind == "embedding" or (spec.needs_reference and not row.references):
            scores[name] = None
        else:
            scores[name] = _SCORERS[name](row, metric.get("params") or {})
    return scores


def score_row(
    metrics: list[dict], output: str, references: list[str], tokenizer: str = "auto"
) -> dict[str, float | None]:
    """Scores of one output against its references, per metric name, for metrics as returned by
    :func:`validate_metrics`. Lexical scores in [0, 1], None without references; checks 1.0 /
    0.0; embedding metrics None (the runner computes them with :func:`cosine`)."""
    return _score(metrics, _Row(output, references, tokenizer))


def corpus_scores(
    metrics: list[dict],
    outputs: list[str],
    references: list[list[str]],
    tokenizer: str = "auto",
    *,
    row_scores: list[dict] | None = None,
) -> dict[str, float | None]:
    """Corpus-level scores: BLEU and chrF from sacrebleu's statistics summed over every row with
    references (not a mean of sentence scores); every other metric the mean of its row scores
    (None when no row has one; embedding metrics None: the runner has them). ``row_scores``: the
    :func:`score_row` results already computed for these rows, so only BLEU and chrF are redone."""
    if len(outputs) != len(references):
        raise ValueError(f"{len(outputs)} outputs but {len(references)} reference lists")
    names = [m["name"] for m in metrics]
    rows = [_Row(o, r, tokenizer) for o, r in zip(outputs, references, strict=True)]
    if row_scores is None:
        row_scores = [_score(metrics, row) for row in rows]
    elif len(row_scores) != len(rows):
        raise ValueError(f"{len(row_scores)} row scores for {len(rows)} rows")
    scored = [row for row in rows if row.references]
    out: dict[str, float | None] = {}
    for name in names:
        if CATALOGUE[name].kind == "embedding":
            out[name] = None
        elif name in ("bleu", "chrf"):
            out[name] = _corpus_sacrebleu(name, scored) if scored else None
        else:
            values = [s[name] for s in row_scores if s.get(name) is not None]
            out[name] = math.fsum(values) / len(values) if values else None
    return out


def _corpus_sacrebleu(name: str, rows: list[_Row]) -> float:
    """sacrebleu's corpus score: the segments' statistics summed, then scored once (what
    ``corpus_score`` does; the tests compare the two)."""
    metric = _BLEU_CORPUS if name == "bleu" else _CHRF
    return _fraction(metric._aggregate_and_compute([_segment(name, row) for row in rows]).score)


def clear() -> None:
    """Forget every cached analysis and statistic (benchmarks; tests)."""
    clear_caches()
    _STATS.clear()


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors, in [-1, 1]; 0.0 when either is all zeros."""
    if len(a) != len(b):
        raise ValueError(f"vectors of different sizes: {len(a)} and {len(b)}")
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(y * y for y in b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return max(-1.0, min(1.0, dot / (na * nb)))
