"""The client's cache and fallback against a scripted server (httpx.MockTransport): what each kind of
failure answers. The same behaviour over a real server is in tests/integration/test_prompt_client.py."""

from __future__ import annotations

import logging

import httpx
import pytest

from axops.client import PromptAPIError, Prompts, PromptUnavailable


def answer(version: int) -> dict:
    return {
        "prompt_name": "support",
        "version": version,
        "kind": "text",
        "template": f"v{version} {{{{ who }}}}",
        "variables": [{"name": "who", "type": "string"}],
        "binding": {},
        "labels": ["production"],
    }


class Server:
    """Answers what `script` holds next: an int (that version), an HTTP status, or an exception."""

    def __init__(self) -> None:
        self.script: list = []
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        assert request.url.path == "/api/prompts/resolve"
        assert request.headers["authorization"] == "Bearer axk_test"
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if step == "html":
            return httpx.Response(200, text="<html>captive portal</html>")
        if isinstance(step, int) and step >= 100:
            problem = {"type": "https://axops.dev/problems/prompt_label_not_found", "detail": "No label."}
            return httpx.Response(step, json=problem)
        return httpx.Response(200, json=answer(step))


@pytest.fixture
def now():
    return [0.0]


def client(server: Server, now: list, **kw) -> Prompts:
    prompts = Prompts("http://axops.test", "axk_test", ttl_s=10, clock=lambda: now[0], **kw)
    prompts._http = httpx.Client(transport=httpx.MockTransport(server), headers=prompts._http.headers)
    return prompts


def test_ttl(now):
    server = Server()
    prompts = client(server, now)
    server.script = [1, 2]
    assert prompts.get("support@production").version == 1
    now[0] = 9.9
    assert prompts.get("support@production").version == 1
    assert server.calls == 1
    now[0] = 10.0
    assert prompts.get("support@production").version == 2
    assert server.calls == 2


@pytest.mark.parametrize(
    "failure",
    [503, 500, httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("gone"), "html"],
)
def test_unreachable_serves_the_last_version_with_a_warning(now, failure, caplog):
    server = Server()
    prompts = client(server, now)
    server.script = [1, failure]
    assert not prompts.get("support@production").stale
    now[0] = 60
    with caplog.at_level(logging.WARNING, logger="axops.client"):
        stale = prompts.get("support@production")
    assert (stale.version, stale.stale) == (1, True)
    assert stale.render(who="Ann") == "v1 Ann"
    assert "unreachable" in caplog.text and "support:1" in caplog.text


def test_nothing_known_is_unavailable(now):
    server = Server()
    server.script = [httpx.ConnectError("refused")]
    with pytest.raises(PromptUnavailable, match="support@production"):
        client(server, now).get("support@production")


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_refusals_are_never_masked(now, status, tmp_path):
    server = Server()
    prompts = client(server, now, cache_dir=tmp_path)
    server.script = [1, status]
    prompts.get("support@staging")
    now[0] = 60
    with pytest.raises(PromptAPIError) as refused:
        prompts.get("support@staging")
    assert (refused.value.status, refused.value.code, refused.value.detail) == (
        status,
        "prompt_label_not_found",
        "No label.",
    )


def test_disk_copy_outlives_the_process(now, tmp_path):
    server = Server()
    server.script = [1]
    client(server, now, cache_dir=tmp_path).get("support@production")
    assert [p.name for p in tmp_path.iterdir()] == ["support%40production.json"]
    server.script = [httpx.ConnectError("refused")]
    fresh = client(server, now, cache_dir=tmp_path)  # a new process: nothing in memory
    assert fresh.get("support@production").render(who="Bo") == "v1 Bo"
    server.script = [httpx.ConnectError("refused")]
    with pytest.raises(PromptUnavailable):
        fresh.get("support:1")  # another reference was never fetched


def test_a_corrupt_disk_copy_is_not_a_version(now, tmp_path):
    (tmp_path / "support%40production.json").write_text("{not json")
    server = Server()
    server.script = [httpx.ConnectError("refused")]
    with pytest.raises(PromptUnavailable):
        client(server, now, cache_dir=tmp_path).get("support@production")
