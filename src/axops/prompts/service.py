"""The prompt registry: prompts, their immutable numbered versions, movable labels and resolving
`name`, `name@label`, `name:3`.

Responses are built in prompts/views.py, diffs in prompts/diff.py, YAML files in prompts/yaml_io.py.
Services flush, never commit; every change is audited and announced on the NOTIFY topic "prompts"
(the gateway's prompt cache listens)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops import templating
from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team, require_owner, visible
from axops.core import notify
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.pagination import page_of, paginate_desc
from axops.prompts.models import Prompt, PromptExperiment, PromptLabel, PromptLabelMove, PromptVersion
from axops.prompts.refs import DEFAULT_LABEL, LABEL_PATTERN, parse_ref
from axops.prompts.schemas import PromptCreate, PromptUpdate, PromptVersionIn

TOPIC = "prompts"
# Words the API's own paths use after /api/prompts/: a prompt of that name could not be addressed.
RESERVED_NAMES = frozenset({"resolve", "check", "import", "experiments"})
_LABEL = re.compile(LABEL_PATTERN)


def _not_found(name: str) -> NotFound:
    return NotFound(f"No prompt named '{name}'.", code="prompt_not_found", name=name)


async def _changed(session: AsyncSession, prompt: Prompt, action: str, **summary) -> None:
    audit.record(
        session,
        action,
        resource_type="prompt",
        resource_id=prompt.id,
        team_id=prompt.team_id,
        summary={"name": prompt.name, **summary},
    )
    await notify.publish(session, TOPIC)


# --- prompts ---------------------------------------------------------------------------------


async def get_prompt(session: AsyncSession, principal: Principal, name: str, for_update: bool = False) -> Prompt:
    """The prompt of that name (case-insensitively) the caller may see; another team's answers 404 like a missing one."""
    q = select(Prompt).where(func.lower(Prompt.name) == name.lower(), visible(principal, Prompt))
    if for_update:  # and read again: what another transaction committed while we waited for the lock counts
        q = q.with_for_update().execution_options(populate_existing=True)
    prompt = await session.scalar(q)
    if prompt is None:
        raise _not_found(name)
    return prompt


def require_write(principal: Principal, prompt: Prompt) -> None:
    require_owner(principal, prompt, "prompts:write", "prompt")


def _refuse_archived(prompt: Prompt) -> None:
    if prompt.archived_at is not None:
        raise Conflict(
            f"The prompt '{prompt.name}' is archived: unarchive it first.", code="prompt_archived", name=prompt.name
        )


async def _refuse_taken_name(session: AsyncSession, name: str) -> None:
    if name.lower() in RESERVED_NAMES:
        raise Invalid(f"'{name}' is reserved by the API; choose another name.", code="prompt_name_reserved", name=name)
    if await session.scalar(select(Prompt.id).where(func.lower(Prompt.name) == name.lower())):
        raise Conflict(f"A prompt named '{name}' exists already.", code="prompt_name_taken", name=name)


async def create_prompt(session: AsyncSession, principal: Principal, data: PromptCreate) -> Prompt:
    team_id = owning_team(principal, data.team_id)
    await _refuse_taken_name(session, data.name)
    prompt = Prompt(
        name=data.name,
        description=data.description,
        tags=sorted(set(data.tags)),
        team_id=team_id,
        visibility=data.visibility,
        created_by=principal.user_id if principal.auth != "system" else None,
        latest_version=0,
    )
    session.add(prompt)
    try:
        await session.flush()
    except IntegrityError as exc:  # a create racing another to the same name
        raise Conflict(
            f"A prompt named '{data.name}' exists already.", code="prompt_name_taken", name=data.name
        ) from exc
    await _changed(session, prompt, "prompt.create", visibility=prompt.visibility, tags=prompt.tags)
    if data.version is not None:
        await create_version(session, principal, prompt, data.version, data.labels)
    await session.refresh(prompt)
    return prompt


async def update_prompt(session: AsyncSession, principal: Principal, name: str, data: PromptUpdate) -> Prompt:
    prompt = await get_prompt(session, principal, name, for_update=True)
    require_write(principal, prompt)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    before = {k: getattr(prompt, k) for k in changes}
    if change := audit.diff(before, changes):
        for k, v in changes.items():
            setattr(prompt, k, v)
        await session.flush()
        await _changed(session, prompt, "prompt.update", **change)
        await session.refresh(prompt)
    return prompt


async def set_archived(session: AsyncSession, principal: Principal, name: str, archived: bool) -> Prompt:
    prompt = await get_prompt(session, principal, name, for_update=True)
    require_write(principal, prompt)
    if (prompt.archived_at is not None) != archived:
        prompt.archived_at = datetime.now(UTC) if archived else None
        await session.flush()
        await _changed(session, prompt, "prompt.archive" if archived else "prompt.unarchive")
        await session.refresh(prompt)
    return prompt


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_prompts(
    session: AsyncSession,
    principal: Principal,
    *,
    q: str | None = None,
    tag: list[str] | None = None,
    label: str | None = None,
    team_id: uuid.UUID | None = None,
    include_archived: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Prompt], str | None, int | None]:
    """A page of prompts, newest first, and how many match in all on the first page."""
    query = select(Prompt).where(visible(principal, Prompt))
    if q:
        like = f"%{_escape_like(q)}%"
        query = query.where(or_(Prompt.name.ilike(like, escape="\\"), Prompt.description.ilike(like, escape="\\")))
    if tag:
        query = query.where(Prompt.tags.contains(tag))
    if label:
        query = query.where(
            select(PromptLabel.prompt_id).where(PromptLabel.prompt_id == Prompt.id, PromptLabel.name == label).exists()
        )
    if team_id:
        query = query.where(Prompt.team_id == team_id)
    if not include_archived:
        query = query.where(Prompt.archived_at.is_(None))
    total = None
    if not cursor:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list((await session.scalars(paginate_desc(query, Prompt.created_at, Prompt.id, cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit)
    return rows, next_cursor, total


# --- versions --------------------------------------------------------------------------------


def checked_version(data: PromptVersionIn) -> dict:
    """A version's stored columns, after the save-time checks (syntax with line and column, undeclared
    variables, sizes, the binding): 422 `prompt_template_invalid` / `prompt_binding_invalid`."""
    template = data.template if isinstance(data.template, str) else [m.model_dump() for m in data.template]
    variables = [v.model_dump() for v in data.variables]
    try:
        templating.check_variables(variables)
        templating.check_template(data.kind, template, variables)
    except templating.TemplateError as exc:
        raise Invalid(
            exc.message,
            code="prompt_template_invalid",
            line=exc.line,
            column=exc.column,
            message_index=exc.message_index,
        ) from None
    binding = data.binding.model_dump(exclude_none=True)
    allowed = binding.get("allowed_routes") or []
    if binding.get("route") and allowed and binding["route"] not in allowed:
        raise Invalid(
            f"The default route '{binding['route']}' is not among the allowed routes.",
            code="prompt_binding_invalid",
            route=binding["route"],
        )
    return {"kind": data.kind, "template": template, "variables": variables, "binding": binding}


async def create_version(
    session: AsyncSession,
    principal: Principal,
    prompt: Prompt | str,
    data: PromptVersionIn,
    labels: list[str] = (),  # type: ignore[assignment]
) -> PromptVersion:
    """The next version: its number is taken under the prompt row's lock, so concurrent creates get
    consecutive numbers, no gaps and no duplicates (a failed create rolls the number back with it)."""
    content = checked_version(data)
    name = prompt if isinstance(prompt, str) else prompt.name
    prompt = await get_prompt(session, principal, name, for_update=True)
    require_write(principal, prompt)
    _refuse_archived(prompt)
    prompt.latest_version += 1
    prompt.updated_at = datetime.now(UTC)
    version = PromptVersion(
        prompt_id=prompt.id,
        version=prompt.latest_version,
        message=data.message,
        created_by=principal.user_id if principal.auth != "system" else None,
        **content,
    )
    session.add(version)
    await session.flush()
    await _changed(
        session, prompt, "prompt.version_create", version=version.version, kind=version.kind, message=data.message
    )
    for label in dict.fromkeys(labels):
        await move_label(session, principal, prompt, label, version.version)
    await session.refresh(version)
    return version


async def get_version(session: AsyncSession, principal: Principal, name: str, number: int) -> PromptVersion:
    prompt = await get_prompt(session, principal, name)
    return await _version(session, prompt, number)


async def _version(session: AsyncSession, prompt: Prompt, number: int) -> PromptVersion:
    version = await session.scalar(
        select(PromptVersion).where(PromptVersion.prompt_id == prompt.id, PromptVersion.version == number)
    )
    if version is None:
        raise NotFound(
            f"The prompt '{prompt.name}' has no version {number}.",
            code="prompt_version_not_found",
            name=prompt.name,
            version=number,
        )
    return version


async def list_versions(
    session: AsyncSession, principal: Principal, name: str, *, cursor: str | None = None, limit: int = 50
) -> tuple[Prompt, list[PromptVersion], str | None, int | None]:
    """Newest first; the cursor is the last version number of the previous page."""
    prompt = await get_prompt(session, principal, name)
    q = select(PromptVersion).where(PromptVersion.prompt_id == prompt.id)
    if cursor:
        if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 10:
            raise Invalid(
                "The cursor is malformed; use the next_cursor value from the previous page.", code="invalid_cursor"
            )
        q = q.where(PromptVersion.version < int(cursor))
    rows = list((await session.scalars(q.order_by(PromptVersion.version.desc()).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = str(rows[-1].version)
    total = None
    if not cursor:
        total = await session.scalar(select(func.count()).where(PromptVersion.prompt_id == prompt.id))
    return prompt, rows, next_cursor, total


async def select_version(
    session: AsyncSession, prompt: Prompt, label: str | None = None, number: int | None = None
) -> PromptVersion:
    """A version of a prompt the caller sees: by number, by label, else label `production` if set, else the latest."""
    if number is not None:
        return await _version(session, prompt, number)
    if label is None:
        pointed = await session.scalar(
            select(PromptLabel.version).where(PromptLabel.prompt_id == prompt.id, PromptLabel.name == DEFAULT_LABEL)
        )
        if pointed is not None:
            return await _version(session, prompt, pointed)
        if prompt.latest_version == 0:
            raise NotFound(
                f"The prompt '{prompt.name}' has no version yet.", code="prompt_version_not_found", name=prompt.name
            )
        return await _version(session, prompt, prompt.latest_version)
    pointed = await session.scalar(
        select(PromptLabel.version).where(PromptLabel.prompt_id == prompt.id, PromptLabel.name == label)
    )
    if pointed is None:
        raise NotFound(
            f"The prompt '{prompt.name}' has no label '{label}'.",
            code="prompt_label_not_found",
            name=prompt.name,
            label=label,
        )
    return await _version(session, prompt, pointed)


async def resolve(
    session: AsyncSession, principal: Principal, ref: str, *, archived_ok: bool = False
) -> tuple[Prompt, PromptVersion]:
    """`name`, `name@label` or `name:3` → (prompt, version). An archived prompt resolves only with
    `archived_ok` (the editor's previews); callers that run prompts see it as missing."""
    name, label, number = parse_ref(ref)
    prompt = await get_prompt(session, principal, name)
    if prompt.archived_at is not None and not archived_ok:
        raise NotFound(f"The prompt '{prompt.name}' is archived.", code="prompt_not_found", name=name, archived=True)
    return prompt, await select_version(session, prompt, label, number)


# --- labels ----------------------------------------------------------------------------------


async def move_label(
    session: AsyncSession, principal: Principal, prompt: Prompt, label: str, version: int, reason: str = ""
) -> PromptLabel:
    """Point `label` at `version` (setting it the first time), keeping the move in the label's history."""
    require_write(principal, prompt)
    if not isinstance(label, str) or not _LABEL.match(label):
        raise Invalid(f"'{label}' is not a label name.", code="prompt_ref_invalid", ref=str(label)[:100])
    # The prompt row's lock orders moves of its labels (and versions being created) one after another.
    await session.execute(select(Prompt.id).where(Prompt.id == prompt.id).with_for_update())
    await session.refresh(prompt)
    _refuse_archived(prompt)
    await _version(session, prompt, version)
    existing = await session.get(PromptLabel, (prompt.id, label), with_for_update=True, populate_existing=True)
    if existing is not None and existing.version == version:
        return existing
    before = existing.version if existing is not None else None
    actor = principal.user_id if principal.auth != "system" else None
    now = datetime.now(UTC)
    if existing is None:
        existing = PromptLabel(prompt_id=prompt.id, name=label, version=version, updated_by=actor, updated_at=now)
        session.add(existing)
    else:
        existing.version, existing.updated_by, existing.updated_at = version, actor, now
    session.add(
        PromptLabelMove(
            prompt_id=prompt.id, label=label, from_version=before, to_version=version, reason=reason, actor_id=actor
        )
    )
    prompt.updated_at = now
    await session.flush()
    await _changed(
        session, prompt, "prompt.label_move", label=label, from_version=before, to_version=version, reason=reason
    )
    return existing


async def delete_label(session: AsyncSession, principal: Principal, name: str, label: str, reason: str = "") -> None:
    prompt = await get_prompt(session, principal, name, for_update=True)
    require_write(principal, prompt)
    existing = await session.get(PromptLabel, (prompt.id, label), with_for_update=True, populate_existing=True)
    if existing is None:
        raise NotFound(
            f"The prompt '{prompt.name}' has no label '{label}'.",
            code="prompt_label_not_found",
            name=prompt.name,
            label=label,
        )
    running = await session.scalar(
        select(PromptExperiment.id).where(
            PromptExperiment.prompt_id == prompt.id,
            PromptExperiment.label == label,
            PromptExperiment.status == "running",
        )
    )
    if running is not None:  # its callers would lose the version the test splits from
        raise Conflict(
            f"An A/B experiment runs on '{prompt.name}@{label}': stop it before removing the label.",
            code="prompt_experiment_running",
            label=label,
            experiment_id=str(running),
        )
    actor = principal.user_id if principal.auth != "system" else None
    session.add(
        PromptLabelMove(
            prompt_id=prompt.id,
            label=label,
            from_version=existing.version,
            to_version=None,
            reason=reason,
            actor_id=actor,
        )
    )
    await session.delete(existing)
    prompt.updated_at = datetime.now(UTC)
    await session.flush()
    await _changed(session, prompt, "prompt.label_delete", label=label, from_version=existing.version)


async def label_history(
    session: AsyncSession, principal: Principal, name: str, label: str | None = None, limit: int = 500
) -> list[PromptLabelMove]:
    prompt = await get_prompt(session, principal, name)
    q = select(PromptLabelMove).where(PromptLabelMove.prompt_id == prompt.id)
    if label:
        q = q.where(PromptLabelMove.label == label)
    q = q.order_by(PromptLabelMove.created_at.desc(), PromptLabelMove.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())


async def prompt_labels(session: AsyncSession, prompt_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[PromptLabel]]:
    out: dict[uuid.UUID, list[PromptLabel]] = {p: [] for p in prompt_ids}
    if prompt_ids:
        q = select(PromptLabel).where(PromptLabel.prompt_id.in_(prompt_ids)).order_by(PromptLabel.name)
        for row in (await session.scalars(q)).all():
            out[row.prompt_id].append(row)
    return out


def same_content(version: PromptVersion, content: dict) -> bool:
    return (
        version.kind == content["kind"]
        and version.template == content["template"]
        and version.variables == content["variables"]
        and version.binding == content["binding"]
    )


async def versions_by_number(session: AsyncSession, prompt: Prompt) -> dict[int, PromptVersion]:
    rows = await session.scalars(select(PromptVersion).where(PromptVersion.prompt_id == prompt.id))
    return {v.version: v for v in rows.all()}
