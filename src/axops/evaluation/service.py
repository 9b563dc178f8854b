"""Evaluation sets and runs: the domain's public API (plain async functions taking a session and a
Principal; they flush, never commit).

An evaluation set is an approved dataset version plus a column mapping; the data access policy of
the dataset applies to everything that shows its rows. A run is validated here in full (targets,
metrics, judges, the sample) and then executed by `runner.py` in a background task; reading a run's
rows and reports lives in `results.py`, execution in `runner.py`, tracking in `tracking.py`.

Longer than ~500 lines: sets and run validation share the dataset checks and the row reading (the
estimate and the runner both read the sampled rows the same way), kept together on purpose."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.dialects.postgresql import JSONPATH
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team, require, require_owner, team_clause
from axops.auth.service import like_pattern
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.pagination import decode_cursor, page_of
from axops.core.tasks import defer_after_commit
from axops.datasets import service as datasets
from axops.datasets.models import Dataset, DatasetVersion
from axops.evaluation.models import FINISHED, EvalRun, EvalSet
from axops.evaluation.schemas import EvalRunCreate, EvalSetCreate, EvalSetOut

RUN_TASK = "eval:execute_run"
MAX_ROWS = 100_000  # rows one run may evaluate
CHARS_PER_TOKEN = 4  # the estimate's fallback when a route's tokenizer cannot be had


# --- sets ----------------------------------------------------------------------------------------


async def _source(session: AsyncSession, principal: Principal, version_id: uuid.UUID) -> tuple[Dataset, DatasetVersion]:
    """The dataset version behind a set, usable for evaluation by this caller: it has data, is approved
    (as training requires) and the caller may read its rows (the data access policy)."""
    dataset, version = await datasets.get_version(session, principal, version_id)
    if version.status != "ready" or not version.parquet_key:
        raise Conflict(
            f"Dataset '{dataset.name}' v{version.version} has no data to evaluate on ({version.status}).",
            code="eval_set_not_ready",
            dataset=dataset.name,
            version=version.version,
            version_status=version.status,
        )
    if version.review_status != "approved":
        raise Conflict(
            f"Dataset '{dataset.name}' v{version.version} is {version.review_status}, not approved.",
            code="eval_set_not_approved",
            dataset=dataset.name,
            version=version.version,
            review_status=version.review_status,
        )
    return dataset, version


def _check_columns(dataset: Dataset, version: DatasetVersion, wanted: list[str]) -> None:
    names = [c["name"] for c in version.columns]
    if missing := [c for c in dict.fromkeys(wanted) if c not in names]:
        raise Invalid(
            f"Dataset '{dataset.name}' v{version.version} has no column {', '.join(map(repr, missing))}; "
            f"its columns: {', '.join(names)}.",
            code="eval_columns_missing",
            missing=missing,
            columns=names,
        )


def mapping_columns(mapping: dict) -> list[str]:
    return [mapping["input"], *mapping.get("references", []), *filter(None, [mapping.get("context")]),
            *mapping.get("metadata", [])]  # fmt: skip


async def create_set(session: AsyncSession, principal: Principal, data: EvalSetCreate) -> EvalSet:
    require(principal, "eval:write")
    team_id = owning_team(principal, data.team_id)
    dataset, version = await _source(session, principal, data.dataset_version_id)
    datasets.guard_rows(session, principal, dataset, version, "evaluation set")
    mapping = data.mapping.model_dump()
    _check_columns(dataset, version, mapping_columns(mapping))
    taken = Conflict(
        f"Your team already has an evaluation set named {data.name!r}.", code="eval_set_name_taken", name=data.name
    )
    if await session.scalar(select(EvalSet.id).where(EvalSet.team_id == team_id, EvalSet.name == data.name)):
        raise taken
    eval_set = EvalSet(
        team_id=team_id,
        name=data.name,
        description=data.description,
        dataset_version_id=version.id,
        mapping=mapping,
        created_by=principal.user_id,
    )
    session.add(eval_set)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise taken from exc
    audit.record(
        session,
        "eval.set_create",
        resource_type="eval_set",
        resource_id=eval_set.id,
        team_id=team_id,
        summary={"name": eval_set.name, "dataset": dataset.name, "version": version.version},
    )
    await session.refresh(eval_set)
    return eval_set


async def get_set(session: AsyncSession, principal: Principal, set_id: uuid.UUID) -> EvalSet:
    """Sets are team resources: another team's set answers 404 like a missing one."""
    eval_set = await session.scalar(
        select(EvalSet).where(EvalSet.id == set_id, team_clause(principal, EvalSet.team_id))
    )
    if eval_set is None:
        raise NotFound("No such evaluation set.", code="eval_set_not_found")
    return eval_set


async def list_sets(
    session: AsyncSession,
    principal: Principal,
    *,
    q: str | None = None,
    team_id: uuid.UUID | None = None,
    cursor: str | None,
    limit: int,
) -> tuple[list[EvalSet], str | None, int | None]:
    query = select(EvalSet).where(team_clause(principal, EvalSet.team_id))
    if q:
        query = query.where(
            EvalSet.name.ilike("%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        )
    if team_id:
        query = query.where(EvalSet.team_id == team_id)
    total = None if cursor else await session.scalar(select(func.count()).select_from(query.subquery()))
    if cursor:
        created, id_ = decode_cursor(cursor)
        query = query.where(func.row(EvalSet.created_at, EvalSet.id) < func.row(created, id_))
    rows = (await session.scalars(query.order_by(EvalSet.created_at.desc(), EvalSet.id.desc()).limit(limit + 1))).all()
    page, next_cursor = page_of(list(rows), limit)
    return page, next_cursor, total


async def delete_set(session: AsyncSession, principal: Principal, set_id: uuid.UUID) -> None:
    eval_set = await get_set(session, principal, set_id)
    require_owner(principal, eval_set, "eval:write", "evaluation set")
    active = await session.scalar(
        select(func.count()).where(EvalRun.eval_set_id == eval_set.id, EvalRun.status.notin_(FINISHED))
    )
    if active:
        raise Conflict(
            f"The evaluation set '{eval_set.name}' has {active} run(s) in progress; cancel them first.",
            code="eval_set_in_use",
            name=eval_set.name,
            runs=active,
        )
    from axops.evaluation.models import EvalSuite

    if suites := (await session.scalars(select(EvalSuite.name).where(EvalSuite.eval_set_id == eval_set.id))).all():
        raise Conflict(
            f"The evaluation set '{eval_set.name}' is used by the suite(s) {', '.join(suites)}.",
            code="eval_set_in_use",
            name=eval_set.name,
            runs=0,
        )
    runs = await session.scalar(select(func.count()).where(EvalRun.eval_set_id == eval_set.id))
    await session.delete(eval_set)  # its finished runs and their results go with it
    await session.flush()
    audit.record(
        session,
        "eval.set_delete",
        resource_type="eval_set",
        resource_id=eval_set.id,
        team_id=eval_set.team_id,
        summary={"name": eval_set.name, "runs": runs},
    )


async def sets_out(session: AsyncSession, principal: Principal, sets: list[EvalSet]) -> list[EvalSetOut]:
    if not sets:
        return []
    found = await session.execute(
        select(Dataset, DatasetVersion)
        .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
        .where(DatasetVersion.id.in_({s.dataset_version_id for s in sets}))
    )
    sources = {v.id: (d, v) for d, v in found.all()}
    teams = await datasets.team_names(session, [s.team_id for s in sets])
    out = []
    for s in sets:
        dataset, version = sources[s.dataset_version_id]
        level = datasets.effective_sensitivity(dataset, version)
        out.append(
            EvalSetOut(
                id=s.id,
                team_id=s.team_id,
                team_name=teams.get(s.team_id),
                name=s.name,
                description=s.description,
                dataset_id=dataset.id,
                dataset_name=dataset.name,
                dataset_version_id=version.id,
                dataset_version=version.version,
                review_status=version.review_status,
                sensitivity=level,
                row_count=version.row_count,
                columns=list(version.columns or []),
                mapping=s.mapping,
                rows_readable=datasets.may_read_rows(principal, dataset, level),
                created_by=s.created_by,
                created_at=s.created_at,
                updated_at=s.updated_at,
            )
        )
    return out


async def set_source(session: AsyncSession, eval_set: EvalSet) -> tuple[Dataset, DatasetVersion]:
    row = (
        await session.execute(
            select(Dataset, DatasetVersion)
            .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
            .where(DatasetVersion.id == eval_set.dataset_version_id)
        )
    ).first()
    assert row is not None  # the foreign key keeps it
    return row[0], row[1]


def guard_set_rows(
    session: AsyncSession, principal: Principal, dataset: Dataset, version: DatasetVersion, what: str
) -> None:
    """Raise 403 `dataset_restricted` unless the caller may read the set's rows (audits sensitive reads)."""
    datasets.guard_rows(session, principal, dataset, version, what)


# --- reading a set's rows ------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def _json_safe(value: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(value, default=str))
    except TypeError:
        return str(value)


def messages_of(mapping: dict, value: Any) -> list[dict]:
    """The chat messages of a row's input: the text as one user message, or the column's JSON list."""
    if mapping.get("input_format") != "messages":
        return [{"role": "user", "content": _text(value)}]
    messages = value
    if isinstance(value, str | bytes):
        try:
            messages = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError("the input is not a JSON list of chat messages") from None
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in messages
    ):
        raise ValueError("the input is not a JSON list of chat messages ({role, content})")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def sample_indices(row_count: int, sample_size: int | None, seed: int) -> list[int]:
    """A seeded random sample of row positions (all rows when no size or the size covers them), in order."""
    if sample_size is None or sample_size >= row_count:
        return list(range(row_count))
    return sorted(random.Random(seed).sample(range(row_count), sample_size))


def _read(path: Path, columns: list[str], indices: list[int]) -> list[dict]:
    table = pq.read_table(path, columns=list(dict.fromkeys(columns)))
    return table.take(indices).to_pylist()


async def read_rows(state, version: DatasetVersion, columns: list[str], indices: list[int]) -> list[dict]:
    path = await datasets.local_parquet(state.storage, state.settings.data_dir, version)
    return await asyncio.to_thread(_read, path, columns, indices)


def references_of(mapping: dict, raw: dict) -> list[str]:
    """The reference answers of a row: each reference column's text; a list column gives each item."""
    out: list[str] = []
    for column in mapping.get("references", []):
        value = raw.get(column)
        items = value if isinstance(value, list) else [value]
        out += [_text(v) for v in items if v is not None]
    return out


def build_row(mapping: dict, raw: dict, extra_columns: list[str] = ()) -> dict:
    """A sampled dataset row in the run's shape: input text, references, context, metadata."""
    value = raw.get(mapping["input"])
    return {
        "input": _text(value),
        "messages": messages_of(mapping, value),
        "references": references_of(mapping, raw),
        "context": _text(raw.get(mapping["context"])) if mapping.get("context") else None,
        "metadata": {c: _json_safe(raw.get(c)) for c in mapping.get("metadata", [])},
        "columns": {c: _text(raw.get(c)) for c in extra_columns},
    }


# --- runs: validation ----------------------------------------------------------------------------


_fallback_table: Any = None


async def route_table(state) -> Any:
    """The gateway's route table (this process's; a standalone worker loads its own)."""
    global _fallback_table
    if state.gateway is not None:
        table = state.gateway.table
    else:
        if _fallback_table is None:
            from axops.gateway.table import RouteTable

            _fallback_table = RouteTable()
        table = _fallback_table
    await table.ensure(state.db, state.secret_key)
    return table


def _route(table, principal: Principal, name: str, what: str) -> Any:
    route = table.usable(principal, name)
    if route is None:
        raise Invalid(
            f"No enabled gateway route '{name}' that you may call ({what}).",
            code="eval_unknown_route",
            route=name,
        )
    return route


def prices_of(route) -> tuple[float, float]:
    """Input and output price per 1M tokens of the target the route's strategy tries first."""
    targets = sorted(route.targets, key=lambda t: t.priority) or list(route.fallbacks)
    if not targets:
        return 0.0, 0.0
    first_level = [t for t in targets if t.priority == targets[0].priority]
    if route.strategy == "lowest_cost":
        first_level.sort(key=lambda t: t.input_price + t.output_price)
    t = first_level[0]
    return float(t.input_price), float(t.output_price)


@dataclass
class Prepared:
    eval_set: EvalSet
    dataset: Dataset
    version: DatasetVersion
    targets: list[dict]
    metrics: list[dict]
    judges: list[dict]
    indices: list[int]
    routes: dict[str, Any]  # route name → the route table's entry


async def prepare(session: AsyncSession, principal: Principal, state, data: EvalRunCreate) -> Prepared:
    """Everything a run needs checked before it is queued: the set (approved, rows readable), each target,
    the metrics and judges (their routes usable by the caller), the sample."""
    from axops.evaluation import judges as judging
    from axops.evaluation import metrics as scoring

    require(principal, "eval:write")
    eval_set = await get_set(session, principal, data.eval_set_id)
    dataset, version = await _source(session, principal, eval_set.dataset_version_id)
    datasets.guard_rows(session, principal, dataset, version, "evaluation run")
    try:
        metric_specs = scoring.validate_metrics(data.metrics)
    except ValueError as exc:
        raise Invalid(f"Metrics: {exc}", code="eval_invalid_metrics", reason=str(exc)) from None
    try:
        judge_specs = judging.validate_judges(data.judges)
    except ValueError as exc:
        raise Invalid(f"Judges: {exc}", code="eval_invalid_judges", reason=str(exc)) from None
    table = await route_table(state)
    routes: dict[str, Any] = {}

    def use(name: str, what: str) -> None:
        routes[name] = _route(table, principal, name, what)

    targets = []
    for t in data.targets:
        target = t.model_dump(mode="json")
        if t.kind == "route":
            use(t.route, f"target {t.key}")
        elif t.kind == "deployment":
            from axops.serving import service as serving

            deployment = await serving.get_deployment(session, principal, t.deployment_id)
            target["route"] = deployment.name
            use(deployment.name, f"target {t.key}: deployment {deployment.name}")
        elif t.kind == "prompt":
            from axops.prompts import service as prompts

            prompt, pv = await prompts.resolve(session, principal, t.prompt)
            route_name = t.route or (pv.binding or {}).get("route")
            if not route_name:
                raise Invalid(
                    f"Target {t.key}: the prompt '{t.prompt}' binds no route; name one.",
                    code="eval_prompt_needs_route",
                    prompt=t.prompt,
                )
            target.update(
                route=route_name,
                prompt_version=pv.version,
                prompt_name=prompt.name,
                prompt_variables=[v["name"] for v in pv.variables or []],
            )
            use(route_name, f"target {t.key}")
        else:
            _check_columns(dataset, version, [t.column])
            target["route"] = None
        target["label"] = t.label or target.get("route") or t.column or t.key
        targets.append(target)
    for m in metric_specs:
        if m.get("params", {}).get("route"):
            use(m["params"]["route"], f"metric {m['name']}")
    for j in judge_specs:
        use(j["route"], f"judge {j['name']}")
        if j.get("prompt"):
            from axops.evaluation.judges import PAIRWISE_PROMPT_VARIABLES, PROMPT_VARIABLES
            from axops.prompts import service as prompts

            _, pv = await prompts.resolve(session, principal, j["prompt"])
            # The gateway refuses variables a version does not declare: send only the declared ones.
            offered = PAIRWISE_PROMPT_VARIABLES if j.get("mode") == "pairwise" else PROMPT_VARIABLES
            declared = [v["name"] for v in pv.variables or [] if v["name"] in offered]
            answers = {"output_a", "output_b"} if j.get("mode") == "pairwise" else {"output"}
            if not answers <= set(declared):
                raise Invalid(
                    f"Judge {j['name']}: the prompt '{j['prompt']}' must declare the variable(s) "
                    f"{', '.join(sorted(answers))} to be shown the answer; it may also use {', '.join(offered)}.",
                    code="eval_judge_prompt_variables",
                    prompt=j["prompt"],
                )
            j["variables"] = declared
    if any(j.get("mode") == "pairwise" for j in judge_specs) and len(targets) < 2:
        raise Invalid("A pairwise judge compares targets: add a second target.", code="eval_pairwise_needs_two")
    row_count = version.row_count or 0
    indices = sample_indices(row_count, data.sample_size, data.seed)
    if not indices:
        raise Conflict(f"Dataset '{dataset.name}' v{version.version} has no rows.", code="eval_set_empty")
    if len(indices) > MAX_ROWS:
        raise Invalid(
            f"A run evaluates at most {MAX_ROWS} rows; set a sample size.", code="eval_too_many_rows", limit=MAX_ROWS
        )
    for t in targets:
        if t["route"]:
            t["input_price"], t["output_price"] = prices_of(routes[t["route"]])
        else:
            t["input_price"] = t["output_price"] = 0.0
    return Prepared(eval_set, dataset, version, targets, metric_specs, judge_specs, indices, routes)


async def _tokenizer(state, route) -> Any:
    gateway = state.gateway
    if gateway is None:
        return None
    for t in [*route.targets, *route.fallbacks]:
        if t.tokenizer:
            return await gateway.tokenizers.get(t.tokenizer)
    return None


def _count(tok, messages: list[dict]) -> int:
    if tok is not None:
        from axops.gateway.tokens import count_prompt

        return count_prompt(tok, "chat", {"messages": messages})
    return sum(len(_text(m.get("content"))) for m in messages) // CHARS_PER_TOKEN + 3 * len(messages) + 3


async def estimate(state, prepared: Prepared) -> dict:
    """Calls, tokens and cost before starting: the sampled inputs counted with each route's tokenizer;
    completions of max_tokens (else the references' average length); costs at the route's prices."""
    p = prepared
    mapping = p.eval_set.mapping
    rows = await read_rows(state, p.version, mapping_columns(mapping), p.indices)
    built = []
    for raw in rows:
        try:
            built.append(build_row(mapping, raw))
        except ValueError:  # the run records it as the row's error; no tokens to count
            continue
    ref_lengths = [len(r) for row in built for r in row["references"][:1]]
    avg_ref = (sum(ref_lengths) / len(ref_lengths)) if ref_lengths else 0.0
    per_target: dict[str, dict] = {}
    total_prompt = total_completion = 0
    cost = 0.0
    for t in p.targets:
        if t["kind"] == "column":
            per_target[t["key"]] = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
            continue
        tok = await _tokenizer(state, p.routes[t["route"]])
        prompt_tokens = await asyncio.to_thread(lambda tok=tok: sum(_count(tok, r["messages"]) for r in built))
        max_tokens = (t.get("params") or {}).get("max_tokens")
        per_row = max_tokens if max_tokens else max(1, round(avg_ref / CHARS_PER_TOKEN)) if avg_ref else 64
        completion_tokens = per_row * len(p.indices)
        c = (prompt_tokens * t["input_price"] + completion_tokens * t["output_price"]) / 1e6
        per_target[t["key"]] = {
            "calls": len(p.indices),
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost": c,
        }
        total_prompt += prompt_tokens
        total_completion += completion_tokens
        cost += c
    pairs = len(p.targets) * (len(p.targets) - 1) // 2
    judge_calls = 0
    for j in p.judges:
        calls = len(p.indices) * (2 * pairs if j.get("mode") == "pairwise" else len(p.targets))
        judge_calls += calls
        # a judge reads the input, the answer(s) and the reference: about the size of the target's prompt + answers
        route = p.routes[j["route"]]
        jp, jo = prices_of(route)
        avg_prompt = (total_prompt / max(1, sum(v["calls"] for v in per_target.values()))) if per_target else 0
        judge_prompt = int(calls * (avg_prompt + 2 * (avg_ref / CHARS_PER_TOKEN) + 200))
        judge_completion = calls * 100
        total_prompt += judge_prompt
        total_completion += judge_completion
        cost += (judge_prompt * jp + judge_completion * jo) / 1e6
    for m in p.metrics:
        if m.get("params", {}).get("route"):
            judge_calls += len(p.indices) * (len(p.targets) + 1)
    target_calls = sum(v["calls"] for v in per_target.values())
    return {
        "rows": len(p.indices),
        "calls": target_calls + judge_calls,
        "judge_calls": judge_calls,
        "prompt_tokens": total_prompt,
        "completion_tokens": total_completion,
        "cost": round(cost, 6),
        "currency": "USD",
        "per_target": per_target,
    }


# --- runs ----------------------------------------------------------------------------------------


async def create_run(
    session: AsyncSession,
    principal: Principal,
    state,
    data: EvalRunCreate,
    *,
    suite_id: uuid.UUID | None = None,
) -> EvalRun:
    """Validate, estimate and queue a run (the task starts after the commit)."""
    p = await prepare(session, principal, state, data)
    if data.model_version_id is not None:
        from axops.registry import service as registry

        model, _ = await registry.get_version(session, principal, data.model_version_id)
        require_owner(principal, model, "models:write", "model")
    est = await estimate(state, p)
    prices = {name: list(prices_of(route)) for name, route in p.routes.items()}
    run = EvalRun(
        team_id=p.eval_set.team_id,
        name=data.name or f"{p.eval_set.name} · " + " vs ".join(t["label"] for t in p.targets),
        eval_set_id=p.eval_set.id,
        suite_id=suite_id,
        model_version_id=data.model_version_id,
        targets=p.targets,
        metrics=p.metrics,
        judges=p.judges,
        tokenizer=data.tokenizer,
        sample_size=data.sample_size,
        seed=data.seed,
        concurrency=data.concurrency,
        max_cost=data.max_cost,
        status="queued",
        progress={"done": 0, "total": len(p.indices), "errors": 0},
        estimate={**est, "prices": prices},
        cost=0.0,
        currency="USD",
        created_by=principal.user_id,
    )
    session.add(run)
    await session.flush()
    audit.record(
        session,
        "eval.run_create",
        resource_type="eval_run",
        resource_id=run.id,
        team_id=run.team_id,
        summary={
            "name": run.name,
            "set": p.eval_set.name,
            "targets": [{"key": t["key"], "kind": t["kind"], "route": t.get("route")} for t in p.targets],
            "rows": len(p.indices),
            "estimated_cost": est["cost"],
        },
    )
    defer_after_commit(session, RUN_TASK, run_id=str(run.id))
    await session.refresh(run)
    return run


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID, for_update: bool = False) -> EvalRun:
    q = select(EvalRun).where(EvalRun.id == run_id, team_clause(principal, EvalRun.team_id))
    run = await session.scalar(q.with_for_update() if for_update else q)
    if run is None:
        raise NotFound("No such evaluation run.", code="eval_run_not_found")
    return run


# What a run's search looks at in its targets: the names a person gave or picked, not the JSON's keys.
_TARGET_NAMES = (
    '$[*].keyvalue() ? (@.key == "route" || @.key == "prompt" || @.key == "column" || @.key == "label").value'
)


async def list_runs(
    session: AsyncSession,
    principal: Principal,
    *,
    set_id: uuid.UUID | None = None,
    suite_id: uuid.UUID | None = None,
    model_id: uuid.UUID | None = None,
    model_version_id: uuid.UUID | None = None,
    status: str | None = None,
    q: str | None = None,
    cursor: str | None,
    limit: int,
) -> tuple[list[EvalRun], str | None, int | None]:
    query = select(EvalRun).where(team_clause(principal, EvalRun.team_id))
    if q and q.strip():
        like = like_pattern(q.strip())
        query = query.where(
            or_(
                func.lower(EvalRun.name).like(like, escape="\\"),
                func.lower(
                    cast(func.jsonb_path_query_array(EvalRun.targets, cast(_TARGET_NAMES, JSONPATH)), Text)
                ).like(like, escape="\\"),
                EvalRun.eval_set_id.in_(select(EvalSet.id).where(func.lower(EvalSet.name).like(like, escape="\\"))),
            )
        )
    if set_id:
        query = query.where(EvalRun.eval_set_id == set_id)
    if suite_id:
        query = query.where(EvalRun.suite_id == suite_id)
    if model_version_id:
        query = query.where(EvalRun.model_version_id == model_version_id)
    if model_id:
        from axops.registry import service as registry

        ids = [v.id for v in await registry.list_versions(session, principal, model_id)]
        query = query.where(EvalRun.model_version_id.in_(ids or [uuid.UUID(int=0)]))
    if status:
        query = query.where(EvalRun.status == status)
    total = None if cursor else await session.scalar(select(func.count()).select_from(query.subquery()))
    if cursor:
        created, id_ = decode_cursor(cursor)
        query = query.where(func.row(EvalRun.created_at, EvalRun.id) < func.row(created, id_))
    rows = (await session.scalars(query.order_by(EvalRun.created_at.desc(), EvalRun.id.desc()).limit(limit + 1))).all()
    page, next_cursor = page_of(list(rows), limit)
    return page, next_cursor, total


async def cancel_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> EvalRun:
    """Ask a run to stop: it takes no more rows, keeps what it has and ends `cancelled` (a queued run at once)."""
    run = await get_run(session, principal, run_id, for_update=True)
    require_owner(principal, run, "eval:write", "evaluation run")
    if run.status in FINISHED:
        raise Conflict(f"The run has already ended ({run.status}).", code="eval_run_finished", run_status=run.status)
    run.cancel_requested = True
    if run.status == "queued":
        run.status = "cancelled"
        run.finished_at = func.now()
    await session.flush()
    audit.record(
        session,
        "eval.run_cancel",
        resource_type="eval_run",
        resource_id=run.id,
        team_id=run.team_id,
        summary={"name": run.name},
    )
    await session.refresh(run)
    return run


async def set_names(session: AsyncSession, set_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not set_ids:
        return {}
    rows = await session.execute(select(EvalSet.id, EvalSet.name).where(EvalSet.id.in_(set(set_ids))))
    return dict(rows.all())
