"""`axops eval run`: run an evaluation suite from CI over the HTTP API and exit by its verdict.

Exit codes: 0 the suite passed (and `--fail-under` held), 1 it did not (a threshold missed, or the run
failed, stopped or was cancelled), 2 the command could not do its job (usage, connection, an API error
such as an unknown suite or route). Only httpx is imported: the command starts fast in a CI job."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, TextIO

import httpx

PASSED, FAILED, ERROR = 0, 1, 2
FINISHED = ("succeeded", "failed", "cancelled", "stopped")


class CliError(Exception):
    """Why the command could not do its job (exit 2)."""


class Api:
    def __init__(self, url: str, api_key: str | None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CliError(f"cannot reach {self.url}: {type(exc).__name__}: {exc}") from exc
        if r.status_code >= 400:
            raise CliError(_problem(r))
        try:
            return r.json()
        except ValueError as exc:
            raise CliError(f"{method} {path}: HTTP {r.status_code} with an answer that is not JSON") from exc


def _problem(r: httpx.Response) -> str:
    """The server's problem+json as one line: 'HTTP 404 eval_suite_not_found: No such evaluation suite.'"""
    try:
        body = r.json()
    except ValueError:
        return f"HTTP {r.status_code}: {r.text[:200]}"
    if not isinstance(body, dict):
        return f"HTTP {r.status_code}"
    code = str(body.get("type", "")).rsplit("/", 1)[-1]
    detail = body.get("detail") or body.get("title") or ""
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        detail += " (" + "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in errors) + ")"
    return f"HTTP {r.status_code} {code}: {detail}".strip()


def find_suite(api: Api, ref: str) -> dict:
    """A suite by id, or by name among the suites the key may see."""
    try:
        return api.call("GET", f"/api/eval/suites/{uuid.UUID(ref)}")
    except ValueError:
        pass
    items = api.call("GET", "/api/eval/suites", params={"name": ref, "limit": 10})["items"]
    if not items:
        raise CliError(f"no evaluation suite named '{ref}' that this key may see")
    if len(items) > 1:
        teams = ", ".join(f"{s.get('team_name')} ({s['id']})" for s in items)
        raise CliError(f"several teams have a suite named '{ref}': {teams}; give its id")
    return items[0]


def scored_names(suite: dict) -> list[str]:
    names = [m["name"] for m in suite["metrics"]]
    return names + [f"judge:{j['name']}" for j in suite["judges"] if j.get("mode", "single") == "single"]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def table(result: dict, fail_under: tuple[str, float] | None) -> list[str]:
    """One line per metric: mean, the threshold and whether it held."""
    rows = [("metric", "mean", "threshold", "result")]
    verdict = {v["metric"]: v for v in result.get("verdict") or []}
    names = list(dict.fromkeys([*result["scores"], *verdict]))
    for name in names:
        v = verdict.get(name)
        rows.append(
            (
                name,
                _fmt(result["scores"].get(name, v["actual"] if v else None)),
                f"{v['op']} {v['value']:g}" if v else "",
                ("pass" if v["passed"] else "FAIL") if v else "",
            )
        )
    if fail_under is not None:
        metric, bound = fail_under
        actual = result["scores"].get(metric)
        rows.append(
            (f"{metric} (--fail-under)", _fmt(actual), f">= {bound:g}", "pass" if _holds(actual, bound) else "FAIL")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _holds(actual: float | None, bound: float) -> bool:
    return actual is not None and actual >= bound


def run(
    suite_ref: str,
    *,
    url: str,
    api_key: str | None,
    target: str | None = None,
    model_version: str | None = None,
    fail_under: float | None = None,
    metric: str | None = None,
    timeout_s: float = 3600.0,
    poll_s: float = 1.0,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Start the suite's run, follow it and print the verdict; the exit code."""

    def say(line: str, to: TextIO = out) -> None:
        print(line, file=to, flush=True)

    if metric is not None and fail_under is None:
        say("error: --metric goes with --fail-under", err)
        return ERROR
    api = Api(url, api_key)
    try:
        suite = find_suite(api, suite_ref)
        check: tuple[str, float] | None = None
        if fail_under is not None:
            known = scored_names(suite)
            if metric is None:
                if len(known) != 1:
                    raise CliError(f"name the metric --fail-under applies to (--metric): one of {', '.join(known)}")
                metric = known[0]
            if metric not in known:
                raise CliError(f"the suite has no metric '{metric}': one of {', '.join(known)}")
            check = (metric, fail_under)
        body: dict[str, Any] = {}
        if target is not None:
            body["target"] = {"kind": "route", "route": target}
        if model_version is not None:
            body["model_version_id"] = model_version
        started = api.call("POST", f"/api/eval/suites/{suite['id']}/run", json=body)
        run_id = started["id"]
        say(f"suite {suite['name']}: run {run_id} queued ({started['progress'].get('total', '?')} rows)")
        deadline = clock() + timeout_s
        last = None
        while True:
            result = api.call("GET", f"/api/eval/suites/{suite['id']}/runs/{run_id}")
            progress = result.get("progress") or {}
            shown = (result["status"], progress.get("done"), progress.get("errors"))
            if shown != last:
                say(
                    f"  {result['status']}: {progress.get('done', 0)}/{progress.get('total', '?')} rows"
                    f", {progress.get('errors', 0)} errors",
                    err,
                )
                last = shown
            if result["status"] in FINISHED:
                break
            if clock() > deadline:
                raise CliError(f"the run did not finish within {timeout_s:g} s (it goes on: run {run_id})")
            time.sleep(poll_s)
    except CliError as exc:
        say(f"error: {exc}", err)
        return ERROR
    finally:
        api.close()
    for line in table(result, check):
        say(line)
    passed = bool(result["passed"]) and (check is None or _holds(result["scores"].get(check[0]), check[1]))
    if result["status"] != "succeeded":
        say(f"run {result['status']}" + (f": {result['error']}" if result.get("error") else ""))
    say(f"{'PASSED' if passed else 'FAILED'}: suite {suite['name']}, run {run_id}, cost {result['cost']:.6f}")
    return PASSED if passed else FAILED
