"""A client of MCP servers (the `mcp` SDK), with no database: discover a server's tools, call one.

Discovery opens a fresh session; calls reuse a kept session per server (see "kept sessions"). Streamable HTTP servers are checked like outbound
addresses elsewhere: a private, loopback or link-local address is refused unless it is in the admin's
`AXOPS_MCP_ALLOWED_NETWORKS`. Stdio servers are local commands, registered by admins only, and run
inside the bubblewrap sandbox (no network, read-only system, unprivileged uid, rlimits), a fresh
process per session."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
import mcp_types as types
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import CONNECTION_CLOSED

from axops.tools.outcome import ToolOutcome

STDERR_TAIL = 2000
LINE_LIMIT = 16 * 1024 * 1024  # one JSON-RPC message from a stdio server


@dataclass
class McpServerSpec:
    transport: str  # "http" | "stdio"
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    allowed_networks: str = ""  # CIDRs (','-separated) a streamable-HTTP server may be on besides public addresses
    memory_mb: int = 1024  # stdio servers' sandbox limits
    processes: int = 64


class Unavailable(Exception):
    """The server could not be reached, or its address is refused. The message is safe to show."""


# --- addresses --------------------------------------------------------------------------------------


def _networks(text: str) -> list:
    return [ipaddress.ip_network(p.strip(), strict=False) for p in text.replace(";", ",").split(",") if p.strip()]


def _allowed(address: str, networks: list) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return True
    return any(ip.version == n.version and ip in n for n in networks)


def check_url(url: str) -> str:
    """The URL's problem (a message), or '' when its form is acceptable. The address is checked per call."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The URL must be http(s)://host[:port]/path."
    if parts.username or parts.password:
        return "Put credentials in the headers, not in the URL."
    return ""


async def check_address(url: str, allowed_networks: str) -> None:
    host = (urlsplit(url).hostname or "").strip("[]")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Unavailable(f"The host {host} could not be resolved.") from exc
        addresses = sorted({info[4][0] for info in infos})
    networks = _networks(allowed_networks)
    for address in addresses:
        if not _allowed(address, networks):
            raise Unavailable(
                f"The host {host} is a private, loopback or link-local address; an administrator can allow "
                "such networks with AXOPS_MCP_ALLOWED_NETWORKS."
            )


# --- stdio in the sandbox ---------------------------------------------------------------------------


@dataclass
class _Sandboxed:
    argv: list[str]
    preexec: Any
    workdir: Path
    stage_dir: Path
    uid: int | None  # the server's own (leased; released when it has exited)


def sandboxed(spec: McpServerSpec, cpu_s: int) -> _Sandboxed:
    """The bwrap command line of a stdio server and what runs before it (limits, the drop to a uid of
    its own, so its process limit isn't shared with other sandboxes; the caller releases the uid).
    `python`/`python3` as the program is axops's own interpreter with its installed packages (not
    axops's source), so servers installed beside axops run with `python -m`; absolute paths of files
    named in the command are copied into the server's private work directory (a server's script)."""
    from axops.sandbox import isolation

    uid = isolation.lease_uid()
    workdir = isolation.private_dir(uid=uid)
    stage_dir = Path(tempfile.mkdtemp(prefix="axops-mcp-stage-"))
    stage_dir.chmod(0o755)  # bwrap, already the sandbox uid, looks up the staged binds through it
    argv = list(spec.command)
    binds: list[tuple[str, str]] = []
    env = dict(spec.env)
    if argv[0] in ("python", "python3"):
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        argv[0] = f"{isolation.PYTHON_ROOT}/bin/python{version}"
        binds.append((sys.base_prefix, isolation.PYTHON_ROOT))
        # The interpreter finds its libpython by an absolute rpath that is not inside the sandbox.
        env["LD_LIBRARY_PATH"] = f"{isolation.PYTHON_ROOT}/lib"
        site = next((p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)), None)
        if site:
            binds.append((site, isolation.SITE_ROOT))
            env["PYTHONPATH"] = isolation.SITE_ROOT
    for index, arg in enumerate(argv[1:], start=1):
        if arg.startswith("/") and os.path.isfile(arg):
            target = workdir / f"{index}-{os.path.basename(arg)}"
            shutil.copyfile(arg, target)
            os.chmod(target, 0o644)
            argv[index] = f"/work/{target.name}"
    plan = isolation.bwrap_argv(argv, workdir=workdir, stage_dir=stage_dir, ro_binds=binds, env=env, uid=uid)
    limits = isolation.Limits(cpu_s=cpu_s, memory_mb=spec.memory_mb, processes=spec.processes)
    return _Sandboxed(plan.argv, isolation.preexec(limits, plan.stage, uid=uid), workdir, stage_dir, uid)


@asynccontextmanager
async def _stdio_transport(spec: McpServerSpec, stderr_tail: bytearray, cpu_s: int) -> AsyncIterator[tuple]:
    from axops.sandbox import isolation

    box = sandboxed(spec, cpu_s)
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *box.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                preexec_fn=box.preexec,
                start_new_session=True,
                limit=LINE_LIMIT,
            )
        except OSError as exc:
            raise Unavailable("The server's command could not be started.") from exc
        read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

        async def stdout_reader() -> None:
            async with read_writer:
                while line := await proc.stdout.readline():
                    try:
                        message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                    except ValueError as exc:
                        await read_writer.send(exc)
                        continue
                    await read_writer.send(SessionMessage(message))

        async def stderr_reader() -> None:
            while chunk := await proc.stderr.read(4096):
                stderr_tail.extend(chunk)
                del stderr_tail[:-STDERR_TAIL]

        async def stdin_writer() -> None:
            async with write_reader:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    try:
                        proc.stdin.write(data.encode())
                        await proc.stdin.drain()
                    except (BrokenPipeError, ConnectionResetError):
                        await read_writer.aclose()
                        return

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(stdout_reader)
                tg.start_soon(stderr_reader)
                tg.start_soon(stdin_writer)
                try:
                    yield read_stream, write_stream
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                if proc.returncode is None:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                await proc.wait()
    finally:
        isolation.remove(box.workdir)
        shutil.rmtree(box.stage_dir, ignore_errors=True)
        isolation.release_uid(box.uid)


# --- sessions ---------------------------------------------------------------------------------------


@asynccontextmanager
async def _client(
    spec: McpServerSpec, timeout_s: float, stderr_tail: bytearray, cpu_s: int | None = None
) -> AsyncIterator[Client]:
    if spec.transport == "http":
        if not spec.url or check_url(spec.url):
            raise Unavailable(check_url(spec.url or "") or "The server has no URL.")
        await check_address(spec.url, spec.allowed_networks)
        http = httpx2.AsyncClient(
            headers=spec.headers or None, timeout=httpx2.Timeout(timeout_s), follow_redirects=False
        )
        async with http:
            transport = streamable_http_client(spec.url, http_client=http)
            async with Client(transport, read_timeout_seconds=timeout_s, cache=None) as client:
                yield client
    elif spec.transport == "stdio":
        if not spec.command:
            raise Unavailable("The server has no command.")
        async with Client(
            _stdio_transport(spec, stderr_tail, cpu_s or int(timeout_s) + 10),
            read_timeout_seconds=timeout_s,
            cache=None,
        ) as client:
            yield client
    else:
        raise Unavailable(f"Unknown transport {spec.transport!r}.")


def _error_text(exc: BaseException) -> str:
    """A message for a failure to reach a server, without its exception's internals (paths, headers)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, Unavailable):
        return str(exc)
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"The server answered HTTP {exc.response.status_code}."
    return f"The MCP server could not be reached ({type(exc).__name__})."


def _find(exc: BaseException, kind: type) -> bool:
    if isinstance(exc, kind):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_find(e, kind) for e in exc.exceptions)
    return False


MAX_TOOLS = 200  # tools registered from one server
MAX_OUTPUT_BYTES = 1024 * 1024  # a call's answer, as http_runner.MAX_RESPONSE_BYTES


async def discover(spec: McpServerSpec, timeout_s: float = 10) -> list[dict]:
    """The server's tools: [{name, description, input_schema}]. Raises Unavailable (a safe message) or TimeoutError."""
    tail = bytearray()
    try:
        with anyio.fail_after(timeout_s):
            async with _client(spec, timeout_s, tail) as client:
                tools: list[dict] = []
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    for tool in page.tools:
                        tools.append(
                            {
                                "name": tool.name,
                                "description": tool.description or "",
                                "input_schema": tool.input_schema or {"type": "object"},
                            }
                        )
                    cursor = page.next_cursor
                    if not cursor or len(tools) > MAX_TOOLS:  # an endless list stops here (the rest refused)
                        return tools
    except TimeoutError:
        raise
    except Exception as exc:
        if _find(exc, TimeoutError):
            raise TimeoutError from None
        raise Unavailable(_error_text(exc)) from None


def _output(result: types.CallToolResult) -> Any:
    if result.structured_content is not None:
        structured = result.structured_content
        # Servers wrap a non-object return value as {"result": value}.
        if isinstance(structured, dict) and list(structured) == ["result"]:
            return structured["result"]
        return structured
    texts = [part.text for part in result.content if isinstance(part, types.TextContent)]
    if texts:
        return "\n".join(texts)
    return [part.model_dump(mode="json", by_alias=True, exclude_none=True) for part in result.content]


# --- kept sessions ----------------------------------------------------------------------------------
# Opening a session costs ~40-90 ms over streamable HTTP and ~1 s for a Python stdio server (a sandbox
# and an interpreter), against ~5 ms for a call on an open one, so calls reuse a session per server
# (and event loop) for IDLE_S. A session lives in a task of its own, which enters and leaves the SDK's
# client (its cancel scopes must stay in one task). The key holds everything that defines the server,
# headers included, so a changed server never gets an old session. A call that finds its kept session
# broken (the server restarted, the process died) before any answer retries once on a fresh session.

IDLE_S = 120.0
MAX_SESSIONS = 32
STDIO_CPU_S = 600  # CPU seconds a kept stdio server may use in its lifetime


class _Kept:
    def __init__(self, spec: McpServerSpec, timeout_s: float) -> None:
        self.spec, self.timeout_s = spec, timeout_s
        self.client: Client | None = None
        self.error: BaseException | None = None
        self.tail = bytearray()
        self.ready, self.stop = asyncio.Event(), asyncio.Event()
        self.used = time.monotonic()
        self.task: asyncio.Task | None = None

    async def _hold(self) -> None:
        try:
            async with _client(self.spec, self.timeout_s, self.tail, cpu_s=STDIO_CPU_S) as client:
                self.client = client
                self.ready.set()
                await self.stop.wait()
        except BaseException as exc:
            self.error = exc
        finally:
            self.client = None
            self.ready.set()

    async def open(self) -> Client:
        self.task = asyncio.create_task(self._hold())
        await self.ready.wait()
        if self.client is None:
            raise self.error or Unavailable("The MCP server closed the session.")
        return self.client

    def close(self) -> None:
        self.stop.set()
        if self.task is not None and not self.ready.is_set():
            self.task.cancel()


_kept: dict[tuple, _Kept] = {}


def _key(spec: McpServerSpec) -> tuple:
    return (
        id(asyncio.get_running_loop()),
        spec.transport,
        spec.url,
        tuple(sorted(spec.headers.items())),
        tuple(spec.command),
        tuple(sorted(spec.env.items())),
        spec.allowed_networks,
        spec.memory_mb,
        spec.processes,
    )


def _sweep(now: float) -> None:
    """Close this loop's idle and broken sessions, and the least recently used past MAX_SESSIONS (a
    session is touched only from its own loop: asyncio objects are not thread-safe)."""
    loop = id(asyncio.get_running_loop())
    mine = {key: kept for key, kept in _kept.items() if key[0] == loop}
    for key, kept in mine.items():
        if now - kept.used > IDLE_S or kept.stop.is_set() or (kept.task is not None and kept.task.done()):
            kept.close()
            _kept.pop(key, None)
    mine = {key: kept for key, kept in _kept.items() if key[0] == loop}
    while len(mine) >= MAX_SESSIONS:
        key = min(mine, key=lambda k: mine[k].used)
        mine.pop(key)
        _kept.pop(key).close()


async def _session(spec: McpServerSpec, timeout_s: float) -> tuple[_Kept, Client, bool]:
    """A kept session for the server (opening one if none), and whether it was open before."""
    now = time.monotonic()
    _sweep(now)
    key = _key(spec)
    kept = _kept.get(key)
    if kept is not None and kept.client is not None:
        kept.used = now
        return kept, kept.client, True
    kept = _Kept(spec, timeout_s)
    _kept[key] = kept
    try:
        client = await kept.open()
    except BaseException:
        _kept.pop(key, None)
        kept.close()
        raise
    return kept, client, False


async def close_sessions() -> None:
    """Close the kept sessions of this event loop (the app's shutdown)."""
    loop = id(asyncio.get_running_loop())
    mine = [key for key in _kept if key[0] == loop]
    tasks = []
    for key in mine:
        kept = _kept.pop(key)
        kept.close()
        if kept.task is not None:
            tasks.append(kept.task)
    if tasks:
        await asyncio.wait(tasks, timeout=5)


def _closed(exc: BaseException) -> bool:
    """The session broke (connection or process gone), as opposed to the server answering an error."""
    if isinstance(exc, MCPError):
        return exc.code == CONNECTION_CLOSED
    return not isinstance(exc, TimeoutError)


async def call(spec: McpServerSpec, tool_name: str, arguments: dict, timeout_s: float) -> ToolOutcome:
    """Call one tool. Never raises: the outcome says what happened."""
    started = time.perf_counter()
    tail = bytearray()

    def done(**kw: Any) -> ToolOutcome:
        detail = {"transport": spec.transport, "tool": tool_name}
        stderr = kept.tail if kept is not None else tail
        if stderr:
            detail["stderr_tail"] = bytes(stderr).decode("utf-8", "replace")
        return ToolOutcome(latency_ms=(time.perf_counter() - started) * 1000, detail=detail, **kw)

    kept: _Kept | None = None
    try:
        with anyio.fail_after(timeout_s):
            for attempt in (1, 2):
                kept, client, reused = await _session(spec, timeout_s)
                try:
                    result = await client.call_tool(tool_name, arguments, read_timeout_seconds=timeout_s)
                    break
                except Exception as exc:
                    if not _closed(exc):
                        raise
                    kept.close()
                    if not reused or attempt == 2:
                        raise
    except TimeoutError:
        return done(ok=False, error=f"The MCP tool did not answer within {timeout_s:g} s.", error_kind="timeout")
    except MCPError as exc:
        if exc.code == CONNECTION_CLOSED:
            return done(ok=False, error="The MCP server closed the connection.", error_kind="unavailable")
        # The server answered the call with a JSON-RPC error (unknown tool, bad arguments).
        return done(ok=False, error=str(exc.error.message)[:2000], error_kind="tool_error")
    except Exception as exc:
        if _find(exc, TimeoutError):
            return done(ok=False, error=f"The MCP tool did not answer within {timeout_s:g} s.", error_kind="timeout")
        return done(ok=False, error=_error_text(exc), error_kind="unavailable")
    output = _output(result)
    size = len(output.encode()) if isinstance(output, str) else len(json.dumps(output, default=str))
    if size > MAX_OUTPUT_BYTES:  # as an HTTP tool's answer: never fed to the model or the injection check
        return done(
            ok=False, error=f"The answer is larger than {MAX_OUTPUT_BYTES} bytes.", error_kind="output_too_large"
        )
    if result.is_error:
        message = output if isinstance(output, str) else "The MCP tool reported an error."
        return done(ok=False, output=output, error=message[:2000], error_kind="tool_error")
    return done(ok=True, output=output)
