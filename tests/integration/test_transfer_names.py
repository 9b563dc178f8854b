"""Person names are personal data for the no-external-transfer rule (issue 18): a prompt naming someone
is served by the route's internal target, or refused when there is none, and the external provider
receives nothing."""

from __future__ import annotations

from tests.integration.test_access_policies import chat, mocks, sent, world  # noqa: F401 (fixtures)


def test_a_name_alone_keeps_the_request_inside(api, admin, world):  # noqa: F811
    ext, internal, key = world["ext"], world["internal"], world["key"]["key"]
    assert chat(api, key, "hybrid", "오늘 날씨 알려줘").headers["x-axops-upstream"] == "openai-like/gpt-x"
    before = len(ext.requests)

    for text, name in (
        ("김철수 님에게 보낼 보고서를 요약해 줘", "김철수"),
        ("Draft a note to John Smith", "John Smith"),
    ):
        r = chat(api, key, "hybrid", text)
        assert r.status_code == 200, r.text
        assert r.headers["x-axops-upstream"] == "vllm-in/local-x"
        assert name in sent(internal)
        r = chat(api, key, "ext-only", text)  # no internal target: refused, not sent
        assert r.status_code == 403 and r.json()["error"]["code"] == "external_transfer_refused"
        assert name not in r.text
    assert len(ext.requests) == before and "김철수" not in sent(ext) and "John Smith" not in sent(ext)
