"""Task keywords of agent runs for tool analytics: the nouns of a run's (PII-masked) user input.
Korean nouns come from kiwipiepy (the process-wide analyser of `axops.pii.persons`: general and
proper nouns, NNG/NNP), English words from a plain tokenizer without stopwords. Words that still
carry a mask (`*`) or look like an address are skipped: a keyword must never rebuild what was masked."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

MAX_TEXT_CHARS = 4000
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_ENGLISH = re.compile(r"[a-z][a-z'-]*[a-z]")
_NOUN_TAGS = ("NNG", "NNP")
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further get got had has have
    having he her here hers herself him himself his how i if in into is it its itself just let me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own please same she should so
    some such than that the their theirs them themselves then there these they this those through to too under
    until up use using very was we were what when where which while who whom why will with would you your yours
    yourself yourselves tell give show find make need want know like one two""".split()
)


def user_text(messages: Any) -> str:
    """The user messages' text of a run's stored input (a list of chat messages, or a plain string)."""
    if isinstance(messages, str):
        return messages[:MAX_TEXT_CHARS]
    parts: list[str] = []
    for m in messages if isinstance(messages, list) else []:
        if not isinstance(m, dict) or m.get("role", "user") != "user":
            continue
        content = m.get("content")
        if isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
        elif content is not None:
            parts.append(str(content))
    return "\n".join(parts)[:MAX_TEXT_CHARS]


def _clean(text: str) -> str:
    return " ".join(w for w in text.split() if "*" not in w and "@" not in w and "://" not in w)


def english_words(text: str) -> list[str]:
    return [w for w in _ENGLISH.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS]


def korean_nouns(text: str) -> list[str]:
    if not _HANGUL.search(text):
        return []
    from axops.pii import persons

    analyser = persons.kiwi()
    if analyser is None:  # kiwipiepy cannot load: Hangul words as they stand
        return [w for w in re.findall(r"[\uac00-\ud7a3]{2,}", text)]
    with persons.kiwi_lock:  # the analyser is shared with the PII scanner: one analysis at a time
        tokens = analyser.tokenize(text)
    return [t.form for t in tokens if t.tag in _NOUN_TAGS and _HANGUL.search(t.form)]


def words(text: str) -> list[str]:
    """The keywords of one text: Korean nouns and English words, in order, repeats kept."""
    text = _clean(text)
    return korean_nouns(text) + english_words(text)


def of_input(messages: Any) -> list[str]:
    """What an agent run stores as its keywords (`agent_runs.keywords`): the distinct keywords of the
    user text of its stored input, sorted."""
    return sorted(set(words(user_text(messages))))


def top(texts: Iterable[str], n: int = 10) -> list[tuple[str, int]]:
    """The `n` most frequent keywords over `texts`, counted once per text (a run that repeats a word
    is still one run asking about it); ties by the word."""
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(set(words(t)))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
