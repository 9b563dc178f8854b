"""Evaluation metrics benchmark: every lexical metric on 10,000 Korean/English output/reference
pairs, on one core, with the run's default tokenizer (auto: morphemes for Korean).

    make bench-eval             (or: .venv/bin/python bench/eval/metrics_bench.py)

Per round (the morpheme cache emptied first, so every text is analysed once, as in a real run):
1. ours: ``score_row`` with exact_match, token_f1, bleu, chrf, rouge1, rouge2, rougeL for each row,
   then ``corpus_scores`` (corpus BLEU and chrF, means of the rest) given those row scores;
2. tokenisation alone (the share of (1) spent in kiwipiepy and normalisation);
3. the common stack on the same rows: rouge-score (default tokenizer) for ROUGE-1/2/L, sacrebleu
   defaults (13a BLEU with effective order, chrF) per row and per corpus, a whitespace
   SQuAD-style exact match / F1 — faster, but it scores Korean ROUGE as 0 (its tokenizer keeps
   [a-z0-9] only), which the quality lines show.

Knobs: BENCH_EVAL_ROWS (10000), BENCH_EVAL_ROUNDS (3; the median and the best are reported),
BENCH_EVAL_SEED (16). Results are printed and written to bench/eval/metrics_results.json.
The pairs come from the generator below (templates with paraphrases; no network, deterministic).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from axops.evaluation import metrics, text
from axops.pii import persons

ROWS = int(os.environ.get("BENCH_EVAL_ROWS", "10000"))
ROUNDS = int(os.environ.get("BENCH_EVAL_ROUNDS", "3"))
SEED = int(os.environ.get("BENCH_EVAL_SEED", "16"))
TARGET_S = 10.0
METRICS = metrics.validate_metrics(["exact_match", "token_f1", "bleu", "chrf", "rouge1", "rouge2", "rougeL"])

# --------------------------------------------------------------------------------------------
# Pairs: templates, each with paraphrases; an output is a paraphrase of its reference, the
# reference itself, a wrong fact, or a paraphrase with the filler an assistant adds.
# --------------------------------------------------------------------------------------------


def _batchim(word: str) -> bool:
    last = word[-1]
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28 != 0
    return last in "0136789LMNRlmnr"  # 영, 일, 삼, 육, 칠, 팔, 구 / el, em, en, ar


def _j(word: str, pair: str) -> str:
    """The particle of ``pair`` ("은는", "이가", "을를", "과와", "으로") that fits after ``word``."""
    if pair == "으로":
        return word + ("으로" if _batchim(word) and not word.endswith("ㄹ") else "로")
    return word + (pair[0] if _batchim(word) else pair[1])


KO_NAMES = [
    s + g
    for s in "김이박최정강조윤장임한오서신권"
    for g in ("민준", "서연", "지호", "하은", "도윤", "수아", "예준", "지유", "현우", "유진")
]
EN_NAMES = [
    f"{first} {last}"
    for first in ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Chris", "Jamie", "Riley")
    for last in ("Kim", "Lee", "Park", "Smith", "Brown", "Garcia", "Chen")
]


def _ko_slots(rng: random.Random) -> dict:
    i = rng.randrange(8)
    return {
        "country": ["한국", "일본", "프랑스", "캐나다", "호주", "독일", "이집트", "브라질"][i],
        "city": ["서울", "도쿄", "파리", "오타와", "캔버라", "베를린", "카이로", "브라질리아"][i],
        "pop": str(rng.randint(30, 1500)),
        "day": rng.choice(
            [
                "내일",
                "모레",
                "월요일",
                "수요일",
                "금요일",
                "다음 주 화요일",
                f"{rng.randint(1, 12)}월 {rng.randint(1, 28)}일",
            ]
        ),
        "ampm": rng.choice(["오전", "오후"]),
        "hour": str(rng.randint(1, 12)),
        "min": rng.choice(["", " 30분", " 15분", " 45분"]),
        "room": rng.choice(
            ["3층 회의실", "대회의실", f"본관 {rng.randint(1, 9)}0{rng.randint(1, 9)}호", "온라인", "별관 세미나실"]
        ),
        "name": rng.choice(KO_NAMES),
        "item": rng.choice(
            [
                "무선 이어폰",
                "노트북 거치대",
                "기계식 키보드",
                "USB 허브",
                "모니터",
                "전기 포트",
                "가습기",
                "블루투스 스피커",
                "외장 SSD",
                "웹캠",
            ]
        ),
        "qty": str(rng.randint(1, 5)),
        "order": str(rng.randint(100000, 999999)),
        "n": str(rng.randint(1, 14)),
        "fee": f"{rng.randrange(2500, 6500, 500):,}",
        "company": rng.choice(
            ["한빛전자", "새솔물산", "다온소프트", "누리바이오", "푸른에너지", "가람식품", "별빛통신"]
        ),
        "quarter": rng.choice(["1분기", "2분기", "3분기", "4분기", "상반기", "하반기"]),
        "pct": f"{rng.randint(1, 40)}.{rng.randint(0, 9)}",
        "amount": f"{rng.randint(10, 9999):,}",
        "menu": rng.choice(["계정 보안", "개인정보", "로그인 설정", "비밀번호 변경"]),
        "valid": str(rng.randint(3, 30)),
        "service": rng.choice(["결제 서버", "검색 API", "배치 작업", "로그 수집기", "GPU 노드", "추천 서비스"]),
        "code": f"E{rng.randint(1000, 9999)}",
        "minutes": str(rng.choice([5, 10, 15, 20, 30, 60])),
        "temp": str(rng.randint(-10, 35)),
        "rain": str(rng.randrange(0, 100, 10)),
    }


def _en_slots(rng: random.Random) -> dict:
    i = rng.randrange(8)
    return {
        "country": ["France", "Japan", "Canada", "Australia", "Germany", "Egypt", "Brazil", "Korea"][i],
        "city": ["Paris", "Tokyo", "Ottawa", "Canberra", "Berlin", "Cairo", "Brasilia", "Seoul"][i],
        "pop": f"{rng.randint(3, 150) / 10:.1f}",
        "day": rng.choice(["tomorrow", "Monday", "Wednesday", "Friday", "next Tuesday", f"May {rng.randint(1, 31)}"]),
        "hour": str(rng.randint(1, 12)),
        "ampm": rng.choice(["am", "pm"]),
        "room": rng.choice([f"room {rng.randint(100, 999)}", "the main hall", "the small meeting room", "Zoom"]),
        "name": rng.choice(EN_NAMES),
        "item": rng.choice(
            ["wireless earbuds", "laptop stand", "mechanical keyboard", "USB hub", "monitor", "webcam", "external SSD"]
        ),
        "order": str(rng.randint(100000, 999999)),
        "n": str(rng.randint(2, 14)),
        "company": rng.choice(["Acme Corp", "Globex", "Initech", "Umbrella Labs", "Hooli", "Vandelay"]),
        "quarter": rng.choice(["Q1", "Q2", "Q3", "Q4"]),
        "pct": f"{rng.randint(1, 40)}.{rng.randint(0, 9)}",
        "amount": str(rng.randint(10, 990)),
        "service": rng.choice(["payment server", "search API", "batch worker", "log collector", "GPU node"]),
        "code": f"E{rng.randint(1000, 9999)}",
        "minutes": str(rng.choice([5, 10, 15, 20, 30, 60])),
    }


KO_TEMPLATES: list[list] = [
    [
        lambda s: f"{s['country']}의 수도는 {s['city']}이며 인구는 약 {s['pop']}만 명입니다.",
        lambda s: f"{_j(s['city'], '이가')} {s['country']}의 수도예요. 인구는 {s['pop']}만 명 정도입니다.",
        lambda s: f"{_j(s['city'], '은는')} {s['country']}의 수도이고 약 {s['pop']}만 명이 산다.",
    ],
    [
        lambda s: (
            f"회의는 {s['day']} {s['ampm']} {s['hour']}시{s['min']}에 {s['room']}에서 시작하며 {s['name']} 팀장님이 진행합니다."
        ),
        lambda s: (
            f"{s['day']} {s['ampm']} {s['hour']}시{s['min']}, {s['room']}에서 {s['name']} 팀장 주재로 회의가 열려요."
        ),
        lambda s: f"{s['name']} 팀장님이 {s['day']} {s['hour']}시{s['min']}에 {s['room']}에서 회의를 시작합니다.",
    ],
    [
        lambda s: f"주문번호 {s['order']}의 {s['item']} {s['qty']}개는 {s['n']}일 안에 배송될 예정입니다.",
        lambda s: f"{s['item']} {s['qty']}개 주문({s['order']})은 {s['n']}일 이내에 도착해요.",
        lambda s: f"고객님의 주문 {s['order']}번, {s['item']} {s['qty']}개가 {s['n']}일 후 배송됩니다.",
    ],
    [
        lambda s: f"{s['company']}의 {s['quarter']} 매출은 {s['amount']}억 원으로 전년 대비 {s['pct']}% 증가했습니다.",
        lambda s: f"{s['company']} 매출이 {s['quarter']}에 {s['pct']}% 늘어 {s['amount']}억 원을 기록했다.",
        lambda s: f"{s['quarter']} {s['company']}의 매출 증가율은 {s['pct']}%였고 매출액은 {s['amount']}억 원이다.",
    ],
    [
        lambda s: (
            f"비밀번호를 바꾸려면 설정에서 '{s['menu']}' 메뉴를 선택하세요. 인증 코드는 {s['valid']}분간 유효합니다."
        ),
        lambda s: (
            f"설정 > {s['menu']} 메뉴에서 비밀번호를 변경할 수 있어요. 인증 코드는 {s['valid']}분 동안 쓸 수 있습니다."
        ),
        lambda s: f"비밀번호 변경은 설정의 {s['menu']} 메뉴에서 하시면 됩니다. 코드 유효 시간은 {s['valid']}분이에요.",
    ],
    [
        lambda s: (
            f"{_j(s['service'], '을를')} 재시작한 뒤 {s['minutes']}분 동안 {s['code']} 오류가 다시 나오는지 로그를 확인해 주세요."
        ),
        lambda s: f"{s['service']} 재시작 후 {s['minutes']}분간 에러 로그에서 {_j(s['code'], '을를')} 살펴보세요.",
        lambda s: (
            f"먼저 {_j(s['service'], '을를')} 다시 시작하고, {s['minutes']}분 정도 로그에 {s['code']} 오류가 없는지 보세요."
        ),
    ],
    [
        lambda s: f"{s['item']} 환불은 구매 후 {s['n']}일 이내에 가능하며 반품 배송비 {s['fee']}원은 고객 부담입니다.",
        lambda s: (
            f"구매하신 지 {s['n']}일이 지나지 않았다면 {_j(s['item'], '을를')} 환불받을 수 있어요. 배송비 {s['fee']}원은 고객님이 부담하십니다."
        ),
        lambda s: f"{s['n']}일 안에 요청하시면 {s['item']} 환불이 됩니다. 단, 반품비 {s['fee']}원이 차감돼요.",
    ],
    [
        lambda s: f"{s['day']} {s['city']}의 최고 기온은 {s['temp']}도이고 강수 확률은 {s['rain']}%입니다.",
        lambda s: f"{_j(s['city'], '은는')} {s['day']} 낮 최고 {s['temp']}도, 비 올 확률 {s['rain']}%로 예상됩니다.",
        lambda s: f"{s['day']} {s['city']} 날씨: 최고 {s['temp']}도, 강수 확률 {s['rain']}%.",
    ],
]
KO_FILLER = [
    "도움이 되셨길 바랍니다.",
    "추가로 궁금한 점이 있으면 말씀해 주세요.",
    "감사합니다.",
    "참고로 일정은 바뀔 수 있습니다.",
]

EN_TEMPLATES: list[list] = [
    [
        lambda s: f"The capital of {s['country']} is {s['city']}, home to about {s['pop']} million people.",
        lambda s: f"{s['city']} is the capital of {s['country']}; roughly {s['pop']} million people live there.",
        lambda s: f"It's {s['city']}, the capital city of {s['country']} (population about {s['pop']} million).",
    ],
    [
        lambda s: f"The meeting starts {s['day']} at {s['hour']} {s['ampm']} in {s['room']}, chaired by {s['name']}.",
        lambda s: f"We'll meet in {s['room']} {s['day']} at {s['hour']}{s['ampm']}; {s['name']} runs it.",
        lambda s: f"{s['name']} will open the meeting {s['day']} at {s['hour']} {s['ampm']} in {s['room']}.",
    ],
    [
        lambda s: f"Your {s['item']} (order {s['order']}) will be delivered within {s['n']} days.",
        lambda s: f"Order #{s['order']}: the {s['item']} should arrive in {s['n']} days or less.",
        lambda s: f"Expect the {s['item']} from order {s['order']} within {s['n']} days.",
    ],
    [
        lambda s: f"{s['company']}'s {s['quarter']} revenue grew {s['pct']}% year over year to ${s['amount']} million.",
        lambda s: (
            f"In {s['quarter']}, revenue at {s['company']} rose by {s['pct']} percent to {s['amount']} million dollars."
        ),
        lambda s: f"Revenue for {s['company']} was up {s['pct']}% in {s['quarter']}, reaching ${s['amount']}M.",
    ],
    [
        lambda s: f"Restart the {s['service']} and watch the error logs for {s['code']} over {s['minutes']} minutes.",
        lambda s: (
            f"After restarting the {s['service']}, check the logs for {s['code']} errors for the next {s['minutes']} minutes."
        ),
        lambda s: (
            f"First restart the {s['service']}; then monitor its error log for {s['code']} for {s['minutes']} minutes."
        ),
    ],
]
EN_FILLER = [
    "I hope this helps!",
    "Let me know if you have other questions.",
    "Thanks for asking.",
    "Note that plans may change.",
]


def generate(n: int, seed: int = SEED, korean: float = 0.65) -> list[tuple[str, list[str]]]:
    """``n`` (output, references) pairs, ``korean`` of them Korean, a third answering two facts,
    a quarter with two references. Outputs: 10% the reference itself, 15% the same wording with
    other facts, the rest paraphrases (a third of those with an assistant's filler)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        ko = rng.random() < korean
        templates, slots, filler = (KO_TEMPLATES, _ko_slots, KO_FILLER) if ko else (EN_TEMPLATES, _en_slots, EN_FILLER)
        facts = [(rng.choice(templates), slots(rng)) for _ in range(1 if rng.random() < 0.67 else 2)]
        picks = [rng.randrange(len(variants)) for variants, _ in facts]
        refs = [" ".join(variants[i](f) for (variants, f), i in zip(facts, picks, strict=True))]
        if rng.random() < 0.25:
            refs.append(
                " ".join(variants[(i + 1) % len(variants)](f) for (variants, f), i in zip(facts, picks, strict=True))
            )
        kind = rng.random()
        if kind < 0.10:
            out = refs[0]
        elif kind < 0.25:
            out = " ".join(variants[i](slots(rng)) for (variants, _), i in zip(facts, picks, strict=True))
        else:
            out = " ".join(rng.choice(variants)(f) for variants, f in facts)
            if kind > 0.80:
                out = f"{out} {rng.choice(filler)}"
            elif kind > 0.70:
                out = f"{rng.choice(filler)} {out}"
        pairs.append((out, refs))
    return pairs


# --------------------------------------------------------------------------------------------
# Timings
# --------------------------------------------------------------------------------------------


class Clock:
    """Wall and CPU time of a block: on a shared machine the CPU time of this one-threaded
    process is the steadier figure (other processes stretch the wall time, not the CPU time)."""

    def __enter__(self):
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0


def _cold() -> None:
    """Empty every cache the metrics keep, as in a fresh worker process."""
    metrics.clear()


def ours(pairs) -> tuple[Clock, Clock, list[dict], dict]:
    _cold()
    with Clock() as row_clock:
        rows = [metrics.score_row(METRICS, o, r, "auto") for o, r in pairs]
    with Clock() as corpus_clock:
        corpus = metrics.corpus_scores(METRICS, [o for o, _ in pairs], [r for _, r in pairs], "auto", row_scores=rows)
    return row_clock, corpus_clock, rows, corpus


def tokenisation(pairs) -> Clock:
    _cold()
    with Clock() as clock:
        for o, r in pairs:
            metrics._Row(o, r, "auto").tokens  # noqa: B018 - the tokens are what is timed
    return clock


def _squad_tokens(s: str) -> list[str]:
    return "".join(c for c in s.lower() if c.isalnum() or c.isspace()).split()


def common(pairs) -> tuple[Clock, list[dict]]:
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    bleu, chrf = BLEU(effective_order=True), CHRF()
    with Clock() as clock:
        rows = []
        for out, refs in pairs:
            o = _squad_tokens(out)
            f1 = 0.0
            for ref in refs:
                r = _squad_tokens(ref)
                same = sum((Counter(o) & Counter(r)).values())
                if same:
                    p, q = same / len(o), same / len(r)
                    f1 = max(f1, 2 * p * q / (p + q))
            rouge = scorer.score_multi(refs, out)
            rows.append(
                {
                    "exact_match": float(any(o == _squad_tokens(r) for r in refs)),
                    "token_f1": f1,
                    "bleu": bleu.sentence_score(out, refs).score / 100,
                    "chrf": chrf.sentence_score(out, refs).score / 100,
                    **{k: v.fmeasure for k, v in rouge.items()},
                }
            )
        width = max(len(r) for _, r in pairs)
        streams = [[r[k] if k < len(r) else None for _, r in pairs] for k in range(width)]
        outs = [o for o, _ in pairs]
        BLEU().corpus_score(outs, streams)
        CHRF().corpus_score(outs, streams)
    return clock, rows


def _mean(rows: list[dict], name: str, which: list[int]) -> float:
    return round(statistics.fmean(rows[i][name] for i in which), 4)


def main() -> None:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # one core
    pairs = generate(ROWS)
    n_ko = sum(text.has_hangul(o) or any(text.has_hangul(r) for r in refs) for o, refs in pairs)
    t0 = time.perf_counter()
    persons.kiwi()
    text.morphemes("준비")
    load_s = time.perf_counter() - t0
    print(
        f"{ROWS} pairs ({n_ko} Korean, {sum(len(r) > 1 for _, r in pairs)} with two references); Kiwi loaded in {load_s:.2f} s"
    )

    timings: dict[str, list[float]] = {
        k: [] for k in ("wall", "cpu", "rows", "corpus", "tokens", "common_wall", "common_cpu")
    }
    for i in range(ROUNDS):
        row_clock, corpus_clock, rows, corpus = ours(pairs)
        tok_clock = tokenisation(pairs)
        common_clock, common_rows = common(pairs)
        for key, value in (
            ("wall", row_clock.wall + corpus_clock.wall),
            ("cpu", row_clock.cpu + corpus_clock.cpu),
            ("rows", row_clock.cpu),
            ("corpus", corpus_clock.cpu),
            ("tokens", tok_clock.cpu),
            ("common_wall", common_clock.wall),
            ("common_cpu", common_clock.cpu),
        ):
            timings[key].append(value)
        print(
            f"round {i + 1}: ours {timings['cpu'][-1]:.2f} s CPU, {timings['wall'][-1]:.2f} s wall "
            f"(CPU: rows {row_clock.cpu:.2f} + corpus {corpus_clock.cpu:.2f}; tokenisation alone {tok_clock.cpu:.2f}) | "
            f"rouge-score + sacrebleu defaults {common_clock.cpu:.2f} s CPU, {common_clock.wall:.2f} s wall"
        )

    ko_rows = [i for i, (o, r) in enumerate(pairs) if text.has_hangul(o + "".join(r))]
    en_rows = [i for i in range(len(pairs)) if i not in set(ko_rows)]
    quality = {
        group: {
            name: {"ours": _mean(rows, name, which), "common": _mean(common_rows, name, which)}
            for name in ("token_f1", "bleu", "chrf", "rouge1", "rouge2", "rougeL")
        }
        for group, which in (("korean", ko_rows), ("english", en_rows))
    }
    for group, which in (("korean", ko_rows), ("english", en_rows)):
        quality[group]["rouge2_zero_share"] = {
            name: round(sum(r[i]["rouge2"] == 0.0 for i in which) / len(which), 4)
            for name, r in (("ours", rows), ("common", common_rows))
        }
    med = {k: statistics.median(v) for k, v in timings.items()}
    median, best = med["cpu"], min(timings["cpu"])
    result = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, 1 core (cpu {cpu}), Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}",
        "rows": ROWS,
        "korean_rows": n_ko,
        "rounds": ROUNDS,
        "metrics": [m["name"] for m in METRICS],
        "kiwi_load_s": round(load_s, 2),
        "ours_cpu_s": {"median": round(median, 2), "best": round(best, 2), "target": TARGET_S},
        "ours_wall_s": {"median": round(med["wall"], 2), "best": round(min(timings["wall"]), 2)},
        "ours_rows_cpu_s": round(med["rows"], 2),
        "ours_corpus_cpu_s": round(med["corpus"], 2),
        "ours_per_row_us": round(median / ROWS * 1e6, 1),
        "tokenisation_cpu_s": round(med["tokens"], 2),
        "common_cpu_s": round(med["common_cpu"], 2),
        "common_wall_s": round(med["common_wall"], 2),
        "ratio_ours_to_common_cpu": round(median / med["common_cpu"], 2),
        "corpus": {k: round(v, 4) for k, v in corpus.items()},
        "mean_scores": quality,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    verdict = "within" if median <= TARGET_S else "OVER"
    print(
        f"ours: {median:.2f} s CPU (median of {ROUNDS}; best {best:.2f}) for {ROWS} rows on one core ({verdict} the {TARGET_S:.0f} s target)"
    )
    (Path(__file__).parent / "metrics_results.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
