"""The daily backup (issue 19): once a day, at AXOPS_BACKUP_HOUR (UTC), when AXOPS_BACKUP_URL is set.

The periodic task runs hourly and acts in the configured hour only, so the hour is a setting read at
run time rather than a cron fixed at import. The work is `core.backup.create`, the code path of
`axops backup`: pg_dump runs as a subprocess and objects stream through obstore, so the worker's
event loop keeps serving other tasks. Each backup (or failure) is audited as the system.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import procrastinate

from axops.auth import audit
from axops.auth.scoping import SYSTEM
from axops.core import backup
from axops.core.db import Database
from axops.core.logging import event
from axops.core.state import AppState, task_state
from axops.core.storage import ObjectStore

log = logging.getLogger("axops.backup")
tasks = procrastinate.Blueprint()


async def audited_backup(
    db: Database,
    storage: ObjectStore,
    location: str,
    *,
    embedded: bool,
    copy_objects: bool,
    keep: int | None,
    via: str,
    now: datetime | None = None,
) -> backup.BackupResult:
    """`core.backup.create`, with an audit event `backup.created` by the system either way (`via`: task or cli)."""
    try:
        result = await backup.create(
            db.url, storage, location, embedded=embedded, copy_objects=copy_objects, keep=keep, now=now
        )
    except Exception as exc:
        reason = str(exc)[:500] if isinstance(exc, backup.BackupError) else type(exc).__name__
        await audit.record_now(
            db.sessionmaker,
            "backup.created",
            resource_type="backup",
            outcome="failure",
            summary={"reason": reason, "via": via},
            actor=SYSTEM,
        )
        event(log, "backup.failed", reason=reason, via=via)
        raise
    summary = {k: v for k, v in result.as_dict().items() if k not in ("location", "objects")}
    summary |= {"count": result.objects, "via": via}  # the audit page's sentence names `name` and `count`
    await audit.record_now(
        db.sessionmaker,
        "backup.created",
        resource_type="backup",
        resource_id=result.name,
        summary=summary,
        actor=SYSTEM,
    )
    event(log, "backup.created", backup=result.name, objects=result.objects, pruned=len(result.pruned), via=via)
    return result


async def scheduled_backup(state: AppState, now: datetime, *, force: bool = False) -> backup.BackupResult | None:
    """Make a backup if one is configured and due (or `force`), keep the newest N."""
    s = state.settings
    if not s.backup_url or not (force or now.hour == s.backup_hour):
        return None
    return await audited_backup(
        state.db,
        state.storage,
        s.backup_url,
        embedded=s.database_url is None,
        copy_objects=s.backup_copy_objects,
        keep=s.backup_keep,
        via="task",
        now=now,
    )


@tasks.periodic(cron="53 * * * *", periodic_id="daily-backup")
@tasks.task(name="daily_backup", pass_context=True, queueing_lock="daily-backup")
async def daily_backup_task(job_context, timestamp: int) -> None:
    await scheduled_backup(task_state(job_context), datetime.fromtimestamp(timestamp, UTC))
