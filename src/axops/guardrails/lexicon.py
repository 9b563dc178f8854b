"""The built-in harmful-content baseline: a small, precise lexicon per category in Korean and
English. It is a floor, not a classifier: policies add a moderation route for real coverage.

Two kinds of entries per category:

* ``TERMS``: words and short phrases matched through the normalisation (spacing, jamo, look-alike
  characters, inserted symbols, leetspeak) with :class:`axops.guardrails.normalize.WordMatcher`;
  ``!``-entries are innocent words that contain a term.
* ``PHRASES``: regexes over the folded text for intent ("how do I make a bomb", "죽는 방법"),
  where the words around the term decide. They are searched in the first and last 32 KB only.

Written by hand for axops; terms are chosen so that a hit is wrong in nearly any product prompt.
"""

from __future__ import annotations

import re

CATEGORIES = ("violence", "self_harm", "sexual", "hate", "weapons", "crime")

TERMS: dict[str, tuple[str, ...]] = {
    "violence": (
        "죽여버리겠",
        "죽여 버릴",
        "칼로 찔러",
        "목을 졸라",
        "behead",
        "i will kill you",
        "gonna kill you",
        "slit your throat",
        "mass shooting",
    ),
    "self_harm": (
        "자살하고 싶",
        "죽고 싶어",
        "손목을 긋",
        "목매달",
        "자해하는 방법",
        "kill myself",
        "suicide method",
        "end my life",
        "want to die",
    ),
    "sexual": (
        "야동",
        "섹스",
        "자위",
        "성관계 영상",
        "몰카",
        "porn",
        "blowjob",
        "nude pics",
        "sexting",
        "child porn",
        "cp 영상",
        "!자위대",
        "!자위권",
        "!자위적",
    ),
    "hate": (
        "한남충",
        "김치녀",
        "틀딱",
        "짱깨",
        "쪽바리",
        "흑형",
        "nigger",
        "faggot",
        "kike",
        "chink",
        "tranny",
        "white power",
        "gas the jews",
    ),
    "weapons": (
        "사제폭탄",
        "폭탄 제조",
        "총기 제작",
        "3d 프린터 총",
        "pipe bomb",
        "ghost gun",
        "nerve agent",
        "ricin",
        "sarin",
        "napalm",
        "molotov cocktail",
    ),
    "crime": (
        "마약 구매",
        "필로폰",
        "대마초 판매",
        "보이스피싱 대본",
        "대포통장",
        "돈세탁",
        "랜섬웨어 제작",
        "buy cocaine",
        "meth recipe",
        "money laundering",
        "credit card dump",
        "carding",
        "ransomware builder",
    ),
}

_HOW = r"(?:how (?:do|can|to|would) (?:i |you |we |one )?|ways? to |steps? to |instructions? (?:for|to) |guide to )"
_KO_HOW = r"(?:방법|하는 ?법|하는 ?방법|제조법|만드는 ?법|알려 ?줘|알려주세요|가르쳐)"

PHRASES: dict[str, tuple[str, ...]] = {
    "violence": (
        _HOW
        + r"(?:kill|murder|poison|strangle|torture) (?:a person|someone|somebody|people|him|her|my (?:wife|husband|"
        r"boss|teacher|neighbou?r|mother|father|mom|dad|ex|classmate))",
        r"(?:사람|누군가|그 ?놈|그 ?년|선생|상사)(?:을|를)? ?(?:죽이|살해하|독살하)(?:는|고)? ?" + _KO_HOW,
    ),
    "self_harm": (
        _HOW + r"(?:kill myself|commit suicide|end (?:it|my life)|hurt myself)",
        r"(?:자살|자해|목숨을 끊)(?:하는|는)? ?" + _KO_HOW,
        r"(?:고통 ?없이|안 ?아프게) ?죽는",
    ),
    "sexual": (
        r"(?:미성년자?|초등학생|중학생|아동)(?:와|과|의|이랑)? ?(?:성관계|야한|누드|성적)",
        r"(?:minor|child|underage|kid)s? (?:sex|nude|porn)",
    ),
    "hate": (
        r"(?:all|those) (?:jews|muslims|blacks|gays|immigrants) (?:should|must|deserve to) (?:die|be killed)",
        r"(?:흑인|유대인|무슬림|동성애자|이민자)(?:들)?(?:은|는)? (?:다 )?(?:죽어야|없어져야|박멸)",
    ),
    "weapons": (
        _HOW + r"(?:make|build|assemble) (?:a |an )?(?:bomb|explosive|pipe bomb|silencer|gun|firearm|grenade)",
        r"(?:폭탄|폭발물|총기?|소음기|수류탄)(?:을|를)? ?(?:만드는|제조하는|제작하는) ?" + _KO_HOW + "?",
    ),
    "crime": (
        _HOW + r"(?:launder money|make meth|cook meth|hack (?:into )?(?:someone|my ex|an account)|steal a car)",
        r"(?:필로폰|마약|대마)(?:을|를)? ?(?:만드는|구하는|사는|구매하는) ?" + _KO_HOW,
        r"(?:보이스피싱|피싱 문자|해킹)(?:을|를)? ?(?:하는|만드는) ?" + _KO_HOW,
    ),
}

# A category's phrases run only when the text mentions one of its trigger words (ASCII words as
# whole tokens, Korean words by their syllables); the regexes alone cost ~100 µs per category on 2 KB.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "violence": ("kill", "murder", "poison", "strangle", "torture", "죽이", "살해", "독살"),
    "self_harm": ("myself", "suicide", "life", "it", "자살", "자해", "목숨", "죽는"),
    "sexual": (
        "미성년",
        "초등학생",
        "중학생",
        "아동",
        "minor",
        "minors",
        "child",
        "children",
        "underage",
        "kid",
        "kids",
    ),
    "hate": ("jews", "muslims", "blacks", "gays", "immigrants", "흑인", "유대인", "무슬림", "동성애자", "이민자"),
    "weapons": (
        "bomb",
        "bombs",
        "explosive",
        "explosives",
        "silencer",
        "gun",
        "guns",
        "firearm",
        "grenade",
        "폭탄",
        "폭발물",
        "총",
        "소음기",
        "수류탄",
    ),
    "crime": ("launder", "meth", "hack", "steal", "필로폰", "마약", "대마", "피싱", "해킹"),
}

COMPILED_PHRASES: dict[str, re.Pattern[str]] = {
    cat: re.compile("|".join(f"(?:{p})" for p in pats)) for cat, pats in PHRASES.items()
}
