"""The bubblewrap command line and the pre-exec step (limits, uid drop) shared by one-shot Python runs
and long-lived commands (MCP stdio servers).

When axops runs as root the sandbox runs as `nobody` (65534): root ignores RLIMIT_NPROC, so a fork
bomb would only be stopped by the wall clock. `nobody` cannot traverse a directory such as /root
(where a pyenv interpreter may live), and bwrap resolves bind sources as the calling user, so such
directories are first bind-mounted by root onto a staging directory in a private mount namespace of
the child (never visible on the host) and bwrap binds them from there.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SANDBOX_UID = 65534
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
    """Whether the sandbox drops to `nobody` (axops runs as root)."""
    return os.geteuid() == 0


def _libc():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    libc.unshare.argtypes = [ctypes.c_int]
    return libc


_LIBC = _libc()


def _reachable_by_sandbox(path: str) -> bool:
    """Whether uid 65534 can traverse to `path` (bwrap resolves bind sources as that user)."""
    if not dropping():
        return True
    parts = Path(path).parts
    current = Path("/")
    for part in parts[1:]:
        st = current.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == SANDBOX_UID and st.st_mode & 0o100)):
            return False
        current = current / part
    return True


def preexec(limits: Limits, stage: Sequence[tuple[str, str]] = ()) -> Callable[[], None]:
    """What runs in the child between fork and exec: stage unreachable binds, set limits, drop to nobody."""
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
            os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
            os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)

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
) -> Plan:
    """`ro_binds` are (host path, sandbox path); those `nobody` can't reach are staged under `stage_dir`."""
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
        if not _reachable_by_sandbox(source):
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


def private_dir(parent: Path | None = None) -> Path:
    """A fresh directory, mode 0700, owned by the sandbox user."""
    path = Path(tempfile.mkdtemp(prefix="axops-sandbox-", dir=parent))
    if dropping():
        os.chown(path, SANDBOX_UID, SANDBOX_UID)
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
    """bwrap is installed and can make the namespaces (as the sandbox user); cached per binary."""
    if bwrap not in _available:
        base = private_dir()
        try:
            plan = bwrap_argv(["/usr/bin/true"], workdir=base, stage_dir=None, bwrap=bwrap)
            done = subprocess.run(plan.argv, preexec_fn=preexec(Limits()), capture_output=True, timeout=10, check=False)
            _available[bwrap] = done.returncode == 0
        except (OSError, subprocess.SubprocessError):
            _available[bwrap] = False
        finally:
            remove(base)
    return _available[bwrap]
