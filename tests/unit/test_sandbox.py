"""The sandbox's allowlist rules and command line, without starting bwrap (tests/security/test_sandbox.py
runs the real thing)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from axops.sandbox import isolation
from axops.sandbox.isolation import DEFAULT_POOL, Limits, UidPool, bwrap_argv, leased_uid, preexec, private_dir
from axops.sandbox.proxy import AllowlistProxy, Refused, parse_entry
from axops.sandbox.runner import wrap


def test_allowlist_entries_parse_with_default_ports() -> None:
    assert parse_entry("API.example.com").ports == (80, 443)
    assert parse_entry("api.example.com:8443").ports == (8443,)
    assert str(parse_entry("[::1]:8080").literal) == "::1"
    assert str(parse_entry("127.0.0.1:9000").literal) == "127.0.0.1"
    for bad in ("", "*", "a.*.com", "host:0", "host:70000", "host:x"):
        with pytest.raises(ValueError):
            parse_entry(bad)


async def test_the_proxy_admits_only_listed_hosts_and_public_addresses_for_wildcards(monkeypatch) -> None:
    answers = {"db.corp.example": "10.0.0.5", "api.corp.example": "93.184.216.34", "meta.corp.example": "169.254.1.1"}
    real = asyncio.get_running_loop().getaddrinfo

    async def dns(host, port, **kw):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return await real(host, port, **kw)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", dns)
    listed = ["127.0.0.1:9000", "*.corp.example", "localhost:8080", "169.254.169.254:80", "meta.corp.example"]
    proxy = AllowlistProxy(listed)
    assert await proxy.resolve("127.0.0.1", 9000) == "127.0.0.1"
    assert await proxy.resolve("localhost", 8080) in ("127.0.0.1", "::1")  # named exactly: internal is fine
    assert await proxy.resolve("169.254.169.254", 80) == "169.254.169.254"  # the literal IP only
    with pytest.raises(Refused, match="not in the allowlist"):
        await proxy.resolve("127.0.0.1", 9001)
    with pytest.raises(Refused, match="not in the allowlist"):
        await proxy.resolve("evil.example.com", 443)
    with pytest.raises(Refused, match="not in the allowlist"):
        await proxy.resolve("corp.example", 443)  # the wildcard covers subdomains, not the name itself
    assert await proxy.resolve("api.corp.example", 443) == "93.184.216.34"
    with pytest.raises(Refused, match="non-public"):
        await proxy.resolve("db.corp.example", 443)  # a wildcard never reaches a private address
    with pytest.raises(Refused, match="non-public"):
        await proxy.resolve("meta.corp.example", 443)  # link-local needs its literal IP, even named exactly
    with pytest.raises(Refused, match="does not resolve"):
        await proxy.resolve("nowhere.corp.example", 443)


def test_the_command_line_isolates_and_binds_only_what_is_named(tmp_path: Path) -> None:
    plan = bwrap_argv(["/usr/bin/true"], workdir=tmp_path, stage_dir=tmp_path, ro_binds=[("/usr/lib", "/opt/x")])
    argv = plan.argv
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    sources = [argv[i + 1] for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")]
    assert "/" not in sources and "/etc" not in sources and "/root" not in sources
    assert argv[argv.index("--bind") + 1 : argv.index("--bind") + 3] == [str(tmp_path), "/work"]
    assert argv.index("--remount-ro") > argv.index("--bind")
    assert argv[-1] == "/usr/bin/true"


def test_wrap_gives_no_network() -> None:
    with leased_uid() as uid:
        with pytest.raises(ValueError):
            wrap(["/usr/bin/true"], limits=Limits(), workdir=Path("/tmp"), allow_hosts=["example.com"], uid=uid)
        argv, preexec = wrap(["/usr/bin/true"], limits=Limits(), workdir=Path("/tmp"), uid=uid)
    assert "--unshare-all" in argv and callable(preexec)


def test_uids_are_unique_among_live_runs_and_come_back_on_release() -> None:
    pool = UidPool(first=2_000_000, count=8)
    leased = [pool.acquire() for _ in range(8)]
    assert sorted(leased) == list(range(2_000_000, 2_000_008))
    with pytest.raises(RuntimeError):
        pool.acquire()
    pool.release(leased[3])
    assert pool.acquire() == leased[3]
    assert 2_000_000 in pool and 2_000_008 not in pool
    for first, count in ((0, 10), (500, 10), (2**32 - 10, 100), (2_000_000, 0)):
        with pytest.raises(ValueError):
            UidPool(first=first, count=count)


def test_as_root_a_sandbox_needs_a_uid_of_its_own(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(isolation, "dropping", lambda: True)  # axops as root: no uid, no sandbox
    with pytest.raises(ValueError, match="uid of its own"):
        preexec(Limits(), uid=None)
    with leased_uid() as uid:
        assert uid in DEFAULT_POOL
        # the work directory belongs to the run's uid (giving it away needs root: as another user, its own)
        owner = uid if os.geteuid() == 0 else os.geteuid()
        assert private_dir(tmp_path, uid=owner).stat().st_uid == owner
    monkeypatch.setattr(isolation, "dropping", lambda: False)  # not root: it runs as axops's own user
    assert callable(preexec(Limits(), uid=None))
    with leased_uid() as uid:
        assert uid is None
