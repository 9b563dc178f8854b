"""Prompt-injection and jailbreak heuristics, Korean and English.

Each signal has a weight; a text's score is ``1 - Π(1 - weight)`` over the signals found and the
text is flagged when the score reaches :data:`THRESHOLD`. Strong signals (an order to ignore the
instructions, a request for the system prompt, DAN-style role play, hidden Unicode-tag text) pass it
alone; weak ones (mentioning "system prompt", "jailbreak", "developer mode") only together, so a
question about how prompt injection works stays clean.

Obfuscation: patterns run over the folded text (homoglyphs, full-width, zero-width removed); a few
canonical phrases are also matched through the separator-insensitive word matcher ("i.g.n.o.r.e
previous instructions"); base64 and hex runs are decoded and checked again (one level). Only the
first and last 32 KB of a text are examined, so a huge prompt costs bounded time.
"""

from __future__ import annotations

import base64
import binascii
import re

from axops.guardrails.normalize import Normalized, Trigger, WordMatcher, normalize

THRESHOLD = 0.5
SCAN_CHARS = 32 * 1024
_MAX_ENCODED = 8  # encoded runs decoded per text

_IGNORE_EN = r"(?:ignore|disregard|forget|override|bypass|skip)"
_PRIOR_EN = r"(?:all |any |the |your |my )?(?:previous|prior|above|earlier|preceding|original|initial|system|developer)"
_RULES_EN = r"(?:instructions?|prompts?|rules|guidelines|directions|context|messages?|guardrails|restrictions)"
_KO_PRIOR = r"(?:이전|앞의|앞선|위의|기존|원래|모든|시스템|개발자|지금까지의?)"
_KO_RULES = r"(?:지시|지침|명령|규칙|프롬프트|설정|제한|가이드라인|안전 ?장치)"

# (name, weight, pattern over the folded text)
_SIGNALS: tuple[tuple[str, float, str], ...] = (
    (
        "ignore_instructions",
        0.9,
        _IGNORE_EN + r"\s+(?:all\s+|everything\s+)?(?:of\s+)?" + _PRIOR_EN + r"\s+" + _RULES_EN,
    ),
    (
        "ignore_instructions",
        0.9,
        r"(?:ignore|disregard|forget) (?:everything|all) (?:you were|you've been|above|before)",
    ),
    (
        "ignore_instructions",
        0.9,
        _KO_PRIOR
        + r" ?(?:의 )?(?:모든 )?"
        + _KO_RULES
        + r"(?:사항|문|들)?(?:은|는|을|를|이나|와)? ?(?:모두 |전부 |다 )?"
        r"(?:무시|잊어|잊고|따르지 ?마|따르지 ?말|신경 ?쓰지 ?마|버려|해제)",
    ),
    (
        "no_restrictions",
        0.85,
        r"(?:너는|넌|당신은|이제부터|지금부터)[^.\n]{0,20}(?:제한|제약|규칙|필터|검열)(?:이|도|은|이나)? ?(?:없는|없어|없이|받지 ?않는)",
    ),
    (
        "no_restrictions",
        0.85,
        r"(?:you are|you're|act as|pretend (?:to be|you are)) (?:now )?(?:an? )?(?:unrestricted|unfiltered|uncensored|jailbroken)",
    ),
    (
        "no_restrictions",
        0.8,
        r"(?:without|no) (?:any )?(?:restrictions|filters|censorship|rules|limits)(?:,| and) (?:answer|respond|reply|tell)",
    ),
    (
        "roleplay_jailbreak",
        0.9,
        r"\bdan\b[^.\n]{0,40}(?:do anything now|jailbreak|no (?:rules|restrictions))|do anything now",
    ),
    (
        "roleplay_jailbreak",
        0.85,
        r"(?:stay in character|never break character)[^.\n]{0,60}(?:no|without|ignore) (?:rules|restrictions|filters|policy)",
    ),
    ("roleplay_jailbreak", 0.8, r"(?:enable|activate|enter|switch to) (?:developer|dev|god|jailbreak|evil) mode"),
    ("roleplay_jailbreak", 0.8, r"(?:개발자|탈옥|갓|무제한) ?모드(?:를|로)? ?(?:활성화|켜|전환|진입|들어가)"),
    (
        "prompt_leak",
        0.85,
        r"(?:show|reveal|print|repeat|output|display|tell me|give me|leak|dump|what (?:is|are|were)) (?:me )?(?:your|the above|all of your|your initial|your original|your hidden) "
        r"(?:system |initial |hidden |original |secret )?(?:prompt|instructions|rules|guidelines)",
    ),
    (
        "prompt_leak",
        0.85,
        r"(?:repeat|print|output) (?:everything|the text|all text|the words) (?:above|before this|verbatim)",
    ),
    (
        "prompt_leak",
        0.85,
        r"(?:너의|네|당신의|니|위의|초기|숨겨진) ?(?:시스템 ?)?(?:프롬프트|지시 ?사항|지침|설정|규칙)(?:을|를|이|가)? ?(?:전부 |그대로 |모두 )?"
        r"(?:보여|알려|출력|말해|공개|유출|복사)",
    ),
    ("prompt_leak", 0.8, r"시스템 ?프롬프트(?:를|을)? ?(?:그대로 |전부 )?(?:보여|출력|공개|유출|알려)"),
    ("new_instructions", 0.6, r"(?:^|\n)\s*(?:###|\[)?\s*(?:new|updated|real) (?:system )?instructions?\s*[:\]]"),
    ("new_instructions", 0.6, r"(?:^|\n)\s*(?:<\|im_start\|>|<\|system\|>|\[system\]|system:)"),
    ("mention", 0.3, r"system prompt|jailbreak|시스템 ?프롬프트|탈옥|developer mode"),
)
# The regex of signal i runs only when the text mentions one of _TRIGGERS[i] (ASCII words as whole
# tokens, Korean words by their syllables; see Normalized.mentions): the regexes cost ~50 µs each.
_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("ignore", "disregard", "forget", "override", "bypass", "skip"),
    ("ignore", "disregard", "forget"),
    ("무시", "잊어", "잊고", "따르지", "신경", "버려", "해제"),
    ("제한", "제약", "규칙", "필터", "검열"),
    ("unrestricted", "unfiltered", "uncensored", "jailbroken"),
    ("restrictions", "filters", "censorship", "limits", "rules"),
    ("dan", "anything"),
    ("character",),
    ("mode",),
    ("모드",),
    ("prompt", "instructions", "rules", "guidelines"),
    ("above", "verbatim", "before"),
    ("프롬프트", "지시", "지침", "설정", "규칙"),
    ("프롬프트",),
    ("instruction", "instructions"),
    ("im", "system"),
    ("system", "jailbreak", "developer", "시스템", "탈옥"),
)
assert len(_TRIGGERS) == len(_SIGNALS)
_PATTERNS = [(name, weight, Trigger(_TRIGGERS[i]), re.compile(p)) for i, (name, weight, p) in enumerate(_SIGNALS)]

# Spelled-out phrases caught through inserted separators (weights as above).
_PHRASES = (
    ("ignore_instructions", 0.9, "ignore previous instructions"),
    ("ignore_instructions", 0.9, "ignore all previous instructions"),
    ("ignore_instructions", 0.9, "disregard previous instructions"),
    ("ignore_instructions", 0.9, "이전 지시를 무시"),
    ("ignore_instructions", 0.9, "시스템 프롬프트를 무시"),
    ("roleplay_jailbreak", 0.9, "do anything now"),
)
_PHRASE_MATCHER = WordMatcher([p for _, _, p in _PHRASES])

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){16,}")
_MIN_ENCODED = 24
_TAGS = re.compile("[\U000e0000-\U000e007f]+")

Signal = tuple[str, int, int, float]  # (kind, start, end, weight) in original offsets


def _window(text: str) -> tuple[str, int, str | None]:
    if len(text) <= 2 * SCAN_CHARS:
        return text, 0, None
    return text[:SCAN_CHARS], len(text) - SCAN_CHARS, text[-SCAN_CHARS:]


def _scan_normalized(n: Normalized, offset: int, out: list[Signal]) -> None:
    folded = n.folded
    for name, weight, triggers, rx in _PATTERNS:
        if not n.mentions(triggers):
            continue
        for m in rx.finditer(folded):
            s, e = n.span(*m.span())
            out.append((name, s + offset, e + offset, weight))
    for i, s, e in _PHRASE_MATCHER.find(n):
        name, weight, _ = _PHRASES[i]
        out.append((name, s + offset, e + offset, weight))


def _decoded(token: str, hexadecimal: bool) -> str | None:
    try:
        raw = (
            bytes.fromhex(token)
            if hexadecimal
            else base64.b64decode(
                token + "=" * (-len(token) % 4), altchars=b"-_" if ("-" in token or "_" in token) else None
            )
        )
        text = raw.decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return text if text.isprintable() or all(c.isprintable() or c.isspace() for c in text) else None


def _scan_part(text: str, offset: int, out: list[Signal], depth: int) -> None:
    n = normalize(text) if depth == 0 else Normalized(text)
    _scan_normalized(n, offset, out)
    if depth > 0:
        return
    if n.has_tags:
        for m in _TAGS.finditer(text):
            # "ASCII smuggling": invisible tag characters spelling out text.
            out.append(("unicode_tags", m.start() + offset, m.end() + offset, 0.9))
            hidden = "".join(chr(ord(c) - 0xE0000) for c in m.group())
            _recheck(hidden, m.start() + offset, m.end() + offset, "unicode_tags", out)
    # Encoded payloads are long whitespace-free tokens: str.split is far cheaper than a regex scan.
    decoded, pos = 0, 0
    tokens = text.split()
    if not tokens or max(map(len, tokens)) < _MIN_ENCODED:
        return
    for token in tokens:
        if len(token) < _MIN_ENCODED:
            continue
        pos = text.find(token, pos)
        for rx, hexadecimal in ((_HEX, True), (_BASE64, False)):
            m = rx.search(token)
            plain = _decoded(m.group(), hexadecimal) if m else None
            if plain and decoded < _MAX_ENCODED:
                decoded += 1
                s = pos + m.start() + offset
                _recheck(plain, s, s + len(m.group()), "hex" if hexadecimal else "base64", out)
                break
        pos += len(token)


def _recheck(plain: str, start: int, end: int, via: str, out: list[Signal]) -> None:
    inner: list[Signal] = []
    _scan_part(plain, 0, inner, depth=1)
    for name, _, _, weight in inner:
        if weight >= THRESHOLD:
            out.append((f"{name}_{via}", start, end, weight))


def signals(text: str) -> tuple[float, list[Signal]]:
    """Every signal found and the combined score (0 when none)."""
    out: list[Signal] = []
    head, tail_offset, tail = _window(text)
    _scan_part(head, 0, out, 0)
    if tail is not None:
        _scan_part(tail, tail_offset, out, 0)
    if not out:
        return 0.0, out
    miss = 1.0
    seen: set[tuple[str, int]] = set()
    for name, s, _, weight in out:
        if (name, s) not in seen:
            seen.add((name, s))
            miss *= 1.0 - weight
    out.sort(key=lambda sig: (sig[1], -sig[3]))
    return 1.0 - miss, out
