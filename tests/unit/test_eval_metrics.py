"""Evaluation metrics: normalisation, the tokenisers (morphemes for Korean), lexical scores checked
by hand and against sacrebleu / rouge-score called independently, the checks and their params."""

from __future__ import annotations

import random

import pytest
from jsonschema import Draft202012Validator
from sacrebleu.metrics import BLEU, CHRF

from axops.evaluation import metrics as M
from axops.evaluation import text
from axops.evaluation.text import BoundedCache, normalize, resolve, tokenize

LEXICAL = M.validate_metrics(["exact_match", "token_f1", "bleu", "chrf", "rouge1", "rouge2", "rougeL"])


def _one(name: str, output: str, references: list[str], tokenizer: str = "auto", **params) -> float | None:
    metrics = M.validate_metrics([{"name": name, "params": params}])
    return M.score_row(metrics, output, references, tokenizer)[name]


# --------------------------------------------------------------------------------------------
# Normalisation and tokenisers
# --------------------------------------------------------------------------------------------


def test_normalize_width_case_punctuation_spaces():
    # full-width letters/digits and the ideographic space (NFKC), case, P* punctuation (ASCII,
    # typographic quotes, dashes, CJK brackets, middle dot), runs of whitespace
    assert normalize("  ＡＢＣ　１２３！ “Hello” —  「서울」·부산\n") == "abc 123 hello 서울부산"
    assert normalize("Straße") == "strasse"  # casefold, not lower
    assert M.score_row(LEXICAL, "  Ｈｅｌｌｏ,   WORLD!! ", ["hello world"])["exact_match"] == 1.0
    assert M.score_row(LEXICAL, "hello worlds", ["hello world"])["exact_match"] == 0.0
    assert M.score_row(LEXICAL, "서울 입니다", ["서울입니다"])["exact_match"] == 0.0  # spaces inside count


def test_tokenizers():
    text = "나는 학교에 갔다."
    assert tokenize(text, "word") == ["나는", "학교에", "갔다"]
    assert tokenize(text, "character") == list("나는학교에갔다")
    # kiwipiepy: 나/NP 는/JX 학교/NNG 에/JKB 가/VV 었/EP 다/EF, the full stop dropped
    assert tokenize(text, "morpheme") == ["나", "는", "학교", "에", "가", "었", "다"]
    assert tokenize(text, "auto") == tokenize(text, "morpheme")
    assert tokenize("The GPU server, restarted", "auto") == ["the", "gpu", "server", "restarted"]
    # auto is decided once per row: Hangul in any reference makes the English output morphemes too
    assert resolve("auto", "GPU restarted", "GPU를 재시작했다") == "morpheme"
    assert resolve("auto", "GPU restarted", "restarted") == "word"
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tokenize("x", "bpe")


# --------------------------------------------------------------------------------------------
# Lexical scores worked out by hand
# --------------------------------------------------------------------------------------------


def test_korean_pair_words_against_morphemes():
    out, ref = "나는 학교에 갔다", "나는 학교에 간다"
    words = M.score_row(LEXICAL, out, [ref], "word")
    # words: 나는 학교에 갔다 / 나는 학교에 간다 -> 2 of 3 shared: P = R = 2/3
    assert words["token_f1"] == pytest.approx(2 / 3)
    assert words["rouge1"] == pytest.approx(2 / 3)
    # bigrams (나는 학교에)(학교에 갔다) / (나는 학교에)(학교에 간다): 1 of 2
    assert words["rouge2"] == pytest.approx(1 / 2)
    morph = M.score_row(LEXICAL, out, [ref], "morpheme")
    # morphemes: 나 는 학교 에 가 었 다 (7) / 나 는 학교 에 가 ᆫ다 (6): 5 shared
    # F1 = 2*5 / (7+6) = 10/13; LCS is the same 5 tokens in order -> ROUGE-L 10/13 too
    assert morph["token_f1"] == pytest.approx(10 / 13)
    assert morph["rouge1"] == pytest.approx(10 / 13)
    assert morph["rougeL"] == pytest.approx(10 / 13)
    # bigrams: 6 / 5, shared (나 는)(는 학교)(학교 에)(에 가) = 4 -> 2*4 / (6+5) = 8/11
    assert morph["rouge2"] == pytest.approx(8 / 11)
    assert M.score_row(LEXICAL, out, [ref]) == morph  # auto = morphemes for Korean
    assert morph["token_f1"] > words["token_f1"]
    assert 0.0 < morph["bleu"] < 1.0 and morph["bleu"] > words["bleu"]


def test_korean_paraphrase_with_particles():
    out, ref = "서울은 한국의 수도이다", "한국의 수도는 서울이다"
    # words share only 한국의: 1/3. Morphemes 서울 은 한국 의 수도 이 다 / 한국 의 수도 는 서울 이 다
    # share 6 of 7 (은 vs 는): 12/14 = 6/7. LCS 한국 의 수도 이 다 = 5 -> 10/14 = 5/7
    assert _one("rouge1", out, [ref], "word") == pytest.approx(1 / 3)
    assert _one("rouge1", out, [ref]) == pytest.approx(6 / 7)
    assert _one("rougeL", out, [ref]) == pytest.approx(5 / 7)
    same = M.score_row(LEXICAL, out, [out])
    assert same == {
        "exact_match": 1.0,
        "token_f1": 1.0,
        "bleu": 1.0,
        "chrf": 1.0,
        "rouge1": 1.0,
        "rouge2": 1.0,
        "rougeL": 1.0,
    }


def test_token_f1_rouge_l_and_multiple_references():
    # the cat sat on the mat (6) / the cat on a mat (5): shared the, cat, on, mat = 4
    # P = 4/6, R = 4/5, F1 = 2PR/(P+R) = 8/11
    assert _one("token_f1", "The cat sat on the mat.", ["the cat on a mat"]) == pytest.approx(8 / 11)
    # LCS of a b c d e / a x c y e z is a c e: P = 3/5, R = 3/6 -> 6/11
    assert _one("rougeL", "a b c d e", ["a x c y e z"], "word") == pytest.approx(6 / 11)
    # the best reference wins
    assert _one("token_f1", "the cat sat", ["a dog ran", "the cat sat"]) == 1.0
    assert _one("exact_match", "Seoul", ["Busan", "seoul!"]) == 1.0
    # no reference (or only blank ones): not scored
    assert M.score_row(LEXICAL, "anything", []) == dict.fromkeys(LEXICAL_NAMES, None)
    assert _one("bleu", "anything", ["  "]) is None
    # an empty output against a reference scores 0
    assert set(M.score_row(LEXICAL, "", ["서울"]).values()) == {0.0}


LEXICAL_NAMES = [m["name"] for m in LEXICAL]


def test_caches_are_bounded_and_shared_by_the_corpus_pass(monkeypatch):
    cache = BoundedCache(max_entries=3, max_chars=160)
    for i in range(5):
        cache.get(i, 4, lambda i=i: i * i)
    assert len(cache) == 3 and cache.get(4, 4, lambda: "recomputed") == 16
    cache.get("big", 11, lambda: "kept")  # over max_chars / 16 = 10: computed, not kept
    assert len(cache) == 3 and cache.get("big", 11, lambda: "again") == "again"
    by_chars = BoundedCache(max_entries=100, max_chars=160)
    for i in range(20):
        by_chars.get(i, 10, lambda: 0)  # 10 characters each: 16 fit in 160
    assert len(by_chars) == 16 and by_chars.get(3, 10, lambda: "evicted") == "evicted"
    # the corpus pass reuses the rows' BLEU/chrF statistics without tokenising again
    M.clear()
    rows = [
        M.score_row(LEXICAL, o, [r]) for o, r in [("나는 학교에 갔다", "나는 학교에 간다"), ("hello there", "hello")]
    ]
    calls = []
    real = text._analyse
    monkeypatch.setattr(text, "_analyse", lambda t: calls.append(t) or real(t))
    outputs, references = ["나는 학교에 갔다", "hello there"], [["나는 학교에 간다"], ["hello"]]
    assert M.corpus_scores(LEXICAL, outputs, references, row_scores=rows) and calls == []
    M.clear()
    M.corpus_scores(LEXICAL, outputs, references, row_scores=rows)
    assert calls == ["나는 학교에 갔다", "나는 학교에 간다"]


def test_lcs_is_the_longest_common_subsequence():
    def table(a, b):
        t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                t[i + 1][j + 1] = t[i][j] + 1 if x == y else max(t[i][j + 1], t[i + 1][j])
        return t[-1][-1]

    rng = random.Random(7)
    for _ in range(300):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 40))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 40))]
        assert M._lcs(a, b) == table(a, b)


# --------------------------------------------------------------------------------------------
# Against sacrebleu and rouge-score called on their own
# --------------------------------------------------------------------------------------------

# lower case, no punctuation, single spaces: sacrebleu's 13a tokeniser and ours (word) cut these
# identically, so the scores must match
EN_HYPS = ["the cat sat on the mat", "there is a dog in the garden", "we moved the meeting to 3 pm on friday", "hello"]
EN_REFS = [
    ["the cat is sitting on the mat", "a cat sat on the mat"],
    ["a dog is in the garden"],
    ["the meeting moved to friday at 3 pm", "we moved it to friday 3 pm", "meeting on friday"],
    ["hello there"],
]


def _streams(refs: list[list[str]]) -> list[list[str | None]]:
    width = max(map(len, refs))
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


def test_bleu_and_chrf_match_sacrebleu():
    got = M.corpus_scores(LEXICAL, EN_HYPS, EN_REFS, "word")
    assert got["bleu"] == pytest.approx(BLEU().corpus_score(EN_HYPS, _streams(EN_REFS)).score / 100, abs=1e-6)
    assert got["chrf"] == pytest.approx(CHRF().corpus_score(EN_HYPS, _streams(EN_REFS)).score / 100, abs=1e-6)
    sentence = BLEU(effective_order=True)
    for hyp, refs in zip(EN_HYPS, EN_REFS, strict=True):
        row = M.score_row(LEXICAL, hyp, refs, "word")
        assert row["bleu"] == pytest.approx(sentence.sentence_score(hyp, refs).score / 100, abs=1e-6)
        assert row["chrf"] == pytest.approx(CHRF().sentence_score(hyp, refs).score / 100, abs=1e-6)
    # corpus BLEU is not the mean of sentence BLEU; the other metrics are means of their rows
    rows = [M.score_row(LEXICAL, h, r, "word") for h, r in zip(EN_HYPS, EN_REFS, strict=True)]
    assert got["bleu"] != pytest.approx(sum(r["bleu"] for r in rows) / len(rows))
    assert got["rouge1"] == pytest.approx(sum(r["rouge1"] for r in rows) / len(rows))
    assert M.corpus_scores(LEXICAL, EN_HYPS, EN_REFS, "word", row_scores=rows) == got
    # Korean words split on spaces by 13a as by ours
    ko = M.corpus_scores(LEXICAL, ["나는 학교에 갔다"], [["나는 학교에 간다"]], "word")
    assert ko["bleu"] == pytest.approx(
        BLEU().corpus_score(["나는 학교에 갔다"], [["나는 학교에 간다"]]).score / 100, abs=1e-6
    )


def test_corpus_edge_cases():
    assert M.corpus_scores(LEXICAL, ["a", "b"], [[], []]) == dict.fromkeys(LEXICAL_NAMES, None)
    mixed = M.corpus_scores(LEXICAL, ["a b c d", "c"], [["a b c d"], []], "word")
    assert mixed["bleu"] == 1.0 and mixed["exact_match"] == 1.0  # the row without references is left out
    with pytest.raises(ValueError, match="2 outputs but 1"):
        M.corpus_scores(LEXICAL, ["a", "b"], [["a"]])


def test_rouge_score_package_drops_hangul_ours_does_not():
    from rouge_score import rouge_scorer

    out, ref = "나는 학교에 갔다", "나는 학교에 간다"
    common = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    # its default tokenizer keeps [a-z0-9] only: both texts become empty, every score 0
    assert {s.fmeasure for s in common.score(ref, out).values()} == {0.0}
    ours = M.score_row(LEXICAL, out, [ref])
    assert ours["rouge1"] > 0.7 and ours["rouge2"] > 0.7 and ours["rougeL"] > 0.7

    # given our morphemes, rouge-score computes exactly our numbers (same ROUGE, our tokens)
    class Morphemes:
        def tokenize(self, text):
            return tokenize(text, "morpheme")

    same = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=Morphemes())
    for o, r in [
        (out, ref),
        ("서울은 한국의 수도이다", "한국의 수도는 서울이다"),
        ("회의는 내일 3시에 시작합니다", "회의가 내일 세 시에 시작돼요"),
    ]:
        theirs = same.score(r, o)
        row = M.score_row(LEXICAL, o, [r])
        for name in ("rouge1", "rouge2", "rougeL"):
            assert row[name] == pytest.approx(theirs[name].fmeasure)


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def test_json_checks():
    assert _one("json_valid", ' {"a": [1, 2]} ', []) == 1.0
    assert _one("json_valid", "{'a': 1}", []) == 0.0
    assert _one("json_valid", "NaN", []) == 0.0  # Python's json would accept it
    fenced = '```json\n{"a": 1}\n```'
    assert _one("json_valid", fenced, []) == 0.0
    assert _one("json_valid", fenced, [], strip_fences=True) == 1.0
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}, "$defs": {}}
    assert _one("json_schema", '{"a": 3}', [], schema=schema) == 1.0
    assert _one("json_schema", '{"a": "3"}', [], schema=schema) == 0.0
    assert _one("json_schema", "not json", [], schema=schema) == 0.0
    local = {"$defs": {"n": {"type": "integer"}}, "type": "array", "items": {"$ref": "#/$defs/n"}}
    assert _one("json_schema", "[1, 2]", [], schema=local) == 1.0
    assert _one("json_schema", '[1, "x"]', [], schema=local) == 0.0
    for bad, message in [
        ({}, "params.schema is required"),
        ({"schema": "object"}, "must be an object"),
        ({"schema": {"type": "nope"}}, "not a valid draft 2020-12 schema at '/type'"),
        ({"schema": {"$ref": "https://example.com/s.json"}}, "only local references"),
        ({"schema": {"properties": {"a": {"$ref": "other.json"}}}}, "only local references"),
        ({"schema": {"properties": {"a": {"pattern": "(a+)+$"}}}}, "nests a repeat"),
        ({"schema": {}, "strip_fences": "yes"}, "strip_fences must be true or false"),
    ]:
        with pytest.raises(ValueError, match=message):
            M.validate_metrics([{"name": "json_schema", "params": bad}])


def test_regex_check():
    assert _one("regex", "주문번호 A-1234 입니다", [], pattern=r"[A-Z]-\d{4}") == 1.0
    assert _one("regex", "no order", [], pattern=r"[A-Z]-\d{4}") == 0.0
    # atomic groups, possessive and bounded repeats pass the nested-quantifier check
    for fine in [r"(?>\w+\s?)+$", r"(\w++\s?)+$", r"(\d{3}-)+\d{4}", r"\w+@\w+\.\w+"]:
        M.validate_metrics([{"name": "regex", "params": {"pattern": fine}}])
    for bad, message in [
        ("(a+)+$", "nests a repeat"),
        (r"(\w+\s?)*$", "nests a repeat"),
        ("(x{1,9})+", "nests a repeat"),
        ("(", "not a valid Python regular expression"),
        ("a" * 501, "longer than 500"),
        ("", "non-empty string"),
        (5, "non-empty string"),
    ]:
        with pytest.raises(ValueError, match=message):
            M.validate_metrics([{"name": "regex", "params": {"pattern": bad}}])
    # the output searched is capped
    assert _one("regex", "a" * M.MAX_SEARCHED + "END", [], pattern="END") == 0.0


def test_contains_not_contains_and_length():
    assert _one("contains", "수도는 ＳＥＯＵＬ입니다", [], text="seoul") == 1.0  # NFKC + case
    assert _one("contains", "Busan", [], any=["seoul", "서울"]) == 0.0
    assert _one("contains", "서울 and Seoul", [], all=["seoul", "서울"]) == 1.0
    assert _one("contains", "서울", [], all=["seoul", "서울"]) == 0.0
    assert _one("not_contains", "I cannot help", [], any=["As an AI", "죄송"]) == 1.0
    assert _one("not_contains", "as an ai model…", [], any=["As an AI", "죄송"]) == 0.0
    assert _one("length", " 안녕하세요 ", [], max=5) == 1.0  # 5 characters once trimmed
    assert _one("length", "안녕하세요!", [], max=5) == 0.0
    assert _one("length", "나는 학교에 갔다", [], min=7, max=7, unit="tokens") == 1.0  # 7 morphemes
    assert _one("length", "a b c", [], min=4, unit="tokens") == 0.0
    for name, bad, message in [
        ("contains", {}, "exactly one of params.text, any or all"),
        ("contains", {"text": "a", "any": ["b"]}, "exactly one of"),
        ("contains", {"any": []}, "non-empty list"),
        ("contains", {"text": ""}, "non-empty string"),
        ("not_contains", {"all": ["a"]}, "not_contains takes any, text"),
        ("length", {}, "params.min, params.max or both"),
        ("length", {"min": -1}, "integer >= 0"),
        ("length", {"max": "5"}, "integer >= 0"),
        ("length", {"max": True}, "integer >= 0"),
        ("length", {"min": 3, "max": 2}, "must not exceed"),
        ("length", {"max": 3, "unit": "words"}, "'chars' or 'tokens'"),
        ("embedding_similarity", {}, "params.route"),
        ("embedding_similarity", {"route": "  "}, "params.route"),
    ]:
        with pytest.raises(ValueError, match=message):
            M.validate_metrics([{"name": name, "params": bad}])


# --------------------------------------------------------------------------------------------
# Catalogue, validation, embeddings
# --------------------------------------------------------------------------------------------


def test_catalogue_and_validation():
    for spec in M.CATALOGUE.values():
        Draft202012Validator.check_schema(spec.params)
        assert spec.kind in ("lexical", "check", "embedding") and spec.summary_en and spec.summary_ko
        assert spec.kind == "embedding" or spec.name in M._SCORERS
    got = M.validate_metrics(
        [
            "bleu",
            {"name": "length", "params": {"max": 10}},
            {"name": "embedding_similarity", "params": {"route": "emb"}},
        ]
    )
    assert got == [
        {"name": "bleu", "params": {}},
        {"name": "length", "params": {"max": 10, "unit": "chars"}},
        {"name": "embedding_similarity", "params": {"route": "emb"}},
    ]
    assert M.score_row(got, "x" * 3, ["ref"])["embedding_similarity"] is None
    assert M.corpus_scores(got, ["x"], [["ref"]])["embedding_similarity"] is None
    for bad, message in [
        ("bleu", "must be a list"),
        ([{"name": "blue"}], "unknown metric 'blue'; known metrics: exact_match, token_f1, bleu"),
        ([3], "must be an object with a name"),
        ([{"params": {}}], "name must be a non-empty string"),
        ([{"name": "bleu", "weight": 2}], "unknown field"),
        ([{"name": "bleu", "params": {"max_order": 2}}], "bleu takes no params"),
        ([{"name": "regex", "params": {"pattern": "a", "flags": 1}}], "regex takes pattern"),
        ([{"name": "bleu", "params": []}], "params must be an object"),
        (["bleu", "bleu"], r"metrics\[1\] \(bleu\): listed twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            M.validate_metrics(bad)


def test_cosine():
    assert M.cosine([1.0, 0.0], [1.0, 0.0]) == pytest.approx(1.0)
    assert M.cosine([1.0, 0.0], [0.0, 2.0]) == pytest.approx(0.0)
    assert M.cosine([1.0, 1.0], [-1.0, -1.0]) == pytest.approx(-1.0)
    assert M.cosine([3.0, 4.0], [4.0, 3.0]) == pytest.approx(24 / 25)
    assert M.cosine([0.0, 0.0], [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="different sizes"):
        M.cosine([1.0], [1.0, 2.0])
