"""audit.record in the caller's transaction: who the event names (SYSTEM, a user, an API key, the
request's caller), and that it lands only if the change does."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from axops.auth import audit
from axops.auth.models import AuditEvent
from axops.auth.scoping import SYSTEM
from axops.core import context
from tests.factories import principal


async def recorded(session, resource_id: uuid.UUID) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.resource_id == str(resource_id))
    return list(await session.scalars(query.order_by(AuditEvent.created_at)))


async def test_the_actor_of_an_event(db_session):
    resource = uuid.uuid4()
    dev, key = principal("developer"), principal("developer", auth="apikey")
    audit.record(db_session, "deployment.rollback", resource_type="deployment", resource_id=resource, actor=SYSTEM)
    audit.record(db_session, "model.update", resource_type="model", resource_id=resource, actor=dev)
    audit.record(db_session, "model.update", resource_type="model", resource_id=resource, actor=key)
    token = context.bind(context.RequestContext(actor_id=str(dev.user_id), actor_name=dev.username, actor_type="user"))
    try:
        audit.record(db_session, "model.delete", resource_type="model", resource_id=resource)  # the request's caller
    finally:
        context.reset(token)
    await db_session.flush()

    events = await recorded(db_session, resource)
    assert [(e.actor_type, e.actor_name, e.actor_id) for e in events] == [
        ("system", "system", None),
        ("user", dev.username, dev.user_id),
        ("apikey", key.username, key.user_id),
        ("user", dev.username, dev.user_id),
    ]
    assert events[0].action == "deployment.rollback" and events[0].outcome == "success"


async def test_an_event_lands_only_with_its_change(db_session):
    kept, undone = uuid.uuid4(), uuid.uuid4()
    audit.record(db_session, "team.create", resource_type="team", resource_id=kept, actor=SYSTEM)
    await db_session.commit()  # a service's commit: a savepoint inside the test's transaction
    try:
        async with db_session.begin_nested():
            audit.record(db_session, "team.create", resource_type="team", resource_id=undone, actor=SYSTEM)
            await db_session.flush()
            raise RuntimeError("the change fails")
    except RuntimeError:
        pass
    assert [e.action for e in await recorded(db_session, kept)] == ["team.create"]
    assert await recorded(db_session, undone) == []


async def test_nothing_outlives_the_test(db_session, database):
    marker = uuid.uuid4()
    audit.record(db_session, "team.create", resource_type="team", resource_id=marker, actor=SYSTEM)
    await db_session.commit()
    async with database.sessionmaker() as elsewhere:  # another connection: the test's transaction is not committed
        assert await recorded(elsewhere, marker) == []
