"""Agent templates: the built-in ones (YAML files in `templates/`, validated when first loaded, which
the router does at start) and agents teams share with the whole installation. Installing one creates
its tools and its agent in the caller's team in the request's transaction (all or nothing, audited).

A shared template is a snapshot of an agent's current version: its system prompt (a saved prompt is
resolved to its text), limits, parameters and tools. Credentials and datasets are never copied: an
HTTP tool is installed without its credential, and a Python tool bound to a dataset asks the installer
for a dataset version of their own (read with the installer's permissions, tools/dataset_files.py).
MCP tools belong to their team's server and cannot be shared."""

from __future__ import annotations

import re
import uuid
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import Team, User
from axops.auth.scoping import owning_team, require, require_owner
from axops.core.errors import Conflict, Invalid, NotFound
from axops.tools import service as tools
from axops.tools.models import Tool
from axops.tools.schemas import ToolCreate

from . import service as agents
from .models import Agent
from .schemas import AgentCreate, AgentVersionIn
from .template_models import AgentTemplate, AgentTemplateInstall
from .template_schemas import (
    InstalledTool,
    TemplateFile,
    TemplateInstall,
    TemplateInstallOut,
    TemplateOut,
    TemplatePublish,
    TemplateText,
    TemplateTool,
    TemplateToolOut,
)

BUILTIN_DIR = Path(__file__).parent / "templates"
MAX_SHARED = 500


def _not_found() -> NotFound:
    return NotFound("No such agent template.", code="agent_template_not_found")


@cache
def builtin_templates() -> dict[str, TemplateFile]:
    """Every built-in template by id; a file that does not validate stops the start."""
    out: dict[str, TemplateFile] = {}
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        template = TemplateFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        for tool in template.tools:
            tools.check_version(tool.kind, tool.parameters, tool.spec)  # the same checks as the tools API
        if template.id in out:
            raise ValueError(f"two built-in templates have the id {template.id}")
        out[template.id] = template
    return out


def _tools_out(items: list[TemplateTool]) -> list[TemplateToolOut]:
    return [
        TemplateToolOut(name=t.name, kind=t.kind, description=t.description, uses_dataset=t.uses_dataset) for t in items
    ]


def _builtin_out(t: TemplateFile, count: int) -> TemplateOut:
    return TemplateOut(
        id=t.id,
        builtin=True,
        name=t.name.get("en") or next(iter(t.name.values())),
        description=t.description.get("en", ""),
        translations={
            lang: TemplateText(name=t.name[lang], description=t.description.get(lang, "")) for lang in t.name
        },
        tags=t.tags,
        tools=_tools_out(t.tools),
        needs_dataset=any(x.uses_dataset for x in t.tools),
        system_prompt=t.agent.system_prompt,
        limits=t.agent.limits.model_dump(exclude_none=True),
        install_count=count,
    )


def _shared_out(row: AgentTemplate, count: int, team: str | None, user: str | None) -> TemplateOut:
    items = [TemplateTool.model_validate(t) for t in row.spec.get("tools", [])]
    return TemplateOut(
        id=str(row.id),
        builtin=False,
        name=row.name,
        description=row.description,
        translations={},
        tags=list(row.tags or []),
        tools=_tools_out(items),
        needs_dataset=any(x.uses_dataset for x in items),
        system_prompt=row.spec["agent"]["system_prompt"],
        limits=row.spec["agent"].get("limits", {}),
        team_id=row.team_id,
        team_name=team,
        shared_by=row.shared_by,
        shared_by_name=user,
        source_agent_id=row.source_agent_id,
        install_count=count,
        created_at=row.created_at,
    )


async def _counts(session: AsyncSession, keys: list[str]) -> dict[str, int]:
    if not keys:
        return {}
    rows = await session.execute(
        select(AgentTemplateInstall.template_key, func.count())
        .where(AgentTemplateInstall.template_key.in_(keys))
        .group_by(AgentTemplateInstall.template_key)
    )
    return {k: n for k, n in rows.all()}


async def _outs(session: AsyncSession, rows: list[AgentTemplate], builtins: list[TemplateFile]) -> list[TemplateOut]:
    counts = await _counts(session, [t.id for t in builtins] + [str(r.id) for r in rows])
    teams = dict(
        (await session.execute(select(Team.id, Team.name).where(Team.id.in_({r.team_id for r in rows})))).all()
    )
    user_ids = {r.shared_by for r in rows if r.shared_by}
    users = dict(
        (
            await session.execute(
                select(User.id, func.coalesce(func.nullif(User.display_name, ""), User.username)).where(
                    User.id.in_(user_ids)
                )
            )
        ).all()
    )
    out = [_builtin_out(t, counts.get(t.id, 0)) for t in builtins]
    out += [
        _shared_out(r, counts.get(str(r.id), 0), teams.get(r.team_id), users.get(r.shared_by) if r.shared_by else None)
        for r in rows
    ]
    return out


def _matches(texts: list[str], tags: list[str], q: str | None, tag: str | None) -> bool:
    if tag and tag.lower() not in (t.lower() for t in tags):
        return False
    return not q or any(q.lower() in s.lower() for s in texts)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_templates(
    session: AsyncSession, principal: Principal, *, q: str | None = None, tag: str | None = None
) -> tuple[list[TemplateOut], int]:
    """Built-ins first, then shared templates newest first (every team sees every shared template; the
    newest MAX_SHARED are listed), and how many match in all."""
    require(principal, "agents:read")
    builtins = [
        t for t in builtin_templates().values() if _matches([*t.name.values(), *t.description.values()], t.tags, q, tag)
    ]
    query = select(AgentTemplate)
    if q:
        like = f"%{_escape_like(q)}%"
        query = query.where(
            or_(AgentTemplate.name.ilike(like, escape="\\"), AgentTemplate.description.ilike(like, escape="\\"))
        )
    if tag:
        query = query.where(func.lower(tag).in_(select(func.lower(func.unnest(AgentTemplate.tags))).scalar_subquery()))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = (
        await session.scalars(
            query.order_by(AgentTemplate.created_at.desc(), AgentTemplate.id.desc()).limit(MAX_SHARED)
        )
    ).all()
    return await _outs(session, list(rows), builtins), len(builtins) + (total or 0)


async def _shared(session: AsyncSession, template_id: str, for_update: bool = False) -> AgentTemplate:
    try:
        key = uuid.UUID(template_id)
    except ValueError:
        raise _not_found() from None
    q = select(AgentTemplate).where(AgentTemplate.id == key)
    if for_update:
        q = q.with_for_update()
    row = await session.scalar(q)
    if row is None:
        raise _not_found()
    return row


async def get_template(session: AsyncSession, principal: Principal, template_id: str) -> TemplateOut:
    require(principal, "agents:read")
    builtin = builtin_templates().get(template_id)
    if builtin is not None:
        return (await _outs(session, [], [builtin]))[0]
    return (await _outs(session, [await _shared(session, template_id)], []))[0]


async def _snapshot_tool(session: AsyncSession, principal: Principal, tool_id: uuid.UUID) -> dict:
    tool = await tools.get_tool(session, principal, tool_id)
    version = await tools.get_version(session, tool)
    if tool.kind == "mcp":
        raise Invalid(
            f"The tool '{tool.name}' is an MCP server's tool: agents with MCP tools cannot be shared.",
            code="agent_template_tool_unsupported",
            tool=tool.name,
        )
    spec = dict(version.spec)
    uses_dataset = spec.pop("dataset_version_id", None) is not None
    return TemplateTool(
        name=tool.name,
        kind=tool.kind,  # type: ignore[arg-type]
        description=tool.description,
        parameters=version.parameters,
        spec=spec,
        timeout_s=tool.timeout_s,
        requires_approval=tool.requires_approval,
        allow_hosts=list(tool.allow_hosts or []),
        uses_dataset=uses_dataset,
    ).model_dump(exclude={"source", "function"})


async def publish(session: AsyncSession, principal: Principal, data: TemplatePublish) -> TemplateOut:
    agent = await agents.get_agent(session, principal, data.agent_id)
    require_owner(principal, agent, "agents:write", "agent")
    version = await agents.get_version(session, agent)
    prompt = version.system_prompt
    if prompt is None and version.prompt_ref:
        prompt = await agents.resolve_prompt(session, principal, version.prompt_ref)
    spec = {
        "agent": {"system_prompt": prompt or "", "limits": version.limits or {}, "params": version.params or {}},
        "tools": [await _snapshot_tool(session, principal, t) for t in version.tool_ids or []],
    }
    row = AgentTemplate(
        team_id=agent.team_id,
        name=data.name or agent.name,
        description=data.description or agent.description,
        tags=list(dict.fromkeys(data.tags)),
        spec=spec,
        source_agent_id=agent.id,
        source_version=version.version,
        shared_by=principal.user_id if principal.auth != "system" else None,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        "agent_template.publish",
        resource_type="agent_template",
        resource_id=row.id,
        team_id=row.team_id,
        summary={"name": row.name, "agent": agent.name, "version": version.version, "tools": len(spec["tools"])},
    )
    await session.refresh(row)
    return (await _outs(session, [row], []))[0]


async def delete(session: AsyncSession, principal: Principal, template_id: str) -> None:
    if template_id in builtin_templates():
        raise Conflict("Built-in templates cannot be deleted.", code="agent_template_builtin")
    row = await _shared(session, template_id, for_update=True)
    require_owner(principal, row, "agents:write", "agent template")
    audit.record(
        session,
        "agent_template.delete",
        resource_type="agent_template",
        resource_id=row.id,
        team_id=row.team_id,
        summary={"name": row.name},
    )
    await session.delete(row)
    await session.flush()


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:80]
    return slug or "agent"


async def _free_agent_name(session: AsyncSession, base: str) -> str:
    taken = set(
        (
            await session.scalars(
                select(func.lower(Agent.name)).where(func.lower(Agent.name).like(f"{base.lower()[:90]}%"))
            )
        ).all()
    )
    n = 2
    while f"{base}-{n}".lower() in taken:
        n += 1
    return f"{base}-{n}"[:100]


async def _tool_names(session: AsyncSession, team_id: uuid.UUID, wanted: list[str]) -> dict[str, str]:
    """A name per wanted tool name, free in the team: `run_sql`, else `run_sql_2`, `run_sql_3` ..."""
    taken = set((await session.scalars(select(func.lower(Tool.name)).where(Tool.team_id == team_id))).all())
    out = {}
    for name in wanted:
        candidate, n = name, 2
        while candidate.lower() in taken:
            suffix = f"_{n}"
            candidate, n = name[: 64 - len(suffix)] + suffix, n + 1
        taken.add(candidate.lower())
        out[name] = candidate
    return out


async def install(
    session: AsyncSession, principal: Principal, template_id: str, data: TemplateInstall, *, secret: str
) -> TemplateInstallOut:
    require(principal, "agents:write")
    builtin = builtin_templates().get(template_id)
    if builtin is not None:
        key, default_name = builtin.id, builtin.id
        description = builtin.description.get(data.language or "en") or builtin.description.get("en", "")
        agent_spec = builtin.agent.model_dump(exclude_none=True)
        items = builtin.tools
    else:
        row = await _shared(session, template_id)
        key, default_name, description = str(row.id), _slug(row.name), row.description
        agent_spec = row.spec["agent"]
        items = [TemplateTool.model_validate(t) for t in row.spec.get("tools", [])]
    team_id = owning_team(principal, data.team_id)
    needs_dataset = any(t.uses_dataset for t in items)
    if needs_dataset and data.dataset_version_id is None:
        raise Invalid(
            "This template's tools read a dataset: pick a dataset version.", code="agent_template_dataset_required"
        )
    if not needs_dataset and data.dataset_version_id is not None:
        raise Invalid("No tool of this template reads a dataset.", code="agent_template_dataset_unused")
    name = data.name or default_name
    if await session.scalar(select(Agent.id).where(func.lower(Agent.name) == name.lower())):
        suggestion = await _free_agent_name(session, name)
        raise Conflict(
            f"An agent named '{name}' exists already; '{suggestion}' is free.",
            code="agent_template_name_taken",
            name=name,
            suggestion=suggestion,
        )
    names = await _tool_names(session, team_id, [t.name for t in items])
    created = []
    for t in items:
        spec = dict(t.spec)
        if t.uses_dataset:
            spec["dataset_version_id"] = str(data.dataset_version_id)
        tool = await tools.create_tool(
            session,
            principal,
            ToolCreate(
                name=names[t.name],
                kind=t.kind,
                description=t.description,
                team_id=team_id,
                requires_approval=t.requires_approval,
                timeout_s=t.timeout_s,
                allow_hosts=t.allow_hosts,
                parameters=t.parameters,
                spec=spec,
            ),
            secret=secret,
        )
        created.append(tool)
    agent = await agents.create_agent(
        session,
        principal,
        AgentCreate(
            name=name,
            description=description[:2000],
            team_id=team_id,
            version=AgentVersionIn(
                route=data.route,
                system_prompt=agent_spec.get("system_prompt") or "",
                tool_ids=[t.id for t in created],
                limits=agent_spec.get("limits") or {},
                params=agent_spec.get("params") or {},
                message=f"Installed from template {key}",
            ),
        ),
    )
    session.add(
        AgentTemplateInstall(
            template_key=key,
            team_id=team_id,
            agent_id=agent.id,
            installed_by=principal.user_id if principal.auth != "system" else None,
        )
    )
    await session.flush()
    audit.record(
        session,
        "agent_template.install",
        resource_type="agent",
        resource_id=agent.id,
        team_id=team_id,
        summary={"template": key, "name": agent.name, "tools": [t.name for t in created]},
    )
    return TemplateInstallOut(
        template_id=key,
        agent_id=agent.id,
        agent_name=agent.name,
        team_id=team_id,
        tools=[InstalledTool(id=t.id, name=t.name) for t in created],
    )
