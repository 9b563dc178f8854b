"""Entity recognizers: candidate patterns, validators (checksums, dates, Luhn, card prefixes) and
scores with context words. Addresses and person names live in addresses.py and persons.py. Over 500
lines because the number-token classifier and its validators are one decision that reads best whole.

Every recognizer appends raw candidates ``(entity, start, end, score)`` to a list; the scanner
(:mod:`axops.pii.scanner`) filters them by threshold and resolves overlaps.

Speed comes from a few anchors that Python's regex engine can look for with its fast
first-character scan, and from doing the expensive work only at those anchors:

* one *number token* pattern (a run of digit groups joined by ``-``, ``.``, space or a
  parenthesis, optionally led by ``+`` or ``(``) covers RRN, ARN, BRN, driver licences, phones,
  cards, bank accounts and IPv4; each token is then classified once by its digit-group shape;
* ``@`` for e-mail, ``:`` for IPv6, ``[MSROD]`` + digits for passports;
* the last syllable of a road / lot name followed by a number (``로 12``, ``동 123-4``) for
  addresses;
* honorifics, titles and labels (``님``, ``씨``, ``과장``, ``성명:``, ``Mr.``, ``my name is``) for names.

Context words are looked up in the 32 characters before the candidate (see :class:`_Context`),
never across a ``\\x00`` (the row separator :func:`axops.pii.scanner.scan_many` uses).

Scores are in [0, 1]. A candidate's base score says how specific its shape is (separators,
checksum, issuer prefix); a context word moves it toward 1 (``base + (1 - base) * 0.7``); a
"negative" label right before it (order number, version, serial, amount, ...) lowers it by 0.3.
Entities that are never reported without context (bank accounts, bare driver licence numbers)
get a fixed score when it is there.
"""

from __future__ import annotations

import ipaddress
import re
from operator import mul

# --------------------------------------------------------------------------------------------
# Entity names (stable, public)
# --------------------------------------------------------------------------------------------

RRN = "RRN"  # 주민등록번호
ARN = "ARN"  # 외국인등록번호
PASSPORT = "PASSPORT"
DRIVER_LICENSE = "DRIVER_LICENSE"
BRN = "BRN"  # 사업자등록번호
PHONE = "PHONE"
EMAIL = "EMAIL"
CREDIT_CARD = "CREDIT_CARD"
BANK_ACCOUNT = "BANK_ACCOUNT"
IP_ADDRESS = "IP_ADDRESS"
ADDRESS_KR = "ADDRESS_KR"
PERSON = "PERSON"

ALL_ENTITIES: frozenset[str] = frozenset(
    {RRN, ARN, PASSPORT, DRIVER_LICENSE, BRN, PHONE, EMAIL, CREDIT_CARD, BANK_ACCOUNT, IP_ADDRESS, ADDRESS_KR, PERSON}
)
NUMERIC_ENTITIES = frozenset({RRN, ARN, DRIVER_LICENSE, BRN, PHONE, CREDIT_CARD, BANK_ACCOUNT, IP_ADDRESS})

SEP = "\x00"  # row separator inside a joined batch; context windows never cross it

# --------------------------------------------------------------------------------------------
# Validators
# --------------------------------------------------------------------------------------------

_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_CENTURY = {
    "1": 1900,
    "2": 1900,
    "5": 1900,
    "6": 1900,
    "3": 2000,
    "4": 2000,
    "7": 2000,
    "8": 2000,
    "9": 1800,
    "0": 1800,
}
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _rrn_sum(d: str) -> int:
    return sum(map(mul, map(int, d[:12]), _RRN_WEIGHTS))


def rrn_checksum_ok(digits: str) -> bool:
    """주민등록번호 check digit: (11 - Σ(d_i · w_i) mod 11) mod 10, w = 2..9,2..5."""
    return len(digits) == 13 and digits.isdigit() and (11 - _rrn_sum(digits) % 11) % 10 == int(digits[12])


def arn_checksum_ok(digits: str) -> bool:
    """외국인등록번호 check digit: same weights, constant 13: (13 - Σ mod 11) mod 10."""
    return len(digits) == 13 and digits.isdigit() and (13 - _rrn_sum(digits) % 11) % 10 == int(digits[12])


def valid_birth_date(digits: str) -> bool:
    """YYMMDD + gender/century digit (7th) form a real calendar date."""
    century = _CENTURY.get(digits[6])
    if century is None:
        return False
    mm, dd = int(digits[2:4]), int(digits[4:6])
    if not 1 <= mm <= 12 or dd < 1 or dd > _MONTH_DAYS[mm]:
        return False
    if mm == 2 and dd == 29:
        y = century + int(digits[:2])
        return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    return True


_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


def brn_checksum_ok(digits: str) -> bool:
    """사업자등록번호 check digit: s = Σ(d_i · w_i) + ⌊d_9·5/10⌋ with w = 1,3,7,1,3,7,1,3,5;
    check = (10 - s mod 10) mod 10."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    s = sum(map(mul, map(int, digits[:9]), _BRN_WEIGHTS)) + int(digits[8]) * 5 // 10
    return (10 - s % 10) % 10 == int(digits[9])


_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_ok(digits: str) -> bool:
    s = sum(map(int, digits[-1::-2])) + sum(map(_LUHN_DOUBLE.__getitem__, map(int, digits[-2::-2])))
    return s % 10 == 0


def card_brand(digits: str) -> str | None:
    """Issuer (IIN) of a card number by prefix and length, or None when unknown."""
    n = len(digits)
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (p2 in (36, 38, 39) or 300 <= p3 <= 305) and 14 <= n <= 19:
        return "diners"
    if (p4 == 6011 or p2 == 65 or 644 <= p3 <= 649) and 16 <= n <= 19:
        return "discover"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if digits[0] == "9" and n == 16:
        return "kr-domestic"  # BC and other Korean domestic-only cards
    return None


def ipv4_ok(groups: list[str]) -> bool:
    return len(groups) == 4 and all(len(g) <= 3 and int(g) <= 255 and (g[0] != "0" or len(g) == 1) for g in groups)


# --------------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------------

# Context words (lower-case literals). Several entity types may share a word. Short ASCII words
# must stand alone (checked after matching). "NEG" words mark the number after them as an order /
# serial / version / amount / ... number.
_CTX_WORDS: dict[str, str] = {
    ARN: "외국인 alien arc arn 체류",
    RRN: "주민 생년월일 resident rrn jumin ssn",
    PASSPORT: "여권 passport",
    DRIVER_LICENSE: "운전 면허 driver driving license licence",
    BRN: "사업자 법인 세금계산서 brn taxid tax-id",
    PHONE: "전화 연락 휴대 핸드폰 폰 팩스 문의 고객센터 콜센터 대표번호 문자 tel phone mobile cell cellphone fax call "
    "contact ☎ hp whatsapp sms",
    EMAIL: "메일 email e-mail mail",
    CREDIT_CARD: "카드 결제 card visa master mastercard amex cc",
    BANK_ACCOUNT: "계좌 입금 송금 이체 통장 예금주 은행 뱅크 금고 우체국 증권 account acct bank banking routing deposit "
    "transfer",
    IP_ADDRESS: "address addr ip 아이피 서버 server host 접속 client remote src dst gateway 게이트웨이",
    ADDRESS_KR: "address addr 주소 거주 배송 배달 사는 소재지 도로명 지번 자택 deliver delivery shipping",
    "NEG": "주문 order invoice 송장 운송장 tracking 상품 sku 모델 model 버전 version ver 일련 serial 시리얼 바코드 "
    "barcode ticket 티켓 예약 booking 접수 관리번호 문서번호 ref reference 거래번호 승인 transaction id 회원번호 "
    "고객번호 품번 isbn build 빌드 patch section chapter 조항 항목 page 쪽 합계 총액 금액 price $ ₩",
}
_CTX_PHRASES = {
    "tax id": BRN,
    "business no": BRN,
    "business number": BRN,
    "business reg": BRN,
    "business registration": BRN,
    "ship to": ADDRESS_KR,
    "registration card": ARN,
}
_CTX_OF: dict[str, tuple[str, ...]] = {}
for _ent, _words in _CTX_WORDS.items():
    for _w in _words.split():
        _CTX_OF[_w] = (*_CTX_OF.get(_w, ()), _ent)
for _w, _ent in _CTX_PHRASES.items():
    _CTX_OF[_w] = (*_CTX_OF.get(_w, ()), _ent)
_CTX_BOUNDED = frozenset(w for w in _CTX_OF if w.isascii() and w.isalpha() and len(w) <= 4)
_CTX_INFO = {w: (w in _CTX_BOUNDED, ents) for w, ents in _CTX_OF.items()}  # one lookup per match


def _trie_pattern(words, bounded=frozenset()) -> str:
    """A regex alternation of literal words factored as a trie (fast in Python's engine: every
    branch starts with a literal); longer words win over their prefixes; ``bounded`` words must
    not be followed by a letter or digit (the character before is checked by the caller)."""
    root: dict = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = word in bounded

    def emit(node: dict) -> str:
        alts = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items(), key=lambda kv: kv[0]) if ch]
        if "" in node:
            if node[""]:
                alts.append("(?![a-z0-9])")
            elif alts:
                return "(?:" + "|".join(alts) + ")?"
        if not alts:
            return ""
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return emit(root)


# All context words in one literal trie: Python's engine then skips quickly to the positions
# where a word can start (an alternative that is not a literal would cost it that: 3x slower).
_CTX_RX = re.compile(_trie_pattern(_CTX_OF, _CTX_BOUNDED))
# "Cuts" of the window: a sentence end (after Hangul, a digit, a bracket or a 4+ letter word, so
# not "Tel."), a line break, or an earlier number with a word after it — what comes before
# belongs to something else.
_SENT_END = re.compile(r"(?:(?<=[가-힣0-9)\]\"'])|(?<=[a-z]{4}))[.!?。]\s+|\n")
_LAST_NUM = re.compile(r".*\d", re.DOTALL)
_WORDY = re.compile(r"[가-힣]|[a-z]{2}")
_BANK_NAMES = tuple(
    n + suffix
    for n in (
        "국민",
        "신한",
        "우리",
        "하나",
        "농협",
        "기업",
        "카카오",
        "토스",
        "케이",
        "씨티",
        "sc제일",
        "제일",
        "kb",
        "nh",
        "ibk",
        "수협",
        "신협",
        "산업",
        "부산",
        "대구",
        "경남",
        "광주",
        "전북",
        "제주",
        "새마을",
    )
    for suffix in ("", "은행", "뱅크")
)
_BANK_LAST = frozenset(n[-1] for n in _BANK_NAMES)  # cheap test before the 75-way endswith
_PRE = 32
# A negative word counts only as the label right before the number ("주문번호: ", "order #").
_NEG_TAIL = re.compile(r"(?:번호|코드|넘버|no|number|num|id)?(?:은|는|이|가)?[\s:：#.=\-()\[\]'\"]*\Z")
_WORD = re.compile(r"[가-힣]+|[a-z]{2,}")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _before(text: str, s: int, n: int = _PRE) -> str:
    w = text[s - n if s > n else 0 : s]
    i = w.rfind(SEP)
    return w[i + 1 :] if i >= 0 else w


def _after(text: str, e: int, n: int) -> str:
    w = text[e : e + n]
    i = w.find(SEP)
    return w[:i] if i >= 0 else w


class _Context:
    """Context words before one candidate, found in one pass on first use and shared by the
    entity types tried for it.

    Only text *before* the candidate counts (labels precede values; words after a value usually
    belong to it or to the next one). The window (32 characters) restarts after a sentence end and
    after an earlier number followed by a word ("계좌 110-.., 연락처 010-.." keeps 연락처 for the
    phone). Positive words count anywhere in the window; a negative word counts only as the
    label right before the number, and then it wins.
    """

    __slots__ = ("found", "s", "text", "w")

    def __init__(self, text: str, s: int):
        self.text, self.s = text, s
        self.found: dict[str, int] | None = None
        self.w = ""

    def _scan(self) -> dict[str, int]:
        s = self.s
        w = self.text[s - _PRE if s > _PRE else 0 : s].lower()
        if SEP in w:
            w = w[w.rfind(SEP) + 1 :]
        cut = 0
        if "\n" in w or ". " in w or "? " in w or "! " in w or "。" in w:
            for m in _SENT_END.finditer(w):
                cut = m.end()
        m = _LAST_NUM.match(w, cut)
        if m is not None and _WORDY.search(w, m.end()) is not None:
            cut = m.end()
        if cut:
            w = w[cut:]
        found: dict[str, int] = {}
        for m in _CTX_RX.finditer(w):
            a, b = m.span()
            bounded, ents = _CTX_INFO[m.group()]
            if bounded and a > 0 and w[a - 1] in _ALNUM:
                continue
            for ent in ents:
                found[ent] = b
        if "NEG" in found and _NEG_TAIL.match(w, found["NEG"]) is None:
            del found["NEG"]
        self.w = w
        self.found = found
        return found

    def has(self, entity: str) -> bool:
        found = self.found if self.found is not None else self._scan()
        pos = found.get(entity, -1)
        return pos >= 0 and pos > found.get("NEG", -1)

    def words_between(self, entity: str) -> int:
        """How many words sit between the context word and the number (99: no context word):
        0-1 for "계좌번호: ", "입금 계좌: 신한 ", 2 for "(국민은행) 담당자 번호는 "."""
        found = self.found if self.found is not None else self._scan()
        pos = found.get(entity, -1)
        return 99 if pos < 0 else len(_WORD.findall(self.w, pos))

    def negative(self) -> bool:
        found = self.found if self.found is not None else self._scan()
        return "NEG" in found

    def bank_adjacent(self) -> bool:
        """A bank name right before the number ("국민 123456-..", "신한은행: .."): ambiguous words
        such as 우리/하나/기업 only count when adjacent."""
        if self.found is None:
            self._scan()
        w = self.w.rstrip(" :：")
        if not w or w[-1] not in _BANK_LAST or not w.endswith(_BANK_NAMES):
            return False
        i = len(w) - 1
        while i >= 0 and w[i].isalpha() and w[i].isascii():
            i -= 1
        return i < 0 or (not (w[i].isalpha() and w[i].isascii()) and not w[i].isdigit())


def _with_context(base: float, ctx: _Context, entity: str) -> float:
    if ctx.has(entity):
        return base + (1.0 - base) * 0.7
    if ctx.negative():
        return max(0.0, base - 0.3)
    return base


# --------------------------------------------------------------------------------------------
# Number tokens: RRN, ARN, BRN, DRIVER_LICENSE, PHONE, CREDIT_CARD, BANK_ACCOUNT, IPv4
# --------------------------------------------------------------------------------------------

# First character from a small set (lets the engine skip ahead fast), not glued to a preceding
# word or number, at least 7 characters of number material, digit groups joined by one
# separator ("-", ".", " ", " - ", ")", ") ", " ("), possessive so it never backs into a shorter
# token, not followed by a letter or digit.
_NUM = re.compile(
    r"[+(0-9](?<![0-9A-Za-z_][+(0-9])(?<![0-9A-Za-z][-.][+(0-9])(?=[-. ()+0-9]{6})"
    r"\d*+(?:(?:-|\.|\)\ ?|\ ?\(|\ (?:-\ )?)\d++)*+(?![0-9A-Za-z_])"
)
_DIGRUN = re.compile(r"\d+")
_SPACE_PART = re.compile(r"[^ ]+")
_DL_REGION = re.compile(
    r"(?:서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산|경기북부|경기남부)\s?\Z"
)
_LANDLINE = frozenset(
    {"031", "032", "033", "041", "042", "043", "044", "051", "052", "053", "054", "055", "061", "062", "063", "064"}
)
_MOBILE_OLD = frozenset({"011", "016", "017", "018", "019"})
_CARD_SHAPES = frozenset(
    {
        (4, 4, 4, 4),
        (4, 6, 5),
        (4, 6, 4),
        (4, 4, 4, 1),
        (4, 4, 4, 2),
        (4, 4, 4, 3),
        (4, 4, 4, 4, 1),
        (4, 4, 4, 4, 2),
        (4, 4, 4, 4, 3),
    }
)


def _kr_phone(d: str, shape: tuple[int, ...], bare: bool, paren: bool) -> float:
    """Base score of a Korean phone number (digits ``d`` incl. leading 0), 0 if not one."""
    n = len(d)
    p3 = d[:3]
    if p3 == "010":
        if n == 11 and (bare or shape == (3, 4, 4)):
            return 0.6 if bare else 0.75
        return 0.0
    if p3 in _MOBILE_OLD:
        if n in (10, 11) and (bare or shape in ((3, 3, 4), (3, 4, 4))):
            return 0.4 if bare else 0.65
        return 0.0
    if d[:2] == "02":
        if n in (9, 10) and (bare or shape in ((2, 3, 4), (2, 4, 4))):
            return 0.35 if bare else (0.7 if paren else 0.6)
        return 0.0
    if p3 in _LANDLINE or p3 == "070":
        if n in (10, 11) and (bare or shape in ((3, 3, 4), (3, 4, 4))):
            return 0.35 if bare else (0.7 if paren else 0.6)
        return 0.0
    if p3 == "050":
        if n in (11, 12) and (bare or shape in ((4, 3, 4), (4, 4, 4))):
            return 0.3 if bare else 0.55
        return 0.0
    if n == 8 and d[:2] in ("15", "16", "18"):
        if bare:
            return 0.25
        return 0.55 if shape == (4, 4) else 0.0
    return 0.0


def _intl_phone(d: str, ng: int) -> float:
    if d.startswith("82"):
        nat = d[2:]
        if not nat.startswith("0"):
            nat = "0" + nat
        b = _kr_phone(nat, (), True, False)
        return 0.85 if b else 0.0
    if 8 <= len(d) <= 15:
        if d[0] == "1" and len(d) != 11:
            return 0.0
        return 0.65 if ng >= 2 else 0.55
    return 0.0


# The entity's own name a little further away than the context window reaches: in the sentence
# before ("주민번호 알려드립니다. 900101..."), past a count ("주민번호13자리 ..."), or right after the
# number ("900101... 제 주민번호에요"). Only for bare numbers that pass their checksum (and date).
_ID_WORDS = {
    RRN: re.compile(r"주민|resident|rrn|jumin|ssn"),
    ARN: re.compile(r"외국인|alien|arn"),
    BRN: re.compile(r"사업자|세금계산서|tax ?id|brn|business reg"),
}


_AFTER_CUT = re.compile(r"[.!?\n]")


def _id_word_near(text: str, s: int, e: int, ent: str) -> bool:
    before = _before(text, s, 56).lower()
    rx = _ID_WORDS[ent]
    if rx.search(before) is not None and _NUM.search(before) is None:
        return True
    after = _AFTER_CUT.split(_after(text, e, 12), 1)[0]  # the same sentence only
    return rx.search(after.lower()) is not None


def _classify(text: str, s: int, e: int, tok: str, want: frozenset[str]):
    """Best (entity, start, end, score) for one number token, or None."""
    groups = _DIGRUN.findall(tok)
    ng = len(groups)
    c0 = tok[0]
    if c0 == "+":
        if PHONE in want:
            b = _intl_phone("".join(groups), ng)
            if b:
                return (PHONE, s, e, _with_context(b, _Context(text, s), PHONE))
        return None

    if ng == 4 and "." in tok:
        if IP_ADDRESS in want and "-" not in tok and " " not in tok and ")" not in tok and ipv4_ok(groups):
            return (IP_ADDRESS, s, e, _with_context(0.7, _Context(text, s), IP_ADDRESS))
        return None

    d = "".join(groups)
    n = len(d)
    if n < 8:
        return None
    cands: list[tuple[str, int, int, float]] = []
    ctx = _Context(text, s)
    bare = ng == 1
    shape = tuple(map(len, groups))
    paren = c0 == "(" or ")" in tok
    dotted = "." in tok

    # RRN / ARN: YYMMDD-GNNNNNN
    if n == 13 and (bare or (shape == (6, 7) and not dotted and not paren)) and valid_birth_date(d):
        g = d[6]
        ent = ARN if g in "5678" else RRN
        if ent in want:
            chk = arn_checksum_ok(d) if ent == ARN else rrn_checksum_ok(d)
            if bare:  # a bare 13-digit run needs a context word (random runs pass ~0.1% of the time)
                b = 0.45 if chk else 0.3
                if chk and not ctx.has(ent) and _id_word_near(text, s, e, ent):
                    b = 0.75
            elif tok[6] == "-":
                b = 0.85 if chk else 0.6
            else:
                b = 0.8 if chk else 0.55
            cands.append((ent, s, e, _with_context(b, ctx, ent)))

    if PHONE in want and (not dotted or ng == 3):
        b = _kr_phone(d, shape, bare, paren)
        if b:
            cands.append((PHONE, s, e, _with_context(b, ctx, PHONE)))

    if BRN in want and n == 10 and (bare or shape == (3, 2, 5)) and not paren and brn_checksum_ok(d):
        b = 0.3 if bare else 0.7
        if bare and not ctx.has(BRN) and _id_word_near(text, s, e, BRN):
            b = 0.75
        cands.append((BRN, s, e, _with_context(b, ctx, BRN)))

    if DRIVER_LICENSE in want and n in (10, 12) and not paren:
        if shape == (2, 2, 6, 2):
            if 11 <= int(d[:2]) <= 28:
                cands.append((DRIVER_LICENSE, s, e, _with_context(0.65, ctx, DRIVER_LICENSE)))
        elif shape == (2, 6, 2):
            m = _DL_REGION.search(text, max(0, s - 6), s)
            if m is not None:
                cands.append((DRIVER_LICENSE, m.start(), e, _with_context(0.85, ctx, DRIVER_LICENSE)))
            elif ctx.has(DRIVER_LICENSE):
                cands.append((DRIVER_LICENSE, s, e, 0.7))
        elif bare and n == 12 and 11 <= int(d[:2]) <= 28 and ctx.has(DRIVER_LICENSE):
            cands.append((DRIVER_LICENSE, s, e, 0.75))

    if CREDIT_CARD in want and 13 <= n <= 19 and (bare or shape in _CARD_SHAPES) and not paren and luhn_ok(d):
        brand = card_brand(d)
        if brand is not None:  # bare: ~2% of random 16-digit runs pass Luhn with a known prefix
            b = 0.45 if bare else 0.85
        else:
            b = 0.2 if bare else 0.45
        cands.append((CREDIT_CARD, s, e, _with_context(b, ctx, CREDIT_CARD)))

    if (
        BANK_ACCOUNT in want
        and 10 <= n <= 14
        and not dotted
        and not paren
        and (bare or (min(shape) >= 2 and max(shape) <= 8))
    ):
        if ctx.has(BANK_ACCOUNT):
            between = ctx.words_between(BANK_ACCOUNT)
            if cands:  # also a phone / RRN / ... shape: the bank word must be right before it
                cands.append((BANK_ACCOUNT, s, e, 0.85 if between <= 1 else 0.6))
            elif between <= 2:
                cands.append((BANK_ACCOUNT, s, e, 0.75 if bare else 0.85))
            elif not bare:
                cands.append((BANK_ACCOUNT, s, e, 0.75))
        elif ctx.bank_adjacent():
            cands.append((BANK_ACCOUNT, s, e, 0.7 if bare else 0.8))

    if not cands:
        return None
    return cands[0] if len(cands) == 1 else max(cands, key=_score)


def _score(c) -> float:
    return c[3]


def find_numbers(text: str, want: frozenset[str], threshold: float, out: list) -> None:
    for m in _NUM.finditer(text):
        s, e = m.span()
        tok = m.group()
        if tok[0] == "(" and ")" not in tok:  # "센터(1588-0000)": the bracket is not part of it
            s, tok = s + 1, tok[1:]
        best = _classify(text, s, e, tok, want)
        if best is not None and best[3] >= threshold:
            out.append(best)
            continue
        if " " in tok:
            _split_token(text, s, tok, want, threshold, out)


def _split_token(text: str, s: int, tok: str, want: frozenset[str], threshold: float, out: list) -> None:
    """A token joined over spaces that is no entity as a whole ("010-1234-5678 010-2345-6789",
    "주문 12345 010 1234 5678"): try runs of its space-separated parts, longest first."""
    parts = [(p.start(), p.end()) for p in _SPACE_PART.finditer(tok) if tok[p.start()] in "+(0123456789"]
    i, k = 0, len(parts)
    while i < k:
        for j in range(min(k, i + 6), i, -1):
            a, b = parts[i][0], parts[j - 1][1]
            if (a == 0 and b == len(tok)) or not tok[b - 1].isdigit():
                continue  # the whole token (already tried), or a run ending in "(02)"
            best = _classify(text, s + a, s + b, tok[a:b], want)
            if best is not None and best[3] >= threshold:
                out.append(best)
                i = j
                break
        else:
            i += 1


# --------------------------------------------------------------------------------------------
# E-mail, IPv6, passport
# --------------------------------------------------------------------------------------------

_LOCAL_REV = re.compile(r"[A-Za-z0-9._%+\-]{1,64}")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])")


def find_emails(text: str, out: list) -> None:
    at = text.find("@")
    while at >= 0:
        dm = _DOMAIN.match(text, at + 1)
        if dm is not None and at > 0:
            lm = _LOCAL_REV.match(text[at - 1 : max(0, at - 65) or None : -1])
            if lm is not None:
                s = at - lm.end()
                while s < at and text[s] in ".-+%":
                    s += 1
                if s < at and text[at - 1] != ".":
                    ctx = _Context(text, s)
                    out.append((EMAIL, s, dm.end(), _with_context(0.9, ctx, EMAIL)))
            at = text.find("@", dm.end())
        else:
            at = text.find("@", at + 1)


_V6_ANCHOR = re.compile(r":(?=[0-9A-Fa-f:])")
_HEX_REV = re.compile(r"[0-9A-Fa-f]{1,4}")
_V6_BODY = re.compile(r"[0-9A-Fa-f:]{2,39}(?:\.\d{1,3}){0,3}")
_V6_BAD_BEFORE = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:.")


def find_ipv6(text: str, out: list) -> None:
    last = -1
    for m in _V6_ANCHOR.finditer(text):
        a = m.start()
        if a < last:
            continue
        hm = _HEX_REV.match(text[a - 1 : max(0, a - 5) or None : -1]) if a > 0 else None
        s = a - (hm.end() if hm else 0)
        if s > 0 and text[s - 1] in _V6_BAD_BEFORE:
            continue
        bm = _V6_BODY.match(text, s)
        if bm is None:
            continue
        e = bm.end()
        last = e
        cand = bm.group()
        if cand.endswith(":") and not cand.endswith("::"):
            cand, e = cand[:-1], e - 1
        if cand.count(":") < 2 or not any(c.isdigit() for c in cand):
            continue
        if e < len(text) and ((text[e].isalnum() and text[e].isascii()) or text[e] in "_:"):
            continue
        try:
            ipaddress.IPv6Address(cand)
        except ValueError:
            continue
        out.append((IP_ADDRESS, s, e, _with_context(0.8, _Context(text, s), IP_ADDRESS)))


# Korean passports: M/S/R/O/D + 8 digits, or (since 2021) letter + 3 digits + letter + 4 digits.
_PASSPORT_RE = re.compile(r"[MSROD](?<![0-9A-Za-z_][MSROD])(?:\d{8}|\d{3}[A-Z]\d{4})(?![0-9A-Za-z_])")


def find_passports(text: str, out: list) -> None:
    for m in _PASSPORT_RE.finditer(text):
        s, e = m.span()
        out.append((PASSPORT, s, e, _with_context(0.45, _Context(text, s), PASSPORT)))
