"""Person names without a title or label in front: Korean names followed by a particle, a copula or
nothing ("김수현이 늦는대", "저는 조민지입니다", "참석자 박보검, 김유정"), English and romanised Korean
names ("talked to Robert Taylor", "Kim Minjun", "Minji Kim").

Korean: a cheap regex first (a surname, two syllables from a list of given-name syllables, then a
particle or the end of the word); only those candidates go to kiwipiepy, one word at a time, and
the verdict is cached per word (real text repeats its words). kiwipiepy must read the name as a
proper noun (NNP), or as the surname (NNP) followed by two one-syllable pieces; any other reading
(a common noun, an adverb, a verb) drops it. Texts without such a candidate never reach the analyser.

English: a first name from a modest list followed by a capitalised family name, a greeting or a
verb of address followed by a listed first name, or a romanised Korean surname next to a word
made of romanised syllables.
"""

from __future__ import annotations

import re
import threading

from axops.pii.recognizers import _trie_pattern

PERSON = "PERSON"

_SUR1 = "김이박최정강조윤장임한오서신권황안송전홍유고문양손배백허남심노하곽성차주우구민류나진지엄채원천방공현함변염여추도소석선설마길연위표명기반왕금옥육인맹모탁국어은편용예경봉부태목피두"
_SUR2 = ("남궁", "황보", "제갈", "선우", "독고", "사공", "서문")
# Syllables common in Korean given names (both syllables of a two-syllable given name must be here).
_GIVEN = (
    "가각간강건겸결경계고곤관광교구국군권규균근금기길나남녕노누늘다단담대덕도돈동두라란람랑래량려련렬령례로록루류륜률륭름리린림"
    "마만매명모목무묵문미민바반방배백범벽별병보복봉부분빈빛사산삼상새샘생서석선설섭성세소솔송수숙순슬승시식신실심아안애야양"
    "언엽연열염영예오옥온완왕욱운웅원월위유윤율융은을음의이익인일임자장재전정제조종주준중지진찬창채천철청초춘충치칠탁태택"
    "평표필하학한해향헌혁현형혜호홍화환효후훈휘흠흥희힘"
)
# Particles, copulas and endings that may follow a name inside the same word.
_SUFFIXES = (
    "이 가 은 는 을 를 의 도 만 와 과 께 께서 에게 에게서 한테 한테서 랑 이랑 하고 이하고 이가 이는 이를 이도 이의 이만 이한테 이에게 "
    "이께 입니다 이에요 예요 이예요 이야 야 아 이고 이며 이었 였 이다 님 씨 님이 님께 님께서 님의 님은 님도 씨가 씨는 씨의 씨도 씨랑 "
    "이라고 라고 이라는 라는 이란 란 이네 네 이래 래 이요 요 이죠 죠"
).split()
# Proper nouns of that shape that are not people (places, brands), and last syllables of places.
_NOT_NAMES = frozenset(
    "이태원 한강진 강남역 신사동 성수동 전주시 홍대입 문래동 신도림 남영동 서초구 노원구 도봉구 강서구 구로구 이마트 신세계 "
    "현대차 기아차 하나은 우리은 신한은 국민은 한국은 조선일 동아일 중앙일 한겨레 연합뉴 정부청 서울대 고려대 연세대 "
    "배송지 목적지 소재지 거주지 출발지 도착지 여행지 근무지 유튜브 카카오 네이버 삼성전 엘지전 한화생 신한카 하이닉 이지스 하이브".split()
)
_PLACE_END = frozenset("역구군읍면로길동시도대")

# The first character comes from a small set (the regex engine skips to it fast); Hangul must not
# precede it; two-syllable surnames first, so 선우진영 is not read as 선 + 우진 + 영.
_FIRSTS = "".join(sorted(set(_SUR1) | {x[0] for x in _SUR2}))
_KO_CAND = re.compile(
    r"["
    + _FIRSTS
    + r"](?<![가-힣].)(?:"
    + "|".join(f"(?<={x[0]}){x[1]}" for x in _SUR2)
    + r"|(?<=["
    + _SUR1
    + r"]))["
    + _GIVEN
    + r"]{2}"
    r"(?P<suf>" + "|".join(sorted(_SUFFIXES, key=len, reverse=True)) + r")?(?![가-힣])"
)

_cache: dict[str, float] = {}
_CACHE_MAX = 50_000
_lock = threading.Lock()


def _kiwi_verdict(word: str, name_len: int, kiwi, kiwi_lock) -> float:
    """Score for the name at the start of ``word`` from the analyser's reading of the word alone."""
    key = f"{name_len}:{word}"
    hit = _cache.get(key)
    if hit is not None:
        return hit
    score = 0.0
    try:
        with kiwi_lock:
            tokens = kiwi.tokenize(word)
    except Exception:
        tokens = []
    if tokens and tokens[0].start == 0:
        first = tokens[0]
        if first.len == name_len:
            if first.tag == "NNP":
                score = 0.8
            elif first.tag == "NNG" and first.oov:
                score = 0.7  # a word the analyser does not know, read as a noun: 조민지
        elif first.len > name_len:
            if first.tag == "NNP" or (first.tag == "NNG" and first.oov):
                score = 0.6  # 문지현이/NNG (unknown), 홍채원님/NNP
        else:
            # the name in pieces, all nouns, ending where it ends: 박/NNP 보검/NNG, 양현/NNP 석/NNG
            pieces = [t for t in tokens if t.start < name_len]
            end = pieces[-1].start + pieces[-1].len
            if (
                end == name_len
                and all(t.tag[0] == "N" for t in pieces)
                and not any(t.tag == "NNG" and t.len >= 2 and not t.oov and t.start == 0 for t in pieces)
            ):
                score = 0.6
    with _lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = score
    return score


_LIST_SEP = frozenset(",/·\n")
# Roles after a name that the title list of persons.py does not cover.
_ROLES = ("의장", "회장", "원장", "총장", "위원장", "변호사", "기자", "선수", "환자", "님", "씨")


def _bare_ok(text: str, e: int) -> bool:
    """A name with nothing glued after it stands in a list, at the end, or before a comma
    ("참석자 박보검, 김유정"); technical nouns the analyser does not know ("GPU 선택기 (...)",
    "이중화 저장") stand before other words."""
    rest = text[e : e + 6].lstrip(" ")
    return not rest or rest[0] in _LIST_SEP or rest[0] == "\x00" or rest.startswith(_ROLES)


def find_korean(text: str, threshold: float, out: list, taken: set[int], kiwi_fn, kiwi_lock) -> None:
    kiwi = None
    for m in _KO_CAND.finditer(text):
        s = m.start()
        if s in taken:
            continue
        word = m.group()
        suf = m.group("suf")
        name = word[: len(word) - len(suf)] if suf else word
        if name in _NOT_NAMES or name[-1] in _PLACE_END:
            continue
        if kiwi is None:
            kiwi = kiwi_fn()
            if kiwi is None:
                return
        if not suf and not _bare_ok(text, m.end()):
            continue
        score = _kiwi_verdict(word, len(name), kiwi, kiwi_lock)
        if score >= threshold and score > 0:
            out.append((PERSON, s, s + len(name), score))
            taken.add(s)


# --------------------------------------------------------------------------------------------
# English and romanised Korean names
# --------------------------------------------------------------------------------------------

FIRST_NAMES = frozenset(
    """James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew
    Anthony Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey
    Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory
    Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Douglas Zachary
    Peter Kyle Noah Ethan Jeremy Walter Christian Keith Roger Terry Austin Sean Gerald Carl Harold Dylan
    Arthur Lawrence Jordan Jesse Bryan Billy Bruce Gabriel Joe Logan Alan Juan Albert Willie Elijah Wayne
    Randy Vincent Mason Roy Ralph Bobby Russell Bradley Philip Eugene Liam Lucas Oliver Leo Max Tom Tim
    Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Sandra Margaret
    Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Dorothy Rebecca Sharon Laura
    Cynthia Amy Kathleen Angela Shirley Brenda Emma Anna Pamela Nicole Samantha Katherine Christine Helen
    Debra Rachel Carolyn Janet Maria Catherine Heather Diane Olivia Julie Joyce Victoria Ruth Virginia Lauren
    Kelly Christina Joan Evelyn Judith Andrea Hannah Megan Cheryl Jacqueline Martha Madison Teresa Gloria
    Sara Janice Ann Kathryn Abigail Sophia Frances Jean Alice Judy Isabella Julia Grace Amber Denise Danielle
    Marilyn Beverly Charlotte Natalie Theresa Diana Brittany Doris Kayla Alexis Lori Marie Sophie Chloe Mia
    Mark Ava Lily Zoe Ella Claire Lucy Jane Kate Anne Amelia Harper Aria Nora Alex Chris Sam Jamie Taylor""".split()
)
# Capitalised words that can follow a first name without being a family name.
_NOT_FAMILY = frozenset(
    "The And Or Is Was Will Can Please Thanks Team Support Inc Corp Ltd Co Street Avenue Road Park Watch Times "
    "Cloud Office Center Centre University College School Hospital Bank Group Foundation Monday Tuesday Wednesday "
    "Thursday Friday Saturday Sunday January February March April May June July August September October "
    "November December I I'm".split()
) - {"Park"}
_ADDRESS_WORDS = frozenset(
    "Hi Hey Hello Thanks Thank Dear Ask ask tell Tell cc CC Cc to with from and by Regards Cheers".split()
)

KR_SURNAMES_LATIN = frozenset(
    """Kim Lee Yi Rhee Park Pak Choi Choe Jung Jeong Chung Kang Cho Jo Yoon Yun Jang Chang Lim Im Han Oh Seo Suh
    Shin Sin Kwon Hwang Ahn An Song Jeon Jun Hong Yoo Yu Ko Go Moon Mun Yang Son Sohn Bae Baek Paik Heo Huh Nam
    Shim Noh Roh Ha Kwak Sung Seong Cha Joo Ju Woo Koo Ku Min Ryu Yoo Na Jin Ji Um Chae Won Cheon Bang Gong Hyun
    Ham Byun Yeom Choo Do Seok Sun Sul Ma Gil Yeon Wi Pyo Myung Ki Ban Wang Geum Ok Yook In""".split()
)
_ROMAN_SYL = r"(?:[bcdghjkmnprstwy]|ch|sh|jj|kk|pp|ss|tt)?(?:yeo|yae|wae|you|wa|wo|we|wi|ya|yo|yu|ye|eo|eu|ae|oe|ui|oo|ou|ee|a|e|i|o|u)(?:ng|n|m|l|k|p|t)?"
_ROMAN_GIVEN = re.compile(r"(?:" + _ROMAN_SYL + r"){2}(?:-" + _ROMAN_SYL + r")?\Z", re.IGNORECASE)

# No lookbehind in front: a pattern starting with a literal trie is ~10x faster (the character
# before is checked in Python).
_ANCHOR = re.compile(r"(?:" + _trie_pattern(FIRST_NAMES | KR_SURNAMES_LATIN) + r")(?![A-Za-z])")
_NOT_BEFORE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.'")
_NEXT_CAP = re.compile(r"[ \t]{1,2}([A-Z][a-z]+(?:-[A-Z][a-z]+)?)(?![A-Za-z])")
_PREV_CAP = re.compile(r"(?<![A-Za-z.'])([A-Z][a-z]+)[ \t]{1,2}\Z")
_PREV_WORD = re.compile(r"([A-Za-z]+)[,:]?[ \t]+\Z")


def _roman_given(word: str) -> bool:
    return _ROMAN_GIVEN.match(word) is not None and word not in _NOT_FAMILY


def _pair_score(a: str, b: str) -> float:
    if a in FIRST_NAMES:
        if b in KR_SURNAMES_LATIN:
            return 0.8  # Sarah Kim, Grace Park
        if b in FIRST_NAMES:
            return 0.6  # Taylor Grace
        return 0.0 if b in _NOT_FAMILY else 0.75
    if a in KR_SURNAMES_LATIN:
        if b in FIRST_NAMES:
            return 0.7  # Kang Daniel
        return 0.75 if b not in KR_SURNAMES_LATIN and _roman_given(b) else 0.0  # Kim Minjun
    if b in KR_SURNAMES_LATIN and _roman_given(a):
        return 0.75  # Minji Kim
    return 0.0


def find_english(text: str, out: list, taken: set[int]) -> None:
    """Anchored on listed first names and romanised Korean surnames (one literal trie pass), then
    the words next to them decide."""
    done = -1
    for m in _ANCHOR.finditer(text):
        s, e = m.span()
        if s < done or (s and text[s - 1] in _NOT_BEFORE):
            continue
        a = m.group()
        nm = _NEXT_CAP.match(text, e)
        if nm is not None:
            score = _pair_score(a, nm.group(1))
            if score:
                if s not in taken:
                    out.append((PERSON, s, nm.end(), score))
                done = nm.end()
                continue
        if a in KR_SURNAMES_LATIN:
            pm = _PREV_CAP.search(text, max(0, s - 24), s)
            if pm is not None and pm.start(1) >= done and _pair_score(pm.group(1), a):
                out.append((PERSON, pm.start(1), e, 0.75))  # Minji Kim
                continue
        if a in FIRST_NAMES and s not in taken:
            # a single listed first name after a greeting or a verb of address: "Hey Amanda,", "Ask Jason"
            pm = _PREV_WORD.search(text, max(0, s - 12), s)
            if pm is not None and pm.group(1) in _ADDRESS_WORDS:
                out.append((PERSON, s, e, 0.65))
