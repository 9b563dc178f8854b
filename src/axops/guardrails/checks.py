"""The built-in guardrail checks: pure, fast functions over one text, returning :class:`Hit`s with
offsets in the ORIGINAL text. Policies (which checks, which action) live elsewhere; these only find.

* :func:`pii` wraps :func:`axops.pii.scan`; :func:`korean_pii_rule` is the Korean blocking rule.
* :func:`banned_words`: a caller's word list, matched through the normalisation (spacing, jamo,
  look-alike characters, inserted symbols, leetspeak); compiled once per list and cached.
* :func:`harmful`: the built-in lexicon baseline per category (:mod:`axops.guardrails.lexicon`).
* :func:`injection`: prompt-injection and jailbreak heuristics (:mod:`axops.guardrails.injection`).

Bounded work: banned words and lexicon terms scan the whole text (linear, C-speed prefilter);
lexicon phrases and injection heuristics scan the first and last 32 KB.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from axops import pii as _pii
from axops.guardrails import injection as _injection
from axops.guardrails import lexicon
from axops.guardrails.normalize import Normalized, Trigger, WordMatcher, normalize

PII, BANNED, HARMFUL, INJECTION = "pii", "banned_words", "harmful", "injection"

# Korean rule (개인정보보호법): a unique identifier is always blocked ...
UNIQUE_IDENTIFIERS = frozenset({_pii.RRN, _pii.ARN, _pii.PASSPORT, _pii.DRIVER_LICENSE})
# ... and so are two or more distinct kinds of general personal data together.
GENERAL_PERSONAL_DATA = frozenset(
    {_pii.PERSON, _pii.PHONE, _pii.EMAIL, _pii.ADDRESS_KR, _pii.BANK_ACCOUNT, _pii.CREDIT_CARD, _pii.IP_ADDRESS}
)


@dataclass(frozen=True, slots=True)
class Hit:
    check: str
    kind: str  # PII entity, banned word, harmful category, or injection signal
    start: int
    end: int
    score: float


def pii(text: str, entities: set[str] | None = None) -> list[Hit]:
    """PII findings (``kind`` is the entity type). Unknown entity names raise ``ValueError``."""
    return [Hit(PII, f.entity, f.start, f.end, f.score) for f in _pii.scan(text, entities)]


def korean_pii_rule(hits: list[Hit]) -> bool:
    """True when a unique identifier (RRN, ARN, PASSPORT, DRIVER_LICENSE) is present, or two or
    more distinct kinds of :data:`GENERAL_PERSONAL_DATA`. BRN (a business number) counts as neither."""
    kinds = {h.kind for h in hits if h.check == PII}
    return not kinds.isdisjoint(UNIQUE_IDENTIFIERS) or len(kinds & GENERAL_PERSONAL_DATA) >= 2


@lru_cache(maxsize=256)
def _matcher(words: tuple[str, ...]) -> WordMatcher:
    return WordMatcher(words)


def banned_words(text: str, words: list[str]) -> list[Hit]:
    """Occurrences of ``words`` (``kind`` is the word as listed). An entry starting with ``!`` is an
    exception: a hit inside its match is dropped (``["시발", "!시발점"]``)."""
    if not text or not words:
        return []
    key = tuple(words)
    return [Hit(BANNED, key[i], s, e, 1.0) for i, s, e in _matcher(key).find(normalize(text))]


# One matcher over every category's terms (one prefilter pass), each term labelled with its category.
_TERM_CATEGORY = [cat for cat, terms in lexicon.TERMS.items() for _ in terms]
_TERMS = WordMatcher([t for terms in lexicon.TERMS.values() for t in terms])
_PHRASE_TRIGGERS = {cat: Trigger(words) for cat, words in lexicon.TRIGGERS.items()}


def harmful(text: str, categories: set[str] | None = None) -> list[Hit]:
    """Lexicon hits (``kind`` is the category). Unknown categories raise ``ValueError``."""
    if not text:
        return []
    cats = lexicon.CATEGORIES if categories is None else tuple(categories)
    unknown = set(cats) - set(lexicon.CATEGORIES)
    if unknown:
        raise ValueError(f"unknown harmful-content categories: {', '.join(sorted(unknown))}")
    n = normalize(text)
    out: list[Hit] = []
    wanted = set(cats)
    for i, s, e in _TERMS.find(n):
        if _TERM_CATEGORY[i] in wanted:
            out.append(Hit(HARMFUL, _TERM_CATEGORY[i], s, e, 0.9))
    for cat in cats:
        _phrases(n, cat, out)
    out.sort(key=lambda h: (h.start, h.end))
    return out


def _phrases(n: Normalized, cat: str, out: list[Hit]) -> None:
    folded, limit = n.folded, _injection.SCAN_CHARS
    if not n.mentions(_PHRASE_TRIGGERS[cat]):
        return
    rx = lexicon.COMPILED_PHRASES[cat]
    windows = [(0, len(folded))] if len(folded) <= 2 * limit else [(0, limit), (len(folded) - limit, len(folded))]
    for a, b in windows:
        for m in rx.finditer(folded, a, b):
            s, e = n.span(*m.span())
            out.append(Hit(HARMFUL, cat, s, e, 0.8))


def injection(text: str, threshold: float = _injection.THRESHOLD) -> list[Hit]:
    """Injection/jailbreak signals when their combined score reaches ``threshold`` (else ``[]``).
    ``kind`` names the signal; ``score`` is the combined score of the text."""
    if not text:
        return []
    score, found = _injection.signals(text)
    if score < threshold:
        return []
    seen: set[tuple[str, int, int]] = set()
    out = []
    for kind, s, e, _ in found:
        if (kind, s, e) not in seen:
            seen.add((kind, s, e))
            out.append(Hit(INJECTION, kind, s, e, round(score, 3)))
    return out
