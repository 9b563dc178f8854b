"""Run a user's Python function in bubblewrap and return its result, or why it has none."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import marshal
import os
import signal
import site
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from axops.sandbox.isolation import (
    PROXY_SOCKET,
    PYTHON_ROOT,
    SITE_ROOT,
    Limits,
    UidPool,
    available,
    bwrap_argv,
    lease_uid,
    preexec,
    private_dir,
    release_uid,
    remove,
)
from axops.sandbox.proxy import AllowlistProxy

__all__ = ["Limits", "Result", "UidPool", "available", "run_python", "wrap"]

_HARNESS = (Path(__file__).parent / "harness.py").read_text()
_TAIL = 64 * 1024  # how much of stdout and stderr a Result keeps (the end)
_SIGNAL_EXIT = 128  # bwrap exits 128 + N when the sandboxed process dies of signal N


@dataclass
class Result:
    ok: bool
    value: Any = None
    error: str | None = None
    # "exception" | "timeout" | "cpu" | "memory" | "output_too_large" | "crash" | "invalid_result" | "unavailable"
    error_kind: str | None = None
    stdout: str = ""
    stderr: str = ""
    duration_ms: float = 0.0
    refused_hosts: list[str] = field(default_factory=list)  # what the allowlist proxy turned away


@dataclass(frozen=True)
class _Interpreter:
    binds: tuple[tuple[str, str], ...]  # (host path, sandbox path)
    executable: str  # path inside the sandbox
    paths: tuple[str, ...]  # site-packages inside the sandbox
    env: tuple[tuple[str, str], ...]


@cache
def _interpreter(python: str) -> _Interpreter:
    """Where `python`'s prefix and site-packages go inside the sandbox. The venv's own interpreter is
    a symlink to its base, so the base runs (with `-I -S`) and the harness adds site-packages."""
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        executable, base, sites = os.path.realpath(sys.executable), sys.base_prefix, site.getsitepackages()
    else:
        probe = "import json,os,site,sys;print(json.dumps([os.path.realpath(sys.executable),sys.base_prefix,site.getsitepackages()]))"
        out = subprocess.run([python, "-I", "-c", probe], capture_output=True, check=True, timeout=30).stdout
        executable, base, sites = json.loads(out)
    base = os.path.realpath(base)
    binds: list[tuple[str, str]] = []
    env: list[tuple[str, str]] = []
    if base.startswith("/usr/"):
        inside = executable
    else:
        binds.append((base, PYTHON_ROOT))
        inside = f"{PYTHON_ROOT}/{os.path.relpath(executable, base)}"
        env.append(("LD_LIBRARY_PATH", f"{PYTHON_ROOT}/lib"))  # a RUNPATH to the host prefix won't resolve
    paths: list[str] = []
    for index, directory in enumerate(os.path.realpath(d) for d in sites):
        if not os.path.isdir(directory):
            continue
        if directory.startswith("/usr/"):
            paths.append(directory)
        elif directory.startswith(base + "/") and binds:
            paths.append(f"{PYTHON_ROOT}/{os.path.relpath(directory, base)}")
        else:
            binds.append((directory, f"{SITE_ROOT}/{index}"))
            paths.append(f"{SITE_ROOT}/{index}")
    return _Interpreter(tuple(binds), inside, tuple(paths), tuple(env))


def wrap(
    argv: list[str],
    *,
    limits: Limits,
    workdir: Path,
    allow_hosts: Sequence[str] = (),
    extra_ro_binds: Sequence[tuple[str, str]] = (),
    bwrap: str = "bwrap",
    uid: int | None,
) -> tuple[list[str], Callable[[], None]]:
    """A bwrap command line and its pre-exec function for a long-lived command (an MCP stdio server).
    Pass the pre-exec as `preexec_fn` and `start_new_session=True`; the wall limit is the caller's.
    `uid` is the command's own (`isolation.lease_uid`, released by the caller once it has exited) and
    `workdir` must be reachable by it (`isolation.private_dir(uid=uid)`). There is no network:
    `allow_hosts` must be empty here (the proxy lives as long as a `run_python` call)."""
    if allow_hosts:
        raise ValueError("wrap() gives no network; run a proxy-backed tool through run_python")
    plan = bwrap_argv(argv, workdir=workdir, stage_dir=_stage_dir(), ro_binds=extra_ro_binds, bwrap=bwrap, uid=uid)
    return plan.argv, preexec(limits, plan.stage, uid=uid)


@cache
def _stage_dir() -> Path:
    """Empty mount points for wrap()'s staged binds: each child mounts on them in its own namespace.
    Owned by root and traversable (0755), as every run's uid looks the binds up through it."""
    path = private_dir(uid=None)
    path.chmod(0o755)
    atexit.register(remove, path)
    return path


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or path.parts[0] in (".", "") or "\0" in name:
        raise ValueError(f"bad file name {name!r}")
    return path


async def run_python(
    source: str,
    function: str,
    arguments: dict,
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen
    allow_hosts: Sequence[str] = (),
    files: Mapping[str, bytes] | None = None,
    python: str | None = None,
    bwrap: str = "bwrap",
    uid_pool: UidPool | None = None,
) -> Result:
    """Run `function(**arguments)` from `source` in a fresh sandbox. Never raises for what the code does;
    raises ValueError for a bad file name or allowlist entry. As root, the run has a uid of its own from
    `uid_pool` (default: `isolation.DEFAULT_POOL`)."""
    started = time.perf_counter()
    names = {name: _safe_name(name) for name in files or {}}
    proxy = AllowlistProxy(allow_hosts) if allow_hosts else None
    if not available(bwrap):
        return Result(ok=False, error_kind="unavailable", error="bubblewrap cannot create a sandbox here")
    interpreter = _interpreter(python or sys.executable)
    uid = lease_uid(uid_pool)
    try:
        base = private_dir(uid=uid)
    except BaseException:
        release_uid(uid, uid_pool)
        raise
    try:
        work = base / "work"
        work.mkdir(mode=0o700)
        (base / "harness.py").write_text(_HARNESS)
        for name, content in (files or {}).items():
            target = work / names[name]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        if uid is not None:
            for path in (work, *(p for p in work.rglob("*"))):
                os.chown(path, uid, uid)
        socket_path = None
        if proxy is not None:
            socket_path = base / "proxy.sock"
            await proxy.start(socket_path)
            if uid is not None:
                os.chown(socket_path, uid, uid)
        request = {"source": source, "function": function, "arguments": arguments, "paths": interpreter.paths}
        if proxy is not None:
            request["proxy"] = PROXY_SOCKET
        try:
            json.dumps(arguments, allow_nan=False)
            payload = marshal.dumps(request)  # the harness reads marshal: no json import inside (start time)
        except (TypeError, ValueError) as exc:
            return Result(ok=False, error_kind="invalid_result", error=f"arguments are not JSON: {exc}")
        binds = [*interpreter.binds, (str(base / "harness.py"), "/opt/axops/harness.py")]
        read_fd, write_fd = os.pipe()
        command = [interpreter.executable, "-I", "-S", "/opt/axops/harness.py", str(write_fd)]
        plan = bwrap_argv(
            command,
            workdir=work,
            stage_dir=base,
            ro_binds=binds,
            env=dict(interpreter.env),
            proxy_socket=socket_path,
            bwrap=bwrap,
            uid=uid,
        )
        try:
            pre = preexec(limits, plan.stage, uid=uid)
            result = await _execute(plan.argv, pre, payload, read_fd, write_fd, limits)
        finally:
            if proxy is not None:
                await proxy.close()
        if proxy is not None:
            result.refused_hosts = proxy.refused
            if proxy.refused:
                result.stderr += "".join(f"\n[sandbox] proxy refused: {line}" for line in proxy.refused)
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result
    finally:
        remove(base)
        # The uid goes back once bwrap has exited; processes of a killed namespace may still be dying,
        # but the next lease picks at random among a million, so they don't count against another run.
        release_uid(uid, uid_pool)


class _Capture:
    """Reads stdout, stderr and the result pipe with one budget; keeps the tails."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.exceeded = asyncio.Event()
        self.used = 0

    async def read(self, reader: asyncio.StreamReader, keep: int) -> bytes:
        kept = bytearray()
        while chunk := await reader.read(65536):
            self.used += len(chunk)
            if self.used > self.budget:
                # Keep draining to EOF (the process is being killed): asyncio's wait() needs every pipe closed.
                self.exceeded.set()
                continue
            kept += chunk
            if len(kept) > keep:
                del kept[: len(kept) - keep]
        return bytes(kept)


async def _execute(
    argv: list[str], pre: Callable[[], None], payload: bytes, read_fd: int, write_fd: int, limits: Limits
) -> Result:
    loop = asyncio.get_running_loop()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(write_fd,),
            preexec_fn=pre,
            start_new_session=True,
        )
    except OSError as exc:
        os.close(read_fd)
        return Result(ok=False, error_kind="unavailable", error=f"cannot start the sandbox: {exc}")
    finally:
        os.close(write_fd)
    result_reader = asyncio.StreamReader(limit=2**31)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(result_reader), os.fdopen(read_fd, "rb", 0)
    )
    capture = _Capture(limits.output_bytes)
    assert proc.stdin and proc.stdout and proc.stderr

    async def feed() -> None:
        with contextlib.suppress(OSError):
            proc.stdin.write(payload)
            await proc.stdin.drain()
            proc.stdin.close()

    readers = asyncio.gather(
        capture.read(proc.stdout, _TAIL),
        capture.read(proc.stderr, _TAIL),
        capture.read(result_reader, limits.output_bytes),
        feed(),
    )
    exceeded = asyncio.ensure_future(capture.exceeded.wait())
    finished = asyncio.ensure_future(asyncio.gather(readers, proc.wait()))
    kind = None
    try:
        done, _ = await asyncio.wait({finished, exceeded}, timeout=limits.wall_s, return_when="FIRST_COMPLETED")
        if exceeded in done:
            kind = "output_too_large"
        elif finished not in done:
            kind = "timeout"
    finally:
        if kind is not None or not finished.done():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # bwrap's pid 1 dies with it, and the namespace's processes
        exceeded.cancel()
        try:
            (out, err, raw, _), code = await asyncio.wait_for(finished, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            out, err, raw, code = b"", b"", b"", None
        transport.close()
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    if kind == "timeout":
        return Result(
            ok=False, error_kind=kind, error=f"wall clock limit of {limits.wall_s}s", stdout=stdout, stderr=stderr
        )
    if kind == "output_too_large":
        message = f"more than {limits.output_bytes} bytes of output"
        return Result(ok=False, error_kind=kind, error=message, stdout=stdout, stderr=stderr)
    if raw:
        try:
            envelope = json.loads(raw)
            envelope["error_kind"] if not envelope["ok"] else envelope["value"]
        except (ValueError, KeyError, TypeError):
            return Result(ok=False, error_kind="invalid_result", error="the result channel held no envelope")
        if envelope.get("ok"):
            return Result(ok=True, value=envelope["value"], stdout=stdout, stderr=stderr)
        if envelope.get("trace"):
            stderr = (stderr + envelope["trace"])[-_TAIL:]
        return Result(
            ok=False, error=envelope["error"], error_kind=envelope["error_kind"], stdout=stdout, stderr=stderr
        )
    return _died(code, limits, stdout, stderr)


def _died(code: int | None, limits: Limits, stdout: str, stderr: str) -> Result:
    """No envelope: the process was killed, or crashed."""
    sig = code - _SIGNAL_EXIT if code is not None and code > _SIGNAL_EXIT else None
    if "MemoryError" in stderr or "bad_alloc" in stderr or "Cannot allocate memory" in stderr:
        kind, error = "memory", f"memory limit of {limits.memory_mb} MB"
    elif sig == signal.SIGXCPU:
        kind, error = "cpu", f"CPU time limit of {limits.cpu_s}s"
    elif sig == signal.SIGKILL:
        kind, error = "cpu", f"killed: CPU time hard limit ({limits.cpu_s + 1}s) or out of memory"
    elif sig is not None:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        kind, error = "crash", f"killed by signal {name}"
    else:
        kind, error = "crash", f"the process exited with status {code} before returning"
    return Result(ok=False, error_kind=kind, error=error, stdout=stdout, stderr=stderr)
