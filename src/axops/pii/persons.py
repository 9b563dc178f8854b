"""Person names: Korean names before honorifics, titles and labels (님, 씨, 과장, 성명:), checked against
surnames, stop words and the Korean analyser (kiwipiepy); English names after titles and phrases
("Mr.", "my name is"). Over 500 lines because most of it is word lists (surnames, stop words), not logic."""

from __future__ import annotations

import re
import threading
import warnings

from axops.pii import names
from axops.pii.recognizers import PERSON, _after

# --------------------------------------------------------------------------------------------
# Person names
# --------------------------------------------------------------------------------------------

SURNAMES_2 = frozenset({"남궁", "황보", "제갈", "선우", "독고", "사공", "서문"})
SURNAMES = frozenset(
    {
        "김",
        "이",
        "박",
        "최",
        "정",
        "강",
        "조",
        "윤",
        "장",
        "임",
        "한",
        "오",
        "서",
        "신",
        "권",
        "황",
        "안",
        "송",
        "전",
        "홍",
        "유",
        "고",
        "문",
        "양",
        "손",
        "배",
        "백",
        "허",
        "남",
        "심",
        "노",
        "하",
        "곽",
        "성",
        "차",
        "주",
        "우",
        "구",
        "민",
        "류",
        "나",
        "진",
        "지",
        "엄",
        "채",
        "원",
        "천",
        "방",
        "공",
        "현",
        "함",
        "변",
        "염",
        "여",
        "추",
        "도",
        "소",
        "석",
        "선",
        "설",
        "마",
        "길",
        "연",
        "위",
        "표",
        "명",
        "기",
        "반",
        "왕",
        "금",
        "옥",
        "육",
        "인",
        "맹",
        "제",
        "모",
        "탁",
        "국",
        "어",
        "은",
        "편",
        "용",
        "예",
        "경",
        "봉",
        "사",
        "부",
        "가",
        "복",
        "태",
        "목",
        "형",
        "피",
        "두",
        "감",
        "음",
        "빈",
        "동",
        "온",
        "호",
        "범",
        "좌",
        "팽",
        "승",
        "간",
        "상",
        "시",
        "갈",
        "단",
        "견",
        "당",
    }
)
# Words that look like "surname + syllables" in front of 님/씨/titles but are not names.
_NAME_STOP = frozenset(
    {
        "고객",
        "회원",
        "선생",
        "사장",
        "부장",
        "과장",
        "대리",
        "팀장",
        "실장",
        "원장",
        "교수",
        "기사",
        "사모",
        "주인",
        "손님",
        "환자",
        "보호자",
        "학부모",
        "부모",
        "여러분",
        "관리자",
        "담당자",
        "사용자",
        "이용자",
        "운영자",
        "작성자",
        "신청자",
        "구매자",
        "판매자",
        "상담원",
        "직원",
        "조교",
        "목사",
        "신부",
        "수녀",
        "작가",
        "감독",
        "대표",
        "회장",
        "이사",
        "위원",
        "의원",
        "시장",
        "장관",
        "총장",
        "학생",
        "아기",
        "문의",
        "방문",
        "안녕",
        "감사",
        "수고",
        "정말",
        "진짜",
        "이번",
        "오늘",
        "내일",
        "어제",
        "모든",
        "여러",
        "전체",
        "우리",
        "저희",
        "가족",
        "친구",
        "동생",
        "형님",
        "누님",
        "언니",
        "오빠",
        "아버",
        "어머",
        "할머",
        "할아버",
        "아버님",
        "어머님",
        "도련",
        "서방",
        "아가",
        "아저",
        "아주머",
        "사모님",
        "주무",
        "간호",
        "의사",
        "변호",
        "기자",
        "박사",
        "연구",
        "연구원",
        "매니저",
        "선임",
        "책임",
        "수석",
        "주임",
        "사원",
        "상무",
        "전무",
        "부사장",
        "사업",
        "고문",
        "감사님",
        "공무원",
        "경찰",
        "소방",
        "기장",
        "선장",
        "반장",
        "조장",
        "국장",
        "차장",
        "지점장",
        "점장",
        "상담사",
        "설계사",
        "판사",
        "검사",
        "장군",
        "도사",
        "성님",
        "신랑",
        "신부님",
        "하느",
        "하나",
        "부처",
        "예수",
        "임금",
        "왕비",
        "공주",
        "왕자",
        "도련님",
        "아가씨",
        "마님",
        "나리",
        "소장",
        "구청",
        "시청",
    }
)
_HONORIFIC = frozenset({"님", "씨"})
_KO_SUFFIX = re.compile(
    r"(?:님|씨|고객님|회원님|대리|과장|차장|부장|팀장|실장|사원|주임|이사|상무|전무|사장|원장|교수|박사|기자|변호사|매니저"
    r"|선임|책임|수석|연구원|선생님|고객|대표|작가|감독|선수|의원|언니|오빠|누나|형님|님께|님이)"
)
_KO_BEFORE = re.compile(r"(?<![가-힣])(?P<name>[가-힣]{2,4})(?P<sp> ?)\Z")
_KO_LABEL = re.compile(
    r"(?:성명|이름|고객명|고객 ?이름|담당자|예금주|수신인|수신자|작성자|신청인|신청자|대표자|환자명|보호자|수령인|수취인"
    r"|계약자|명의자|받는 ?분|받는 ?사람|보내는 ?분|피보험자|담당|문의자|상담원|참석자|성함|영문명|영문 ?이름)"
    r"(?:\s*(?:은|는|:|：|=|\))|\s)\s*(?P<name>[가-힣]{2,6}|[A-Z][a-z]+(?: [A-Z][a-z]+){0,2})"
)
_EN_ANCHOR = re.compile(
    r"(?:Mrs|Mr|Miss|Ms|Mx|Dr|Prof|my name is|My name is|name:|Name:|NAME:|signed by|Signed by"
    r"|Regards,|regards,|Sincerely,|sincerely,|Dear|Attn:|ATTN:|Contact:|contact:)"
)
_EN_NAME = re.compile(
    r"\.?[ \t]*\n?[ \t]*(?P<name>[A-Z][a-z]+(?:[-'][A-Za-z][a-z]+)?(?:[ \t]+[A-Z]\.)?"
    r"(?:[ \t]+[A-Z][a-z]+(?:[-'][A-Za-z][a-z]+)?){0,2})\b"
)
_EN_STOP = frozenset(
    {
        "The",
        "This",
        "That",
        "Team",
        "Support",
        "Customer",
        "Customers",
        "Service",
        "Services",
        "Sir",
        "Madam",
        "Admin",
        "Manager",
        "All",
        "Everyone",
        "Valued",
        "User",
        "Users",
        "Hi",
        "Hello",
        "Thanks",
        "Thank",
        "Best",
        "Kind",
        "Yours",
        "Inc",
        "Corp",
        "Company",
        "Ltd",
        "Department",
        "Dept",
        "Office",
        "Korea",
        "Seoul",
        "Please",
        "My",
        "Your",
        "Our",
        "Friend",
        "Friends",
        "Colleagues",
        "Member",
        "Members",
        "Applicant",
        "Client",
        "Partner",
        "Partners",
        "Sales",
        "Account",
        "Accounts",
        "Billing",
        "Human",
        "Resources",
        "Not",
        "None",
        "Unknown",
        "Required",
        "Name",
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
        "Prof",
        "Miss",
        "Is",
        "And",
        "Or",
        "We",
        "You",
        "He",
        "She",
        "It",
        "They",
        "I",
    }
)
_EN_TITLES = frozenset({"Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Dear"})
_EN_SCORES = {
    "Mr": 0.85,
    "Mrs": 0.85,
    "Ms": 0.85,
    "Miss": 0.8,
    "Mx": 0.85,
    "Dr": 0.85,
    "Prof": 0.85,
    "my name is": 0.85,
    "My name is": 0.85,
    "name:": 0.85,
    "Name:": 0.85,
    "NAME:": 0.85,
    "Dear": 0.65,
}


def _ko_name_span(run: str) -> str | None:
    """The name at the start of a Hangul run after a label ("김철수입니다" → 김철수)."""
    if run[:2] in SURNAMES_2:
        return run[:4] if len(run) >= 4 else (run if len(run) == 3 else None)
    if run[0] not in SURNAMES:
        return None
    return run if len(run) == 2 else run[:3]


def find_persons(text: str, threshold: float, out: list) -> None:
    """Korean names by label / honorific (+ kiwi hint), English names by title / introduction."""
    taken: set[int] = set()
    for m in _KO_LABEL.finditer(text):
        raw = m.group("name")
        s = m.start("name")
        if raw[0] < "가":  # Latin name after a Korean label
            words = raw.split()
            if words[0] in _EN_STOP:
                continue
            out.append((PERSON, s, s + len(raw), 0.8))
            taken.add(s)
            continue
        name = _ko_name_span(raw)
        if name is None or name in _NAME_STOP:
            continue
        taken.add(s)
        if threshold <= 0.85:  # a label is strong evidence; kiwi only vetoes common words (연락처)
            score = _kiwi_adjust(text, s, s + len(name), 0.85, boost=False, glued=len(raw) > len(name))
            out.append((PERSON, s, s + len(name), score))

    pending: list[tuple[int, int, float]] = []
    for m in _KO_SUFFIX.finditer(text):
        a = m.start()
        w0 = max(0, a - 6)
        bm = _KO_BEFORE.search(text, w0, a)
        if bm is None:
            continue
        name = bm.group("name")
        s = bm.start("name")
        if s in taken:
            continue
        if name[:2] in SURNAMES_2:
            if len(name) < 3:
                continue
        elif name[0] not in SURNAMES or len(name) == 4:
            continue
        if name in _NAME_STOP:
            continue
        honor = m.group() in _HONORIFIC or m.group() in ("고객님", "회원님", "선생님")
        base = (0.6 if honor else 0.55) if len(name) >= 3 else 0.45
        pending.append((s, s + len(name), base))
    for s, e, base in pending:
        taken.add(s)
        if base + 0.25 >= threshold:  # the kiwi hint adds 0.25 at most: skip it when it can't matter
            out.append((PERSON, s, e, _kiwi_adjust(text, s, e, base)))

    for m in _EN_ANCHOR.finditer(text):
        key = m.group()
        if key in _EN_TITLES:
            if m.start() > 0 and text[m.start() - 1].isalpha():
                continue
            nxt = text[m.end() : m.end() + 1]
            if nxt not in (".", " ", "\t"):
                continue
        nm = _EN_NAME.match(text, m.end())
        if nm is None or (nm.start("name") == m.end() and key[-1].isalpha()):
            continue
        name = nm.group("name")
        first = name.split()[0].split("-")[0]
        if first in _EN_STOP:
            continue
        out.append((PERSON, nm.start("name"), nm.end("name"), _EN_SCORES.get(key, 0.7)))
        taken.add(nm.start("name"))

    names.find_korean(text, threshold, out, taken, kiwi, kiwi_lock)
    names.find_english(text, out, taken)


# kiwipiepy: loaded lazily, once per process, only when a name candidate needs a second opinion.
kiwi_lock = threading.Lock()
_kiwi_obj = None
_kiwi_failed = False


def kiwi():
    """The shared Kiwi analyser (loaded on first use: about 2 s and a few hundred MB), or None
    when kiwipiepy cannot be loaded (names are then scored without the morphological hint)."""
    global _kiwi_obj, _kiwi_failed
    if _kiwi_obj is None and not _kiwi_failed:
        with kiwi_lock:
            if _kiwi_obj is None and not _kiwi_failed:
                try:
                    from kiwipiepy import Kiwi

                    with warnings.catch_warnings():  # "num_workers=0 changed in 0.21": we want 1 thread
                        warnings.simplefilter("ignore", DeprecationWarning)
                        _kiwi_obj = Kiwi(num_workers=0)
                except Exception:
                    _kiwi_failed = True
    return _kiwi_obj


def warm() -> None:
    """Load the analyser and run one analysis (a process's first costs ~1.5 s more): loading holds the
    interpreter for about 2 s, which at the first prompt or upload with a name would stall every request."""
    analyser = kiwi()
    if analyser is not None:
        with kiwi_lock:
            analyser.tokenize("평가 실행을 준비합니다.")


# Analyses by window: the candidate and the Hangul glued to it (particle, honorific, up to 10
# characters), not the words after it: the analyser's cost grows faster than the window (4
# characters ~33 us, 12 ~72 us, 30 ~230 us), and name + particle repeats more than a phrase.
# Decisions at the default threshold were the same on the hand-written and synthetic sets; scores
# of kept names moved by up to +-0.25 (the NNP hint sees less context).
_tokens_cache: dict[str, list] = {}
_GLUED = re.compile(r"[가-힣]*")


def _kiwi_adjust(text: str, s: int, e: int, base: float, boost: bool = True, glued: bool = False) -> float:
    """Morphological hint: the candidate as a proper noun (NNP) or an unknown word raises the
    score; a known common word spanning it vetoes it, and so does a common word crossing its end
    (not after a label: with ``boost=False`` only exact common words veto). When more Hangul is
    glued to the candidate (``glued``), a known noun followed by a verb, ending or particle inside
    it vetoes it too ("성명: 정보없음"). Short names alone are often mis-split (석유/NNG 나/JC),
    hence no veto on that when the candidate stands alone."""
    analyser = kiwi()
    if analyser is None:
        return base
    window = _after(text, s, (e - s) + 10)
    window = window[: _GLUED.match(window, e - s).end()]
    tokens = _tokens_cache.get(window)
    if tokens is None:
        try:
            with kiwi_lock:  # one analysis at a time: Kiwi objects are not documented as thread-safe
                tokens = analyser.tokenize(window)
        except Exception:
            return base
        if len(_tokens_cache) >= 20_000:
            _tokens_cache.clear()
        _tokens_cache[window] = tokens
    n = e - s
    inside = [t for t in tokens if t.start < n]
    if not inside or inside[0].start != 0:
        return base
    head = inside[0]
    if glued and head.tag == "NNG" and head.len >= 2 and not head.oov and any(t.tag[0] in "VEJ" for t in inside[1:]):
        return 0.15  # a known noun, then a verb / ending / particle: "정보없(음)"
    last = inside[-1]
    if last.start + last.len > n:
        # part of a longer word ("홍보팀장"), unless that is a proper noun itself; after a label
        # the split is often the analyser's ("백유나입니다" -> 백유/NNP 나이/NNG): keep the label's word
        if last.tag == "NNP" or not boost:
            return base
        # the analyser glued the honorific on or split an unknown name ("홍채/NNG 원/NNG 님", "최지/NNG 아니/VCN")
        return base if text[e : e + 1] in ("님", "씨") else 0.15
    first = inside[0]
    if len(inside) == 1 and first.len == n:
        if first.tag == "NNP" or first.oov:
            return min(1.0, base + 0.25) if boost else base
        return 0.15  # a dictionary word: 선생, 이사, 정말, 연락처 ...
    if first.tag == "NNP" and boost:
        return min(1.0, base + 0.15)
    return base
