"""PII scanner: entities in Korean and English text, checksums, context, masking, columns."""

from __future__ import annotations

import random

import pytest

from axops import pii
from axops.pii import recognizers as rec
from axops.pii import synthetic as syn

NO_NAMES = pii.ALL_ENTITIES - {pii.PERSON}


def _rrn(prefix12: str, const: int = 11) -> str:
    """``prefix12`` + the check digit computed with ``const`` (11: RRN, 13: ARN)."""
    s = rec._rrn_sum(prefix12 + "0")
    return prefix12 + str((const - s % 11) % 10)


def _wrong_check(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def _one(text: str, entities=None, **kw) -> pii.Finding:
    found = pii.scan(text, entities, **kw)
    assert len(found) == 1, found
    return found[0]


def _entities(text: str, entities=None, **kw) -> list[str]:
    return [f.entity for f in pii.scan(text, entities, **kw)]


RRN_OK = _rrn("900101123456")  # 9001011234568
ARN_OK = _rrn("900101523456", 13)
BRN_OK = "2208162517"


# ---- entities in Korean and English sentences -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        (f"주민등록번호는 {RRN_OK[:6]}-{RRN_OK[6:]}입니다.", pii.RRN, f"{RRN_OK[:6]}-{RRN_OK[6:]}"),
        (f"Resident registration number: {RRN_OK[:6]}-{RRN_OK[6:]}", pii.RRN, f"{RRN_OK[:6]}-{RRN_OK[6:]}"),
        (f"외국인등록번호 {ARN_OK[:6]}-{ARN_OK[6:]} 확인", pii.ARN, f"{ARN_OK[:6]}-{ARN_OK[6:]}"),
        (f"Alien registration card {ARN_OK}", pii.ARN, ARN_OK),
        ("여권번호 M12345678 로 예약했습니다.", pii.PASSPORT, "M12345678"),
        ("Passport no. M123A4567 expires in 2030.", pii.PASSPORT, "M123A4567"),
        ("운전면허번호 11-19-123456-01 확인", pii.DRIVER_LICENSE, "11-19-123456-01"),
        ("Driver's license: 서울 19-123456-01", pii.DRIVER_LICENSE, "서울 19-123456-01"),
        ("사업자등록번호 220-81-62517 (주)네이버", pii.BRN, "220-81-62517"),
        ("Business registration number 220-81-62517", pii.BRN, "220-81-62517"),
        ("연락처는 010-1234-5678입니다.", pii.PHONE, "010-1234-5678"),
        ("Call me at 010.9876.5432 tomorrow", pii.PHONE, "010.9876.5432"),
        ("사무실 (02) 123-4567 로 전화 주세요", pii.PHONE, "(02) 123-4567"),
        ("본사 031-789-1234", pii.PHONE, "031-789-1234"),
        ("고객센터 1588-1234", pii.PHONE, "1588-1234"),
        ("WhatsApp +82 10-1234-5678", pii.PHONE, "+82 10-1234-5678"),
        ("US office +1 415-555-2671.", pii.PHONE, "+1 415-555-2671"),
        ("휴대폰 01012345678로 연락", pii.PHONE, "01012345678"),
        ("이메일 kim.minsu@example.co.kr 로 보내주세요", pii.EMAIL, "kim.minsu@example.co.kr"),
        ("Contact: john.doe+news@mail.example.com.", pii.EMAIL, "john.doe+news@mail.example.com"),
        ("카드번호 4111-1111-1111-1111 로 결제", pii.CREDIT_CARD, "4111-1111-1111-1111"),
        ("Amex 3782 822463 10005 was charged", pii.CREDIT_CARD, "3782 822463 10005"),
        ("card number 5555555555554444", pii.CREDIT_CARD, "5555555555554444"),
        ("신한은행 계좌 110-123-456789 로 입금", pii.BANK_ACCOUNT, "110-123-456789"),
        ("Please transfer to account 1002-123-456789 at Woori Bank.", pii.BANK_ACCOUNT, "1002-123-456789"),
        ("국민 123456-78-901234", pii.BANK_ACCOUNT, "123456-78-901234"),
        ("접속 IP 192.168.0.10 에서 로그인", pii.IP_ADDRESS, "192.168.0.10"),
        ("Request from 2001:db8::8a2e:370:7334 blocked.", pii.IP_ADDRESS, "2001:db8::8a2e:370:7334"),
        ("주소: 서울특별시 강남구 테헤란로 123, 4층", pii.ADDRESS_KR, "서울특별시 강남구 테헤란로 123, 4층"),
        ("Ship to 경기도 성남시 분당구 판교역로 235.", pii.ADDRESS_KR, "경기도 성남시 분당구 판교역로 235"),
        ("강남구 역삼동 123-45번지 방문", pii.ADDRESS_KR, "강남구 역삼동 123-45번지"),
        ("성명: 홍길동", pii.PERSON, "홍길동"),
        ("김철수님 안녕하세요.", pii.PERSON, "김철수"),
        ("이민준 대리에게 전달해 주세요.", pii.PERSON, "이민준"),
        ("Mr. John Smith will attend.", pii.PERSON, "John Smith"),
        ("Hello, my name is Jane Doe.", pii.PERSON, "Jane Doe"),
    ],
)
def test_entity_detected(text, entity, value):
    f = _one(text)
    assert (f.entity, f.text) == (entity, value)
    assert text[f.start : f.end] == value
    assert 0.5 <= f.score <= 1.0


def test_several_entities_in_one_text_in_order():
    text = "홍길동 고객님 연락처 010-1234-5678, 이메일 hong@example.com, 주소 서울 종로구 세종대로 110."
    assert _entities(text) == [pii.PERSON, pii.PHONE, pii.EMAIL, pii.ADDRESS_KR]


def test_entities_filter_threshold_and_unknown_entity():
    text = "010-1234-5678 hong@example.com"
    assert _entities(text, {pii.EMAIL}) == [pii.EMAIL]
    assert _entities(text, pii.PHONE) == [pii.PHONE]
    assert _entities(text, threshold=0.8) == [pii.EMAIL]  # 0.75 for a phone without context
    with pytest.raises(ValueError, match="NOPE"):
        pii.scan(text, {"NOPE"})


def test_no_match_inside_longer_digit_runs_or_words():
    assert pii.scan("id 0010-1234-56789 x") == []
    assert pii.scan("ref A01012345678 and 9876501012345678") == []
    assert pii.scan("hash 3f9a01012345678b") == []


# ---- checksums -----------------------------------------------------------------------------------


def test_checksum_helpers():
    assert rec.rrn_checksum_ok(RRN_OK) and not rec.rrn_checksum_ok(_wrong_check(RRN_OK))
    assert rec.arn_checksum_ok(ARN_OK) and not rec.arn_checksum_ok(_wrong_check(ARN_OK))
    assert rec.brn_checksum_ok(BRN_OK) and not rec.brn_checksum_ok(_wrong_check(BRN_OK))
    assert rec.luhn_ok("4111111111111111") and not rec.luhn_ok("4111111111111112")
    assert rec.valid_birth_date("0002294") and not rec.valid_birth_date("0102293")  # 2000 leap, 2001 not
    assert not rec.valid_birth_date("9013011")


def test_rrn_checksum_raises_score():
    dashed_ok = f"{RRN_OK[:6]}-{RRN_OK[6:]}"
    dashed_bad = f"{RRN_OK[:6]}-{_wrong_check(RRN_OK)[6:]}"
    assert _one(f"번호 {dashed_ok}").score > _one(f"번호 {dashed_bad}").score


def test_post_2020_rrn_without_checksum_found_with_separator_or_context():
    bad = _wrong_check(_rrn("210315412345"))  # born 2021, no valid check digit (issued after Oct 2020)
    assert not rec.rrn_checksum_ok(bad)
    assert _one(f"{bad[:6]}-{bad[6:]} 접수").entity == pii.RRN
    assert _one(f"주민번호 {bad}").entity == pii.RRN
    assert _one(f"생년월일/주민 {bad}").score >= 0.7
    assert pii.scan(f"번호 {bad} 조회") == []  # bare, no checksum, no context


def test_bare_rrn_scores_below_separated_or_labelled():
    bare = pii.scan(f"값 {RRN_OK} 확인", threshold=0.0)
    dashed = _one(f"값 {RRN_OK[:6]}-{RRN_OK[6:]} 확인")
    labelled = _one(f"주민등록번호 {RRN_OK}")
    assert [f.entity for f in bare] == [pii.RRN]
    assert bare[0].score < 0.5 <= dashed.score
    assert bare[0].score < labelled.score
    assert pii.scan(f"값 {RRN_OK} 확인") == []


def test_arn_and_rrn_use_their_own_check_constant():
    arn_by_11 = _rrn("900101523456", 11)  # ARN gender digit, RRN constant
    rrn_by_13 = _rrn("900101123456", 13)  # RRN gender digit, ARN constant
    assert arn_by_11 != ARN_OK and rrn_by_13 != RRN_OK
    assert rec.arn_checksum_ok(ARN_OK) and not rec.rrn_checksum_ok(ARN_OK)
    assert rec.rrn_checksum_ok(RRN_OK) and not rec.arn_checksum_ok(RRN_OK)
    assert not rec.arn_checksum_ok(arn_by_11) and not rec.rrn_checksum_ok(rrn_by_13)
    # With a label the checksum decides the score; the gender digit decides the type.
    assert _one(f"외국인등록번호 {ARN_OK}").score > _one(f"외국인등록번호 {arn_by_11}").score
    assert _one(f"주민번호 {RRN_OK}").score > _one(f"주민번호 {rrn_by_13}").score
    assert _one(f"외국인등록번호 {arn_by_11}").entity == pii.ARN
    assert _one(f"주민번호 {rrn_by_13}").entity == pii.RRN
    low = 0.0
    assert _one(f"값 {arn_by_11}", threshold=low).score < _one(f"값 {ARN_OK}", threshold=low).score


def test_brn_checksum_and_context():
    assert _one("사업자 220-81-62517").entity == pii.BRN
    assert pii.scan("번호 220-81-62518 확인") == []  # invalid check digit
    assert pii.scan(f"참조 {BRN_OK} 확인") == []  # bare, no context: 1 in 10 random numbers pass
    assert _one(f"사업자번호 {BRN_OK}").entity == pii.BRN


def test_card_luhn_and_prefix():
    assert _one("Card 4111 1111 1111 1111 charged").entity == pii.CREDIT_CARD
    assert pii.scan("Card 4111 1111 1111 1112 charged") == []  # Luhn fails
    assert pii.scan("code 1234-5678-9012-3452 ok") == []  # Luhn passes, unknown prefix, no context
    assert _one("카드 1234-5678-9012-3452").entity == pii.CREDIT_CARD


def test_bare_random_10_and_13_digit_numbers_not_reported():
    rng = random.Random(20240601)
    texts = []
    for _ in range(400):
        texts.append(f"참조 값 {rng.randint(1, 9)}{rng.randrange(10**9):09d} 확인")
        texts.append(f"Value {rng.randint(1, 9)}{rng.randrange(10**12):012d} logged.")
    assert [f for found in pii.scan_many(texts) for f in found] == []


def test_bank_account_only_with_context():
    assert pii.scan("번호표 110-123-456789 발급") == []
    assert pii.scan("참조 1002123456789 확인") == []
    assert _one("계좌번호 1002123456789").entity == pii.BANK_ACCOUNT
    assert _one("입금 계좌: 카카오뱅크 3333-01-1234567").entity == pii.BANK_ACCOUNT
    assert _one("account 110-123-456789").entity == pii.BANK_ACCOUNT
    # a phone number after an account keeps being a phone
    found = pii.scan("계좌 110-123-456789 (신한은행). 담당자 연락처 010-1234-5678")
    assert [f.entity for f in found] == [pii.BANK_ACCOUNT, pii.PHONE]


def test_negative_labels_and_decoys():
    for text in [
        "주문번호 2024031512345 배송 준비 중",
        "Order #2024-000123 shipped on 2024-03-15.",
        "version 1.2.3.4 released",
        "request_id=550e8400-e29b-41d4-a716-446655440000",
        "timestamp 2024-03-15T12:34:56.789Z elapsed 12:30:45",
        "가격은 ₩1,250,000 이며 $1,299.99 입니다.",
        "일련번호 9001011234560 재고",
        "코드 S12345678 상품 입고",
        "학교로 3시까지 오세요. 경로 2번 확인.",
        "고객님 감사합니다. 선생님께서 말씀하셨습니다.",
        "Dear Customer, thank you. Regards, The Support Team",
        "std::vector<int> and a::b",
        "성명: 정보없음",
        "정말 이사 갔어. 홍보팀장 회의.",
    ]:
        assert pii.scan(text) == [], text


def test_ipv4_and_ipv6_validation():
    assert _one("ip 10.0.0.1").entity == pii.IP_ADDRESS
    assert pii.scan("ip 10.0.0.256 and 01.2.3.4") == []
    assert _one("loopback ::1").text == "::1"
    assert pii.scan("at 12:30:45") == []


def test_column_context_helps_bare_values():
    values = [RRN_OK, None, "", RRN_OK, "메모"]
    assert all(f == [] for f in pii.scan_many(values))
    found = pii.scan_many(values, context="주민등록번호")
    assert [[f.entity for f in row] for row in found] == [[pii.RRN], [], [], [pii.RRN], []]
    assert found[0][0].start == 0 and found[0][0].text == RRN_OK


# ---- masking -------------------------------------------------------------------------------------


def test_mask_mode_keeps_documented_hints():
    text = (
        f"주민 {RRN_OK[:6]}-{RRN_OK[6:]}, 전화 010-1234-5678, kim@example.com, 카드 4111-1111-1111-1111, "
        "성명: 김철수, Mr. John Smith, ip 192.168.10.20, 계좌 110-123-456789, 사업자 220-81-62517"
    )
    masked = pii.mask(text)
    for expected in [
        "900101-1******",
        "010-****-5678",
        "k***@example.com",
        "****-****-****-1111",
        "김**",
        "J*** S****",
        "192.168.*.*",
        "***-***-**6789",
        "220-81-*****",
    ]:
        assert expected in masked, (expected, masked)
    assert "1234568" not in masked and "kim@" not in masked


def test_mask_remove_and_hash_modes():
    text = "연락처 010-1234-5678, 메일 kim@example.com"
    assert pii.mask(text, mode="remove") == "연락처 [PHONE], 메일 [EMAIL]"
    hashed = pii.mask(text, mode="hash", salt=b"salt-1")
    assert hashed.startswith("연락처 PHONE_") and ", 메일 EMAIL_" in hashed
    token = hashed.split()[1].rstrip(",")
    assert len(token) == len("PHONE_") + 8 and all(c in "0123456789abcdef" for c in token[6:])
    assert pii.mask(text, mode="hash", salt=b"salt-1") == hashed  # stable per salt
    assert pii.mask(text, mode="hash", salt=b"salt-2") != hashed  # differs across salts
    # the same value in another format gets the same token
    assert pii.mask("tel 01012345678", mode="hash", salt=b"salt-1").split()[1] == token
    with pytest.raises(ValueError):
        pii.mask(text, mode="hash")
    with pytest.raises(ValueError):
        pii.mask(text, mode="scramble")


def test_mask_with_given_findings_or_entity_set():
    text = "010-1234-5678 kim@example.com"
    found = pii.scan(text)
    assert pii.mask(text, [f for f in found if f.entity == pii.EMAIL], mode="remove") == "010-1234-5678 [EMAIL]"
    assert pii.mask(text, {pii.PHONE}, mode="remove") == "[PHONE] kim@example.com"
    assert pii.mask_value(pii.RRN, "9001011234568") == "9001011******"


def test_redact_leaves_no_detected_pii():
    samples = syn.generate(300, seed=11)
    for s in samples:
        red = pii.redact(s.text)
        assert pii.scan(red, pii.REDACT_ENTITIES) == [], (s.text, red)
    log = f"user=kim@example.com ip=10.1.2.3 rrn={RRN_OK} phone=01012345678 ok"
    assert pii.redact(log) == "user=k***@example.com ip=10.1.*.* rrn=9001011****** phone=010****5678 ok"


# ---- columns and levels --------------------------------------------------------------------------


def test_scan_many_matches_scan_and_handles_none():
    samples = syn.generate(200, seed=5)
    texts = [s.text for s in samples] + [None, "", 12345]
    many = pii.scan_many(texts, NO_NAMES)
    assert many[:-3] == [pii.scan(t, NO_NAMES) for t in texts[:-3]]
    assert many[-3:] == [[], [], []]


def test_summarize_column_with_pyarrow():
    pa = pytest.importorskip("pyarrow")
    col = pa.chunked_array([["010-1234-5678", None, "hello"], ["a@b.com", "010-1234-5678", f"주민 {RRN_OK}"]])
    summary = pii.summarize_column(col, max_examples=2)
    assert summary.rows == 6 and summary.rows_with_pii == 4
    assert summary.counts == {pii.PHONE: 2, pii.EMAIL: 1, pii.RRN: 1}
    assert summary.row_indexes == [0, 3, 4, 5]
    assert summary.examples[pii.PHONE] == ["010-****-5678"]  # distinct, masked
    assert summary.level == "restricted"
    assert summary.to_dict()["counts"][pii.EMAIL] == 1


def test_sensitivity_levels():
    assert pii.sensitivity_level({}) == "public"
    assert pii.sensitivity_level({pii.PHONE: 0}) == "public"
    assert pii.sensitivity_level({pii.IP_ADDRESS: 3, pii.BRN: 1}) == "internal"
    assert pii.sensitivity_level({pii.EMAIL: 1, pii.IP_ADDRESS: 2}) == "confidential"
    for e in (pii.RRN, pii.ARN, pii.PASSPORT, pii.DRIVER_LICENSE, pii.CREDIT_CARD, pii.BANK_ACCOUNT):
        assert pii.sensitivity_level({e: 1, pii.PERSON: 1}) == "restricted"


# ---- precision / recall on a seeded synthetic set ------------------------------------------------


def test_precision_recall_on_synthetic_set():
    samples = syn.generate(1500, seed=2024)
    res = syn.evaluate(samples, pii.scan_many([s.text for s in samples]))
    overall = res["overall"]
    assert overall["tp"] > 800
    assert overall["recall"] >= 0.99, res["errors"][:20]
    assert overall["precision"] >= 0.98, res["errors"][:20]
    for entity, stats in res["by_entity"].items():
        assert stats["recall"] >= 0.95 and stats["precision"] >= 0.95, (entity, stats)
