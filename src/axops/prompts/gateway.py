"""Saved prompts on the gateway's path: `prompt_id` resolved to a version (in memory), the A/B
variant chosen when an experiment runs on the label, rendered, and the body rewritten
(`axops.gateway.prompting.apply_rendered`). Registered as the gateway's prompt resolver on import.

A reference's prompt, version(s) and running experiment are read in one query on a miss and kept
until NOTIFY topic "prompts" (every prompt, version, label and experiment change publishes it)
clears them — in every process, so a label move is live everywhere as soon as it is committed.
While the NOTIFY listener is down nothing is cached (as for routes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import orjson
from sqlalchemy import text

from axops import templating
from axops.auth.scoping import sees
from axops.core import notify
from axops.core.errors import AppError
from axops.gateway import prompting
from axops.gateway.prompting import Applied, Refused
from axops.prompts import experiments
from axops.prompts.refs import DEFAULT_LABEL, parse_ref

TOPIC = "prompts"
_MISSING = object()
MAX_ENTRIES = 10_000
_VARIABLE_CODES = frozenset(
    {"prompt_variables_invalid", "prompt_variable_unknown", "prompt_variable_missing", "prompt_variable_type"}
)

# The prompt (not archived), the version the reference names (a label's, `production`'s or the
# latest for a bare name, or the number given), the running experiment on that label and every
# version either needs.
_QUERY = text("""
SELECT p.name, p.team_id, p.visibility, t.version, e.id AS experiment_id, e.variants,
    (SELECT coalesce(json_agg(json_build_object('version', v.version, 'kind', v.kind, 'template', v.template,
                                                'variables', v.variables, 'binding', v.binding)), '[]')
       FROM prompt_versions v
      WHERE v.prompt_id = p.id
        AND (v.version = t.version
             OR v.version IN (SELECT (x->>'version')::int FROM jsonb_array_elements(e.variants) x))) AS versions
FROM prompts p
LEFT JOIN prompt_labels l ON l.prompt_id = p.id AND l.name = :label
LEFT JOIN prompt_experiments e ON e.prompt_id = p.id AND e.label = :label AND e.status = 'running'
CROSS JOIN LATERAL (SELECT coalesce(CAST(:version AS integer), l.version,
                                    CASE WHEN :latest THEN nullif(p.latest_version, 0) END) AS version) t
WHERE lower(p.name) = lower(:name) AND p.archived_at IS NULL
""")


@dataclass(frozen=True, slots=True)
class Version:
    kind: str
    template: str | list
    variables: list
    binding: dict


@dataclass(frozen=True, slots=True)
class Entry:
    """What one reference resolves to; `version` None: the label or version named does not exist."""

    name: str
    team_id: uuid.UUID
    visibility: str
    version: int | None
    versions: dict[int, Version] = field(default_factory=dict)
    experiment_id: uuid.UUID | None = None
    variants: list[dict] | None = None


class Resolver:
    def __init__(self) -> None:
        self._entries: dict[str, Entry | None] = {}  # reference → entry; None: no such (usable) prompt
        self.generation = 0
        notify.subscribe(TOPIC, self.clear)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    async def lookup(self, db, ref: str) -> Entry | None:
        """The entry of `ref` (raises AppError for a malformed reference)."""
        entry = self._entries.get(ref, _MISSING)
        if entry is not _MISSING and notify.caching_allowed():
            return entry
        generation = self.generation
        name, label, version = parse_ref(ref)
        params = {"name": name, "label": label or (None if version else DEFAULT_LABEL), "version": version}
        params["latest"] = label is None and version is None
        async with db.sessionmaker() as session:
            row = (await session.execute(_QUERY, params)).mappings().first()
        entry = None
        if row is not None:
            versions = _json(row["versions"])
            entry = Entry(
                name=row["name"],
                team_id=row["team_id"],
                visibility=row["visibility"],
                version=row["version"],
                versions={
                    v["version"]: Version(v["kind"], v["template"], v["variables"] or [], v["binding"] or {})
                    for v in versions
                },
                experiment_id=row["experiment_id"],
                variants=_json(row["variants"]),
            )
        if generation == self.generation and notify.caching_allowed():
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[ref] = entry
        return entry

    async def apply(self, db, principal, body: dict, endpoint: str) -> Applied | Refused:
        if not principal.can("prompts:read"):
            return Refused(
                403,
                "This key may not use saved prompts (it lacks the 'prompts:read' permission).",
                code="permission_denied",
            )
        if endpoint not in ("chat", "completions"):
            return Refused(400, "`prompt_id` is taken by /v1/chat/completions and /v1/completions.", param="prompt_id")
        ref = body["prompt_id"]
        if not isinstance(ref, str) or not ref:
            return Refused(
                400,
                "`prompt_id` must be a string: name, name@label or name:version.",
                code="prompt_ref_invalid",
                param="prompt_id",
            )
        given = body.get("prompt_variables")
        if given is None:
            given = {}
        elif not isinstance(given, dict):
            return Refused(
                400,
                "`prompt_variables` must be an object of name → value.",
                code="invalid_prompt_variables",
                param="prompt_variables",
            )
        try:
            entry = await self.lookup(db, ref)
        except AppError as exc:
            return Refused(400, exc.detail or "Invalid prompt reference.", code=exc.code, param="prompt_id")
        if entry is None or not sees(principal, entry):
            return _not_found(f"The prompt '{ref[:200]}' does not exist or you do not have access to it.")
        number = entry.version
        if entry.experiment_id is not None and entry.variants:
            number = experiments.choose(entry.experiment_id, entry.variants, _sticky_key(principal, body))
        version = entry.versions.get(number) if number is not None else None
        if version is None:
            return _not_found(f"The prompt '{entry.name}' has no version named by '{ref[:200]}'.")
        try:
            rendered = templating.render(version.kind, version.template, version.variables, given)
        except templating.RenderError as exc:
            if exc.code in _VARIABLE_CODES:
                return Refused(
                    400,
                    exc.message,
                    code="invalid_prompt_variables",
                    param=f"prompt_variables.{exc.variable}" if exc.variable else "prompt_variables",
                )
            return Refused(400, exc.message, exc.code, "prompt_variables")  # a render limit or failure
        out = prompting.apply_rendered(body, endpoint, rendered.text, rendered.messages, version.binding)
        if isinstance(out, Refused):
            return out
        return Applied(out, entry.name, number, entry.experiment_id)


def _json(value):
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _not_found(message: str) -> Refused:
    return Refused(404, message, code="prompt_not_found", param="prompt_id")


def _sticky_key(principal, body: dict) -> str:
    """Who an A/B assignment sticks to: the request's `user` when given, else the key, else the user."""
    user = body.get("user")
    if isinstance(user, str) and user:
        return user
    return f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"


resolver = Resolver()
prompting.register(resolver)
