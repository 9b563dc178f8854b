"""Korean addresses: anchored on the last syllable of a road (로/길) or lot (동/리/가) name followed by a
number, then read backwards to the province / city / district names before it."""

from __future__ import annotations

import re

from axops.pii.recognizers import ADDRESS_KR, SEP, _Context, _with_context

# --------------------------------------------------------------------------------------------
# Korean addresses
# --------------------------------------------------------------------------------------------

_SIDO_NAMES = (
    "서울특별시",
    "부산광역시",
    "대구광역시",
    "인천광역시",
    "광주광역시",
    "대전광역시",
    "울산광역시",
    "세종특별자치시",
    "경기도",
    "강원특별자치도",
    "강원도",
    "충청북도",
    "충청남도",
    "전북특별자치도",
    "전라북도",
    "전라남도",
    "경상북도",
    "경상남도",
    "제주특별자치도",
    "서울시",
    "부산시",
    "대구시",
    "인천시",
    "광주시",
    "대전시",
    "울산시",
    "세종시",
    "제주도",
    "서울",
    "부산",
    "대구",
    "인천",
    "광주",
    "대전",
    "울산",
    "세종",
    "경기",
    "강원",
    "충북",
    "충남",
    "전북",
    "전남",
    "경북",
    "경남",
    "제주",
)
# Anchor: last syllable of a road (로/길) or lot (동/리/가) name, then a number.
_ADDR_ANCHOR = re.compile(r"[로길동리가](?= ?\d)(?<![^0-9]가)")  # 가 only after a digit: 종로1가
# What precedes the anchor, matched on the *reversed* text from the anchor backwards (one match
# attempt instead of a search): name, then optional 읍/면, 구, 시/군/구, 시/도 — each a whole word.
_SIDO_REV = "|".join(sorted((n[::-1] for n in _SIDO_NAMES), key=len, reverse=True))
_ADDR_BACK_REV = re.compile(
    r"(?P<name>[가-힣][가-힣0-9]{1,12})(?![가-힣0-9])"
    r"(?:\s+(?P<em>[읍면][가-힣]{1,5})(?![가-힣]))?"
    r"(?:\s+(?P<gu>구[가-힣]{1,5})(?![가-힣]))?"
    r"(?:\s+(?!(?:" + _SIDO_REV + r")(?![가-힣]))(?P<sgg>[시군구][가-힣]{1,6})(?![가-힣]))?"
    r"(?:\s+(?P<sido>" + _SIDO_REV + r")(?![가-힣]))?"
)
_ADDR_NUM = re.compile(
    r" ?(?P<num>\d{1,5}(?:-\d{1,5})?)(?![0-9])(?P<bunji> ?번지)?"
    r"(?P<tail>(?:,? ?\d{1,4}층)?(?:,? ?\d{1,4}동)?(?: ?\d{1,5}호)?)"
)
_ADDR_NEXT_ROAD = re.compile(r"번?길|가(?![가-힣])")
_ROAD_STOP = frozenset(
    {
        "도로",
        "경로",
        "진로",
        "통로",
        "항로",
        "선로",
        "회로",
        "수로",
        "활로",
        "미로",
        "철로",
        "새로",
        "별로",
        "바로",
        "서로",
        "실로",
        "주로",
        "날로",
        "절로",
        "홀로",
        "스스로",
        "그대로",
        "이대로",
        "멋대로",
        "제대로",
        "마음대로",
        "대로",
        "차로",
        "해로",
        "육로",
        "공로",
        "과로",
        "노로",
        "이로",
        "그로",
        "저로",
        "앞으로",
        "뒤로",
        "위로",
        "아래로",
        "옆으로",
        "이길",
        "갈길",
        "지름길",
        "오솔길",
        "산길",
        "물길",
        "뱃길",
        "하늘길",
        "앞길",
        "뒷길",
        "빗길",
        "눈길",
        "밤길",
        "먼길",
    }
)
_LOT_STOP = frozenset(
    {
        "활동",
        "이동",
        "행동",
        "자동",
        "운동",
        "변동",
        "가동",
        "출동",
        "노동",
        "공동",
        "연동",
        "작동",
        "발동",
        "감동",
        "충동",
        "부동",
        "진동",
        "파동",
        "유동",
        "기동",
        "구동",
        "난동",
        "폭동",
        "선동",
        "합동",
        "협동",
        "거동",
        "소동",
        "경동",
        "우리",
        "거리",
        "처리",
        "관리",
        "수리",
        "정리",
        "요리",
        "유리",
        "논리",
        "원리",
        "심리",
        "권리",
        "무리",
        "소리",
        "머리",
        "자리",
        "가리",
        "다리",
        "마리",
        "차리",
        "이리",
        "저리",
        "그리",
        "어리",
        "보리",
        "오리",
        "의리",
        "승리",
    }
)


def find_addresses(text: str, out: list) -> None:
    last = -1
    for m in _ADDR_ANCHOR.finditer(text):
        a = m.start()
        if a < last:
            continue
        if a == 0:
            continue
        nm = _ADDR_NUM.match(text, a + 1)
        if nm is None:
            continue
        after = nm.end("num")
        if _ADDR_NEXT_ROAD.match(text, after):
            continue  # "테헤란로4길 5", "종로1가 12": the later anchor is the real one
        w0 = max(0, a - 60)
        rev = text[a : w0 - 1 if w0 > 0 else None : -1]
        i = rev.find(SEP)
        if i >= 0:
            rev = rev[:i]
        bm = _ADDR_BACK_REV.match(rev)
        if bm is None:
            continue
        name = bm.group("name")[::-1]
        kind = text[a]
        road = kind in "로길"
        region = bool(bm.group("sido")) + bool(bm.group("sgg") or bm.group("gu") or bm.group("em"))
        bunji = bool(nm.group("bunji"))
        if road:
            if name in _ROAD_STOP or name.endswith("으로"):
                continue
            base = (0.45, 0.8, 0.9)[region]
        else:
            if kind == "리" and not (bm.group("em") or bm.group("sgg")):
                continue
            if name in _LOT_STOP and not region:
                continue
            base = (0.3, 0.75, 0.85)[region] + (0.15 if bunji else 0.0)
        s, e = a + 1 - bm.end(), nm.end()
        while e > s and text[e - 1] in " ,":
            e -= 1
        last = e
        out.append((ADDRESS_KR, s, e, min(1.0, _with_context(base, _Context(text, s), ADDRESS_KR))))
