"""Rendering a version (or an unsaved draft) for the API, and the editor's live check."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from axops import templating
from axops.auth.deps import Principal
from axops.core.errors import Invalid
from axops.prompts import service
from axops.prompts.refs import parse_selector
from axops.prompts.schemas import (
    PromptCheckError,
    PromptCheckIn,
    PromptCheckOut,
    PromptRenderIn,
    PromptRenderOut,
    PromptVersionIn,
)


def _render(kind: str, template, variables: list[dict], given: dict) -> tuple[templating.Rendered, dict]:
    values = templating.bind_variables(variables, given)
    return templating.render(kind, template, variables, given), values


async def render(session: AsyncSession, principal: Principal, name: str, body: PromptRenderIn) -> PromptRenderOut:
    """422 with the RenderError's code and the `variable` it names (missing, unknown, mistyped) or a limit
    reached. A render runs in a worker thread: its budget (steps, 250 ms, output size) bounds it there."""
    prompt = await service.get_prompt(session, principal, name)
    if body.draft is not None:
        d = body.draft
        content = service.checked_version(PromptVersionIn(kind=d.kind, template=d.template, variables=d.variables))
        kind, template, variables, number = d.kind, content["template"], content["variables"], None
    else:
        label, number = parse_selector(body.ref) if body.ref else (None, None)
        version = await service.select_version(session, prompt, label, number)
        kind, template, variables, number = version.kind, version.template, version.variables, version.version
    try:
        rendered, values = await asyncio.to_thread(_render, kind, template, variables, body.variables)
    except templating.RenderError as exc:
        raise Invalid(exc.message, code=exc.code, variable=exc.variable) from None
    return PromptRenderOut(
        kind=kind,  # type: ignore[arg-type]
        text=rendered.text,
        messages=rendered.messages,  # type: ignore[arg-type]
        version=number,
        variables_used=values,
    )


def check(body: PromptCheckIn) -> PromptCheckOut:
    """Never a 4xx for a broken template: the editor shows where it broke."""
    template = body.template if isinstance(body.template, str) else [m.model_dump() for m in body.template]
    variables = [v.model_dump() for v in body.variables]
    try:
        templating.check_variables(variables)
        templating.check_template(body.kind, template, variables)
    except templating.TemplateError as exc:
        shape_ok = (body.kind == "text") == isinstance(template, str)
        return PromptCheckOut(
            ok=False,
            placeholders=templating.placeholders(body.kind, template) if shape_ok else [],
            error=PromptCheckError(
                message=exc.message, line=exc.line, column=exc.column, message_index=exc.message_index
            ),
        )
    return PromptCheckOut(ok=True, placeholders=templating.placeholders(body.kind, template))
