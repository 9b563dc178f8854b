"""Per-check cost of the built-in guardrail detectors on 2 KB prompts (Korean, English, mixed).

    .venv/bin/python bench/guardrails/checks.py

Prints p50 / p99 / min µs per check and for all of them together. Each call gets a fresh text, so
a single check's figure includes the text's normalisation (~10-15 µs); "all" shares it between the
checks of one text, as the gateway does. On a busy machine read "min" as the uncontended cost.
"""

from __future__ import annotations

import random
import statistics
import time

from axops.guardrails import checks

KO = (
    "안녕하세요. 지난주 주문한 상품(주문번호 2024-1205-88731)의 배송 상태를 확인하고 싶습니다. "
    "결제는 12월 3일에 완료했고 모델명은 AX-455 입니다. 다시 발생한 지연 문제에 대해 정리해 주세요. "
    "보고서에는 매출, 비용, 위험 요인을 표로 요약하고 다음 분기 계획을 세 가지로 제안해 주세요. "
)
EN = (
    "Please summarize the attached quarterly report for the leadership team. Focus on revenue, costs, "
    "and the three largest risks, and explain how prompt injection attacks could affect our chatbot. "
    "Order 2024-1205-88731 shipped on 12/03; product code SKU-455 is back-ordered until January. "
)
BANNED = [
    "시발",
    "씨발",
    "병신",
    "개새끼",
    "좆",
    "fuck",
    "shit",
    "bitch",
    "asshole",
    "!시발점",
    "!시발역",
    "대외비",
    "confidential",
]


def _prompt(base: str, rng: random.Random) -> str:
    text = ""
    while len(text.encode()) < 2048:
        text += base
    text = text.encode()[:2048].decode("utf-8", "ignore")
    return f"{rng.randrange(10**9)} {text}"  # a fresh string: no cache hits across calls


def _measure(fn, texts: list[str]) -> tuple[float, float, float]:
    times = []
    for t in texts:
        t0 = time.perf_counter_ns()
        fn(t)
        times.append((time.perf_counter_ns() - t0) / 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)], times[0]


def main(n: int = 2000) -> None:
    rng = random.Random(7)
    all_checks = {
        "pii": lambda t: checks.pii(t),
        "banned_words": lambda t: checks.banned_words(t, BANNED),
        "harmful": lambda t: checks.harmful(t),
        "injection": lambda t: checks.injection(t),
    }

    def together(t: str) -> None:
        for fn in all_checks.values():
            fn(t)

    for name, base in (("ko", KO), ("en", EN), ("mixed", KO + EN)):
        for fn in all_checks.values():
            fn(_prompt(base, rng))  # warm-up: compiled matchers
        print(f"{name} 2 KB prompt")
        for check, fn in {**all_checks, "all (incl. pii)": together}.items():
            p50, p99, best = _measure(fn, [_prompt(base, rng) for _ in range(n)])
            print(f"  {check:16s} p50 {p50:7.1f} µs   p99 {p99:7.1f} µs   min {best:6.1f} µs")


if __name__ == "__main__":
    main()
