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
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

TOKENIZERS = ("auto", "morpheme", "word", "character")

# Hangul syllables, jamo, compatibility jamo, jamo extended A/B, half-width Hangul.
_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff\uffa0-\uffdc]")

SHORT = 64  # texts up to this length (morpheme forms, short answers) have their normal form cached


class BoundedCache:
    """A thread-safe LRU bounded by entries and by the characters of the texts it keeps (keys
    hold whole outputs and references: a run of long answers must not grow the worker's memory
    without limit)."""

    def __init__(self, max_entries: int, max_chars: int):
        self.max_entries, self.max_chars = max_entries, max_chars
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, size: int, compute: Callable[[], Any]) -> Any:
        """The value for ``key``, computed (outside the lock) and kept when missing; ``size``:
        the characters the entry holds."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
        value = compute()
        if size > self.max_chars // 16:
            return value  # one huge text would evict everything else
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, size)
                self._chars += size
                while len(self._items) > self.max_entries or self._chars > self.max_chars:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._chars -= dropped
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._chars = 0

    def __len__(self) -> int:
        return len(self._items)


# Morphemes of whole texts: references repeat across targets, and the corpus pass re-reads every row.
_MORPHEMES = BoundedCache(max_entries=65536, max_chars=8_000_000)


@functools.cache
def _punctuation_table() -> dict[int, None]:
    """Every code point of the Unicode categories Pc, Pd, Ps, Pe, Pi, Pf, Po -> deleted (about
    800 code points; built once, about 70 ms)."""
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp))[0] == "P"}


def fold(text: str) -> str:
    """NFKC then case folding: what ``contains`` / ``not_contains`` compare (punctuation kept)."""
    return unicodedata.normalize("NFKC", text).casefold()


def normalize(text: str) -> str:
    """NFKC, casefold, punctuation (P*) deleted, whitespace collapsed and trimmed."""
    if len(text) <= SHORT:
        return _normalize_short(text)
    return _normalize(text)


def _normalize(text: str) -> str:
    return " ".join(fold(text).translate(_punctuation_table()).split())


# Short strings only (at most 65,536 x 64 characters): every morpheme form goes through here, and
# a repeated form comes back as the same string object, so cached token lists share their strings.
_normalize_short = functools.lru_cache(maxsize=65536)(_normalize)


def clear_caches() -> None:
    """Forget cached morphemes and normal forms (benchmarks; tests)."""
    _MORPHEMES.clear()
    _normalize_short.cache_clear()


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


def morphemes(text: str) -> tuple[str, ...]:
    """kiwipiepy morpheme forms of ``text``, normalised, empty ones (punctuation) dropped.
    Cached per text: references repeat across targets, rows and the corpus pass. Without the
    analyser (kiwipiepy cannot load) this falls back to the ``word`` tokens."""
    return _MORPHEMES.get(text, len(text), lambda: _analyse(text))


def _analyse(text: str) -> tuple[str, ...]:
    from axops.pii import persons

    analyser = persons.kiwi()
    nfkc = unicodedata.normalize("NFKC", text)
    if analyser is None or not nfkc.strip():
        return tuple(normalize(text).split())
    # Kiwi objects are not documented as thread-safe: one analysis at a time, with the same lock
    # as the PII scanner that shares the analyser.
    with persons.kiwi_lock:
        tokens = analyser.tokenize(nfkc)
    out: list[str] = []
    for token in tokens:
        form = normalize(token.form)
        if " " in form:
            out.extend(form.split())
        elif form:
            out.append(form)
    return tuple(out)
