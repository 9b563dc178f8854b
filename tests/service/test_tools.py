"""The tool service as agents use it (rolled-back session): OpenAI tool entries for current versions,
a call recorded with its agent run, argument checks before anything runs, another team's and
archived tools refused, credentials encrypted at rest, and OpenAPI conversion details."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from axops.auth.models import User
from axops.core.errors import Conflict, NotFound
from axops.tools import openapi_import, service
from axops.tools.models import Tool, ToolCall
from axops.tools.schemas import ToolCreate, ToolVersionIn
from tests.factories import principal

SECRET = "test-secret-key-for-tools"
PARAMS = {"type": "object", "properties": {"city": {"type": "string", "minLength": 2}}, "required": ["city"]}


@pytest.fixture
async def dev(db_session, two_teams):
    user = User(username=f"tooldev-{uuid.uuid4().hex[:8]}", password_hash="-", role="developer")
    db_session.add(user)
    await db_session.flush()
    return principal("developer", [two_teams[0]], user=user)


async def _python_tool(db_session, dev, name="weather", **extra) -> Tool:
    data = ToolCreate(
        name=name,
        kind="python",
        description="The weather in a city",
        parameters=PARAMS,
        spec={"source": "def weather(city):\n    return {'city': city, 'sky': 'clear'}\n", "function": "weather"},
        **extra,
    )
    return await service.create_tool(db_session, dev, data, secret=SECRET)


async def test_openai_entries_follow_the_current_version(db_session, dev):
    tool = await _python_tool(db_session, dev)
    assert await service.openai_tools(db_session, dev, [tool.id]) == [
        {
            "type": "function",
            "function": {"name": "weather", "description": "The weather in a city", "parameters": PARAMS},
        }
    ]
    wider = {**PARAMS, "properties": {**PARAMS["properties"], "unit": {"type": "string", "enum": ["C", "F"]}}}
    await service.new_version(
        db_session,
        dev,
        tool.id,
        ToolVersionIn(parameters=wider, spec=(await service.get_version(db_session, tool)).spec),
    )
    [entry] = await service.openai_tools(db_session, dev, [tool.id])
    assert entry["function"]["parameters"] == wider
    await service.archive_tool(db_session, dev, tool.id)
    with pytest.raises(Conflict):
        await service.openai_tools(db_session, dev, [tool.id])


async def test_invalid_arguments_are_recorded_without_running(db_session, dev):
    tool = await _python_tool(db_session, dev)
    run_id = uuid.uuid4()
    outcome = await service.call_tool(db_session, dev, tool.id, {"city": "X"}, agent_run_id=run_id, secret=SECRET)
    assert outcome.ok is False and outcome.error_kind == "invalid_arguments"
    assert outcome.error.startswith("city:") and outcome.latency_ms == 0
    outcome = await service.call_tool(db_session, dev, tool.id, {}, agent_run_id=run_id, secret=SECRET)
    assert outcome.error_kind == "invalid_arguments" and "'city' is a required property" in outcome.error
    calls = list(await db_session.scalars(select(ToolCall).where(ToolCall.agent_run_id == run_id)))
    assert [(c.status, c.error_kind, c.version, c.caller_id) for c in calls] == [
        ("error", "invalid_arguments", 1, dev.user_id)
    ] * 2


async def test_another_team_cannot_see_or_call(db_session, dev, two_teams):
    tool = await _python_tool(db_session, dev)
    stranger = principal("developer", [two_teams[1]])
    for attempt in (
        service.get_tool(db_session, stranger, tool.id),
        service.openai_tools(db_session, stranger, [tool.id]),
        service.call_tool(db_session, stranger, tool.id, {"city": "Seoul"}, secret=SECRET),
    ):
        with pytest.raises(NotFound):
            await attempt
    assert (await service.list_tools(db_session, stranger))[0] == []


async def test_credentials_are_encrypted_at_rest(db_session, dev):
    data = ToolCreate(
        name="search",
        kind="http",
        credential="plain-credential-value",
        spec={"method": "GET", "base_url": "https://api.example.com", "path": "/search", "auth": {"type": "bearer"}},
    )
    tool = await service.create_tool(db_session, dev, data, secret=SECRET)
    assert tool.credential_encrypted and "plain-credential-value" not in tool.credential_encrypted


def test_openapi_conversion():
    doc = {
        "openapi": "3.1.0",
        "servers": [{"url": "https://api.example.com/v2"}],
        "components": {
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
            "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "nullable": True}}},
        },
        "security": [{"key": []}],
        "paths": {
            "/users/{id}/posts": {
                "parameters": [{"name": "id", "in": "path", "schema": {"type": "integer"}}],
                "get": {"summary": "Posts", "parameters": [{"$ref": "#/components/parameters/Limit"}]},
                "put": {
                    "operationId": "replace posts!",
                    "requestBody": {"content": {"application/json": {"schema": {"type": "array", "items": {}}}}},
                },
            }
        },
    }
    get, put = openapi_import.operations(doc, base_url=None, prefix="ex")
    assert get.name == "ex_get_users_id_posts" and get.description == "Posts"
    assert get.parameters == {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "limit": {"type": ["integer", "null"]}},
        "required": ["id"],
    }
    assert get.spec == {
        "method": "GET",
        "base_url": "https://api.example.com/v2",
        "path": "/users/{id}/posts",
        "params": {"id": {"in": "path"}, "limit": {"in": "query"}},
        "auth": {"type": "header", "name": "X-Api-Key"},
    }
    assert put.name == "ex_replace_posts"
    assert put.parameters["properties"]["body"] == {"type": "array", "items": {}}
    assert put.spec["params"]["body"] == {"in": "body_raw"}
    with pytest.raises(openapi_import.ImportError_, match="never fetched"):
        openapi_import.operations(
            {**doc, "paths": {"/a": {"get": {"parameters": [{"$ref": "https://evil.example/p.json"}]}}}},
            base_url=None,
            prefix=None,
        )
