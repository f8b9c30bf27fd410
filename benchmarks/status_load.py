"""Status write load: requests per running job, and the apiserver's CPU for N jobs reporting at once.

From the code: the in-pod reporter (`StatusReporter` -> `BackgroundWriter` -> `KubeStatusSink`)
writes at most once per `CLUSTER_STATUS_INTERVAL_S` (10 s); an epoch's end rebuilds the status
but the writer's rate limit still holds (only the final write at the fit's end skips it).
Rank 0 also keeps one stop-request watch open per job, renewed every `WATCH_SECONDS` (a GET and
a WATCH), and saves its history ConfigMap at most every `CLUSTER_HISTORY_INTERVAL_S` (30 s). So a
running job costs at most 60/10 + 60/30 + 2*60/240 = 8.5 requests per minute.

Measured on the real control plane (no node: the workers stay Pending), with the operator
watching the namespace as in a cluster (`--no-operator` leaves it out): N TrainJobs, each with
its reporter's ServiceAccount, Role and RoleBinding (made by the operator, or by its builders
without it) and a token from the TokenRequest API, so that every request authenticates and is
authorised exactly as a pod's. Three windows of `--window` seconds, one after the other:

- idle: the jobs exist, nothing reports;
- watching: N `StopRequestWatcher`s (one per job, each its own thread and connection);
- reporting: the watchers plus N `BackgroundWriter`s with `KubeStatusSink`s at the default
  interval (one thread and one kept-alive connection each, as in a pod), all in this process,
  fed a new progress fragment every 0.5 s, the epoch advancing every 30 s; and N
  `HistoryRecorder`s fed the same fragments, saving each job's history ConfigMap at their
  default interval (`CLUSTER_HISTORY_INTERVAL_S`, 30 s).

Each window starts 15 s after its change (the watches open, the first writes go out at once;
the idle window also waits for the operator's first resync of the new jobs), so that it shows
the steady state. For each window: the CPU seconds per minute of
kube-apiserver and etcd (and the operator), from /proc, and the reporters' requests, counted
apart by a FlowSchema for their namespace's ServiceAccounts (on `workload-low`, where
ServiceAccounts go by default). The control plane runs on the last CPU, the reporters and the
operator on the others. Then, with nothing else running, `--writes` status writes of one
TrainJob, one after the other, and as many writes of the same fragment into a ConfigMap, each
give the apiserver's CPU per write. The figure printed last is the apiserver's CPU while N jobs
report / while idle.

    .venv/bin/python -m benchmarks.status_load [--jobs 200] [--window 60]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.apiserver_metrics import FLOW_SCHEMAS, Scrape, flow_schema, scrape
from benchmarks.kube_client import api_client, request
from benchmarks.procstat import cpu_seconds
from tests.cluster import ControlPlane, build_binaries
from tests.cluster.processes import spawn, stop
from tests.e2e.support import TRAINJOBS, install_crd
from trainjob.reporting.history_recorder import HistoryRecorder
from trainjob.reporting.history_store import ConfigMapHistoryStore
from trainjob.reporting.kube import ClusterAccess, KubeStatusSink
from trainjob.reporting.stop_watch import WATCH_SECONDS, StopRequestWatcher
from trainjob.reporting.target import CLUSTER_HISTORY_INTERVAL_S, CLUSTER_STATUS_INTERVAL_S
from trainjob.reporting.writer import BackgroundWriter
from trainjob_api.contract import JobIdentity
from trainjob_api.names import reporter_name
from trainjob_operator.builders.history import history_config_map
from trainjob_operator.builders.rbac import role, role_binding, service_account
from trainjob_operator.config import OperatorConfig
from trainjob_operator.kube import MERGE_PATCH

NAMESPACE = "load"
REPORTERS = "trainjob-reporters"
TICK_S = 0.5
EPOCH_TICKS = 60
SETTLE_S = 15.0


def computed_requests_per_minute() -> float:
    """Requests per minute of one running job's rank 0, from the reporter's constants."""
    return 60 / CLUSTER_STATUS_INTERVAL_S + 60 / CLUSTER_HISTORY_INTERVAL_S + 2 * 60 / WATCH_SECONDS


def manifest(name: str) -> dict[str, Any]:
    """A TrainJob of 2 workers and 100 epochs."""
    return {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"image": "trainer", "command": ["python", "train.py"], "numNodes": 2, "maxEpochs": 100},
    }


def progress(tick: int) -> dict[str, Any]:
    """The status fragment a reporter would send at `tick` (shaped as `build_status` makes it)."""
    epoch, step = divmod(tick, EPOCH_TICKS)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    loss = 2.0 / (1 + tick / 100)
    return {
        "progress": {
            "epoch": epoch,
            "totalEpochs": 100,
            "step": tick * 10,
            "totalSteps": 100 * EPOCH_TICKS * 10,
            "percent": round(tick / (100 * EPOCH_TICKS) * 100, 2),
            "etaSeconds": (100 * EPOCH_TICKS - tick) * TICK_S,
            "samplesPerSecond": 1234.5,
            "lastUpdateTime": now,
        },
        "metrics": {"loss": loss, "lr": 0.01, "values": {"loss": loss, "lr": 0.01, "step": step}},
    }


def wait_for(check: Any, what: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(1.0)


def reporter_accesses(cp: ControlPlane, jobs: int, operator: bool, scratch: Path) -> list[ClusterAccess]:
    """Create the TrainJobs and their reporters' identities; each reporter's access with its token."""
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}"
    accounts = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts"
    names = [f"job-{index:04d}" for index in range(jobs)]
    for name in names:
        trainjob = cp.admin.create(TRAINJOBS.format(namespace=NAMESPACE), manifest(name))
        if not operator:
            cp.admin.create(accounts, service_account(trainjob))
            cp.admin.create(f"{rbac}/roles", role(trainjob))
            cp.admin.create(f"{rbac}/rolebindings", role_binding(trainjob))
            cp.admin.create(f"/api/v1/namespaces/{NAMESPACE}/configmaps", history_config_map(trainjob))
    wanted = {reporter_name(name) for name in names}

    def identities_exist() -> bool:
        bindings = {item["metadata"]["name"] for item in cp.admin.get(f"{rbac}/rolebindings")["items"]}
        return wanted <= bindings

    wait_for(identities_exist, "the reporters' RoleBindings were not all made")
    accesses = []
    for name in names:
        token = cp.admin.create(
            f"{accounts}/{reporter_name(name)}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        )["status"]["token"]
        (scratch / name).write_text(token)
        accesses.append(ClusterAccess(cp.server, Path(cp.ca.cert), scratch / name))
    return accesses


class Reporters:
    """N jobs' rank-0 reporting threads: stop-request watchers, and status writers fed by one clock."""

    def __init__(self, accesses: list[ClusterAccess]) -> None:
        self._accesses = accesses
        self._jobs = [JobIdentity(access.token_file.name, NAMESPACE) for access in accesses]
        self.watchers: list[StopRequestWatcher] = []
        self.writers: list[BackgroundWriter] = []
        self.histories: list[HistoryRecorder] = []
        self._stop = threading.Event()
        self._feeder = threading.Thread(target=self._feed, name="reporters-feed", daemon=True)

    def watch(self) -> None:
        """Open every job's stop-request watch."""
        self.watchers = [
            StopRequestWatcher(access, job, lambda: None).start()
            for access, job in zip(self._accesses, self._jobs, strict=True)
        ]

    def report(self) -> None:
        """Start every job's status writer and history at the default intervals, fed every `TICK_S`."""
        self.writers = [
            BackgroundWriter(KubeStatusSink(access, job), CLUSTER_STATUS_INTERVAL_S)
            for access, job in zip(self._accesses, self._jobs, strict=True)
        ]
        self.histories = [
            HistoryRecorder(ConfigMapHistoryStore(access, job), CLUSTER_HISTORY_INTERVAL_S)
            for access, job in zip(self._accesses, self._jobs, strict=True)
        ]
        for history in self.histories:
            history.start()
        self._feeder.start()

    def close(self) -> None:
        """Stop feeding, close the writers (a bounded final flush) and the watchers."""
        self._stop.set()
        for writer in self.writers:
            writer.close(5.0)
        for history in self.histories:
            history.close(5.0)
        for watcher in self.watchers:
            watcher.close()

    def _feed(self) -> None:
        tick = 0
        while not self._stop.wait(TICK_S):
            tick += 1
            fragment = progress(tick)
            for writer in self.writers:
                writer.submit(fragment)
            for history in self.histories:
                history.record(fragment, epoch_end=tick % EPOCH_TICKS == 0)


@dataclass
class Window:
    """CPU seconds per minute by process, and the reporters' requests, over one window."""

    name: str
    seconds: float
    cpu_per_minute: dict[str, float]
    requests: Scrape


def measure(cp: ControlPlane, name: str, seconds: float, pids: dict[str, int]) -> Window:
    """Sleep `seconds` and count what the processes spent meanwhile."""
    before_requests = scrape(cp.admin)
    before = {process: cpu_seconds(pid) for process, pid in pids.items()}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    after = {process: cpu_seconds(pid) for process, pid in pids.items()}
    minutes = elapsed / 60
    cpu = {process: (after[process] - before[process]) / minutes for process in pids}
    return Window(name, elapsed, cpu, scrape(cp.admin) - before_requests)


def cpu_per_write(cp: ControlPlane, path: str, body: Any, writes: int) -> float:
    """The apiserver's CPU milliseconds per merge patch of `path`, `writes` sent one after the other."""
    apiserver = cp.processes["kube-apiserver"].pid
    client = api_client(cp.kubeconfig)  # one kept-alive connection, as a reporter has
    before = cpu_seconds(apiserver)
    for tick in range(writes):
        request(client, "PATCH", path, body(tick), MERGE_PATCH)
    spent = cpu_seconds(apiserver) - before
    client.close()
    return spent / writes * 1000


def write_costs(cp: ControlPlane, writes: int) -> tuple[float, float]:
    """CPU ms per status write of a TrainJob, and per write of the same fragment into a ConfigMap."""
    cp.admin.create(TRAINJOBS.format(namespace=NAMESPACE), manifest("single"))
    configmaps = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    cp.admin.create(configmaps, {"metadata": {"name": "single"}, "data": {}})
    trainjob = f"{TRAINJOBS.format(namespace=NAMESPACE)}/single/status"
    status = cpu_per_write(cp, trainjob, lambda tick: {"status": progress(tick)}, writes)
    data = cpu_per_write(
        cp, f"{configmaps}/single", lambda tick: {"data": {"status": json.dumps(progress(tick))}}, writes
    )
    return status, data


def count_reporters_apart(cp: ControlPlane) -> None:
    """A FlowSchema for the namespace's ServiceAccounts (the reporters), on their default level."""
    group = {"kind": "Group", "group": {"name": f"system:serviceaccounts:{NAMESPACE}"}}
    cp.admin.create(FLOW_SCHEMAS, flow_schema(REPORTERS, group, level="workload-low"))


def start_operator(cp: ControlPlane, scratch: Path) -> Any:
    argv = [sys.executable, "-m", "trainjob_operator", "--namespace", NAMESPACE, "--liveness", ""]
    argv += ["--metrics-port", "0"]
    return spawn(argv, log=scratch / "operator.log", env={**os.environ, "KUBECONFIG": str(cp.kubeconfig)})


def report(windows: list[Window], jobs: int) -> None:
    """Print each window's figures."""
    for window in windows:
        minutes = window.seconds / 60
        cpu = ", ".join(f"{process} {value:.2f}" for process, value in window.cpu_per_minute.items())
        own = window.requests.by_flow_schema[REPORTERS] / jobs / minutes
        patches = window.requests.requests[("PATCH", "trainjobs", "status")] / jobs / minutes
        history = window.requests.requests[("PATCH", "configmaps", "")] / jobs / minutes
        print(
            f"{window.name:>10} ({window.seconds:.0f} s): CPU s per minute: {cpu}; "
            f"reporters' requests per job per minute {own:.2f} (status PATCHes {patches:.2f}, "
            f"history PATCHes {history:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200, help="running jobs that report")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per window")
    parser.add_argument("--no-operator", action="store_true", help="do not run the operator")
    parser.add_argument(
        "--writes", type=int, default=500, help="sequential writes to time one write (0: none)"
    )
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    control_plane_cpus, client_cpus = {cpus[-1]}, set(cpus[:-1]) or set(cpus)
    operator = None
    with tempfile.TemporaryDirectory() as scratch, ControlPlane(build_binaries()) as cp:
        for process in cp.processes.values():
            os.sched_setaffinity(process.pid, control_plane_cpus)
        os.sched_setaffinity(0, client_cpus)
        install_crd(cp)
        count_reporters_apart(cp)
        cp.admin.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        pids = {name: cp.processes[name].pid for name in ("kube-apiserver", "etcd")}
        if not args.no_operator:
            operator = start_operator(cp, Path(scratch))
            pids["operator"] = operator.pid
        reporters = Reporters(reporter_accesses(cp, args.jobs, operator is not None, Path(scratch)))
        try:
            # Each window starts once the last change settled: the operator's and the controllers'
            # work on the new jobs, the watches' opening, the writers' first writes.
            time.sleep(SETTLE_S if operator is None else SETTLE_S + OperatorConfig().resync_seconds)
            windows = [measure(cp, "idle", args.window, pids)]
            reporters.watch()
            time.sleep(SETTLE_S)
            windows.append(measure(cp, "watching", args.window, pids))
            reporters.report()
            time.sleep(SETTLE_S)
            windows.append(measure(cp, "reporting", args.window, pids))
        finally:
            reporters.close()
            if operator is not None:
                stop(operator)
        per_write = write_costs(cp, args.writes) if args.writes else None
    print(
        f"computed from the code: at most {computed_requests_per_minute():.2f} requests per running job "
        f"per minute ({60 / CLUSTER_STATUS_INTERVAL_S:.0f} status writes, "
        f"{60 / CLUSTER_HISTORY_INTERVAL_S:.0f} history saves, a watch every {WATCH_SECONDS} s)"
    )
    report(windows, args.jobs)
    idle, _, reporting = (window.cpu_per_minute["kube-apiserver"] for window in windows)
    print(
        f"apiserver CPU for {args.jobs} jobs reporting: {reporting - idle:.2f} s per minute above idle "
        f"({(reporting - idle) / args.jobs * 1000:.1f} ms per job per minute)"
    )
    if per_write:
        print(
            f"apiserver CPU per write, {args.writes} one after the other: TrainJob status "
            f"{per_write[0]:.2f} ms, the same fragment into a ConfigMap {per_write[1]:.2f} ms"
        )
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"ratio apiserver CPU reporting/idle: {reporting / idle:.3f}")


if __name__ == "__main__":
    main()
