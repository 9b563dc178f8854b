"""Task keywords of tool analytics: Korean nouns through kiwipiepy, English words without stopwords,
masked text never rebuilt, counted once per run."""

from axops.tools import keywords


def test_korean_nouns_and_english_words():
    words = keywords.words("서울의 날씨를 알려주고 환율도 계산해줘. Please convert the exchange rate")
    assert words[:4] == ["서울", "날씨", "환율", "계산"]  # nouns: no particle, no verb
    assert "알려주" not in words and "를" not in words
    assert words[4:] == ["convert", "exchange", "rate"]  # "please", "the" are stopwords


def test_masked_words_are_skipped():
    masked = "t***@example.com 010-****-5678 님께 보고서 보내줘 https://x.example/a"
    words = keywords.words(masked)
    assert "보고서" in words
    assert not any(w in words for w in ("example", "com", "x"))


def test_user_text_reads_only_user_messages():
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "주문 상태"},
        {"role": "assistant", "content": "ignored"},
        {"role": "user", "content": [{"type": "text", "text": "배송 조회"}]},
    ]
    assert keywords.user_text(messages) == "주문 상태\n배송 조회"
    assert keywords.user_text("plain input") == "plain input"


def test_top_counts_a_word_once_per_text():
    top = keywords.top(["날씨 날씨 날씨", "부산 날씨", "weather"], n=2)
    assert top == [("날씨", 2), ("weather", 1)]


def test_a_runs_stored_keywords_are_its_distinct_words_sorted():
    messages = [
        {"role": "system", "content": "weather bot"},
        {"role": "user", "content": "부산 날씨, 서울 날씨 and the weather"},
    ]
    assert keywords.of_input(messages) == ["weather", "날씨", "부산", "서울"]
    assert keywords.of_input([]) == []
