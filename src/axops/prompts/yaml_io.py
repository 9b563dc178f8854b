"""A prompt as one YAML file (all versions and labels) for keeping prompts in git: export and import.

Import reads at most 1 MiB with PyYAML's safe loader only, refuses a file whose aliases would expand
past MAX_NODES values (the "billion laughs" bomb), validates with the API's own models, checks every version's
template before writing anything, and runs in the request's one transaction: all or nothing."""

from __future__ import annotations

import uuid

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import sees
from axops.core import yaml_files
from axops.core.errors import AppError, Invalid, NotFound
from axops.core.yaml_files import MAX_IMPORT_BYTES, MAX_NODES  # noqa: F401 (the router's body limit; tests)
from axops.prompts import service
from axops.prompts.models import Prompt
from axops.prompts.schemas import PromptCreate, PromptFile, PromptUpdate, PromptVersionIn

FORMAT = 1
MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


async def export_yaml(session: AsyncSession, principal: Principal, name: str) -> tuple[str, str]:
    """(file name, YAML text)."""
    prompt = await service.get_prompt(session, principal, name)
    versions = await service.versions_by_number(session, prompt)
    labels = (await service.prompt_labels(session, [prompt.id]))[prompt.id]
    doc = {
        "axops_prompt": FORMAT,
        "name": prompt.name,
        "description": prompt.description,
        "tags": list(prompt.tags or []),
        "visibility": prompt.visibility,
        "labels": {label.name: label.version for label in labels},
        "versions": [
            {
                "version": v.version,
                "kind": v.kind,
                "template": v.template,
                "variables": v.variables,
                "binding": v.binding,
                "message": v.message,
            }
            for _, v in sorted(versions.items())
        ],
    }
    return f"{prompt.name}.yaml", yaml_files.dump(doc)


def _invalid(detail: str, **extra) -> Invalid:
    return Invalid(detail, code="prompt_import_invalid", **extra)


def parse(raw: bytes) -> PromptFile:
    doc, _ = yaml_files.load(raw, what="A prompt file", code="prompt_import_invalid")
    if not isinstance(doc, dict):
        raise _invalid("A prompt file is a mapping with name, versions and labels.")
    doc.pop("axops_prompt", None)
    try:
        return PromptFile.model_validate(doc)
    except ValidationError as exc:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()[:20]
        ]
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "file" for e in errors)
        raise _invalid(f"Invalid fields in the prompt file: {fields}", errors=errors) from None


async def import_yaml(
    session: AsyncSession, principal: Principal, raw: bytes, team_id: uuid.UUID | None = None
) -> Prompt:
    """Create the prompt, or append the file's versions that differ from what the prompt holds, then set
    the file's labels. A version of the file whose number and content match the prompt's, or whose
    content is the prompt's latest, adds nothing, so pushing a file just pulled changes nothing."""
    data = parse(raw)
    numbers = [v.version for v in data.versions]
    if len(set(numbers)) != len(numbers):
        raise _invalid("Version numbers repeat in the file.")
    for label, number in data.labels.items():
        if number not in numbers:
            raise _invalid(f"The label '{label}' points at version {number}, which the file does not hold.")
    contents = {}
    for v in sorted(data.versions, key=lambda v: v.version):
        try:
            contents[v.version] = (v, service.checked_version(v))
        except Invalid as exc:
            exc.extra["version"] = v.version
            exc.detail = f"Version {v.version}: {exc.detail}"
            raise

    existing = await session.scalar(select(Prompt).where(func.lower(Prompt.name) == data.name.lower()))
    created = existing is None
    if existing is not None and not sees(principal, existing):
        raise NotFound(f"No prompt named '{data.name}'.", code="prompt_not_found", name=data.name)
    if existing is None:
        prompt = await service.create_prompt(
            session,
            principal,
            PromptCreate(
                name=data.name,
                description=data.description,
                tags=data.tags,
                visibility=data.visibility,
                team_id=team_id,
            ),
        )
    else:
        prompt = await service.update_prompt(
            session,
            principal,
            existing.name,
            PromptUpdate(description=data.description, tags=data.tags, visibility=data.visibility),
        )
        service._refuse_archived(prompt)

    held = await service.versions_by_number(session, prompt)
    mapped: dict[int, int] = {}
    added: list[int] = []
    for number, (v, content) in contents.items():
        same = held.get(number)
        latest = held.get(prompt.latest_version)
        if same is not None and service.same_content(same, content):
            mapped[number] = number
        elif latest is not None and service.same_content(latest, content):
            mapped[number] = latest.version
        else:
            made = await service.create_version(
                session, principal, prompt, PromptVersionIn(**v.model_dump(exclude={"version"}))
            )
            held[made.version] = made
            mapped[number] = made.version
            added.append(made.version)
            prompt = await service.get_prompt(session, principal, prompt.name)
    moved = {}
    for label, number in data.labels.items():
        await service.move_label(session, principal, prompt, label, mapped[number], reason="import")
        moved[label] = mapped[number]
    audit.record(
        session,
        "prompt.import",
        resource_type="prompt",
        resource_id=prompt.id,
        team_id=prompt.team_id,
        summary={"name": prompt.name, "created": created, "versions_added": added, "labels": moved},
    )
    await session.refresh(prompt)
    return prompt
