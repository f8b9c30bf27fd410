"""The first program of every test-node container, run as a script inside the container's namespaces.

The node starts it as `ip netns exec <pod ns> unshare --pid --fork --kill-child --mount-proc
--uts -- python podinit.py spec.json`: network namespace of the pod (its /etc/hosts and
resolv.conf bind-mounted by ip netns exec), private mount, PID and UTS namespaces. It sets
the hostname, bind-mounts the pod's volumes, enters the working directory and execs the
container's command with exactly the container's environment; the command then is PID 1
of its namespace, as in a container (SIGTERM without a handler is ignored, SIGKILL is not).
Only the standard library: it runs before anything of the project is importable.
"""

import ctypes
import json
import os
import socket
import sys

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384


def _mount(libc: ctypes.CDLL, source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source else None
    if libc.mount(src, target.encode(), None, flags, None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def main() -> int:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    libc = ctypes.CDLL(None, use_errno=True)
    socket.sethostname(spec["hostname"])
    for source, target, read_only in spec["mounts"]:
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        _mount(libc, source, target, MS_BIND | MS_REC)
        if read_only:
            _mount(libc, None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)
    os.chdir(spec["workdir"])
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as error:
        print(f"test node: cannot start {argv[0]!r}: {error}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
