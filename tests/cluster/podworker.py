"""One pod on the test node, from binding to deletion, run the way the kubelet runs it.

Init containers run one after the other, then the containers together, each as a local
process in the pod's network namespace (see podinit.py). restartPolicy Never/OnFailure/
Always is honoured (restarts back off from 1 s to 10 s, shorter than the kubelet's), as are
activeDeadlineSeconds and graceful deletion (SIGTERM to each container's PID 1, SIGKILL
after the grace period, then the final delete with grace 0). Each start of a container gets
its own writable layer (see layers.py), deleted when the pod's processes are gone. Probes, resource limits and
securityContext are not applied; images are ignored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .kube import ApiError
from .layers import overlaid_directories
from .network import Sandbox
from .podspec import MissingReference, Pod, container_env, expand
from .processes import spawn, tail
from .volumes import UnsupportedVolume, VolumeMaker, container_mounts

if TYPE_CHECKING:
    from .node import TestNode

log = logging.getLogger(__name__)

PODINIT = Path(__file__).with_name("podinit.py")
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 10.0
HOME = "/root"
#: Where a container's termination message goes unless its spec says otherwise (the API's default).
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
#: The most of a termination message the kubelet keeps.
MAX_TERMINATION_MESSAGE = 4096
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def now() -> str:
    """The current time as the API writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Container:
    """One container of the pod and its current process."""

    spec: dict[str, Any]
    log_dir: Path
    restart: str  # Never, OnFailure or Always
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    not_before: float = 0.0
    backoff: float = BACKOFF_FIRST
    #: The reason to report for the current process's exit instead of Completed/Error (e.g. OOMKilled).
    exit_reason: str | None = None

    @property
    def name(self) -> str:
        """The container's name."""
        return self.spec["name"]

    @property
    def running(self) -> bool:
        """Whether its process is running now."""
        return "running" in self.state

    @property
    def done(self) -> bool:
        """Terminated for good: it will not be started again."""
        if "terminated" not in self.state:
            return False
        if self.restart == "OnFailure":
            return self.succeeded
        return self.restart == "Never"

    @property
    def succeeded(self) -> bool:
        """Terminated with exit code 0."""
        return self.state.get("terminated", {}).get("exitCode") == 0

    def log_path(self) -> Path:
        """The log file of the current (or last) run."""
        return self.log_dir / f"{self.restarts}.log"

    def termination_message_file(self) -> Path:
        """The file mounted at the current (or last) run's `terminationMessagePath`."""
        return self.log_dir / f"{self.restarts}.termination-log"

    def termination_message(self, exit_code: int) -> str:
        """What the kubelet reports as the ended run's message: the file's content (at most
        `MAX_TERMINATION_MESSAGE` bytes), or with `FallbackToLogsOnError`, for a failed run that
        left it empty, the log's tail."""
        try:
            with self.termination_message_file().open("rb") as message:
                written = message.read(MAX_TERMINATION_MESSAGE).decode(errors="replace")
        except FileNotFoundError:
            written = ""
        fallback = self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        if not written and exit_code != 0 and fallback:
            return tail(self.log_path(), 80)[-2048:]
        return written

    def status(self, pod_uid: str, init: bool) -> dict[str, Any]:
        """The containerStatuses entry."""
        image = self.spec.get("image", "")
        status = {
            "name": self.name,
            "image": image,
            "imageID": f"testnode://{image}",
            "containerID": f"testnode://{pod_uid}/{self.name}/{self.restarts}",
            "ready": self.running and not init,
            "started": self.running,
            "restartCount": self.restarts,
            "state": self.state,
        }
        if self.last_state:
            status["lastState"] = self.last_state
        return status


class PodWorker:
    """Runs one pod in its own thread; the node feeds it the pod's updates."""

    def __init__(self, node: TestNode, pod: Pod) -> None:
        self.node = node
        self.pod = pod
        meta = pod["metadata"]
        self.uid, self.namespace, self.name = meta["uid"], meta["namespace"], meta["name"]
        self.dir = node.dir / "pods" / f"{self.namespace}_{self.name}_{self.uid}"
        self.sandbox: Sandbox | None = None
        self._sandbox_lock = threading.Lock()  # DNS updates write /etc/hosts from another thread
        self.ip = ""
        self.finished = threading.Event()
        self._wake = threading.Event()
        self._resync = threading.Event()  # write the status again, changed or not
        self._grace: float | None = None  # set when the pod is being deleted
        self._gone = False  # the API object no longer exists
        self._shutdown = False  # the node stops: kill at once, write nothing
        self._conditions: dict[str, tuple[str, str, str]] = {}
        self._start_time = pod.get("status", {}).get("startTime") or now()
        self._reason: str | None = None
        policy = pod["spec"].get("restartPolicy", "Always")
        init_policy = "Never" if policy == "Never" else "OnFailure"
        self.init_containers = [
            Container(c, self.dir / c["name"], init_policy) for c in pod["spec"].get("initContainers", [])
        ]
        self.containers = [Container(c, self.dir / c["name"], policy) for c in pod["spec"]["containers"]]
        self.thread = threading.Thread(
            target=self._run, name=f"pod-{self.namespace}/{self.name}", daemon=True
        )

    # -- events from the node ----------------------------------------------------------------
    def update(self, pod: Pod) -> None:
        """A newer version of the pod object (a deletionTimestamp starts graceful termination)."""
        self.pod = pod
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") and self._grace is None:
            self._grace = float(meta.get("deletionGracePeriodSeconds", 30))
            self._wake.set()
            if self.finished.is_set():
                self._final_delete()

    def gone(self) -> None:
        """The pod object was removed: kill its processes now."""
        self._gone = True
        self._grace = 0.0
        self._wake.set()

    def resync_status(self) -> None:
        """Write the pod's status again (the node lifecycle controller may have marked it not Ready)."""
        self._resync.set()

    def shutdown(self) -> None:
        """The node stops: kill everything at once and write no status."""
        self._shutdown = True
        self._grace = 0.0
        self._wake.set()

    # -- the pod's life ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            if self.pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return
            if self.node.run_processes:
                self._run_processes()
            else:
                self._run_without_processes()
        except Exception:
            if not self._shutdown:
                log.exception("pod %s/%s failed on the test node", self.namespace, self.name)
        finally:
            self._kill_all(0.0)
            self.node.layers.remove(self.uid)
            self.node.forget_sandbox(self)
            with self._sandbox_lock:
                if self.sandbox:
                    self.node.network.remove_sandbox(self.sandbox)
                    self.sandbox = None
                elif self.ip:
                    self.node.network.release_ip(self.ip)
            self.finished.set()
        if self._grace is not None:
            self._final_delete()

    def _run_without_processes(self) -> None:
        self.ip = self.node.network.allocate_ip()
        self._set_condition("PodReadyToStartContainers", "True")
        self._set_condition("Initialized", "True")
        for c in self.containers:
            c.state = {"running": {"startedAt": now()}}
        self._publish()
        while self._grace is None:
            self._wake.wait()
        for c in self.containers:
            started = c.state["running"]["startedAt"]
            c.state = {
                "terminated": {"exitCode": 143, "reason": "Error", "startedAt": started, "finishedAt": now()}
            }
        self._publish()

    def _run_processes(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "pod.json").write_text(json.dumps(self.pod))
        self.sandbox = self.node.network.add_sandbox()
        self.ip = self.sandbox.ip
        self.write_etc()
        self.node.register_sandbox(self)
        self._set_condition("PodReadyToStartContainers", "True")
        self._publish()
        volumes = self._prepare_volumes()
        if volumes is None:
            return
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        started = time.monotonic()
        while self._grace is None:
            if deadline is not None and time.monotonic() - started > deadline:
                self._reason = "DeadlineExceeded"
                break
            changed = self._reap()
            changed |= self._start_due(volumes)
            if changed or self._resync.is_set():
                self._resync.clear()
                self._publish()
            if all(c.done for c in self.containers) or self._init_failed():
                break
            self._wake.wait(0.1)
            self._wake.clear()
        if self._grace is not None or self._reason:
            grace = self._grace if self._grace is not None else self._termination_grace()
            self._kill_all(grace)
        self._publish()

    def _prepare_volumes(self) -> dict[str, Path] | None:
        """Make the volumes, retrying (as the kubelet does) until they can be made or the pod goes."""
        maker = VolumeMaker(
            self._view(),
            self.dir / "volumes",
            self.node.fetch(self.namespace),
            self._token,
            self.node.allocatable,
        )
        while self._grace is None:
            try:
                return maker.make_all()
            except (MissingReference, UnsupportedVolume, ApiError, OSError) as error:
                self._waiting_all("ContainerCreating", f"volumes: {error}")
                self._wake.wait(1.0)
        return None

    def _start_due(self, volumes: dict[str, Path]) -> bool:
        """Start (or restart) what should run now: the next init container, or the containers."""
        pending_init = [c for c in self.init_containers if not (c.done and c.succeeded)]
        due = pending_init[:1] if pending_init else self.containers
        if pending_init:
            self._set_condition("Initialized", "False", "ContainersNotInitialized")
        else:
            self._set_condition("Initialized", "True")
        changed = False
        for c in due:
            if c.process is None and not c.done and time.monotonic() >= c.not_before:
                changed |= self._start(c, volumes)
        return changed

    def _start(self, c: Container, volumes: dict[str, Path]) -> bool:
        pod = self._view()
        try:
            env = container_env(
                pod, c.spec, self.node.service_env, self.node.lookup(self.namespace), self.node.allocatable
            )
        except (MissingReference, ApiError, OSError) as error:
            reason = "CreateContainerConfigError"
            changed = c.state.get("waiting", {}).get("reason") != reason
            c.state = {"waiting": {"reason": reason, "message": str(error)}}
            c.not_before = time.monotonic() + 1.0
            return changed
        hostname = pod["spec"].get("hostname") or self.name[:63]
        workdir = c.spec.get("workingDir") or str(self.node.workdir)
        spec = {
            "hostname": hostname,
            # The container's own writable layer over the directories it may write to.
            "layers": self.node.layers.make(
                self.uid, c.name, c.restarts, overlaid_directories(workdir, HOME)
            ),
            "mounts": [*container_mounts(c.spec, volumes, env), self._termination_mount(c)],
            "workdir": workdir,
            # The node's "image": what a volume mounted over a parent (an emptyDir on /tmp, with
            # the repository or the venv under /tmp) must not hide.
            "image_paths": sorted({sys.prefix, sys.base_prefix, str(self.node.workdir)}),
            "argv": [expand(a, env) for a in c.spec.get("command", []) + c.spec.get("args", [])],
            "env": {
                "PATH": f"{Path(sys.prefix) / 'bin'}:{IMAGE_PATH}",
                "HOME": HOME,
                "HOSTNAME": hostname,
                **env,
            },
        }
        c.log_dir.mkdir(parents=True, exist_ok=True)
        spec_file = c.log_dir / f"{c.restarts}.json"
        spec_file.write_text(json.dumps(spec))
        assert self.sandbox is not None
        argv = ["ip", "netns", "exec", self.sandbox.name, sys.executable, str(PODINIT), str(spec_file)]
        # Running before its log file exists, as a kubelet reports it: a log request that finds
        # the file must also find the run it belongs to running (or ended), never "not started".
        c.state = {"running": {"startedAt": now()}}
        c.process = spawn(argv, log=c.log_path())
        return True

    @staticmethod
    def _termination_mount(c: Container) -> tuple[str, str, bool]:
        """A fresh, empty file for the run's termination message, mounted where the spec says."""
        c.log_dir.mkdir(parents=True, exist_ok=True)
        message = c.termination_message_file()
        message.write_bytes(b"")
        return (str(message), c.spec.get("terminationMessagePath") or TERMINATION_MESSAGE_PATH, False)

    def _reap(self) -> bool:
        """Record containers whose process exited; schedule restarts the policy asks for."""
        changed = False
        for c in self.init_containers + self.containers:
            if c.process is None or c.process.poll() is None:
                continue
            self._record_exit(c)
            changed = True
            if not c.done:
                c.last_state = c.state
                c.state = {"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off {c.backoff:.0f}s"}}
                c.not_before = time.monotonic() + c.backoff
                c.backoff = min(c.backoff * 2, BACKOFF_MAX)
                c.restarts += 1
        return changed

    def _record_exit(self, c: Container) -> None:
        assert c.process is not None
        code = c.process.wait()
        exit_code = 128 - code if code < 0 else code
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": c.exit_reason or ("Completed" if exit_code == 0 else "Error"),
            "startedAt": c.state.get("running", {}).get("startedAt", now()),
            "finishedAt": now(),
        }
        message = c.termination_message(exit_code)
        if message:
            terminated["message"] = message
        c.state = {"terminated": terminated}
        c.process = None
        c.exit_reason = None

    def _kill_all(self, grace: float) -> None:
        """SIGTERM every container's PID 1, SIGKILL what is left after grace seconds, reap."""
        everything = self.init_containers + self.containers
        running = [c for c in everything if c.process is not None]
        if grace > 0:
            for c in running:
                _signal_pid1(c.process, signal.SIGTERM)  # type: ignore[arg-type]
            end = time.monotonic() + grace
            while any(c.process.poll() is None for c in running) and time.monotonic() < end:  # type: ignore[union-attr]
                time.sleep(0.05)
        for c in running:
            if c.process.poll() is None:  # type: ignore[union-attr]
                _signal_pid1(c.process, signal.SIGKILL)  # type: ignore[arg-type]
            self._record_exit(c)
        for c in everything:
            c.restart = "Never"
        for c in self.containers:
            if "waiting" in c.state:  # never started, or waiting for a restart
                unknown = {
                    "terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown", "finishedAt": now()}
                }
                c.state = c.last_state or unknown

    def _termination_grace(self) -> float:
        return float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))

    def _init_failed(self) -> bool:
        return any(c.done and not c.succeeded for c in self.init_containers)

    # -- status ------------------------------------------------------------------------------
    def _phase(self) -> str:
        if self._reason == "DeadlineExceeded" or self._init_failed():
            return "Failed"
        if all(c.done for c in self.containers):
            return "Succeeded" if all(c.succeeded for c in self.containers) else "Failed"
        if any(c.running or "terminated" in c.state or c.restarts for c in self.containers):
            return "Running"
        return "Pending"

    def _set_condition(self, kind: str, status: str, reason: str = "") -> None:
        old = self._conditions.get(kind)
        if old is None or old[0] != status or old[1] != reason:
            self._conditions[kind] = (status, reason, now())

    def _waiting_all(self, reason: str, message: str) -> None:
        state = {"waiting": {"reason": reason, "message": message}}
        if any(c.state != state for c in self.init_containers + self.containers):
            for c in self.init_containers + self.containers:
                c.state = state
            self._publish()

    def _view(self) -> Pod:
        """The pod as the downward API sees it on this node (addresses filled in)."""
        status = {
            **self.pod.get("status", {}),
            "hostIP": self.node.ip,
            "hostIPs": [{"ip": self.node.ip}],
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}] if self.ip else [],
        }
        return {**self.pod, "status": status}

    def _publish(self) -> None:
        """Write the pod's status through the API (as this node)."""
        if self._shutdown or self._gone:
            return
        phase = self._phase()
        ready = all(c.running for c in self.containers) and phase == "Running"
        terminal = phase in ("Succeeded", "Failed")
        ready_reason = "PodCompleted" if terminal else ("" if ready else "ContainersNotReady")
        self._set_condition("ContainersReady", "True" if ready else "False", ready_reason)
        self._set_condition("Ready", "True" if ready else "False", ready_reason)
        status: dict[str, Any] = {
            "observedGeneration": self.pod["metadata"].get("generation", 1),
            "phase": phase,
            "hostIP": self.node.ip,
            "hostIPs": [{"ip": self.node.ip}],
            "startTime": self._start_time,
            "conditions": [
                {"type": t, "status": s, "lastTransitionTime": at, **({"reason": r} if r else {})}
                for t, (s, r, at) in self._conditions.items()
            ],
            "containerStatuses": [c.status(self.uid, False) for c in self.containers],
        }
        if self.ip:
            status["podIP"], status["podIPs"] = self.ip, [{"ip": self.ip}]
        if self.init_containers:
            status["initContainerStatuses"] = [c.status(self.uid, True) for c in self.init_containers]
        if self._reason == "DeadlineExceeded":
            status["reason"] = "DeadlineExceeded"
            status["message"] = "Pod was active on the node longer than the specified deadline"
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status"
        try:
            self._through_outages(
                "status update", self.node.kube.patch, path, {"metadata": {"uid": self.uid}, "status": status}
            )
        except ApiError as error:
            if error.status not in (404, 409):  # gone, or another pod of the same name
                raise
            self.gone()

    def _final_delete(self) -> None:
        """The kubelet's last word on a deleted pod: delete it with grace 0 (if it still exists)."""
        if self._gone or self._shutdown:
            return
        try:
            self._through_outages(
                "final deletion",
                self.node.kube.delete,
                f"/api/v1/namespaces/{self.namespace}/pods/{self.name}",
                {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}},
            )
        except ApiError as error:
            if error.status not in (404, 409):
                raise

    def _through_outages(self, what: str, call: Callable[..., object], *args: Any) -> None:
        """Make an API call, retrying (as the kubelet does) while the apiserver is unreachable or
        answers 5xx or 429, until it succeeds or the node stops; other errors are raised."""
        delay = 0.2
        while not self._shutdown:
            try:
                call(*args)
                return
            except ApiError as error:
                if error.status < 500 and error.status != 429:
                    raise
                log.warning("pod %s/%s: %s failed: %s", self.namespace, self.name, what, error)
            except OSError as error:
                log.warning("pod %s/%s: %s failed: %s", self.namespace, self.name, what, error)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    # -- helpers for the node ----------------------------------------------------------------
    def has_container(self, name: str) -> bool:
        """Whether the pod has an (init) container of this name."""
        return any(c.name == name for c in self.init_containers + self.containers)

    def is_running(self, container: str, run: int) -> bool:
        """Whether run `run` (0 = first start, n = after n restarts) of the container is running now."""
        return any(
            c.name == container and c.running and c.restarts == run
            for c in self.init_containers + self.containers
        )

    def signal_container(self, container: str | None, sig: signal.Signals, reason: str | None = None) -> None:
        """Send sig to a running container's PID 1 (the first container by default).

        `reason` is reported as the exit's reason (as the kubelet reports OOMKilled).
        """
        c = next(c for c in self.containers if container in (None, c.name))
        if c.process is None:
            raise ProcessLookupError(f"container {c.name} of {self.namespace}/{self.name} is not running")
        c.exit_reason = reason
        _signal_pid1(c.process, sig)

    def _token(self, account: str, audiences: list[str], expiration: int) -> str:
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": audiences,
                "expirationSeconds": expiration,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": self.name, "uid": self.uid},
            },
        }
        path = f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token"
        return self.node.kube.create(path, request)["status"]["token"]

    def write_etc(self) -> None:
        """Write the pod's /etc/hosts (itself plus cluster DNS records) and resolv.conf."""
        with self._sandbox_lock:
            if self.sandbox is not None:
                self._write_etc(self.sandbox)

    def _write_etc(self, sandbox: Sandbox) -> None:
        spec = self.pod["spec"]
        hostname = spec.get("hostname") or self.name[:63]
        own = f"{self.ip}\t{hostname}"
        if spec.get("subdomain"):
            own = f"{self.ip}\t{hostname}.{spec['subdomain']}.{self.namespace}.svc.cluster.local\t{hostname}"
        lines = [
            "# Kubernetes-managed hosts file (trainjob test node).",
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            own,
            "# cluster DNS",
            *self.node.dns.hosts_lines(self.namespace),
        ]
        sandbox.write_hosts("\n".join(lines) + "\n")
        resolv = sandbox.etc / "resolv.conf"
        if not resolv.exists():
            search = f"{self.namespace}.svc.cluster.local svc.cluster.local cluster.local"
            resolv.write_text(f"search {search}\nnameserver 127.0.0.1\noptions ndots:5\n")


def _signal_pid1(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the container's PID 1: the child of the launcher (podinit.py) we started."""
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    except FileNotFoundError:
        return
    target = int(children[0]) if children else process.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(target, sig)
