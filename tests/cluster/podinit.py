"""The launcher of every test-node container, run as a script in the pod's network namespace.

The node starts `ip netns exec <pod ns> python podinit.py spec.json` (ip netns exec
bind-mounts the pod's /etc/hosts and resolv.conf). This script unshares mount, PID and UTS
namespaces and forks the container: PID 1 of its own PID namespace, with /proc remounted,
the pod's hostname, its own writable layer, the volumes bind-mounted, the working directory
entered, then an exec of the container's command with exactly the container's environment.

The host's filesystem plays the image. As a container runtime gives each container a fresh
writable layer, the directories a program writes to without a volume (the working directory,
/tmp, /var/tmp, HOME) get an overlay whose upper layer is this container's own scratch
directory, which the node deletes with the pod; every other disk mount is made read-only. So
a write outside the pod's volumes never survives the pod, as on a real kubelet. As in a real
container, SIGTERM to PID 1 without a handler is ignored, SIGKILL is not, and everything
in the namespace dies with PID 1. The launcher waits and exits with the container's code
(128 + signal number when a signal killed it). Only the standard library: it runs before
anything of the project is importable.
"""

import ctypes
import json
import os
import re
import signal
import socket
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _c(text: str | None) -> bytes | None:
    return text.encode() if text else None


#: Filesystems that are no disk of the host (left as they are; /dev/shm and the like stay writable).
PSEUDO_FILESYSTEMS = {
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
    "fusectl", "hugetlbfs", "mqueue", "nsfs", "proc", "pstore", "securityfs", "sysfs", "tmpfs", "tracefs",
}  # fmt: skip


def _mount(
    source: str | None, target: str, flags: int, fstype: str | None = None, data: str | None = None
) -> None:
    result = libc.mount(_c(source), _c(target), _c(fstype), flags, _c(data))
    _check(result, f"mount {source} on {target}")


def _unescape(field: str) -> str:
    """A path as /proc/self/mountinfo escapes it (space as \\040 and so on)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _read_only_image(writable: set[str]) -> None:
    """Remount every disk mount but `writable` read-only, in this mount namespace only."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    for line in lines:
        fields = line.split()
        target, options = _unescape(fields[4]), fields[5].split(",")
        fstype = fields[fields.index("-") + 1]
        if fstype in PSEUDO_FILESYSTEMS or target in writable or "ro" in options:
            continue
        _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)


def container(spec: dict) -> None:
    """Become the container: runs as PID 1 of the new namespaces and execs the command."""
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "prctl")  # die with the launcher
    _mount(None, "/", MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "proc")
    socket.sethostname(spec["hostname"])
    # Hold every source open before mounting anything: a volume mounted over a host directory
    # (an emptyDir on /tmp) would otherwise hide the sources of the volumes mounted after it.
    mounts = [
        (os.open(source, os.O_PATH | os.O_CLOEXEC), os.path.isdir(source), target, read_only)
        for source, target, read_only in spec["mounts"]
    ]
    image = [(os.open(path, os.O_PATH | os.O_CLOEXEC), path) for path in spec.get("image_paths", [])]
    layers = spec.get("layers", [])
    for target, upper, work in layers:
        _mount("overlay", target, 0, "overlay", f"lowerdir={target},upperdir={upper},workdir={work}")
    for fd, is_dir, target, read_only in mounts:
        if is_dir:
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        _mount(f"/proc/self/fd/{fd}", target, MS_BIND | MS_REC)
        if read_only:
            _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)
    # A container's image is never hidden by its volumes: put back the node's image paths that a
    # volume mounted over one of their parents hides.
    targets = [os.path.join(target, "") for _, _, target, _ in mounts]
    for fd, path in image:
        if any(path.startswith(target) for target in targets):
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, MS_BIND | MS_REC)
    if layers:
        _read_only_image({target for target, _, _ in layers} | {target for _, _, target, _ in mounts})
    os.chdir(spec["workdir"])
    argv = spec["argv"]
    if not argv:
        raise OSError("the container has no command (the test node does not know image entrypoints)")
    os.execvpe(argv[0], argv, spec["env"])


def main() -> int:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS), "unshare")
    pid = os.fork()
    if pid == 0:
        try:
            container(spec)
        except BaseException as error:
            print(f"test node: cannot start the container: {error}", file=sys.stderr, flush=True)
        os._exit(127)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
