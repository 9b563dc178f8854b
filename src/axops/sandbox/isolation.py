"""The bubblewrap command line and the pre-exec step (limits, uid drop) shared by one-shot Python runs
and long-lived commands (MCP stdio servers).

When axops runs as root each sandbox runs as its own unprivileged uid, leased from a `UidPool`: root
ignores RLIMIT_NPROC, and the kernel counts that limit per uid, so with one shared uid a fork bomb in
one run would starve every other run. The sandbox uid cannot traverse a directory such as /root
(where a pyenv interpreter may live), and bwrap resolves bind sources as the calling user, so such
directories are first bind-mounted by root onto a staging directory in a private mount namespace of
the child (never visible on the host) and bwrap binds them from there.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# Sandbox uids: none needs an /etc/passwd entry, but the range must not be assigned to anything else on
# the host (real users, subuid ranges of containers, systemd-nspawn's private users).
UID_FIRST = 1_000_000
UID_COUNT = 1_000_000
PYTHON_ROOT = "/opt/python"
SITE_ROOT = "/opt/site"
PROXY_SOCKET = "/run/axops/proxy.sock"

_CLONE_NEWNS = 0x00020000
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18

# What a Python interpreter and the usual C extensions need; never /etc wholesale, never / or /root.
_SYSTEM_RO = ("/usr", "/etc/ld.so.cache", "/etc/ssl", "/etc/alternatives", "/etc/localtime", "/etc/mime.types")
_SYMLINKS = {"/lib": "usr/lib", "/lib64": "usr/lib64", "/bin": "usr/bin", "/sbin": "usr/sbin"}


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    processes: int = 32
    output_bytes: int = 1_000_000
    file_bytes: int = 50_000_000


def dropping() -> bool:
    """Whether the sandbox drops to an unprivileged uid (axops runs as root)."""
    return os.geteuid() == 0


class UidPool:
    """Host uids for sandboxes, one per live run, so the process limit is per run. Within this process
    no two live runs share a uid; across processes (several axops workers, pytest-xdist) each pick is
    random in a large range, so a clash is improbable (two live runs in a million uids)."""

    def __init__(self, first: int = UID_FIRST, count: int = UID_COUNT) -> None:
        if first < 1000 or count < 1 or first + count > 2**32 - 2:
            raise ValueError("a sandbox uid range must lie in [1000, 2**32 - 2)")
        self.first, self.count = first, count
        self._live: set[int] = set()
        self._lock = threading.Lock()
        self._random = random.SystemRandom()

    def acquire(self) -> int:
        with self._lock:
            if len(self._live) >= self.count:
                raise RuntimeError("every sandbox uid of the pool is in use")
            while (uid := self.first + self._random.randrange(self.count)) in self._live:
                pass
            self._live.add(uid)
            return uid

    def release(self, uid: int | None) -> None:
        with self._lock:
            self._live.discard(uid)

    def __contains__(self, uid: int) -> bool:
        return self.first <= uid < self.first + self.count


DEFAULT_POOL = UidPool()


def lease_uid(pool: UidPool | None = None) -> int | None:
    """A uid for one sandbox (give it back with `release_uid`), or None when axops isn't root (the
    sandbox then runs as axops's own user)."""
    return (pool or DEFAULT_POOL).acquire() if dropping() else None


def release_uid(uid: int | None, pool: UidPool | None = None) -> None:
    if uid is not None:
        (pool or DEFAULT_POOL).release(uid)


@contextlib.contextmanager
def leased_uid(pool: UidPool | None = None) -> Iterator[int | None]:
    uid = lease_uid(pool)
    try:
        yield uid
    finally:
        release_uid(uid, pool)


def _libc():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    libc.unshare.argtypes = [ctypes.c_int]
    return libc


_LIBC = _libc()


def _reachable_by_sandbox(path: str, uid: int | None) -> bool:
    """Whether the sandbox's uid can traverse to `path` (bwrap resolves bind sources as that user)."""
    if not dropping():
        return True
    parts = Path(path).parts
    current = Path("/")
    for part in parts[1:]:
        st = current.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)):
            return False
        current = current / part
    return True


def preexec(limits: Limits, stage: Sequence[tuple[str, str]] = (), *, uid: int | None) -> Callable[[], None]:
    """What runs in the child between fork and exec: stage unreachable binds, set limits, drop to `uid`
    (from `lease_uid`; None only when axops isn't root)."""
    if dropping() and uid is None:
        raise ValueError("running as root, a sandbox needs a uid of its own (lease_uid)")
    drop = dropping()
    staged = [(os.fsencode(src), os.fsencode(dst)) for src, dst in stage]
    memory = limits.memory_mb * 1024 * 1024
    rlimits = [
        (resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1)),
        (resource.RLIMIT_AS, (memory, memory)),
        (resource.RLIMIT_NPROC, (limits.processes, limits.processes)),
        (resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NOFILE, (256, 256)),
    ]

    def run() -> None:
        if staged:
            if _LIBC.unshare(_CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
            # Private first, so the staging binds never propagate to the host's mount namespace.
            if _LIBC.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
                raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
            for src, dst in staged:
                if _LIBC.mount(src, dst, None, _MS_BIND | _MS_REC, None) != 0:
                    raise OSError(ctypes.get_errno(), "bind mount")
        for which, value in rlimits:
            resource.setrlimit(which, value)
        if drop:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)

    return run


@dataclass
class Plan:
    """A bwrap argv, the binds root must stage first, and the environment inside."""

    argv: list[str]
    stage: list[tuple[str, str]]


def bwrap_argv(
    command: Sequence[str],
    *,
    workdir: Path,
    stage_dir: Path | None,
    ro_binds: Sequence[tuple[str, str]] = (),
    env: dict[str, str] | None = None,
    proxy_socket: Path | None = None,
    bwrap: str = "bwrap",
    uid: int | None = None,
) -> Plan:
    """`ro_binds` are (host path, sandbox path); those the sandbox's `uid` can't reach are staged under
    `stage_dir` (which that uid must be able to traverse)."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/work", "LANG": "C.UTF-8"}
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    environment.update(env or {})
    for key, value in environment.items():
        argv += ["--setenv", key, value]
    for path in _SYSTEM_RO:
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for link, target in _SYMLINKS.items():
        if os.path.islink(link):
            argv += ["--symlink", target, link]
    stage: list[tuple[str, str]] = []
    for index, (source, target) in enumerate(ro_binds):
        if not _reachable_by_sandbox(source, uid):
            if stage_dir is None:
                raise ValueError(f"{source} is not reachable by the sandbox user")
            staged = stage_dir / f"bind{index}"
            staged.mkdir(mode=0o755, exist_ok=True)
            stage.append((source, str(staged)))
            source = str(staged)
        argv += ["--ro-bind", source, target]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    if proxy_socket is not None:
        argv += ["--ro-bind", str(proxy_socket), PROXY_SOCKET]
    # The sandbox's own root is a tmpfs: read-only once every mount point is made; /tmp and /work stay writable.
    argv += ["--bind", str(workdir), "/work", "--remount-ro", "/", "--chdir", "/work", *command]
    return Plan(argv, stage)


def private_dir(parent: Path | None = None, *, uid: int | None) -> Path:
    """A fresh directory, mode 0700, owned by the sandbox's `uid`."""
    path = Path(tempfile.mkdtemp(prefix="axops-sandbox-", dir=parent))
    if uid is not None:
        os.chown(path, uid, uid)
    return path


def remove(path: Path) -> None:
    """Remove a run's directory even if the code inside made parts of it unreadable."""

    def retry(function, name, _exc) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), 0o700)
            os.chmod(name, 0o700)
            function(name)

    shutil.rmtree(path, onexc=retry) if sys.version_info >= (3, 12) else shutil.rmtree(path, onerror=retry)


_available: dict[str, bool] = {}


def available(bwrap: str = "bwrap") -> bool:
    """bwrap is installed and can make the namespaces (as a sandbox uid); cached per binary."""
    if bwrap not in _available:
        with leased_uid() as uid:
            base = private_dir(uid=uid)
            try:
                plan = bwrap_argv(["/usr/bin/true"], workdir=base, stage_dir=None, bwrap=bwrap, uid=uid)
                pre = preexec(Limits(), uid=uid)
                done = subprocess.run(plan.argv, preexec_fn=pre, capture_output=True, timeout=10, check=False)
                _available[bwrap] = done.returncode == 0
            except (OSError, subprocess.SubprocessError):
                _available[bwrap] = False
            finally:
                remove(base)
    return _available[bwrap]
