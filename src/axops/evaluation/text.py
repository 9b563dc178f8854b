"""Text normalisation and tokenisers for the lexical metrics (docs/EVALUATION.md "Metrics").

``normalize``: Unicode NFKC (full-width letters and digits, compatibility forms), case folding,
every punctuation character (Unicode categories P*) deleted, whitespace runs collapsed to one
space and trimmed.

Tokenisers (``TOKENIZERS``):

- ``word``: the normalised text split on whitespace.
- ``character``: every non-space character of the normalised text.
- ``morpheme``: the morphemes of kiwipiepy (the process-wide analyser of ``axops.pii.persons``),
  each form normalised as above; punctuation morphemes vanish. "학교에 갔다" -> 학교 에 가 었 다,
  so a particle or an ending that differs no longer makes the whole word differ.
- ``auto``: ``morpheme`` when the text contains Hangul, else ``word``. Scorers resolve ``auto``
  once per row (:func:`resolve`), so an output and its references are always cut the same way.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

TOKENIZERS = ("auto", "morpheme", "word", "character")

# Hangul syllables, jamo, compatibility jamo, jamo extended A/B, half-width Hangul.
_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff\uffa0-\uffdc]")

MORPHEME_CACHE_SIZE = 65536
NORMALIZE_CACHE_SIZE = 65536


@functools.cache
def _punctuation_table() -> dict[int, None]:
    """Every code point of the Unicode categories Pc, Pd, Ps, Pe, Pi, Pf, Po -> deleted (about
    800 code points; built once, about 70 ms)."""
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp))[0] == "P"}


def fold(text: str) -> str:
    """NFKC then case folding: what ``contains`` / ``not_contains`` compare (punctuation kept)."""
    return unicodedata.normalize("NFKC", text).casefold()


@functools.lru_cache(maxsize=NORMALIZE_CACHE_SIZE)
def normalize(text: str) -> str:
    """NFKC, casefold, punctuation (P*) deleted, whitespace collapsed and trimmed."""
    return " ".join(fold(text).translate(_punctuation_table()).split())


def has_hangul(text: str) -> bool:
    return _HANGUL.search(text) is not None


def resolve(tokenizer: str, *texts: str) -> str:
    """The concrete tokenizer for a row: ``auto`` becomes ``morpheme`` when any of ``texts`` has
    Hangul, else ``word``; others are returned as they are (unknown names raise ValueError)."""
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}: use one of {', '.join(TOKENIZERS)}")
    if tokenizer != "auto":
        return tokenizer
    return "morpheme" if any(has_hangul(t) for t in texts) else "word"


def tokenize(text: str, tokenizer: str = "auto") -> list[str]:
    """The tokens of ``text`` (a new list). ``auto`` is decided by this text alone; scorers use
    :func:`resolve` on the whole row first."""
    kind = resolve(tokenizer, text)
    if kind == "word":
        return normalize(text).split()
    if kind == "character":
        return [c for c in normalize(text) if not c.isspace()]
    return list(morphemes(text))


@functools.lru_cache(maxsize=MORPHEME_CACHE_SIZE)
def morphemes(text: str) -> tuple[str, ...]:
    """kiwipiepy morpheme forms of ``text``, normalised, empty ones (punctuation) dropped.
    Cached per text: references repeat across targets, rows and the corpus pass. Without the
    analyser (kiwipiepy cannot load) this falls back to the ``word`` tokens."""
    from axops.pii import persons

    analyser = persons.kiwi()
    nfkc = unicodedata.normalize("NFKC", text)
    if analyser is None or not nfkc.strip():
        return tuple(normalize(text).split())
    # Kiwi objects are not documented as thread-safe: one analysis at a time, with the same lock
    # as the PII scanner that shares the analyser.
    with persons._kiwi_lock:
        tokens = analyser.tokenize(nfkc)
    out: list[str] = []
    for token in tokens:
        form = normalize(token.form)
        if form:
            out.extend(form.split())
    return tuple(out)
