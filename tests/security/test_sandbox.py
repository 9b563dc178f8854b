"""Escape attempts from the Python sandbox (real bubblewrap, real processes, real sockets): each is
refused, and the run ends with the right error kind."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import textwrap
import time

import pytest
from aiohttp import web

from axops.sandbox.isolation import DEFAULT_POOL, preexec
from axops.sandbox.runner import Limits, UidPool, available, run_python

FAST = Limits(wall_s=8, cpu_s=3, memory_mb=512, processes=16, output_bytes=1_000_000, file_bytes=1_000_000)


def _src(code: str) -> str:
    return textwrap.dedent(code)


@pytest.fixture(scope="module", autouse=True)
def _bwrap() -> None:
    assert available(), "bubblewrap must work here: apt-get install bubblewrap (unprivileged user namespaces on)"


async def _listener() -> tuple[asyncio.Server, int]:
    async def greet(reader, writer):
        writer.write(b"host secret\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_function_returns_a_dict_and_its_prints_stay_apart() -> None:
    source = "def add(a, b):\n    print('{\"ok\": false}')\n    return {'sum': a + b, 'items': [a, b]}\n"
    result = await run_python(source, "add", {"a": 2, "b": 3}, limits=FAST)
    assert result.ok, result
    assert result.value == {"sum": 5, "items": [2, 3]}
    assert result.stdout == '{"ok": false}\n'
    assert result.duration_ms > 0


async def test_an_exception_carries_its_message() -> None:
    result = await run_python("def f(x):\n    raise ValueError(f'bad {x}')\n", "f", {"x": "input"}, limits=FAST)
    assert not result.ok
    assert result.error_kind == "exception"
    assert result.error == "ValueError: bad input"
    assert "ValueError" in result.stderr


async def test_missing_function_and_non_json_results() -> None:
    missing = await run_python("x = 1\n", "f", {}, limits=FAST)
    assert (missing.ok, missing.error_kind) == (False, "exception")
    assert "no function named 'f'" in missing.error
    odd = await run_python("def f():\n    return {'a': object()}\n", "f", {}, limits=FAST)
    assert (odd.ok, odd.error_kind) == (False, "invalid_result")
    nan = await run_python("def f():\n    return float('nan')\n", "f", {}, limits=FAST)
    assert nan.error_kind == "invalid_result"


async def test_files_are_in_the_work_dir_and_bad_names_are_refused() -> None:
    source = "def f():\n    return open('data/rows.csv').read()\n"
    result = await run_python(source, "f", {}, files={"data/rows.csv": b"a,b\n1,2\n"}, limits=FAST)
    assert result.value == "a,b\n1,2\n"
    for bad in ("../escape", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            await run_python(source, "f", {}, files={bad: b"x"}, limits=FAST)


async def test_no_socket_reaches_the_host_or_the_outside() -> None:
    server, port = await _listener()
    async with server:
        # The listener is really there: the host reaches it.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.readline() == b"host secret\n"
        writer.close()
        source = _src(f"""
            import socket
            def f():
                out = {{}}
                for host, port in [("127.0.0.1", {port}), ("127.0.0.1", 5432), ("1.1.1.1", 53), ("8.8.8.8", 443)]:
                    try:
                        socket.create_connection((host, port), timeout=2).close()
                        out[f"{{host}}:{{port}}"] = "connected"
                    except OSError as exc:
                        out[f"{{host}}:{{port}}"] = type(exc).__name__
                out["interfaces"] = sorted(name for _, name in socket.if_nameindex())
                return out
        """)
        result = await run_python(source, "f", {}, limits=FAST)
    assert result.ok, result
    assert "connected" not in result.value.values(), result.value
    assert result.value["interfaces"] == ["lo"]


async def test_host_files_secrets_and_environment_are_not_visible(tmp_path, monkeypatch) -> None:
    data_dir = tmp_path / "axops-data"
    data_dir.mkdir()
    (data_dir / "secret.key").write_text("do-not-leak")
    monkeypatch.setenv("AXOPS_SECRET_KEY", "do-not-leak-either")
    monkeypatch.setenv("AXOPS_DATABASE_URL", "postgresql://u:p@db/axops")
    source = _src(f"""
        import os
        def f():
            seen = {{}}
            for path in [{str(data_dir / "secret.key")!r}, {str(data_dir)!r}, "/etc/shadow", "/etc/passwd", "/root",
                         {os.getcwd()!r}, "/work/main", "/home"]:
                seen[path] = os.path.exists(path)
            pids = [p for p in os.listdir("/proc") if p.isdigit()]
            return {{"seen": seen, "env": dict(os.environ), "pids": len(pids), "uid": os.getuid(),
                     "hostname": os.uname().nodename}}
        """)
    result = await run_python(source, "f", {}, limits=FAST)
    assert result.ok, result
    assert not any(result.value["seen"].values()), result.value["seen"]
    env = result.value["env"]
    assert not [key for key in env if key.startswith("AXOPS")]
    assert "do-not-leak" not in str(env)
    assert env["HOME"] == "/work"
    assert result.value["pids"] <= 3  # the namespace's own processes, not the host's
    assert result.value["hostname"] == "sandbox"
    if os.geteuid() == 0:
        assert result.value["uid"] in DEFAULT_POOL


async def test_writing_outside_the_work_dir_fails_and_file_size_is_bounded() -> None:
    source = _src("""
        import os
        def f():
            out = {}
            for path in ["/usr/evil", "/etc/evil", "/opt/python/evil", "/evil", "/opt/axops/harness.py", "/proc/evil",
                         "/tmp/../evil"]:
                try:
                    with open(path, "w") as fh:
                        fh.write("x")
                    out[path] = "written"
                except OSError as exc:
                    out[path] = type(exc).__name__
            for path in ["/work/ok.txt", "/tmp/ok.txt"]:
                with open(path, "w") as fh:
                    fh.write("fine")
            try:
                with open("/work/big", "wb") as fh:
                    fh.write(b"x" * 2_000_000)
                out["big"] = "written"
            except OSError as exc:
                out["big"] = exc.strerror
            return out
    """)
    result = await run_python(source, "f", {}, limits=FAST)
    assert result.ok, result
    assert "written" not in result.value.values(), result.value
    assert result.value["big"] == "File too large"


async def test_a_fork_bomb_is_bounded_and_the_host_is_fine() -> None:
    source = _src("""
        import os, time
        def f():
            forks = 0
            try:
                while True:
                    if os.fork() == 0:
                        time.sleep(60)
                        os._exit(0)
                    forks += 1
            except OSError as exc:
                return {"forks": forks, "error": type(exc).__name__}
    """)
    result = await run_python(source, "f", {}, limits=FAST)
    assert result.ok, result
    assert result.value["error"] == "BlockingIOError"
    assert result.value["forks"] < FAST.processes
    # A real bomb (every child forks too) runs until the wall clock, then the namespace is gone.
    bomb = "import os\ndef f():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n"
    pool = _own_pool()
    ended = await run_python(bomb, "f", {}, limits=Limits(wall_s=2, cpu_s=2, processes=16), uid_pool=pool)
    assert not ended.ok
    assert ended.error_kind in ("timeout", "cpu")
    if os.geteuid() == 0:  # its uid is its own, so the host can tell its processes are all gone
        await _until(lambda: not _processes_by_uid(pool), timeout=15)
    after = await run_python("def f():\n    return 'alive'\n", "f", {}, limits=FAST)
    assert after.value == "alive"


async def test_an_endless_loop_hits_the_cpu_limit_and_a_sleep_the_wall_clock() -> None:
    spin = await run_python("def f():\n    while True:\n        pass\n", "f", {}, limits=Limits(wall_s=10, cpu_s=1))
    assert (spin.ok, spin.error_kind) == (False, "cpu")
    sleep = await run_python("import time\ndef f():\n    time.sleep(60)\n", "f", {}, limits=Limits(wall_s=1, cpu_s=5))
    assert (sleep.ok, sleep.error_kind) == (False, "timeout")


async def test_gigabytes_of_output_stop_early_with_a_bounded_tail() -> None:
    source = "import sys\ndef f():\n    while True:\n        sys.stdout.write('x' * 65536)\n"
    result = await run_python(source, "f", {}, limits=Limits(wall_s=20, output_bytes=1_000_000))
    assert (result.ok, result.error_kind) == (False, "output_too_large")
    assert len(result.stdout) <= 64 * 1024
    big_value = await run_python("def f():\n    return 'y' * 2_000_000\n", "f", {}, limits=FAST)
    assert big_value.error_kind == "output_too_large"


async def test_memory_is_limited() -> None:
    source = "def f():\n    return len(bytearray(2 * 1024 ** 3))\n"
    result = await run_python(source, "f", {}, limits=Limits(memory_mb=256))
    assert (result.ok, result.error_kind) == (False, "memory")


async def test_only_allowlisted_hosts_are_reached_through_the_proxy() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.query.get('name', '')}")

    app = web.Application()
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    allowed, other = web.TCPSite(runner, "127.0.0.1", 0), web.TCPSite(runner, "127.0.0.1", 0)
    await allowed.start()
    await other.start()
    allowed_port = allowed._server.sockets[0].getsockname()[1]
    other_port = other._server.sockets[0].getsockname()[1]
    source = (
        _src("""
        import socket, urllib.error, urllib.request
        def f(urls):
            out = {}
            for url in urls:
                try:
                    out[url] = urllib.request.urlopen(url, timeout=5).read().decode()
                except urllib.error.HTTPError as exc:
                    out[url] = exc.code
                except OSError as exc:
                    out[url] = f"{type(exc).__name__}: {exc}"
            try:
                socket.create_connection(("127.0.0.1", %d), timeout=2).close()
                out["direct"] = "connected"
            except OSError as exc:
                out["direct"] = type(exc).__name__
            return out
    """)
        % allowed_port
    )
    urls = [
        f"http://127.0.0.1:{allowed_port}/hello?name=sandbox",
        f"http://127.0.0.1:{other_port}/hello",
        "http://example.com/",
        "https://example.com/",
        f"http://localhost:{allowed_port}/hello",
    ]
    try:
        result = await run_python(source, "f", {"urls": urls}, allow_hosts=[f"127.0.0.1:{allowed_port}"], limits=FAST)
        closed = await run_python(source, "f", {"urls": urls[:1]}, limits=FAST)
    finally:
        await runner.cleanup()
    assert result.ok, result
    out = result.value
    assert out[urls[0]] == "hello sandbox"
    assert out[urls[1]] == 403
    assert out[urls[2]] == 403
    assert "Tunnel connection failed: 403" in out[urls[3]]
    assert out[urls[4]] == 403
    assert out["direct"] != "connected"  # only the proxy path, never a direct socket
    assert any(f"127.0.0.1:{other_port}" in line for line in result.refused_hosts)
    assert any("example.com:443" in line for line in result.refused_hosts)
    # Without an allowlist there is no proxy at all.
    assert closed.value[urls[0]] != "hello sandbox"


AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes get uids of their own only when axops runs as root")

# Forks until the process limit refuses, then holds every process for `hold` seconds.
_HOLDER = _src("""
    import os, time
    def f(hold):
        forks = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                forks += 1
        except OSError as exc:
            error = type(exc).__name__
        full = time.time()
        time.sleep(hold)
        return {"forks": forks, "error": error, "full": full, "end": time.time(), "uid": os.getuid()}
""")


def _own_pool() -> UidPool:
    """A pool of this test's own, so the host-side scan below sees only this test's sandboxes."""
    return UidPool(first=3_000_000 + random.randrange(1_000_000) * 16, count=16)


def _processes_by_uid(pool: UidPool) -> dict[int, list[int]]:
    """Host pids of the processes whose real uid is in `pool`."""
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                uid = next(int(line.split()[1]) for line in fh if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if uid in pool:
            found.setdefault(uid, []).append(int(entry))
    return found


async def _until(condition, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out waiting for the sandbox"
        await asyncio.sleep(0.1)
    return value


@AS_ROOT
async def test_a_fork_bomb_does_not_starve_another_sandbox() -> None:
    pool = _own_pool()
    limits = Limits(wall_s=30, cpu_s=10, processes=16)
    bomb = asyncio.ensure_future(run_python(_HOLDER, "f", {"hold": 6}, limits=limits, uid_pool=pool))
    # Wait until the bomb holds (nearly) its whole process limit, seen from the host.
    await _until(lambda: any(len(pids) >= 12 for pids in _processes_by_uid(pool).values()))
    other = _src("""
        import os, time
        def f():
            children = []
            for _ in range(8):
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                children.append(pid)
            for pid in children:
                os.waitpid(pid, 0)
            return {"children": len(children), "at": time.time(), "uid": os.getuid()}
    """)
    second = await run_python(other, "f", {}, limits=Limits(wall_s=20, processes=16), uid_pool=pool)
    first = await bomb
    assert first.ok, first
    assert first.value["error"] == "BlockingIOError"
    assert second.ok, second
    assert second.value["children"] == 8
    assert first.value["uid"] != second.value["uid"]
    # The second sandbox forked while the first held every process it may have.
    assert first.value["full"] < second.value["at"] < first.value["end"]


@AS_ROOT
async def test_a_sandbox_cannot_signal_another_sandboxs_processes() -> None:
    pool = _own_pool()
    sleeper = _src("""
        import os, time
        def f():
            time.sleep(4)
            return {"uid": os.getuid(), "alive": True}
    """)
    victim = asyncio.ensure_future(run_python(sleeper, "f", {}, limits=Limits(wall_s=30), uid_pool=pool))
    # bwrap, its init in the new pid namespace, and the interpreter.
    pids = await _until(lambda: next((p for p in _processes_by_uid(pool).values() if len(p) >= 3), None))
    killer = _src("""
        import os, signal
        def f(pids):
            out = {}
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    out[str(pid)] = "killed"
                except OSError as exc:
                    out[str(pid)] = type(exc).__name__
            return out
    """)
    # The victim's host pids do not exist in the killer's pid namespace (a low one may name the killer's
    # own process there, so only pids above the handful a fresh namespace has are tried).
    targets = [pid for pid in pids if pid > 10]
    assert targets
    attack = await run_python(killer, "f", {"pids": targets}, limits=FAST, uid_pool=pool)
    result = await victim
    assert attack.ok, attack
    assert attack.value == {str(pid): "ProcessLookupError" for pid in targets}
    assert result.ok, result
    assert result.value["alive"] is True


@AS_ROOT
def test_outside_a_pid_namespace_the_uid_alone_refuses_a_signal() -> None:
    """The second layer: even sharing a pid namespace, one sandbox uid may not signal another's process."""
    first, second = DEFAULT_POOL.acquire(), DEFAULT_POOL.acquire()
    target = subprocess.Popen(["/usr/bin/sleep", "30"], preexec_fn=preexec(Limits(), uid=first))
    try:
        refused = subprocess.run(
            ["/usr/bin/kill", "-KILL", str(target.pid)],
            preexec_fn=preexec(Limits(), uid=second),
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode != 0
        assert "not permitted" in refused.stderr
        assert target.poll() is None
        # The same uid may (so the refusal above is the uid's doing, not the command's).
        allowed = subprocess.run(
            ["/usr/bin/kill", "-KILL", str(target.pid)], preexec_fn=preexec(Limits(), uid=first), check=False
        )
        assert allowed.returncode == 0
        assert target.wait(timeout=5) == -signal.SIGKILL
    finally:
        target.kill()
        target.wait()
        DEFAULT_POOL.release(first)
        DEFAULT_POOL.release(second)
