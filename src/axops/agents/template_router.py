"""HTTP routes of agent templates (`/api/agent/templates`): the gallery, sharing and one-click install."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from axops.auth.deps import Principal, Session, require
from axops.core.state import SecretKey

from . import templates
from .template_schemas import TemplateInstall, TemplateInstallOut, TemplateOut, TemplatePage, TemplatePublish

router = APIRouter(prefix="/api/agent/templates", tags=["agent"])
Reader = Annotated[Principal, require("agents:read")]
Writer = Annotated[Principal, require("agents:write")]

templates.builtin_templates()  # a built-in template that does not validate stops the start


@router.get("")
async def list_templates(
    principal: Reader,
    session: Session,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
) -> TemplatePage:
    """Built-in templates, then the ones teams shared (every team sees them), with install counts."""
    items, total = await templates.list_templates(session, principal, q=q, tag=tag)
    return TemplatePage(items=items, total=total)


@router.post("", status_code=201)
async def publish_template(body: TemplatePublish, principal: Writer, session: Session) -> TemplateOut:
    """Shares one of the caller's team's agents (its current version) with every team of the installation."""
    return await templates.publish(session, principal, body)


@router.get("/{template_id}")
async def get_template(template_id: str, principal: Reader, session: Session) -> TemplateOut:
    return await templates.get_template(session, principal, template_id)


@router.delete("/{template_id}", status_code=204)
async def delete_template(template_id: str, principal: Writer, session: Session) -> None:
    """Only the sharing team (or an admin) deletes a shared template; agents installed from it stay."""
    await templates.delete(session, principal, template_id)


@router.post("/{template_id}/install", status_code=201)
async def install_template(
    template_id: str, body: TemplateInstall, principal: Writer, session: Session, secret: SecretKey
) -> TemplateInstallOut:
    """Creates the template's tools and its agent in the caller's team, in one transaction."""
    return await templates.install(session, principal, template_id, body, secret=secret)
