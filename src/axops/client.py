"""The axops prompts client for applications (httpx, and `axops.templating`: the server's own sandboxed renderer).

    from openai import OpenAI
    from axops.client import Prompts

    prompts = Prompts("http://axops:8000", api_key="axk_...", ttl_s=60, cache_dir="/var/cache/myapp/prompts")
    support = prompts.get("support@production")          # or "support" (production, else latest), "support:3"
    messages = support.render(customer="김민수", question="환불은 어떻게 하나요?")   # list of messages (chat)
    answer = OpenAI(base_url="http://axops:8000/v1", api_key="axk_...").chat.completions.create(
        messages=messages, **support.chat_params()
    )

`get` asks the server (`GET /api/prompts/resolve`) at most once per `ttl_s` per reference. When the
server can't be reached (connection error, timeout, 5xx) it returns the last version it fetched for
that reference — from memory, else from `cache_dir` (a JSON file per reference, so a restarted
process still starts) — and logs a warning; with nothing known it raises `PromptUnavailable`.
Refusals (401, 403, 404 unknown prompt or label, 422) are raised as `PromptAPIError`, never
answered from the cache. Rendering is local with the server's renderer (its sandbox, budgets and
variable checks), so it works while the server is down.

`pull` and `push` move a prompt's YAML (all versions and labels) out of and into the server; the
`axops prompt pull|push` command uses them.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from axops import templating

__all__ = [
    "PromptAPIError",
    "PromptError",
    "PromptRenderError",
    "PromptUnavailable",
    "PromptVariableError",
    "PromptVersion",
    "Prompts",
]

log = logging.getLogger("axops.client")


class PromptError(Exception):
    """Base of the client's errors."""


class PromptUnavailable(PromptError):
    """The server can't be reached and no earlier version of the reference is known."""


class PromptAPIError(PromptError):
    """The server refused the request (4xx): `status`, `code` (the problem type's last part), `detail`."""

    def __init__(self, status: int, code: str, detail: str, problem: dict | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail, self.problem = status, code, detail, problem or {}


class PromptVariableError(PromptError, ValueError):
    """A variable missing, unknown or of the wrong type (`code` as the server's, `variable` names it)."""

    def __init__(self, message: str, code: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.code, self.variable = code, variable


class PromptRenderError(PromptError):
    """The template failed while rendering (e.g. an operation the sandbox refuses)."""


@dataclass(frozen=True)
class PromptVersion:
    """One immutable prompt version as the server resolved it. `stale` is true when it came from the
    cache because the server was unreachable."""

    name: str
    version: int
    kind: str  # "text" | "chat"
    template: str | list[dict]
    variables: list[dict] = field(default_factory=list)
    binding: dict = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    stale: bool = False

    @classmethod
    def from_api(cls, data: dict) -> PromptVersion:
        return cls(
            name=data["prompt_name"],
            version=data["version"],
            kind=data["kind"],
            template=data["template"],
            variables=data.get("variables") or [],
            binding=data.get("binding") or {},
            labels=data.get("labels") or [],
        )

    def render(self, **variables: Any) -> str | list[dict]:
        """The text (a text prompt) or the messages (a chat prompt) with these variables."""
        try:
            out = templating.render(self.kind, self.template, self.variables, variables)
        except templating.RenderError as exc:
            if exc.code.startswith("prompt_variable"):
                raise PromptVariableError(exc.message, exc.code, exc.variable) from None
            raise PromptRenderError(exc.message) from None
        return out.text if self.kind == "text" else out.messages  # type: ignore[return-value]

    def chat_params(self) -> dict:
        """`model` (the bound route) and the bound parameters, for `client.chat.completions.create(...)`."""
        params = {k: v for k, v in (self.binding.get("parameters") or {}).items() if v is not None}
        if self.binding.get("route"):
            params["model"] = self.binding["route"]
        return params


def _problem(response: httpx.Response) -> PromptAPIError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("type", "")).rsplit("/", 1)[-1] or "http_error"
    detail = body.get("detail") or response.reason_phrase or "request failed"
    return PromptAPIError(response.status_code, code, str(detail), body)


class Prompts:
    """Prompt versions from an axops server, cached for `ttl_s` seconds per reference, with the last
    fetched version as a fallback while the server is unreachable. `clock` is for tests."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        ttl_s: float = 60.0,
        timeout_s: float = 5.0,
        cache_dir: str | os.PathLike | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._clock = clock
        self._cache: dict[str, tuple[float, PromptVersion]] = {}  # ref -> (fetched at, version)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Prompts:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, ref: str) -> PromptVersion:
        """The version `ref` names: `name`, `name@label` or `name:version`."""
        cached = self._cache.get(ref)
        if cached is not None and self._clock() - cached[0] < self.ttl_s:
            return cached[1]
        try:
            response = self._http.get(f"{self.base_url}/api/prompts/resolve", params={"ref": ref})
        except httpx.TransportError as exc:  # connection refused or reset, timeouts
            return self._fallback(ref, f"{type(exc).__name__}: {exc}")
        if response.status_code >= 500:
            return self._fallback(ref, f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise _problem(response)
        try:
            data = response.json()
            version = PromptVersion.from_api(data)
        except (ValueError, KeyError, TypeError):  # e.g. a proxy's HTML page: not the server's answer
            return self._fallback(ref, "an answer that is not a prompt version")
        self._cache[ref] = (self._clock(), version)
        self._save(ref, data)
        return version

    def _path(self, ref: str) -> Path | None:
        return self.cache_dir / f"{quote(ref, safe='')}.json" if self.cache_dir is not None else None

    def _save(self, ref: str, data: dict) -> None:
        path = self._path(ref)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False)
            os.replace(tmp, path)  # a reader never sees half a file
        except OSError as exc:
            log.warning("axops prompt cache: could not write %s: %s", path, exc)

    def _fallback(self, ref: str, reason: str) -> PromptVersion:
        cached = self._cache.get(ref)
        version = cached[1] if cached else None
        where = "memory"
        path = self._path(ref)
        if version is None and path is not None and path.is_file():
            try:
                version = PromptVersion.from_api(json.loads(path.read_text(encoding="utf-8")))
                where = str(path)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("axops prompt cache: could not read %s: %s", path, exc)
        if version is None:
            raise PromptUnavailable(
                f"The axops server at {self.base_url} is unreachable ({reason}) and no earlier version of '{ref}' is known."
            )
        log.warning(
            "axops server at %s unreachable (%s): using the last fetched %s:%d for '%s' (from %s)",
            self.base_url,
            reason,
            version.name,
            version.version,
            ref,
            where,
        )
        return replace(version, stale=True)

    # -- YAML export and import (the `axops prompt pull|push` command) ---------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, f"{self.base_url}{path}", **kwargs)
        except httpx.TransportError as exc:
            raise PromptUnavailable(f"The axops server at {self.base_url} is unreachable: {exc}") from None
        if response.status_code >= 400:
            raise _problem(response)
        return response

    def info(self, name: str) -> dict | None:
        """The prompt as `GET /api/prompts/{name}` answers it, or None when there is none."""
        try:
            return self._request("GET", f"/api/prompts/{quote(name, safe='')}").json()
        except PromptAPIError as exc:
            if exc.status == 404:
                return None
            raise

    def pull(self, name: str) -> str:
        """One prompt as YAML: the prompt, every version and its labels."""
        return self._request("GET", f"/api/prompts/{quote(name, safe='')}/export").text

    def push(self, yaml_text: str) -> dict:
        """Import a prompt's YAML: creates it or appends the versions that differ, then sets the labels."""
        body = yaml_text.encode("utf-8")
        return self._request(
            "POST", "/api/prompts/import", content=body, headers={"Content-Type": "application/yaml"}
        ).json()
