"""Executing an evaluation run (called by the `eval:execute_run` task).

Every model call — targets, judges, embeddings — goes through the gateway over HTTP
(`settings.control_url` + `/v1`) with an API key issued for the run to its creator (scopes
`gateway:invoke`, 24 h, kept encrypted on the run, revoked at the end), so the creator's limits,
budgets, guardrails and usage records apply. One aiohttp session; a semaphore of `concurrency`
calls; three tries with backoff on 429, 5xx and connection errors; a failure is the row's error,
never a dropped row.

Finished rows are written in batches (every FLUSH_S) in one transaction each: a row's results and
pairwise verdicts land together, with the run's progress and cost, so a crash leaves consistent
partial results. Between batches the runner reads `cancel_requested`; once the cost passes
`max_cost` it stops taking rows (status `stopped`). At the end: the summary (the report's means),
an experiment run in tracking (params, `<metric>/<target>` metrics, the rows and the report as
artifacts) and, for a run on a model version, the primary target's means in the version's metrics."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from sqlalchemy import text, update

from axops.auth import apikeys
from axops.auth.models import User
from axops.auth.service import principal_of
from axops.core import crypto
from axops.core.logging import event
from axops.datasets import service as datasets
from axops.evaluation import judges as judging
from axops.evaluation import metrics as scoring
from axops.evaluation import service
from axops.evaluation.models import EvalRun, EvalSet

log = logging.getLogger("axops.evaluation")
FLUSH_S = 0.5
TRIES = 3
BACKOFF_S = 0.5
CALL_TIMEOUT_S = 120.0
INSERT_BATCH = 500
RETRY_STATUSES = {429, 500, 502, 503, 504}


# Batches go to PostgreSQL as one JSON parameter each (jsonb_to_recordset): compiling an ORM insert of
# hundreds of rows with JSONB values cost ~0.1 s of event-loop time per batch.
_INSERT_ROWS = text("""
    INSERT INTO eval_rows (run_id, row_index, input, "references", context, metadata, pairwise)
    SELECT :run_id, r.row_index, r.input, coalesce(r."references", '[]'), r.context, coalesce(r.metadata, '{}'), '{}'
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
      AS r(row_index int, input text, "references" jsonb, context text, metadata jsonb)
    ON CONFLICT DO NOTHING
""")
_INSERT_RESULTS = text("""
    INSERT INTO eval_results (run_id, row_index, target_key, output, error, latency_ms, prompt_tokens,
                              completion_tokens, cost, scores, judges)
    SELECT :run_id, r.row_index, r.target_key, r.output, r.error, r.latency_ms, r.prompt_tokens,
           r.completion_tokens, coalesce(r.cost, 0), coalesce(r.scores, '{}'), coalesce(r.judges, '{}')
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
      AS r(row_index int, target_key text, output text, error text, latency_ms float8, prompt_tokens int,
           completion_tokens int, cost float8, scores jsonb, judges jsonb)
    ON CONFLICT (run_id, row_index, target_key) DO NOTHING
""")
_SET_PAIRWISE = text("""
    UPDATE eval_rows e SET pairwise = r.pairwise
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(row_index int, pairwise jsonb)
    WHERE e.run_id = :run_id AND e.row_index = r.row_index
""")


def _clean(value: Any) -> Any:
    """PostgreSQL text and jsonb hold no NUL character: dropped from every string."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _json(doc: Any) -> str:
    out = orjson.dumps(doc, default=str)
    if b"\\u0000" in out:
        out = orjson.dumps(_clean(doc), default=str)
    return out.decode()


class CallFailed(Exception):
    """A gateway call that failed after its tries; the message is safe to keep on a row."""


def _short(text: str, n: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


class GatewayClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, key: str, semaphore: asyncio.Semaphore) -> None:
        self.http, self.base = http, base_url.rstrip("/") + "/v1"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.semaphore = semaphore

    async def post(self, endpoint: str, body: dict) -> dict:
        last = "no answer"
        for attempt in range(TRIES):
            if attempt:
                await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1) * (0.75 + random.random() / 2))
            try:
                async with self.semaphore:
                    async with self.http.post(
                        f"{self.base}/{endpoint}",
                        data=orjson.dumps(body),
                        headers=self.headers,
                        timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S),
                    ) as r:
                        raw = await r.read()
                        status = r.status
            except TimeoutError:
                last = f"timed out after {CALL_TIMEOUT_S:.0f} s"
                continue
            except aiohttp.ClientError as exc:
                last = f"connection failed: {type(exc).__name__}"
                continue
            if status == 200:
                try:
                    return orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise CallFailed("the gateway's answer is not JSON") from None
            last = f"HTTP {status}: {_error_message(raw)}"
            if status not in RETRY_STATUSES:
                break
        raise CallFailed(last)


def _error_message(raw: bytes) -> str:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _short(raw.decode("utf-8", "replace"), 200)
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("type")
        return _short(f"{err.get('message') or ''}" + (f" ({code})" if code else ""), 200)
    if isinstance(doc, dict) and doc.get("detail"):
        return _short(str(doc["detail"]), 200)
    return _short(raw.decode("utf-8", "replace"), 200)


def answer_text(answer: dict) -> str:
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise CallFailed("the answer has no choices[0].message") from None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


class Execution:
    """One run being executed: the rows, the calls, the batches written back."""

    def __init__(self, state, run: EvalRun, rows: list[dict], client: GatewayClient | None) -> None:
        self.state, self.run_id = state, run.id
        self.targets: list[dict] = run.targets
        self.metrics: list[dict] = run.metrics
        self.lexical = [m for m in run.metrics if scoring.CATALOGUE[m["name"]].kind != "embedding"]
        self.embedding = [m for m in run.metrics if scoring.CATALOGUE[m["name"]].kind == "embedding"]
        self.single = [j for j in run.judges if j.get("mode", "single") == "single"]
        self.pairwise = [j for j in run.judges if j.get("mode") == "pairwise"]
        self.tokenizer = run.tokenizer
        self.prices: dict[str, list[float]] = (run.estimate or {}).get("prices", {})
        self.max_cost = run.max_cost
        self.rows, self.client = rows, client
        self.concurrency = run.concurrency
        self.cost, self.done, self.errors = float(run.cost or 0.0), 0, 0
        self.pending: list[tuple[dict, dict, dict]] = []  # (row, results by key, pairwise)
        self.stop: str | None = None  # "cancelled" | "stopped"

    # --- calls -------------------------------------------------------------------------------

    def _price(self, route: str, usage: dict) -> tuple[int | None, int | None, float]:
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        price_in, price_out = self.prices.get(route, [0.0, 0.0])
        return pt, ct, ((pt or 0) * price_in + (ct or 0) * price_out) / 1e6

    async def _target(self, target: dict, row: dict) -> dict:
        out = {"output": None, "error": None, "latency_ms": None, "prompt_tokens": None, "completion_tokens": None}
        out.update(cost=0.0, scores={}, judges={})
        if target["kind"] == "column":
            out["output"] = row["columns"].get(target["column"], "")
            return out
        params = {k: v for k, v in (target.get("params") or {}).items() if v is not None}
        if target["kind"] == "prompt":
            names = target.get("prompt_variables") or []
            values = {"input": row["input"], "context": row["context"], **row["columns"]}
            body = {
                "model": target["route"],
                "prompt_id": target["prompt"],
                "prompt_variables": {n: values[n] for n in names if values.get(n) is not None},
                **params,
            }
        else:
            body = {"model": target["route"], "messages": row["messages"], **params}
        started = time.perf_counter()
        try:
            answer = await self.client.post("chat/completions", body)
            out["output"] = answer_text(answer)
        except CallFailed as exc:
            out["error"] = str(exc)
            return out
        finally:
            out["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        out["prompt_tokens"], out["completion_tokens"], out["cost"] = self._price(
            target["route"], answer.get("usage") or {}
        )
        return out

    def _judge_call(self, route: str, spent: list[float]):
        async def call(fragment: dict) -> str:
            answer = await self.client.post("chat/completions", {"model": route, **fragment})
            spent[0] += self._price(route, answer.get("usage") or {})[2]
            return answer_text(answer)

        return call

    async def _embed(self, route: str, texts: list[str], spent: list[float]) -> list[list[float]]:
        answer = await self.client.post("embeddings", {"model": route, "input": texts})
        spent[0] += self._price(route, answer.get("usage") or {})[2]
        data = sorted(answer.get("data") or [], key=lambda d: d.get("index", 0))
        if len(data) != len(texts):
            raise CallFailed(f"the embeddings answer has {len(data)} vectors for {len(texts)} texts")
        return [d["embedding"] for d in data]

    async def _embeddings(self, row: dict, results: dict, spent: list[float]) -> None:
        for metric in self.embedding:
            name, route = metric["name"], metric["params"]["route"]
            keys = [k for k, r in results.items() if r["output"] is not None]
            if not keys or not row["references"]:
                continue
            texts = [results[k]["output"] for k in keys] + row["references"]
            try:
                vectors = await self._embed(route, texts, spent)
            except CallFailed as exc:
                for k in keys:
                    results[k]["scores"][name] = None
                    results[k].setdefault("score_errors", {})[name] = str(exc)
                continue
            refs = vectors[len(keys) :]
            for k, vec in zip(keys, vectors, strict=False):
                results[k]["scores"][name] = max(scoring.cosine(vec, ref) for ref in refs)

    async def process(self, row: dict) -> tuple[dict, dict, float]:
        """One row: every target, its scores, the single judges, then the pairwise judges on every pair."""
        spent = [0.0]
        if row.get("input_error"):
            err = f"the row's input is unusable: {row['input_error']}"
            results = {t["key"]: {"output": None, "error": err, "latency_ms": None, "prompt_tokens": None,
                                  "completion_tokens": None, "cost": 0.0, "scores": {}, "judges": {}}
                       for t in self.targets}  # fmt: skip
            return results, {}, 0.0
        answers = await asyncio.gather(*(self._target(t, row) for t in self.targets))
        results = {t["key"]: a for t, a in zip(self.targets, answers, strict=True)}
        for r in results.values():
            if r["output"] is not None and self.lexical:
                r["scores"] = await asyncio.to_thread(
                    scoring.score_row, self.lexical, r["output"], row["references"], self.tokenizer
                )
        if self.embedding:
            await self._embeddings(row, results, spent)

        async def single(key: str, judge: dict) -> None:
            r = results[key]
            if r["output"] is None:
                r["judges"][judge["name"]] = {
                    "score": None,
                    "raw": None,
                    "reasoning": "",
                    "error": "no output to judge",
                }
                return
            verdict = await judging.judge_single(
                self._judge_call(judge["route"], spent),
                judge,
                row["input"],
                r["output"],
                row["references"],
                row["context"],
            )
            verdict.pop("calls", None)
            r["judges"][judge["name"]] = verdict

        pairwise: dict[str, dict] = {}

        async def pair(a: str, b: str, judge: dict) -> None:
            slot = pairwise.setdefault(f"{a}|{b}", {})
            if results[a]["output"] is None or results[b]["output"] is None:
                slot[judge["name"]] = {"winner": None, "consistent": False, "reasoning": ["", ""], "error": "a target has no output on this row"}  # fmt: skip
                return
            verdict = await judging.judge_pairwise(
                self._judge_call(judge["route"], spent),
                judge,
                row["input"],
                results[a]["output"],
                results[b]["output"],
                row["references"],
                row["context"],
            )
            verdict.pop("calls", None)
            slot[judge["name"]] = verdict

        keys = [t["key"] for t in self.targets]
        await asyncio.gather(
            *(single(k, j) for k in keys for j in self.single),
            *(pair(a, b, j) for a, b in itertools.combinations(keys, 2) for j in self.pairwise),
        )
        return results, pairwise, spent[0]

    # --- the loop ----------------------------------------------------------------------------

    async def worker(self, queue: list[dict]) -> None:
        while queue and self.stop is None:
            row = queue.pop()
            results, pairwise, spent = await self.process(row)
            self.cost += spent + sum(r["cost"] for r in results.values())
            self.pending.append((row, results, pairwise))
            if self.max_cost is not None and self.cost > self.max_cost and self.stop is None:
                self.stop = "stopped"

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        async with self.state.db.sessionmaker() as session:
            if batch:
                results_doc = [
                    {
                        "row_index": row["row_index"],
                        "target_key": key,
                        **{k: v for k, v in r.items() if k != "score_errors"},
                    }
                    for row, results, _ in batch
                    for key, r in results.items()
                ]
                await session.execute(_INSERT_RESULTS, {"run_id": self.run_id, "rows": _json(results_doc)})
                pairs = [{"row_index": row["row_index"], "pairwise": p} for row, _, p in batch if p]
                if pairs:
                    await session.execute(_SET_PAIRWISE, {"run_id": self.run_id, "rows": _json(pairs)})
                self.done += len(batch)
                self.errors += sum(1 for _, results, _ in batch if any(r["error"] for r in results.values()))
            cancel = await session.scalar(
                update(EvalRun)
                .where(EvalRun.id == self.run_id)
                .values(progress={"done": self.done, "total": len(self.rows), "errors": self.errors}, cost=self.cost)
                .returning(EvalRun.cancel_requested)
            )
            await session.commit()
        if cancel and self.stop is None:
            self.stop = "cancelled"

    async def execute(self) -> str:
        queue = list(reversed(self.rows))  # workers pop from the end: rows go in order
        workers = [asyncio.create_task(self.worker(queue)) for _ in range(min(self.concurrency, len(queue)) or 1)]
        try:
            while not all(w.done() for w in workers):
                await asyncio.wait(workers, timeout=FLUSH_S)
                await self.flush()
            for w in workers:
                w.result()  # a bug in a worker fails the run
        finally:
            for w in workers:
                w.cancel()
        await self.flush()
        return self.stop or "succeeded"


# --- the task ------------------------------------------------------------------------------------


async def _set(state, run_id: uuid.UUID, **values) -> None:
    async with state.db.sessionmaker() as session:
        await session.execute(update(EvalRun).where(EvalRun.id == run_id).values(**values))
        await session.commit()


async def _load_rows(state, session, run: EvalRun, principal) -> list[dict]:
    """The run's sampled rows from the dataset version's Parquet file, written to `eval_rows` (once),
    if its creator may still read them."""
    eval_set = await session.get(EvalSet, run.eval_set_id)
    dataset, version = await service.set_source(session, eval_set)
    level = datasets.effective_sensitivity(dataset, version)
    if not datasets.may_read_rows(principal, dataset, level):
        raise RuntimeError(f"the run's creator may no longer read the set's rows ({level})")
    mapping = eval_set.mapping
    extra = [t["column"] for t in run.targets if t["kind"] == "column"]
    names = {c["name"] for c in version.columns}
    extra += [n for t in run.targets for n in t.get("prompt_variables") or [] if n in names]
    indices = service.sample_indices(version.row_count or 0, run.sample_size, run.seed)
    raw = await service.read_rows(state, version, service.mapping_columns(mapping) + extra, indices)
    rows = []
    for index, values in zip(indices, raw, strict=True):
        try:
            row = service.build_row(mapping, values, extra)
        except ValueError as exc:
            row = {"input": service._text(values.get(mapping["input"])), "messages": [], "references": [],
                   "context": None, "metadata": {}, "columns": {}, "input_error": str(exc)}  # fmt: skip
        row["row_index"] = index
        rows.append(row)
    for start in range(0, len(rows), INSERT_BATCH):
        doc = [
            {k: r[k] for k in ("row_index", "input", "references", "context", "metadata")}
            for r in rows[start : start + INSERT_BATCH]
        ]
        await session.execute(_INSERT_ROWS, {"run_id": run.id, "rows": _json(doc)})
    return rows


async def execute(state, run_id: uuid.UUID) -> None:
    async with state.db.sessionmaker() as session:
        run = await session.get(EvalRun, run_id, with_for_update=True)
        if run is None or run.status != "queued":
            return  # cancelled while queued, or already taken
        run.status, run.started_at = "running", datetime.now(UTC)
        await session.commit()
    event(log, "eval.run_started", run_id=str(run_id))
    key_id = None
    try:
        async with state.db.sessionmaker() as session:
            run = await session.get(EvalRun, run_id)
            creator = await session.get(User, run.created_by) if run.created_by else None
            if creator is None or not creator.is_active:
                raise RuntimeError("the run's creator no longer has an active account")
            principal = await principal_of(session, creator)
            rows = await _load_rows(state, session, run, principal)
            needs_gateway = (
                any(t["kind"] != "column" for t in run.targets)
                or run.judges
                or any(scoring.CATALOGUE[m["name"]].kind == "embedding" for m in run.metrics)
            )
            secret = None
            if needs_gateway:
                # saved prompts (a prompt target, a judge's prompt) are rendered by the gateway for keys with prompts:read
                prompts = any(t["kind"] == "prompt" for t in run.targets) or any(j.get("prompt") for j in run.judges)
                scopes = ["gateway:invoke", "prompts:read"] if prompts else ["gateway:invoke"]
                created = await apikeys.issue_run_key(session, principal, f"eval-run-{str(run.id)[:8]}", scopes)
                key_id, secret = created.id, created.key
                run.api_key_id, run.api_key_secret = key_id, crypto.encrypt(state.secret_key, secret)
            run.progress = {"done": 0, "total": len(rows), "errors": 0}
            await session.commit()
            await session.refresh(run)
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
        async with aiohttp.ClientSession(connector=connector) as http:
            client = (
                GatewayClient(http, state.settings.control_url, secret, asyncio.Semaphore(run.concurrency))
                if secret
                else None
            )
            execution = Execution(state, run, rows, client)
            status = await execution.execute()
        await finish(state, run_id, status, principal)
    except Exception as exc:
        log.exception("eval.run_failed")
        await _set(
            state,
            run_id,
            status="failed",
            error=_short(f"{type(exc).__name__}: {exc}", 1000),
            finished_at=datetime.now(UTC),
        )
    finally:
        if key_id is not None:
            async with state.db.sessionmaker() as session:
                await apikeys.revoke_key_by_id(session, key_id)
                await session.execute(update(EvalRun).where(EvalRun.id == run_id).values(api_key_secret=None))
                await session.commit()
    event(log, "eval.run_ended", run_id=str(run_id))


async def finish(state, run_id: uuid.UUID, status: str, principal) -> None:
    """The summary, the tracking run and the model version's metrics; then the final status (so a
    client that sees the run end finds all of them)."""
    from axops.evaluation import reports, results, suites, tracking

    async with state.db.sessionmaker() as session:
        run = await session.get(EvalRun, run_id)
        rows = await results.load_rows(session, run_id)
        run_doc = results.run_dict(run)
        seed = run.seed
    report = await asyncio.to_thread(lambda: reports.build_report(run_doc, rows, seed=seed))
    note = None
    try:
        await tracking.record(state, run_id, principal, status, report, rows)
    except Exception as exc:
        log.exception("eval.tracking_failed")
        note = _short(f"Recording the run in experiment tracking failed: {type(exc).__name__}: {exc}", 1000)
    async with state.db.sessionmaker() as session:
        run = await session.get(EvalRun, run_id, with_for_update=True)
        run.summary = tracking.means(report)
        run.status = status
        run.finished_at = datetime.now(UTC)
        if note:
            run.error = note
        await suites.settle(session, run)  # a suite run ends with its verdict, in the same transaction
        await session.commit()
