"""Log lines never carry secrets or personal data, whatever the caller passed."""

from __future__ import annotations

import logging

import orjson

from axops.core.logging import JsonFormatter, event


def test_secrets_and_personal_data_are_masked_in_log_lines(caplog):
    logger = logging.getLogger("axops.test")
    with caplog.at_level(logging.INFO, logger="axops.test"):
        event(
            logger,
            "customer.note 연락처 010-2345-6789",
            password="hunter2",
            note="주민등록번호 900101-1234568, kim@example.com",
            rows=[{"api_key": "axk_abc_def", "memo": "카드 4111 1111 1111 1111"}],
            count=3,
        )
    line = JsonFormatter().format(caplog.records[-1])
    out = orjson.loads(line)
    assert out["password"] == "[redacted]" and out["rows"][0]["api_key"] == "[redacted]" and out["count"] == 3
    for raw in ("2345-6789", "1234568", "kim@example.com", "4111 1111 1111 1111", "hunter2", "axk_abc_def"):
        assert raw not in line, raw
    assert "주민등록번호" in out["note"] and "010-" in out["event"]  # context stays readable
