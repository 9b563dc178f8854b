"""Names without titles, romanised Korean names, separator-less RRN/BRN with the label further away,
and the hand-written held-out set (tests/data/pii_heldout.jsonl)."""

import json
import random
from pathlib import Path

import pytest

from axops import pii
from axops.pii import recognizers as rec

HELDOUT = Path(__file__).resolve().parents[1] / "data" / "pii_heldout.jsonl"


def _names(text: str) -> list[str]:
    return [f.text for f in pii.scan(text) if f.entity == pii.PERSON]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("김수현이 오늘 회의에 못 온대", "김수현"),
        ("이지은한테 자료 보내줘", "이지은"),
        ("박서준에게 연락해 보세요", "박서준"),
        ("저는 조민지입니다. 잘 부탁드립니다.", "조민지"),
        ("홍채원님 문의하신 건 답변 드립니다", "홍채원"),
        ("담당: 전민혁", "전민혁"),
        ("I talked to Robert Taylor yesterday.", "Robert Taylor"),
        ("Could Nicole Nelson review my PR?", "Nicole Nelson"),
        ("Hi, I'm Kim Minjun from the Seoul office.", "Kim Minjun"),
        ("Minji Kim sent the slides.", "Minji Kim"),
        ("Please call Sarah Kim 씨 tomorrow", "Sarah Kim"),
        ("Hey Amanda, did you get my message?", "Amanda"),
    ],
)
def test_names_without_title(text, name):
    assert _names(text) == [name]


@pytest.mark.parametrize(
    "text",
    [
        "이번 주 금요일 회식 어때요?",
        "조금은 늦을 것 같아요",
        "주문을 취소해 주세요",
        "배송지 변경은 앱에서 가능합니다",
        "이태원 가는 길 알려주세요",
        "강남역 2번 출구에서 만나요",
        "GPU 선택기 (GPU type, count 등)",
        "체크포인트/모델 파일 이중화 저장",
        "Mark the calendar for Friday.",
        "Grace period ends tomorrow.",
        "Apple Watch Series 9 on sale.",
        "Dear Customer, your order has shipped.",
        "The Seoul office is closed on Monday.",
    ],
)
def test_common_words_are_not_names(text):
    assert _names(text) == []


def _rrn(first12: str) -> str:
    s = sum(int(c) * w for c, w in zip(first12, (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=True))
    return first12 + str((11 - s % 11) % 10)


def test_separatorless_rrn_and_brn_with_the_label_further_away():
    r = _rrn("900101123456")
    b = "2208162517"
    assert rec.rrn_checksum_ok(r) and rec.brn_checksum_ok(b)
    for text, entity in [
        (f"주민번호13자리 {r}", pii.RRN),
        (f"생년월일 및 주민번호 알려드립니다. {r}", pii.RRN),
        (f"{r} 제 주민번호에요", pii.RRN),
        (f"사업자등록번호(10자리) {b}", pii.BRN),
        (f"{b} 사업자번호입니다", pii.BRN),
        (f"세금계산서 발행 부탁드립니다 {b}", pii.BRN),
    ]:
        assert [f.entity for f in pii.scan(text)] == [entity], text
    # without the label, or after an order-number label, or failing the check digit: nothing
    assert pii.scan(f"참조 값 {r} 확인") == []
    assert pii.scan(f"주문번호 {r} 주민센터") == []
    bad = r[:-1] + str((int(r[-1]) + 1) % 10)
    assert pii.scan(f"주민번호13자리 {bad}") == []


def test_random_numbers_near_an_id_word_stay_rare():
    rng = random.Random(7)
    texts = [f"주민센터 방문 예약 {rng.randrange(10**12, 10**13)} 확인" for _ in range(300)]
    found = [f for fs in pii.scan_many(texts) for f in fs]
    assert len(found) <= 3  # only numbers that pass both the date and the check digit


def test_heldout_set_meets_the_targets():
    rows = [json.loads(line) for line in HELDOUT.read_text().splitlines()]
    assert len(rows) >= 400
    stats: dict[str, dict[str, int]] = {}
    for row in rows:
        gold = [tuple(s) for s in row["spans"]]
        hit = [False] * len(gold)
        for f in pii.scan(row["text"]):
            st = stats.setdefault(f.entity, {"tp": 0, "fp": 0, "fn": 0})
            match = [i for i, (e, a, b) in enumerate(gold) if e == f.entity and f.start < b and a < f.end]
            st["tp" if match else "fp"] += 1
            for i in match:
                hit[i] = True
        for (e, _, _), h in zip(gold, hit, strict=True):
            if not h:
                stats.setdefault(e, {"tp": 0, "fp": 0, "fn": 0})["fn"] += 1
    for entity, st in stats.items():
        precision = st["tp"] / max(1, st["tp"] + st["fp"])
        recall = st["tp"] / max(1, st["tp"] + st["fn"])
        if entity == pii.PERSON:
            assert recall >= 0.9 and precision >= 0.95, (entity, st)
        else:
            assert recall >= 0.99 and precision >= 0.98, (entity, st)
