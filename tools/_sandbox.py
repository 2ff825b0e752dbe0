"""The supervisor of the ``python`` tool's child: namespaces where the kernel allows, a reaper where not.

This file runs as a script (``python -I _sandbox.py SPEC``), standard library only, as the process
the parent starts (the *supervisor*). It puts the user's program in a fresh set of Linux
namespaces, the way ``bubblewrap`` and ``unshare -Urpf --mount-proc`` do, without either binary:

- **user** namespace, the program's uid inside is non-zero, so the ``execve`` of the interpreter
  drops every capability: it cannot undo the mounts below;
- **PID** namespace, the program is PID 1 of its own tree and sees only that tree in a fresh
  ``/proc`` (an empty tmpfs if the kernel refuses a new procfs): the parent's
  ``/proc/<pid>/environ``, ``fd/``, ``mem`` and ``cwd`` do not exist for it. When PID 1 dies the
  kernel SIGKILLs every process left in the namespace, including ``setsid`` grandchildren that
  ignore SIGTERM, so one kill of PID 1 ends the whole tree;
- **mount** namespace, fresh tmpfs on ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (no shared temp
  directory; the program's cwd and ``HOME`` are a fresh folder in that ``/tmp``; an interpreter
  or venv installed under a temp directory stays visible there, read-only), and every other mount re-mounted
  read-only where the kernel lets us, so the program cannot change the user's files;
- **network** namespace (unless ``network`` is true), only a downed loopback: no route to servers
  the parent listens on (a local model, the simulator), to abstract Unix sockets, or out;
- **IPC** namespace: no System V shared memory or message queues in common with the parent.

Where ``unshare`` is refused (not Linux, user namespaces disabled, a seccomp profile), the
supervisor falls back to being a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): orphans of the
program re-parent to it, and at exit or deadline it SIGKILLs every descendant it can find,
``setsid`` ones included. That fallback does not hide ``/proc``, ``/tmp`` or the network, and a
program that kills the supervisor first can leave processes behind.

Protocol with the parent: SIGTERM means "time is up": kill the tree, then die by SIGKILL. The
supervisor also enforces ``time_limit + 2`` s itself, in case the parent is gone.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
_INSIDE_ID = 1000  # any non-zero id: the program runs without capabilities in its namespace
_FLAG_OF = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
}

_libc = ctypes.CDLL(None, use_errno=True)


class _Refused(Exception):
    """The kernel would not give us new namespaces: use the subreaper fallback."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _encode(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    result = _libc.mount(_encode(source), _encode(target), _encode(fstype), flags, _encode(data))
    _check(result, f"mount {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def _enter_namespaces(network: bool) -> None:
    """Unshare user, mount, PID, IPC (and network) namespaces; map our uid/gid to ``_INSIDE_ID``."""
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | (0 if network else CLONE_NEWNET)
    if _libc.unshare(flags) != 0:
        raise _Refused(os.strerror(ctypes.get_errno()))
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{_INSIDE_ID} {uid} 1")
    _write("/proc/self/gid_map", f"{_INSIDE_ID} {gid} 1")


def _mounts() -> list[tuple[str, int]]:
    """(mount point, per-mount flags) of every mount, from ``/proc/self/mountinfo``."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            flags = sum(_FLAG_OF.get(opt, 0) for opt in fields[5].split(","))
            found.append((point, flags))
    return found


def _tmpfs(target: str, size_mb: int) -> None:
    if os.path.isdir(target):
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=1777")


_WORKDIR = "/tmp/run"  # inside the fresh tmpfs: the program's cwd and HOME


def _interpreter_paths() -> list[str]:
    """Directories the program's interpreter needs: its prefixes and import path, outermost first."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable), *sys.path}
    real = sorted({os.path.realpath(p) for p in candidates if p and os.path.isdir(p)})
    outermost: list[str] = []
    for path in real:  # sorted, so a parent comes before its children
        if not any(path == kept or path.startswith(kept + "/") for kept in outermost):
            outermost.append(path)
    return outermost


def _build_filesystem(code: bytes, size_mb: int) -> None:
    """In the new mount namespace (as PID 1): read-only everything, fresh /proc and temp dirs."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for point, flags in _mounts():
        try:  # keep the locked flags (nosuid, nodev, ...) or the kernel refuses the remount
            _mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)
        except OSError:
            pass  # a mount the kernel will not let us touch stays as it was
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:  # a container that masks parts of /proc forbids a new procfs: hide it all
        _mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k")
    needed = _interpreter_paths()
    for target in ("/tmp", "/var/tmp", "/dev/shm"):
        # A Python (or venv) installed under a temp dir must stay visible, read-only, above the
        # fresh tmpfs: held by descriptor, then bound back through the new /proc.
        kept = [p for p in needed if p == target or p.startswith(target + "/")]
        held = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in kept}
        _tmpfs(target, size_mb)
        for path, fd in held.items():
            try:
                os.makedirs(path, exist_ok=True)
                _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
                try:
                    _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
                except OSError:
                    pass  # locked flags: the bind keeps the source mount's own (read-only) state
            finally:
                os.close(fd)
    # Its own folder: /tmp may also hold a kept interpreter path, which the program need not see.
    os.makedirs(_WORKDIR)
    os.chdir(_WORKDIR)
    with open("main.py", "wb") as f:
        f.write(code)


def _descendants(root: int) -> list[int]:
    """Every live descendant of ``root``, found through ``/proc/<pid>/stat`` parent links."""
    parent_of: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as f:
                    parent_of[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [], {root}
    while frontier:
        children = [pid for pid, ppid in parent_of.items() if ppid in frontier]
        tree += children
        frontier = set(children)
    return tree


def _reap_all() -> None:
    """Subreaper fallback: SIGKILL and reap descendants until none is left."""
    me = os.getpid()
    while True:
        for pid in _descendants(me):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _run_program(spec: dict[str, Any], env: dict[str, str]) -> None:
    os.execve(sys.executable, [sys.executable, "-I", "-c", spec["bootstrap"], *spec["argv"]], env)


def _die_like(status: int) -> None:
    """Exit with the child's status: its exit code, or death by the same signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os.kill(os.getpid(), signal.SIGKILL)  # a signal we did not die of (SIGSTOP, a blocked one)
    os._exit(os.waitstatus_to_exitcode(status))


def main(spec: dict[str, Any]) -> None:
    env = dict(os.environ)
    isolated = False
    try:
        if spec["namespaces"]:
            _enter_namespaces(bool(spec["network"]))
            isolated = True
    except _Refused:
        pass
    if not isolated:
        _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl")
    with open("main.py", "rb") as f:
        code = f.read()
    child = os.fork()
    if child == 0:
        try:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if isolated:
                _build_filesystem(code, int(spec["tmpfs_mb"]))
                env.update(HOME=_WORKDIR, TMPDIR="/tmp")
            _run_program(spec, env)
        except BaseException as exc:  # nothing may return into the supervisor's code
            os.write(2, f"sandbox: {exc}\n".encode())
        os._exit(127)

    def time_is_up(signum: int, frame: object) -> None:
        try:
            os.kill(child, signal.SIGKILL)  # as PID 1 of its namespace, it takes the tree with it
        except OSError:
            pass
        if not isolated:
            _reap_all()
        os.kill(os.getpid(), signal.SIGKILL)

    signal.signal(signal.SIGTERM, time_is_up)
    signal.signal(signal.SIGALRM, time_is_up)
    signal.setitimer(signal.ITIMER_REAL, float(spec["time_limit"]) + 2.0)
    _, status = os.waitpid(child, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    if not isolated:
        _reap_all()
    _die_like(status)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
