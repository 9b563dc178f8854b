"""Deterministic synthetic Korean/English text with labelled PII and decoys, for the benchmark
(``bench/pii/run.py``) and the unit tests. Not used at run time.

Every row is one to three sentences: plain filler, a sentence carrying one entity (valid values,
with and without separators and context words), or a decoy that must *not* be reported (order
numbers, dates, times, prices, UUIDs, versions, random bare 10/13-digit numbers, invalid
checksums, bank-like numbers without context, honorifics without names, ...).

Over 500 lines because each entity needs its own generator of valid values, formats and decoys;
they only make sense side by side.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from axops.pii import recognizers as r


@dataclass
class Sample:
    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # gold (entity, start, end)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _birth(rng: random.Random, century2000: bool) -> str:
    y = rng.randint(0, 23) if century2000 else rng.randint(40, 99)
    m = rng.randint(1, 12)
    d = rng.randint(1, 28)
    return f"{y:02d}{m:02d}{d:02d}"


def rrn(rng: random.Random, checksum: bool = True, foreign: bool = False) -> str:
    """13 digits: a valid birth date and gender digit (1-4, or 5-8 when ``foreign``); the check
    digit is right (RRN constant 11, ARN 13) or, with ``checksum=False``, wrong (post-2020 style)."""
    c2000 = rng.random() < 0.3
    g = rng.choice("78" if c2000 else "56") if foreign else rng.choice("34" if c2000 else "12")
    body = _birth(rng, c2000) + g + _digits(rng, 5)
    s = r._rrn_sum(body + "0")
    ok = (13 - s % 11) % 10 if foreign else (11 - s % 11) % 10
    check = ok if checksum else (ok + rng.randint(1, 9)) % 10
    return body + str(check)


def brn(rng: random.Random, valid: bool = True) -> str:
    while True:
        d = str(rng.randint(101, 899)) + f"{rng.randint(1, 99):02d}" + _digits(rng, 4)
        for c in "0123456789":
            if r.brn_checksum_ok(d + c) == valid:
                return d + c


def card(rng: random.Random, brand: str = "visa", valid: bool = True) -> str:
    prefix, n = {
        "visa": ("4", 16),
        "mastercard": (rng.choice(["51", "53", "55", "2221"]), 16),
        "amex": (rng.choice(["34", "37"]), 15),
        "jcb": ("35" + str(rng.randint(28, 89)), 16),
        "bc": ("94" + _digits(rng, 2), 16),
    }[brand]
    body = prefix + _digits(rng, n - len(prefix) - 1)
    for c in "0123456789":
        if r.luhn_ok(body + c) == valid:
            return body + c
    raise AssertionError


def group(d: str, shape: Sequence[int], sep: str = "-") -> str:
    out, i = [], 0
    for k in shape:
        out.append(d[i : i + k])
        i += k
    return sep.join(out)


_GIVEN = [
    "민준",
    "서연",
    "지우",
    "하준",
    "도윤",
    "서윤",
    "예준",
    "지호",
    "수아",
    "하은",
    "시우",
    "지민",
    "주원",
    "지유",
    "은우",
    "채원",
    "유준",
    "현우",
    "소율",
    "윤서",
    "건우",
    "다은",
    "우진",
    "선우",
    "서진",
    "민서",
    "연우",
    "예린",
    "정우",
    "수빈",
    "태윤",
    "지안",
    "승우",
    "하린",
    "은서",
    "준서",
    "지원",
    "현서",
    "유나",
    "민재",
]
_SURN = [
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
]
_EN_FIRST = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Daniel",
    "Sarah",
    "Kevin",
    "Laura",
]
_EN_LAST = [
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Anderson",
    "Thomas",
    "Jackson",
    "White",
    "Harris",
    "Martin",
    "Thompson",
    "Garcia",
    "Miller",
]
_SIDO = [
    "서울특별시",
    "서울",
    "부산광역시",
    "경기도",
    "인천광역시",
    "대구",
    "광주광역시",
    "대전",
    "강원특별자치도",
    "제주특별자치도",
]
_GU = [
    "강남구",
    "서초구",
    "마포구",
    "종로구",
    "해운대구",
    "수원시 영통구",
    "성남시 분당구",
    "남동구",
    "수성구",
    "유성구",
]
_ROAD = [
    "테헤란로",
    "세종대로",
    "올림픽로",
    "판교역로",
    "강남대로",
    "월드컵북로",
    "해운대해변로",
    "중앙로",
    "동일로",
    "도산대로",
]
_DONG = ["역삼동", "서초동", "상암동", "청운동", "우동", "정자동", "구월동", "범어동", "봉명동", "삼성동"]
_BANKS = [
    "국민은행",
    "신한은행",
    "우리은행",
    "하나은행",
    "농협",
    "IBK기업은행",
    "카카오뱅크",
    "토스뱅크",
    "신한",
    "국민",
]
_BANK_SHAPES = [(6, 2, 6), (3, 3, 6), (4, 3, 6), (3, 6, 5), (3, 4, 4, 2), (3, 6, 2, 3), (4, 2, 7), (3, 2, 6)]


# --------------------------------------------------------------------------------------------
# Entity sentences: each maker returns (template with one "{}", value)
# --------------------------------------------------------------------------------------------


def _pick(rng: random.Random, *templates: str) -> str:
    return rng.choice(templates)


def _rrn_sentence(rng: random.Random, foreign: bool) -> tuple[str, str]:
    label = (
        ("외국인등록번호", "외국인 등록번호", "alien registration no.", "ARC")
        if foreign
        else ("주민등록번호", "주민번호", "RRN", "resident registration number", "생년월일/주민")
    )
    style = rng.random()
    v = rrn(rng, checksum=rng.random() < 0.7, foreign=foreign)
    lab = rng.choice(label)
    if style < 0.45:  # label + dash
        return _pick(
            rng, lab + ": {} 확인되었습니다.", "Please verify " + lab + " {} before signing.", lab + "는 {}입니다."
        ), v[:6] + "-" + v[6:]
    if style < 0.7:  # label, bare
        return _pick(rng, lab + " {} 기재 바랍니다.", lab + "={}"), v
    if style < 0.9:  # dash, no context
        dashed = v[:6] + "-" + v[6:]
        return _pick(rng, "신청서 {} 접수 완료", "The form lists {} as the holder.", "본인 확인: {}"), dashed
    return _pick(rng, lab + " {}", "{} (" + lab + ")"), v[:6] + " " + v[6:]  # space separator


def _passport(rng: random.Random) -> tuple[str, str]:
    v = rng.choice("MSROD") + (
        _digits(rng, 8)
        if rng.random() < 0.5
        else _digits(rng, 3) + rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + _digits(rng, 4)
    )
    return _pick(
        rng, "여권번호 {} 로 예약되었습니다.", "Passport No. {} expires next year.", "여권: {}", "passport number {}"
    ), v


def _driver(rng: random.Random) -> tuple[str, str]:
    code = rng.randint(11, 28)
    d = f"{code:02d}{rng.randint(0, 99):02d}" + _digits(rng, 8)
    style = rng.random()
    if style < 0.5:
        return _pick(
            rng, "운전면허번호 {} 확인", "Driver's license {} on file.", "면허번호: {}", "사본 {} 첨부"
        ), group(d, (2, 2, 6, 2))
    if style < 0.8:
        region = rng.choice(["서울", "부산", "경기", "대구", "인천", "제주"])
        return _pick(rng, "운전면허 {} 갱신 필요", "면허 {}", "{} 면허 사본"), f"{region} " + group(d[2:], (2, 6, 2))
    return _pick(rng, "운전면허번호 {}", "driver license no {}"), d


def _brn(rng: random.Random) -> tuple[str, str]:
    v = brn(rng)
    if rng.random() < 0.7:
        return _pick(
            rng,
            "사업자등록번호 {} 법인",
            "Business registration number: {}",
            "거래처 {} 세금계산서 발행",
            "공급자 {} (주)에이비씨",
        ), group(v, (3, 2, 5))
    return _pick(rng, "사업자번호 {} 로 조회", "BRN {}"), v


def _phone(rng: random.Random) -> tuple[str, str]:
    style = rng.random()
    mobile = "010" + _digits(rng, 8)
    if style < 0.45:
        sep = rng.choice(["-", "-", ".", " "])
        return _pick(
            rng,
            "연락처 {} 로 연락 주세요.",
            "Call me at {} after 6pm.",
            "{} 번호로 문자 드렸습니다.",
            "담당자 번호는 {}입니다",
            "내일 {} 확인 부탁",
            "HP: {}",
        ), group(mobile, (3, 4, 4), sep)
    if style < 0.55:
        return _pick(rng, "휴대폰 {}", "mobile {}", "{} 로 연락 바랍니다"), mobile
    if style < 0.75:
        area = rng.choice(["02", "031", "051", "064", "070", "042"])
        local = _digits(rng, rng.choice([3, 4]) if area != "070" else 4)
        local = str(rng.randint(2, 9)) + local[1:]
        v = group(area + local + _digits(rng, 4), (len(area), len(local), 4), rng.choice(["-", "-", " "]))
        if rng.random() < 0.2:
            v = f"({area}) " + v[len(area) + 1 :]
        return _pick(rng, "사무실 {} 로 전화", "Tel. {}", "대표전화: {}", "fax {}", "본사 {} 입니다"), v
    if style < 0.85:
        rep = rng.choice(["1588", "1577", "1644", "1800"]) + "-" + _digits(rng, 4)
        return _pick(rng, "고객센터 {} 로 문의", "문의: {}", "call {}"), rep
    if style < 0.95:
        intl = "+82 10-" + _digits(rng, 4) + "-" + _digits(rng, 4)
        return _pick(rng, "해외 연락처 {}", "WhatsApp {}", "Reach me on {}"), intl
    us = "+1 " + str(rng.randint(201, 989)) + "-555-" + _digits(rng, 4)
    return _pick(rng, "US office {}", "미국 지사 {}"), us


def _email(rng: random.Random) -> tuple[str, str]:
    user = rng.choice(["kim", "j.lee", "park.minsu", "hello", "support", "user_01", "choi+news"])
    user += str(rng.randint(1, 999))
    dom = rng.choice(["example.com", "naver.com", "gmail.com", "corp.co.kr", "daum.net", "company.io"])
    templates = ("이메일 {} 로 보내주세요.", "Email: {}", "회신은 {}", "contact {} for details", "<{}>")
    return rng.choice(templates), f"{user}@{dom}"


def _card(rng: random.Random) -> tuple[str, str]:
    brand = rng.choice(["visa", "mastercard", "amex", "jcb", "bc"])
    v = card(rng, brand)
    style = rng.random()
    if brand == "amex":
        shaped = group(v, (4, 6, 5), rng.choice(["-", " "])) if style < 0.7 else v
        return _pick(rng, "카드번호 {} 결제", "Amex card {}", "결제 카드: {}"), shaped
    if style < 0.7:
        shaped = group(v, (4, 4, 4, 4), rng.choice(["-", " "]))
        return _pick(
            rng, "카드번호 {} 로 결제되었습니다.", "Card {} was charged.", "{} 승인 완료", "결제수단 {}"
        ), shaped
    return _pick(rng, "신용카드 {}", "card number {}", "결제 카드 {}"), v


def _bank(rng: random.Random) -> tuple[str, str]:
    shape = rng.choice(_BANK_SHAPES)
    d = str(rng.randint(1, 9)) + _digits(rng, sum(shape) - 1)
    v = group(d, shape) if rng.random() < 0.8 else d
    bank = rng.choice(_BANKS)
    return _pick(
        rng,
        bank + " {} 로 입금 부탁드립니다.",
        "계좌번호 {} (" + bank + ")",
        "입금 계좌: " + bank + " {}",
        "Please transfer to account {} at " + bank + ".",
        "예금주 확인 후 {} 로 송금",
    ), v


def _ip(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.75:
        a, b, c = rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)
        v = rng.choice([f"192.168.{b}.{c}", f"10.{a}.{b}.{c}", f"{rng.randint(11, 223)}.{a}.{b}.{c}"])
    else:
        v = rng.choice(["2001:db8::", "fe80::", "2001:0db8:85a3::"])
        v += f"{rng.randint(1, 65535):x}:{rng.randint(1, 65535):x}"
    return _pick(
        rng,
        "접속 IP {} 에서 로그인",
        "Request from {} blocked.",
        "서버 {} 재시작",
        "client={} status=200",
        "{} 에서 접근 시도",
    ), v


def _address(rng: random.Random) -> tuple[str, str]:
    style = rng.random()
    if style < 0.6:
        v = f"{rng.choice(_SIDO)} {rng.choice(_GU)} {rng.choice(_ROAD)} {rng.randint(1, 999)}"
        if rng.random() < 0.3:
            v += f", {rng.randint(1, 20)}층"
    elif style < 0.85:
        v = f"{rng.choice(_GU)} {rng.choice(_DONG)} {rng.randint(1, 999)}-{rng.randint(1, 99)}"
        if rng.random() < 0.4:
            v += "번지"
    else:
        road = f"{rng.choice(_ROAD)} {rng.randint(1, 999)}"
        return _pick(rng, "주소: {}", "배송지 {} 로 변경", "Address: {}"), road
    return _pick(
        rng, "주소: {}", "배송지 {} 로 변경되었습니다.", "{} 에 거주", "Ship to {}.", "회사는 {}에 있습니다."
    ), v


def _person(rng: random.Random) -> tuple[str, str]:
    style = rng.random()
    ko = rng.choice(_SURN) + rng.choice(_GIVEN)
    if style < 0.35:
        return _pick(rng, "성명: {}", "고객명 {} / 등급 VIP", "예금주 {} 확인", "담당자: {}", "이름은 {}입니다."), ko
    if style < 0.65:
        return _pick(
            rng,
            "{}님 안녕하세요.",
            "{} 고객님께서 문의하셨습니다.",
            "{}씨가 방문했습니다.",
            "{} 과장님께 전달",
            "{} 대리 회의 참석",
        ), ko
    en = rng.choice(_EN_FIRST) + " " + rng.choice(_EN_LAST)
    return _pick(
        rng,
        "Mr. {} will attend.",
        "My name is {}.",
        "Name: {}",
        "Dr. {} approved it.",
        "Regards,\n{}",
        "Ms. {} called.",
    ), en


_MAKERS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    r.RRN: lambda g: _rrn_sentence(g, False),
    r.ARN: lambda g: _rrn_sentence(g, True),
    r.PASSPORT: _passport,
    r.DRIVER_LICENSE: _driver,
    r.BRN: _brn,
    r.PHONE: _phone,
    r.EMAIL: _email,
    r.CREDIT_CARD: _card,
    r.BANK_ACCOUNT: _bank,
    r.IP_ADDRESS: _ip,
    r.ADDRESS_KR: _address,
    r.PERSON: _person,
}
_WEIGHTS = {r.PHONE: 3, r.EMAIL: 2, r.PERSON: 2, r.ADDRESS_KR: 2}


# --------------------------------------------------------------------------------------------
# Decoys and filler
# --------------------------------------------------------------------------------------------


def _date(rng: random.Random, sep: str = "-") -> str:
    return f"{rng.randint(2020, 2025)}{sep}{rng.randint(1, 12):02d}{sep}{rng.randint(1, 28):02d}"


def _decoy(rng: random.Random) -> str:
    k = rng.randrange(22)
    n = rng.randint
    if k == 0:
        return f"주문번호 {n(2020, 2025)}{_digits(rng, 9)} 배송 준비 중"
    if k == 1:
        return f"Order #{n(2020, 2025)}-{_digits(rng, 6)} shipped on {_date(rng)}."
    if k == 2:
        return f"회의는 {_date(rng, '.')} {n(9, 18)}:{rng.choice(['00', '30'])}에 시작합니다."
    if k == 3:
        return f"가격은 ₩{n(1, 999)},{_digits(rng, 3)},000 이며 할인가 ${n(1, 99)},{_digits(rng, 3)}.99 입니다."
    if k == 4:
        return f"참조 값 {n(1, 9)}{_digits(rng, 9)} 확인"  # random bare 10 digits
    if k == 5:
        return f"Value {n(1, 9)}{_digits(rng, 12)} logged."  # random bare 13 digits
    if k == 6:
        return f"버전 v{n(1, 9)}.{n(0, 20)}.{n(0, 99)} 배포, build {n(1, 9)}.{n(0, 9)}.{n(0, 9)}.{n(1000, 9999)}"
    if k == 7:
        return f"사업자 번호 오류: {group(brn(rng, valid=False), (3, 2, 5))} 는 유효하지 않습니다."
    if k == 8:
        return f"Invalid card {group(card(rng, 'visa', valid=False), (4, 4, 4, 4))} declined."
    if k == 9:
        h = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        return f"request_id={h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]} ok"
    if k == 10:
        t = f"{n(0, 23):02d}:{n(0, 59):02d}:{n(0, 59):02d}"
        return f"timestamp {_date(rng)}T{t}.{_digits(rng, 3)}Z elapsed 12:30:45"
    if k == 11:
        return f"일련번호 {rrn(rng, checksum=False)} 재고"  # RRN-shaped, no checksum, bare, serial label
    if k == 12:
        return f"코드 {rng.choice('MSROD')}{_digits(rng, 8)} 상품 입고"  # passport-shaped product code
    if k == 13:
        return f"번호표 {group(str(n(1, 9)) + _digits(rng, 11), (3, 3, 6))} 발급"  # account-shaped, no context
    if k == 14:
        return f"학교로 {n(1, 9)}시까지 오세요. 경로 {n(1, 9)}번 확인."
    if k == 15:
        return "고객님 감사합니다. 선생님께서 말씀하셨습니다. 회원님 환영합니다."
    if k == 16:
        return "Dear Customer, thank you. Regards, The Support Team"
    if k == 17:
        return f"ISBN 978-89-{_digits(rng, 4)}-{_digits(rng, 3)}-{n(0, 9)} 도서"
    if k == 18:
        return f"운송장번호 {_digits(rng, 4)}-{_digits(rng, 4)}-{_digits(rng, 4)} 조회"
    if k == 19:
        return f"version {n(1, 9)}.{n(0, 9)}.{n(0, 9)}.{n(0, 9)} released"
    if k == 20:
        return f"활동 {n(1, 30)}건, 이동 {n(1, 9)}회, 처리 {n(1, 99)}개"
    return f"좌표 {n(30, 40)}.{_digits(rng, 6)}, {n(120, 130)}.{_digits(rng, 6)}"


_KO_FILLER = [
    "오늘 회의에서는 다음 분기 계획과 예산 배분에 대해 논의했습니다.",
    "고객 만족도 조사 결과 {n}점으로 지난달보다 상승했습니다.",
    "모델 학습은 {n}시간 정도 걸릴 것으로 예상됩니다.",
    "데이터셋에는 총 {n}개의 문서가 포함되어 있으며 중복은 제거되었습니다.",
    "이번 업데이트로 응답 속도가 {n}% 개선되었습니다.",
    "서비스 점검은 새벽 {n}시에 진행될 예정입니다.",
    "요약 결과를 검토한 뒤 피드백을 남겨 주세요.",
    "한국어 말뭉치의 품질을 높이기 위해 정제 작업을 진행하고 있습니다.",
    "배포 전에 반드시 평가 지표를 확인해야 합니다.",
    "팀원들은 새로운 파이프라인에 대해 긍정적인 반응을 보였습니다.",
]
_EN_FILLER = [
    "The quarterly report shows that revenue grew by {n} percent.",
    "Please review the attached document before the meeting.",
    "The model was fine-tuned on {n} thousand examples.",
    "Latency dropped to {n} ms after the cache was enabled.",
    "We will migrate the cluster during the maintenance window.",
    "All evaluation runs finished without errors.",
    "The dataset contains customer feedback collected over {n} months.",
    "Thanks for your patience while we investigate the issue.",
]


def _filler(rng: random.Random) -> str:
    t = rng.choice(_KO_FILLER if rng.random() < 0.6 else _EN_FILLER)
    return t.replace("{n}", str(rng.randint(1, 500)))


def generate(
    n_rows: int,
    seed: int = 0,
    pii_rate: float = 0.3,
    decoy_rate: float = 0.25,
    entities: Iterable[str] | None = None,
    sentences: tuple[int, int] = (1, 3),
) -> list[Sample]:
    """``n_rows`` labelled rows of ``sentences`` (min, max) sentences; each sentence carries an
    entity with probability ``pii_rate`` and is a decoy with probability ``decoy_rate``."""
    rng = random.Random(seed)
    kinds = sorted(entities if entities is not None else r.ALL_ENTITIES)
    weights = [_WEIGHTS.get(k, 1) for k in kinds]
    out = []
    for _ in range(n_rows):
        parts: list[str] = []
        spans: list[tuple[str, int, int]] = []
        pos = 0
        for _ in range(rng.randint(*sentences)):
            if parts:
                parts.append(" ")
                pos += 1
            x = rng.random()
            if x < pii_rate:
                kind = rng.choices(kinds, weights)[0]
                template, value = _MAKERS[kind](rng)
                i = template.index("{}")
                sentence = template[:i] + value + template[i + 2 :]
                spans.append((kind, pos + i, pos + i + len(value)))
            elif x < pii_rate + decoy_rate:
                sentence = _decoy(rng)
            else:
                sentence = _filler(rng)
            if sentence[-1] not in ".!?":
                sentence += "."
            parts.append(sentence)
            pos += len(sentence)
        out.append(Sample("".join(parts), spans))
    return out


def evaluate(samples: Sequence[Sample], findings: Sequence[Sequence], entities: Iterable[str] | None = None) -> dict:
    """Precision / recall per entity and overall. A finding is a true positive when a gold span of
    the same entity overlaps it; gold spans no finding overlaps are misses."""
    want = set(entities) if entities is not None else set(r.ALL_ENTITIES)
    stats = {e: {"tp": 0, "fp": 0, "fn": 0} for e in sorted(want)}
    errors: list[tuple[str, str, str]] = []
    for sample, found in zip(samples, findings, strict=False):
        gold = [g for g in sample.spans if g[0] in want]
        hit = [False] * len(gold)
        for f in found:
            if f.entity not in want:
                continue
            match = False
            for i, (ge, gs, gend) in enumerate(gold):
                if ge == f.entity and f.start < gend and gs < f.end:
                    hit[i] = match = True
            if match:
                stats[f.entity]["tp"] += 1
            else:
                stats[f.entity]["fp"] += 1
                errors.append(("fp", f.entity, f.text))
        for (ge, gs, gend), h in zip(gold, hit, strict=False):
            if not h:
                stats[ge]["fn"] += 1
                errors.append(("fn", ge, sample.text[gs:gend]))

    def pr(s: dict) -> dict:
        p = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 1.0
        rc = s["tp"] / (s["tp"] + s["fn"]) if s["tp"] + s["fn"] else 1.0
        return {**s, "precision": round(p, 4), "recall": round(rc, 4)}

    total = {k: sum(s[k] for s in stats.values()) for k in ("tp", "fp", "fn")}
    return {"overall": pr(total), "by_entity": {e: pr(s) for e, s in stats.items()}, "errors": errors}
