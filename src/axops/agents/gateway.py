"""`/v1/chat/completions` with `model: "agent:NAME"`: the caller's messages are the run's input, the
answer an OpenAI `chat.completion` (or its chunks with `stream: true`; the loop's model calls are not
streamed, so the content arrives in one chunk when the run ends). `x-axops-agent-run` names the run.

A run that waits for approval answers with the pending calls described in the message (finish reason
`stop`), to be decided at `POST /api/agent/runs/{id}/approvals/{approval_id}`; a run stopped by a limit
answers with finish reason `length`; a failed run is a 502 error in OpenAI's shape."""

from __future__ import annotations

import time

import orjson
from starlette.responses import Response, StreamingResponse

from axops.core.errors import AppError
from axops.gateway import agent_hook
from axops.gateway.prompting import Refused

from . import runs
from .models import AgentRun
from .runner import drive

HEADER = "x-axops-agent-run"


def _describe(calls: list[dict]) -> str:
    lines = ["The agent is waiting for approval of these tool calls:"]
    for c in calls:
        lines.append(f"- {c['tool']} (approval {c['approval_id']}): {c.get('arguments')}")
    return "\n".join(lines)


class _Runner:
    async def answer(self, request, principal, name: str, body: dict) -> Response | Refused:
        state = request.app.state.axops
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        try:
            ctx = await runs.start(state, principal, None, messages, agent_name=name, source="v1")
        except AppError as exc:
            code = "model_not_found" if exc.status == 404 else getattr(exc, "code", None)
            return Refused(exc.status, exc.detail or "The agent cannot run.", code=code, param="model")
        content, finish, failed = "", "stop", None
        async for kind, data in drive(ctx):
            if kind == "answer":
                content = data["content"]
            elif kind == "approval_required":
                content = _describe(data["calls"])
            elif kind == "error":
                failed = data.get("message") or "the agent's model call failed"
            elif kind == "done" and data["status"] == "limit_reached":
                content, finish = f"The agent stopped: the limit {data['stop_reason']} was reached.", "length"
            elif kind == "done" and data["status"] == "cancelled":
                content = "The agent run was cancelled."
        headers = {HEADER: str(ctx.run_id)}
        if failed:
            doc = {"error": {"message": f"The agent run failed: {failed}", "type": "api_error", "code": "agent_failed"}}
            return Response(orjson.dumps(doc), status_code=502, media_type="application/json", headers=headers)
        async with state.db.sessionmaker() as session:
            run = await session.get(AgentRun, ctx.run_id)
            usage = {
                "prompt_tokens": run.prompt_tokens,
                "completion_tokens": run.completion_tokens,
                "total_tokens": run.prompt_tokens + run.completion_tokens,
                "cost": run.cost,
            }
        model = body["model"]
        cid, created = f"chatcmpl-{ctx.run_id.hex}", int(time.time())
        if not body.get("stream"):
            doc = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
                ],
                "usage": usage,
            }
            return Response(orjson.dumps(doc), media_type="application/json", headers=headers)
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
        chunks = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        ]
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": usage})

        async def stream():
            for c in chunks:
                yield b"data: " + orjson.dumps(c) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


agent_hook.register(_Runner())
