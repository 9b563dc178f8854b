"""A small demo dataset `axops demo` registers: Korean and English customer-support tickets with
synthetic personal data in them (names, phones, e-mails, some resident and card numbers), saved as
CP949 the way Excel exports Korean CSV — so the PII report, masking, diff and review have
something to show offline. Every value is generated; none belongs to a real person."""

from __future__ import annotations

import csv
import io
import random

_SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
_GIVEN = ["민준", "서연", "지호", "하은", "도윤", "수아", "예준", "지우", "시우", "서윤"]
_TOPICS = [
    ("배송 문의", "주문한 상품이 아직 도착하지 않았습니다."),
    ("환불 요청", "사이즈가 맞지 않아 환불을 원합니다."),
    ("delivery", "My order has not arrived yet, please check."),
    ("refund", "I would like a refund for a damaged item."),
    ("계정", "비밀번호를 잊어버려 로그인이 안 됩니다."),
    ("결제", "카드 결제가 두 번 된 것 같습니다."),
]


def _rrn(rng: random.Random) -> str:
    birth = f"{rng.randint(60, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    digits = birth + str(rng.choice([1, 2])) + f"{rng.randint(0, 99999):05d}"
    check = (11 - sum(int(d) * w for d, w in zip(digits, [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5], strict=True)) % 11) % 10
    return f"{digits[:6]}-{digits[6:]}{check}"


def _card(rng: random.Random) -> str:
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i : i + 4] for i in range(0, 16, 4))


def demo_csv(rows: int = 300, seed: int = 11) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ticket_id", "고객명", "channel", "subject", "body", "satisfaction"])
    for i in range(1, rows + 1):
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        subject, body = rng.choice(_TOPICS)
        phone = f"010-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        contact = f"연락처 {phone}" if i % 2 else f"e-mail user{i}@example.com"
        extra = ""
        if i % 10 == 0:
            extra = f" 본인 확인용 주민등록번호 {_rrn(rng)}"
        elif i % 15 == 0:
            extra = f" 결제 카드 {_card(rng)}"
        writer.writerow(
            [
                i,
                name,
                rng.choice(["전화", "email", "chat"]),
                subject,
                f"{name} 고객님: {body} {contact}{extra}",
                rng.randint(1, 5),
            ]
        )
    return out.getvalue().encode("cp949")
