"""The pod network: one Linux bridge with a private subnet, one network namespace per pod.

The bridge's own address (the gateway) is where the apiserver listens, so pods reach it
the way they reach a Service. Pod namespaces get a veth into the bridge, an address from
the subnet and no default route: a pod can reach other pods and the gateway, nothing else.
Per-pod files in /etc/netns/<ns>/ (hosts, resolv.conf) are bind-mounted over /etc by
`ip netns exec`. Names carry the owning process id, so leftovers of a killed session are
found and removed by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

NETNS_DIR = Path("/etc/netns")
_LOCK = Path("/run/trainjob-network.lock")
_CANDIDATES = ipaddress.ip_network("10.201.0.0/16")
_NS_NAME = re.compile(r"^tj-(\d+)-\d+$")
_BRIDGE_NAME = re.compile(r"^tj(\d+)$")


def _ip(*args: str, check: bool = True) -> str:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True).stdout


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def sweep_leftovers() -> None:
    """Delete pod namespaces and bridges whose owning process is gone (a killed earlier run)."""
    for line in _ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        match = _NS_NAME.match(name)
        if match and not _alive(int(match.group(1))):
            _delete_netns(name)
    for line in _ip("-o", "link", "show", "type", "bridge").splitlines():
        name = line.split(":")[1].strip()
        match = _BRIDGE_NAME.match(name)
        if match and not _alive(int(match.group(1))):
            _ip("link", "del", name, check=False)


def _delete_netns(name: str) -> None:
    for pid in _ip("netns", "pids", name, check=False).split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), 9)
    _ip("netns", "del", name, check=False)
    shutil.rmtree(NETNS_DIR / name, ignore_errors=True)


@dataclass(frozen=True)
class Sandbox:
    """One pod's network namespace: its name, address and /etc overlay directory."""

    name: str
    ip: str

    @property
    def etc(self) -> Path:
        """Files here replace their /etc namesakes for processes run with `ip netns exec`."""
        return NETNS_DIR / self.name

    def write_hosts(self, text: str) -> None:
        """Rewrite the pod's /etc/hosts in place (it is bind-mounted, so the inode must stay)."""
        path = self.etc / "hosts"
        if path.exists() and path.read_text() == text:
            return
        with path.open("a+") as f:
            f.seek(0)
            f.truncate()
            f.write(text)


class PodNetwork:
    """A bridge with a private subnet for the pods of this process; the host is the gateway.

    The subnet's last /24 is the Service ClusterIP range: there is no kube-proxy, so a
    ClusterIP answers nothing, but traffic to it stays on the bridge.
    """

    def __init__(self, prefix_len: int = 22) -> None:
        self.bridge = f"tj{os.getpid()}"
        self._lock = threading.Lock()
        self._sandboxes = 0
        with _LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sweep_leftovers()
            self.subnet = self._free_subnet(prefix_len)
            *pod_ranges, self.service_range = self.subnet.subnets(new_prefix=24)
            # every address of the pod ranges but the subnet's network address
            self.gateway, *self._free = [str(h) for r in pod_ranges for h in r][1:]
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/{prefix_len}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")

    @staticmethod
    def _free_subnet(prefix_len: int) -> ipaddress.IPv4Network:
        used = [
            ipaddress.ip_interface(addr).network for addr in re.findall(r"inet (\S+)", _ip("-4", "addr"))
        ] + [
            ipaddress.ip_network(route.split()[0])
            for route in _ip("-4", "route").splitlines()
            if route and route.split()[0] != "default"
        ]
        for subnet in _CANDIDATES.subnets(new_prefix=prefix_len):
            if not any(subnet.overlaps(u) for u in used):
                return subnet
        raise RuntimeError(f"no free /{prefix_len} left in {_CANDIDATES}")

    def allocate_ip(self) -> str:
        """Take a free pod address (for pods that get no namespace)."""
        with self._lock:
            if not self._free:
                raise RuntimeError(f"pod network {self.subnet} is full")
            return self._free.pop(0)

    def release_ip(self, ip: str) -> None:
        """Give a pod address back."""
        with self._lock:
            self._free.append(ip)

    def add_sandbox(self) -> Sandbox:
        """Create a network namespace attached to the bridge, with its own address and /etc files."""
        ip = self.allocate_ip()
        with self._lock:
            self._sandboxes += 1
            n = self._sandboxes
        sandbox = Sandbox(f"tj-{os.getpid()}-{n}", ip)
        host_end = f"{self.bridge}p{n}"
        try:
            _ip("netns", "add", sandbox.name)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", sandbox.name)
            _ip("link", "set", host_end, "master", self.bridge, "up")
            _ip("-n", sandbox.name, "addr", "add", f"{ip}/{self.subnet.prefixlen}", "dev", "eth0")
            _ip("-n", sandbox.name, "link", "set", "eth0", "up")
            _ip("-n", sandbox.name, "link", "set", "lo", "up")
            sandbox.etc.mkdir(parents=True, exist_ok=True)
        except subprocess.CalledProcessError as error:
            self.remove_sandbox(sandbox)
            raise RuntimeError(f"cannot create pod sandbox {sandbox.name}: {error.stderr}") from error
        return sandbox

    def remove_sandbox(self, sandbox: Sandbox) -> None:
        """Kill what still runs in the namespace, delete it (and its veth) and free the address."""
        _delete_netns(sandbox.name)
        self.release_ip(sandbox.ip)

    def close(self) -> None:
        """Delete every namespace of this process and the bridge."""
        prefix = f"tj-{os.getpid()}-"
        for line in _ip("netns", "list").splitlines():
            if line.startswith(prefix):
                _delete_netns(line.split()[0])
        _ip("link", "del", self.bridge, check=False)
