"""The runs search language: parsing, parameterised SQL, and malicious input (always 422, never SQL text)."""

from __future__ import annotations

import pytest

from axops.core.errors import Invalid
from axops.experiments.filter import compile_filter, compile_order_by, tokenize


def test_params_metrics_tags_become_bound_conditions():
    c = compile_filter("params.lr < 0.001 and metrics.loss < 2.0 and tags.method = 'lora'")
    assert c.params == ["lr", 0.001, "loss", 2.0, "method", "lora"]
    assert c.sql.startswith("((CASE WHEN") and c.sql.endswith("$6::text)")
    assert "r.params ->> $1" in c.sql and "$2::float8" in c.sql
    assert "m.key = $3 AND m.value < $4::float8" in c.sql
    assert "(r.tags ->> $5) = $6::text" in c.sql
    for value in ("lr", "loss", "lora", "method", "0.001"):
        assert value not in c.sql


def test_grammar_or_not_parentheses_in_like_and_mlflow_spellings():
    c = compile_filter(
        "(metrics.acc >= 0.9 OR NOT params.opt = 'sgd') AND attributes.status IN ('FINISHED', 'RUNNING')"
    )
    assert " OR " in c.sql and "NOT coalesce(" in c.sql and "r.status IN (SELECT unnest($" in c.sql
    assert c.params[-1] == ["FINISHED", "RUNNING"]
    c = compile_filter("tags.mlflow.runName = \"my run\" and metric.`eval loss` <= 1e-3 and name ilike '%lora%'")
    assert c.params == ["mlflow.runName", "my run", "eval loss", 0.001, "%lora%"]
    c = compile_filter("run_id = 'AB-cd' and start_time > 1700000000000 and params.x != 3")
    assert c.params[0] == "abcd" and c.params[1] == 1.7e12
    assert compile_filter("").sql == "TRUE" and compile_filter(None).sql == "TRUE"
    assert compile_filter("params.name = 'it''s'").params == ["name", "it's"]


def test_numbering_continues_after_existing_params():
    params = ["a", "b"]
    c = compile_filter("metrics.loss < 1", params)
    assert "$3" in c.sql and "$4::float8" in c.sql and params == ["a", "b", "loss", 1.0]


def test_order_by():
    params: list = []
    sql = compile_order_by(["metrics.loss ASC", "params.lr desc", "start_time"], params)
    assert params == ["loss", "lr"] and "DESC" in sql and "extract(epoch FROM r.start_time)" in sql
    with pytest.raises(Invalid):
        compile_order_by(["metrics.loss; DROP TABLE runs"], [])
    with pytest.raises(Invalid):
        compile_order_by(["metrics.loss ASC extra"], [])
    with pytest.raises(Invalid, match="unknown attribute"):
        compile_order_by(["attributes.nope DESC"], [])
    assert "r.status" in compile_order_by(["attributes.STATUS"], [])


@pytest.mark.parametrize(
    "bad",
    [
        "params.lr < 0.001; DROP TABLE runs",
        "params.lr = '1' OR 1=1 --",
        "metrics.loss < 2 UNION SELECT password_hash FROM users",
        "params.lr < (SELECT 1)",
        "tags.x = 'a' /* comment */",
        "metrics.loss < 'abc'",  # metrics compare with numbers
        "status < 3",  # status compares with strings
        "start_time = 'yesterday'",
        "secret.x = 1",
        "password = 'x'",
        "params.lr <",
        "params.lr 0.1",
        "params. = 1",
        "(metrics.loss < 1",
        "metrics.loss < 1)",
        "metrics.loss < 1 and",
        "params.lr = 1 and or params.x = 2",
        "params.x in ()",
        "params.x in (1, 'a')",
        "params.x like 3",
        "params.x not = 3",
        "tags.x = 'unterminated",
        "params.lr = $1",
        "params.lr = \x00",
        "params.lr = 1e5e5",
        "(" * 50 + "metrics.a < 1" + ")" * 50,
        " and ".join(["metrics.a < 1"] * 60),
        "params.x = '" + "a" * 5000 + "'",
        "params.`" + "k" * 300 + "` = 1",
        "attributes.nope = 'x'",  # an unknown attribute was a KeyError (500)
        "attr.artifact_uri = 'x'",
    ],
)
def test_malicious_or_malformed_input_is_rejected(bad):
    with pytest.raises(Invalid) as err:
        compile_filter(bad)
    assert err.value.status == 422


def test_quotes_and_semicolons_inside_strings_stay_values():
    c = compile_filter("tags.note = '; DROP TABLE runs; --' and params.q = 'a''b\"c'")
    assert "DROP" not in c.sql and c.params == ["note", "; DROP TABLE runs; --", "q", "a'b\"c"]


def test_tokenizer_positions_in_errors():
    assert [t.kind for t in tokenize("params.lr<=1")] == ["word", "punct", "word", "op", "num", "end"]
    with pytest.raises(Invalid, match="position 11"):
        compile_filter("params.lr ; 1")
