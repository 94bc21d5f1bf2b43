"""The walls a python grader's code runs inside: entered by _python_worker.py before
it loads the suite's code, so everything the code does happens behind them.

Built from what any Linux (5.13+) gives an unprivileged process, so the same walls
hold when the bot runs as root (CI, this repo's dev machines) and as the non-root
user of deploy/Dockerfile, where Docker's default seccomp profile forbids user
namespaces (bubblewrap cannot start there) but allows these calls:

- Landlock: the filesystem shrinks to Python's own install (read-only), a few /dev
  files and a private scratch dir (read-write). No /proc (so no /proc/<bot>/environ),
  no database file, no suite folders, no /etc, no writes anywhere else. On ABI 4+
  TCP bind/connect are refused too; on ABI 6+ signals and abstract unix sockets stay
  inside the sandbox (the bot cannot be signalled, even under the same uid).
- seccomp: no socket() at all (no network, not even a unix socket to PostgreSQL),
  no new processes (fork, vfork, clone without CLONE_THREAD) and no exec, no ptrace
  or reading other processes' memory, no raising of limits, no namespaces or mounts.
- capabilities dropped (root keeps its uid but loses every privilege), no_new_privs.
- rlimits: address space (memory) and CPU seconds.

The bot side (python_grader.py) adds the rest: an empty environment, an empty
scratch cwd, its own session and process group killed with its sample.

If Landlock or seccomp cannot be set up, `enter` raises SandboxUnavailable and the
worker refuses to load the code: python graders then error with that reason
instead of running unconfined. Weaker-but-safe cases (Landlock below ABI 6) come
back as warnings the bot logs.

Standard library only: this file is loaded by path in the worker, before any
project package, and must not import the bot or the commands package.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import struct
import sys
from collections.abc import Iterable

__all__ = ["SandboxUnavailable", "enter"]


class SandboxUnavailable(Exception):
    """The platform cannot confine grader code; the message says what is missing."""


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]

# -- syscall numbers ------------------------------------------------------------------

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# name -> (x86_64, aarch64); None where the architecture has no such call.
_NR: dict[str, tuple[int | None, int | None]] = {
    "socket": (41, 198),
    "fork": (57, None),
    "vfork": (58, None),
    "clone": (56, 220),
    "clone3": (435, 435),
    "execve": (59, 221),
    "execveat": (322, 281),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438),
    "setrlimit": (160, 164),
    "prlimit64": (302, 261),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "unshare": (272, 97),
    "setns": (308, 268),
    "io_uring_setup": (425, 425),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "landlock_create_ruleset": (444, 444),
    "landlock_add_rule": (445, 445),
    "landlock_restrict_self": (446, 446),
    "capset": (126, 91),
}
# Refused outright with EPERM once the sandbox is up.
_DENIED = (
    "socket",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "setrlimit",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "io_uring_setup",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
)
_PROCESS_CALLS = ("fork", "vfork")
_CLONE_THREAD = 0x00010000


def _arch() -> str:
    machine = platform.machine()
    if machine not in _AUDIT_ARCH:
        raise SandboxUnavailable(f"no seccomp filter written for the {machine} architecture")
    return machine


def _nr(name: str, arch: str) -> int | None:
    x86, arm = _NR[name]
    return x86 if arch == "x86_64" else arm


# -- seccomp --------------------------------------------------------------------------

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_X32_BIT = 0x40000000


def _ret_errno(code: int) -> int:
    return 0x00050000 | code


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _filter(arch: str, *, deny_processes: bool) -> list[bytes]:
    """BPF: kill a foreign ABI, refuse the denied calls, allow the rest."""
    args0_low = 16  # seccomp_data.args[0], low half (little endian on both arches)
    args2_low, args2_high = 32, 36
    prog = [
        _insn(_LD_W_ABS, 0, 0, 4),  # arch
        _insn(_JEQ_K, 1, 0, _AUDIT_ARCH[arch]),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, 0),  # syscall number
    ]
    if arch == "x86_64":  # the x32 ABI reaches the same calls under other numbers
        prog += [_insn(_JGE_K, 0, 1, _X32_BIT), _insn(_RET_K, 0, 0, _ret_errno(errno.EPERM))]
    denied = [n for n in _DENIED if deny_processes or n not in (*_PROCESS_CALLS, "execve")]
    for name in denied:
        number = _nr(name, arch)
        if number is not None:
            prog += [_insn(_JEQ_K, 0, 1, number), _insn(_RET_K, 0, 0, _ret_errno(errno.EPERM))]
    # clone3 hides its flags in memory seccomp cannot read: ENOSYS makes libc fall back
    # to clone, whose flags we can check.
    prog += [
        _insn(_JEQ_K, 0, 1, _NR["clone3"][0] or 0),
        _insn(_RET_K, 0, 0, _ret_errno(errno.ENOSYS)),
    ]
    if deny_processes:
        # clone: a thread (CLONE_THREAD) may start, a process may not.
        prog += [
            _insn(_JEQ_K, 0, 3, _nr("clone", arch) or 0),
            _insn(_LD_W_ABS, 0, 0, args0_low),
            _insn(_JSET_K, 1, 0, _CLONE_THREAD),
            _insn(_RET_K, 0, 0, _ret_errno(errno.EPERM)),
            _insn(_LD_W_ABS, 0, 0, 0),
        ]
    # prlimit64 reads limits too (getrlimit uses it): refuse only when it sets one.
    prog += [
        _insn(_JEQ_K, 0, 5, _nr("prlimit64", arch) or 0),
        _insn(_LD_W_ABS, 0, 0, args2_low),
        _insn(_JEQ_K, 0, 2, 0),
        _insn(_LD_W_ABS, 0, 0, args2_high),
        _insn(_JEQ_K, 1, 0, 0),
        _insn(_RET_K, 0, 0, _ret_errno(errno.EPERM)),
        _insn(_RET_K, 0, 0, _RET_ALLOW),
    ]
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def _install_seccomp(arch: str, *, deny_processes: bool) -> None:
    prog = _filter(arch, deny_processes=deny_processes)
    code = b"".join(prog)
    fprog = _SockFprog(len(prog), code)
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        raise SandboxUnavailable(f"seccomp filter refused: {os.strerror(ctypes.get_errno())}")


# -- Landlock -------------------------------------------------------------------------

_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 2, 4, 8
_FS_ALL_V1 = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_ALL = 0b11  # bind and connect TCP
_SCOPE_ALL = 0b11  # abstract unix sockets, signals
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR


def _landlock_abi() -> int:
    abi = _libc.syscall(_NR["landlock_create_ruleset"][0], None, ctypes.c_size_t(0), 1)
    if abi < 1:
        why = os.strerror(ctypes.get_errno())
        raise SandboxUnavailable(f"Landlock is not available ({why}); Linux 5.13+ with it enabled")
    return int(abi)


def _handled_fs(abi: int) -> int:
    rights = _FS_ALL_V1
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def _allow(ruleset: int, path: str, rights: int, handled: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # absent on this system: nothing to allow
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        attr = struct.pack("=Qi", rights & handled, fd)
        if _libc.syscall(_NR["landlock_add_rule"][0], ruleset, 1, attr, 0) != 0:
            raise SandboxUnavailable(f"Landlock rule for {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def _readable_roots() -> list[str]:
    """Python's own install and the system's shared libraries, never the filesystem root."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots |= {"/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/usr/share"}
    return sorted(r for r in roots if os.path.realpath(r) != "/")


def _install_landlock(abi: int, scratch: str, readable: Iterable[str]) -> None:
    handled = _handled_fs(abi)
    fields = [handled]
    if abi >= 4:
        fields.append(_NET_ALL)
    if abi >= 6:
        fields.append(_SCOPE_ALL)
    attr = struct.pack(f"={len(fields)}Q", *fields)
    ruleset = _libc.syscall(_NR["landlock_create_ruleset"][0], attr, ctypes.c_size_t(len(attr)), 0)
    if ruleset < 0:
        raise SandboxUnavailable(f"Landlock ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for root in readable:
            _allow(ruleset, root, _READ, handled)
        for dev in ("/dev/urandom", "/dev/random", "/dev/zero", "/etc/ld.so.cache"):
            _allow(ruleset, dev, _FS_READ_FILE, handled)
        _allow(ruleset, "/dev/null", _FS_READ_FILE | _FS_WRITE_FILE, handled)
        _allow(ruleset, scratch, handled, handled)
        if _libc.syscall(_NR["landlock_restrict_self"][0], ruleset, 0) != 0:
            raise SandboxUnavailable(f"Landlock restrict: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(int(ruleset))


# -- capabilities and limits ------------------------------------------------------------

_CAP_VERSION_3 = 0x20080522


def _drop_capabilities() -> None:
    """Root keeps uid 0 (its files stay behind Landlock) but loses every privilege."""
    header = struct.pack("=Ii", _CAP_VERSION_3, 0)
    data = bytes(24)  # two zeroed {effective, permitted, inheritable} words
    if _libc.syscall(_NR["capset"][0], header, data) != 0:
        raise SandboxUnavailable(f"dropping capabilities: {os.strerror(ctypes.get_errno())}")


def _limit(memory_bytes: int | None, cpu_seconds: int | None) -> None:
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if cpu_seconds:
        # SIGXCPU at the soft limit (the code may catch it); SIGKILL a second later.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def enter(
    *,
    scratch: str,
    memory_bytes: int | None = None,
    cpu_seconds: int | None = None,
    deny_processes: bool = True,
    landlock: bool = True,
) -> list[str]:
    """Confine this process for good; returns warnings about weaker-than-full walls.

    `deny_processes` and `landlock` exist so tests can show each remaining guard
    holds on its own; the grader always enters with both on.
    """
    if sys.platform != "linux":
        raise SandboxUnavailable(f"python graders need Linux, not {sys.platform}")
    arch = _arch()
    warnings: list[str] = []
    abi = _landlock_abi() if landlock else 0
    _limit(memory_bytes, cpu_seconds)
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SandboxUnavailable(f"no_new_privs: {os.strerror(ctypes.get_errno())}")
    if landlock:
        _install_landlock(abi, scratch, _readable_roots())
        if abi < 6:
            warnings.append(
                f"Landlock ABI {abi} (kernel before 6.12): grader code may signal processes "
                "of the bot's own user"
            )
    _drop_capabilities()
    _install_seccomp(arch, deny_processes=deny_processes)
    return warnings
