"""Guardrails on the `/v1` path: input checks after prompt rendering and before routing (block →
400 `guardrail_blocked`, mask → the upstream gets the masked text), output checks on the answer
(restoring masked values when the policy says so) and on streams chunk by chunk (a violation cuts
the stream with finish_reason `content_filter` and an error event). A request no policy applies to
costs one attribute read. What is refused is never echoed back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from axops.core import context
from axops.gateway import model_checks
from axops.guardrails import engine
from axops.guardrails.decisions import DecisionWriter
from axops.guardrails.policies import PolicyCache

CODE = "guardrail_blocked"
UNAVAILABLE_CODE = "guardrail_unavailable"  # a model check failed closed: 503


class Guarding:
    """Process-wide: the policy cache and the decision writer (owned by the Gateway)."""

    def __init__(self, db) -> None:
        self.db = db
        self.policies = PolicyCache()
        self.decisions = DecisionWriter(db)
        self.model_timeout_s = 2.0  # settings.guardrails_model_timeout_s, set by the app

    def start(self) -> None:
        self.decisions.start()

    async def stop(self) -> None:
        await self.decisions.stop()


class Guarded:
    """One request's applicable policies, what its input check decided and what to put back."""

    def __init__(self, guarding: Guarding, policies: tuple, principal, route: str) -> None:
        self.guarding, self.policies, self.principal, self.route = guarding, policies, principal, route
        self.output = any(p.output for p in policies)
        self.restore: dict[str, str] = {}
        self.blocked: str | None = None  # the refusal's message
        self.status, self.code = 400, CODE  # the refusal's status and code

    @property
    def active(self) -> bool:
        """Whether the answer needs looking at."""
        return self.output or bool(self.restore)

    def _record(self, decision: engine.Decision, text: str, direction: str) -> None:
        self.guarding.decisions.record(
            decision, text, direction, self.route, self.principal, context.current().request_id
        )

    def _refuse(self, verdict: engine.Verdict, direction: str) -> None:
        what = "request" if direction == "input" else "answer"
        if verdict.hits and verdict.hits[0].kind == engine.UNAVAILABLE:
            self.status, self.code = 503, UNAVAILABLE_CODE
            self.blocked = (
                f"The {what} could not be checked: the model of guardrail policy '{verdict.policy}' "
                f"({verdict.check}) did not answer, and the policy blocks when it cannot check."
            )
            return
        self.blocked = f"The {what} was blocked by guardrail policy '{verdict.policy}' ({verdict.check})."

    def check_answer(self, answer: dict) -> bool:
        """Output checks on a JSON answer's texts (masked in place), then masked values restored.
        False when the answer is blocked."""
        counter: dict = {}
        for choice in answer.get("choices") or ():
            holder = choice.get("message") if isinstance(choice.get("message"), dict) else choice
            key = "content" if holder is not choice else "text"
            value = holder.get(key)
            if not isinstance(value, str) or not value:
                continue
            if self.output:
                decision = engine.evaluate(self.policies, value, "output", counter)
                if decision.action != "allow":
                    self._record(decision, value, "output")
                if decision.action == "block":
                    self._refuse(decision.blocking, "output")
                    return False
                value = decision.text
            holder[key] = engine.restore(value, self.restore)
        return True


def _pieces(body: dict, endpoint: str) -> list[tuple[object, object]]:
    """(container, key) of every text the request sends: chat message contents and their text parts,
    completion prompts, embedding inputs."""
    found: list[tuple[object, object]] = []
    if endpoint == "chat":
        for m in body.get("messages") or ():
            if not isinstance(m, dict):
                continue
            if isinstance(m.get("content"), str):
                found.append((m, "content"))
            elif isinstance(m.get("content"), list):
                found.extend(
                    (p, "text") for p in m["content"] if isinstance(p, dict) and isinstance(p.get("text"), str)
                )
    else:
        field = "prompt" if endpoint == "completions" else "input"
        value = body.get(field)
        if isinstance(value, str):
            found.append((body, field))
        elif isinstance(value, list):
            found.extend((value, i) for i, v in enumerate(value) if isinstance(v, str))
    return found


def _classifier_for(gw, principal) -> engine.Classify:
    return model_checks.classifier(gw, principal, gw.guarding.model_timeout_s)


engine.model_classifier = _classifier_for


def _asks_model(p: engine.Compiled) -> bool:
    return bool((p.harmful and p.harmful[2]) or (p.injection and p.injection[1]))


async def check_input(gw, principal, route, body: dict, endpoint: str) -> Guarded | None:
    """None when no policy applies. Else the request's guard; `blocked` is set when it is refused,
    and the body's texts are masked in place when a policy masks."""
    guarding: Guarding = gw.guarding
    await guarding.policies.ensure(gw.db)
    policies = guarding.policies.applicable(route.id, principal)
    if not policies:
        return None
    guarded = Guarded(guarding, policies, principal, body["model"])
    if not any(p.input for p in policies):
        return guarded
    counter: dict = {}
    classify = None
    if any(p.input and _asks_model(p) for p in policies):
        classify = model_checks.classifier(gw, principal, guarding.model_timeout_s)
    for holder, key in _pieces(body, endpoint):
        value = holder[key]  # type: ignore[index]
        if classify is None:
            decision = engine.evaluate(policies, value, "input", counter)
        else:
            decision = await engine.evaluate_with_models(policies, value, "input", classify, counter)
        if decision.action == "allow":
            if classify is not None and any(v.hits and v.hits[0].kind == engine.UNAVAILABLE for v in decision.verdicts):
                guarded._record(decision, value, "input")  # failed open: still on record
            continue
        guarded._record(decision, value, "input")
        if decision.action == "block":
            guarded._refuse(decision.blocking, "input")
            return guarded
        holder[key] = decision.text  # type: ignore[index]
        guarded.restore.update(decision.restore)
    return guarded


def _event(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def guard_stream(lines: AsyncIterator[bytes], guarded: Guarded, model: str) -> AsyncIterator[bytes]:
    """The relayed stream with each content delta checked (with the end of the text before it) and
    masked values restored; on a violation the upstream stream is closed and the client gets a
    `content_filter` finish, an error event and [DONE]."""
    guard = engine.StreamGuard(list(guarded.policies)) if guarded.output else None
    try:
        async for line in lines:
            if not line.startswith(b"data: {"):
                yield line
                continue
            chunk = orjson.loads(line[6:])
            choices = chunk.get("choices") or ()
            delta = (choices[0].get("delta") or {}) if choices else {}
            content = delta.get("content")
            if not isinstance(content, str) or not content:
                yield line
                continue
            if guard is not None and (decision := guard.feed(content)) is not None:
                guarded._record(decision, guard.window, "output")
                verdict = decision.blocking or decision.verdicts[0]
                finish = {
                    "id": chunk.get("id"),
                    "object": "chat.completion.chunk",
                    "created": chunk.get("created", 0),
                    "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}],
                }
                error = {
                    "error": {
                        "message": f"The answer was cut by guardrail policy '{verdict.policy}' ({verdict.check}).",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": CODE,
                    }
                }
                yield _event(finish) + _event(error) + b"data: [DONE]\n\n"
                return
            if guarded.restore and "[" in content:
                delta["content"] = engine.restore(content, guarded.restore)
                line = _event(chunk)
            yield line
    finally:
        await lines.aclose()  # type: ignore[attr-defined]
