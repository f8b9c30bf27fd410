"""The operator at scale: N TrainJobs of 2 workers each, against a plain client loop, one run.

A real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) and no
node: worker pods stay Pending, so the operator alone is measured. Two phases, each in its
own namespace:

- baseline: a plain loop creates, per job, the TrainJob and then its children as the
  operator's own builders make them (ServiceAccount, Role, RoleBinding, headless Service,
  Indexed Job), one request after the other on one kept-alive connection. No operator runs.
  One warm-up job comes first (the apiserver readies a CRD's storage at its first object).
- operator: `python -m trainjob_operator --namespace operator` runs as a process (defaults,
  but no liveness or metrics endpoint); after one warm-up TrainJob has its pods, the same
  loop creates the N TrainJobs only, and the operator makes the children.

With `--rounds N` both phases run N times, alternating, in fresh namespaces of the same control
plane (each phase's namespace is deleted after it, the operator's, but for the last round's, while
the operator still runs, as it must with peering, where kopf's finalizers are on the TrainJobs);
the ratios are taken per round and their
median is printed last. The idle window is measured in the first round only.

A job's children exist when its ServiceAccount, Role, RoleBinding, Service, Job and both
worker pods (made by the Job controller from the Job) have been seen by watches. Per job,
the latency runs from the moment its TrainJob's create request was sent to the arrival of
its Job, and of its last pod. The totals run from the first create to the last arrival.
The baseline namespace is deleted (and gone) before the operator phase starts.

Requests: the operator and the loop each authenticate as their own user, with a FlowSchema
per user, so that the apiserver counts their requests apart
(`apiserver_flowcontrol_dispatched_requests_total`); `apiserver_request_total` gives all
requests of a phase by verb and resource (the controllers' and the watches' included).
The operator's requests (itemized by verb and resource, one FlowSchema each) are counted from
the first create until its status writes are done (every TrainJob shows its 2 active workers)
and 2 s more, then again over an idle minute (resync timers only). CPU seconds come from
/proc (utime+stime, children included), peak RSS from VmHWM. The control plane runs on the
last CPU, the operator and this driver on the others (`--no-pin` leaves them all free).

At its default client rate (20 requests/s) the Job controller in kube-controller-manager
creates pods slower than either phase makes Jobs, so that the pods' figures show the Job
controller more than the operator; `--controller-qps 200` lifts that limit.

Targets: p50 apply-to-pods under 1 s, total within 1.5x the plain loop, operator RSS under
250 MiB at 200 jobs. The figure printed last is total(operator) / total(plain loop), to pods.

    .venv/bin/python -m benchmarks.operator_scale [--jobs 200] [--idle-seconds 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.apiserver_metrics import Scrape, attributed_user, requests_by, scrape
from benchmarks.arrivals import Arrivals
from benchmarks.kube_client import api_client, create
from benchmarks.procstat import cpu_seconds, peak_rss_bytes
from tests.cluster import ApiError, ControlPlane, Kube, build_binaries
from tests.cluster.processes import spawn, stop
from tests.e2e.support import install_crd
from trainjob_api.defaulting import apply_defaults
from trainjob_operator.builders.children import children

OPERATOR_USER, LOOP_USER = "trainjob-operator", "plain-loop"
#: Kinds (and how many of each) a job's children are complete with; pods are added per worker count.
CHILD_KINDS = {"ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "Service": 1, "Job": 1}
#: The operator's requests are counted apart by these verbs and resources.
OPERATOR_ITEMIZED = [
    (verb, resource)
    for verb in ("get", "list", "watch", "create", "patch", "update", "delete")
    for resource in (
        "trainjobs",
        "trainjobs/status",
        "jobs",
        "pods",
        "events",
        "serviceaccounts",
        "roles",
        "rolebindings",
        "services",
        "configmaps",
    )
]
#: After the last status write the burst waits this long for the operator's trailing requests.
GRACE_S = 2.0


@dataclass
class Phase:
    """What one phase measured (times in seconds, from `time.monotonic`)."""

    name: str
    jobs: int
    started: float = 0.0
    sent: dict[str, float] = field(default_factory=dict)
    job_seen: dict[str, float] = field(default_factory=dict)
    children_seen: dict[str, float] = field(default_factory=dict)
    requests: Scrape | None = None
    #: Requests of the phase's own client (the loop, or the operator), by verb and resource.
    client_requests: Counter[str] = field(default_factory=Counter)
    apiserver_cpu_s: float = 0.0
    #: The phase's wall time over which `requests` and `apiserver_cpu_s` were counted.
    window_s: float = 0.0

    @property
    def total_s(self) -> float:
        """First create to the last job's children."""
        return max(self.children_seen.values()) - self.started

    @property
    def total_jobs_s(self) -> float:
        """First create to the last Job."""
        return max(self.job_seen.values()) - self.started

    def latencies(self, seen: Mapping[str, float]) -> list[float]:
        """Per job: create request sent to arrival."""
        return sorted(seen[name] - self.sent[name] for name in self.sent)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted `values`, nearest rank."""
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def trainjob_manifest(name: str, namespace: str, workers: int) -> dict[str, Any]:
    """A TrainJob of `workers` worker pods that would train one epoch."""
    return {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"image": "trainer", "command": ["python", "train.py"], "numNodes": workers, "maxEpochs": 1},
    }


def workers_active(workers: int) -> Any:
    """Whether a TrainJob's status shows all its workers active (the operator caught up with the Job)."""
    return lambda trainjob: ((trainjob.get("status") or {}).get("workers") or {}).get("active") == workers


def complete(arrivals: Arrivals, phase: Phase, kinds: Mapping[str, int]) -> bool:
    """Record arrivals of every job's Job and of all its children; True when all have arrived."""
    for name in phase.sent:
        if name not in phase.job_seen and (seen := arrivals.complete_at(name, {"Job": 1})) is not None:
            phase.job_seen[name] = seen
        if name not in phase.children_seen and (seen := arrivals.complete_at(name, kinds)) is not None:
            phase.children_seen[name] = seen
    return len(phase.children_seen) == phase.jobs


def create_namespace(kube: Kube, name: str) -> None:
    kube.create("/api/v1/namespaces", {"metadata": {"name": name}})


def delete_namespace(kube: Kube, name: str, timeout: float = 600.0) -> None:
    """Delete a namespace and wait until it is gone."""
    kube.delete(f"/api/v1/namespaces/{name}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kube.get(f"/api/v1/namespaces/{name}")
        except ApiError as error:
            if error.status == 404:
                return
            raise
        time.sleep(1.0)
    raise TimeoutError(f"namespace {name} still there after {timeout} s")


def create_with_children(client: Any, manifest: Mapping[str, Any]) -> None:
    """Create a TrainJob, then its children as the operator's builders make them."""
    trainjob = create(client, manifest)
    for child in children(apply_defaults(trainjob), 0):
        create(client, child)


def run_baseline(
    cp: ControlPlane, kubeconfig: Path, namespace: str, jobs: int, workers: int, timeout: float
) -> Phase:
    """The plain loop in `namespace`: each TrainJob, then its children from the operator's builders."""
    create_namespace(cp.admin, namespace)
    client = api_client(kubeconfig)
    phase = Phase("plain loop", jobs)
    kinds = {**CHILD_KINDS, "Pod": workers}
    apiserver = cp.processes["kube-apiserver"].pid
    with Arrivals(cp.admin, namespace) as arrivals:
        warm_up = Phase("warm-up", 1, sent={"warm-up": time.monotonic()})
        create_with_children(client, trainjob_manifest("warm-up", namespace, workers))
        if not arrivals.wait(lambda: complete(arrivals, warm_up, kinds), timeout):
            raise TimeoutError("the warm-up job's children are missing")
        before, cpu_before = scrape(cp.admin), cpu_seconds(apiserver)
        phase.started = time.monotonic()
        for index in range(jobs):
            name = f"job-{index:04d}"
            phase.sent[name] = time.monotonic()
            create_with_children(client, trainjob_manifest(name, namespace, workers))
        if not arrivals.wait(lambda: complete(arrivals, phase, kinds), timeout):
            raise TimeoutError(f"{jobs - len(phase.children_seen)} jobs' children missing after {timeout} s")
        phase.window_s = time.monotonic() - phase.started
        phase.requests = scrape(cp.admin) - before
        phase.apiserver_cpu_s = cpu_seconds(apiserver) - cpu_before
    phase.client_requests = requests_by(phase.requests, LOOP_USER)
    client.close()
    delete_namespace(cp.admin, namespace)
    return phase


@dataclass
class OperatorUsage:
    """The operator process's own costs."""

    start_cpu_s: float = 0.0
    busy_cpu_s: float = 0.0
    idle_cpu_s: float = 0.0
    idle_requests: Counter[str] = field(default_factory=Counter)
    idle_s: float = 0.0
    peak_rss_bytes: int = 0


def start_operator(kubeconfig: Path, namespace: str, log: Path, source: Path | None) -> Any:
    """`python -m trainjob_operator` watching `namespace`, as the e2e tests run it.

    `source`: a checkout whose `operator/` to run instead of the installed one (to compare versions).
    """
    argv = [sys.executable, "-m", "trainjob_operator", "--namespace", namespace]
    argv += ["--liveness", "", "--metrics-port", "0"]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source / "operator"), env.get("PYTHONPATH")]))
    return spawn(argv, log=log, env=env)


def wait_quiet(cp: ControlPlane, user: str, every: float = 2.0, timeout: float = 120.0) -> None:
    """Wait until `user` sent no request for `every` seconds (or `timeout` passed)."""
    deadline = time.monotonic() + timeout
    last = requests_by(scrape(cp.admin), user)
    while time.monotonic() < deadline:
        time.sleep(every)
        now = requests_by(scrape(cp.admin), user)
        if now == last:
            return
        last = now


def run_operator_phase(
    cp: ControlPlane,
    operator_kubeconfig: Path,
    loop_kubeconfig: Path,
    namespace: str,
    jobs: int,
    workers: int,
    timeout: float,
    idle_seconds: float,
    operator_cpus: set[int] | None,
    log: Path,
    source: Path | None,
    delete_after: bool,
) -> tuple[Phase, OperatorUsage]:
    """The operator makes the children of TrainJobs the loop creates in `namespace`."""
    create_namespace(cp.admin, namespace)
    client = api_client(loop_kubeconfig)
    phase = Phase("operator", jobs)
    usage = OperatorUsage()
    kinds = {**CHILD_KINDS, "Pod": workers}
    apiserver = cp.processes["kube-apiserver"].pid
    settled = workers_active(workers)
    operator = start_operator(operator_kubeconfig, namespace, log, source)
    try:
        if operator_cpus:
            os.sched_setaffinity(operator.pid, operator_cpus)
        with Arrivals(cp.admin, namespace, settled=settled) as arrivals:
            warm_up = Phase("warm-up", 1, sent={"warm-up": time.monotonic()})
            create(client, trainjob_manifest("warm-up", namespace, workers))
            if not arrivals.wait(
                lambda: complete(arrivals, warm_up, kinds) and "warm-up" in arrivals.settled_at, timeout
            ):
                raise TimeoutError(f"the operator did not make the warm-up job's children; see {log}")
            wait_quiet(cp, OPERATOR_USER)
            usage.start_cpu_s = cpu_seconds(operator.pid)
            before, cpu_before = scrape(cp.admin), cpu_seconds(apiserver)
            phase.started = time.monotonic()
            for index in range(jobs):
                name = f"job-{index:04d}"
                phase.sent[name] = time.monotonic()
                create(client, trainjob_manifest(name, namespace, workers))
            if not arrivals.wait(
                lambda: complete(arrivals, phase, kinds) and arrivals.settled_at.keys() >= phase.sent.keys(),
                timeout,
            ):
                missing = jobs - len(phase.children_seen)
                raise TimeoutError(f"{missing} jobs' children missing after {timeout} s; see {log}")
            time.sleep(GRACE_S)
            phase.window_s = time.monotonic() - phase.started
            phase.requests = scrape(cp.admin) - before
            phase.apiserver_cpu_s = cpu_seconds(apiserver) - cpu_before
            phase.client_requests = requests_by(phase.requests, OPERATOR_USER)
            usage.busy_cpu_s = cpu_seconds(operator.pid) - usage.start_cpu_s
            if idle_seconds > 0:
                idle_before, idle_cpu = scrape(cp.admin), cpu_seconds(operator.pid)
                idle_started = time.monotonic()
                time.sleep(idle_seconds)
                usage.idle_s = time.monotonic() - idle_started
                usage.idle_requests = requests_by(scrape(cp.admin) - idle_before, OPERATOR_USER)
                usage.idle_cpu_s = cpu_seconds(operator.pid) - idle_cpu
            usage.peak_rss_bytes = peak_rss_bytes(operator.pid)
        if delete_after:
            delete_namespace(cp.admin, namespace)
    finally:
        stop(operator)
        client.close()
    return phase, usage


def per_job(requests: Counter[str], jobs: int) -> str:
    """Requests by verb and resource, per job."""
    return ", ".join(f"{item} {count / jobs:.2f}" for item, count in requests.most_common())


def report_phase(phase: Phase) -> None:
    """Print one phase's figures."""
    pods, jobs = phase.latencies(phase.children_seen), phase.latencies(phase.job_seen)
    assert phase.requests is not None
    print(f"--- {phase.name}: {phase.jobs} jobs")
    print(f"  total to all children: {phase.total_s:.2f} s (to all Jobs: {phase.total_jobs_s:.2f} s)")
    print(
        f"  apply-to-Job  p50 {percentile(jobs, 0.5):.3f} s  p99 {percentile(jobs, 0.99):.3f} s  "
        f"max {jobs[-1]:.3f} s"
    )
    print(
        f"  apply-to-pods p50 {percentile(pods, 0.5):.3f} s  p99 {percentile(pods, 0.99):.3f} s  "
        f"max {pods[-1]:.3f} s"
    )
    own = sum(phase.client_requests.values())
    itemized = per_job(phase.client_requests, phase.jobs)
    print(f"  its own requests: {own} ({own / phase.jobs:.1f} per job): {itemized}")
    total = sum(phase.requests.requests.values())
    print(
        f"  all apiserver requests in {phase.window_s:.1f} s: {total} ({total / phase.jobs:.1f} per job); "
        f"apiserver CPU {phase.apiserver_cpu_s:.1f} s"
    )
    top = ", ".join(
        f"{verb} {resource}{'/' + sub if sub else ''} {count}"
        for (verb, resource, sub), count in phase.requests.requests.most_common(12)
    )
    print(f"  by verb and resource: {top}")
    flows = ", ".join(f"{flow} {count}" for flow, count in phase.requests.by_flow_schema.most_common())
    print(f"  by FlowSchema: {flows}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200, help="TrainJobs per phase")
    parser.add_argument("--workers", type=int, default=2, help="worker pods per TrainJob")
    parser.add_argument(
        "--idle-seconds", type=float, default=60.0, help="idle window after the burst (0: none)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for a phase's children")
    parser.add_argument("--operator-log", type=Path, help="keep the operator's log here")
    parser.add_argument(
        "--operator-source", type=Path, help="run the operator of this checkout (to compare versions)"
    )
    parser.add_argument(
        "--controller-qps",
        type=int,
        help="kube-controller-manager's client QPS (default: its own, 20): the Job controller "
        "creates the pods, and at its default it is slower than any client at 200 jobs",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the control plane to the last CPU")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of both phases")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    control_plane_cpus, client_cpus = {cpus[-1]}, set(cpus[:-1]) or set(cpus)
    pin = not args.no_pin and len(cpus) > 1
    controller_manager_flags = (
        []
        if args.controller_qps is None
        else [
            f"--kube-api-qps={args.controller_qps}",
            f"--kube-api-burst={2 * args.controller_qps}",
        ]
    )
    control_plane = ControlPlane(build_binaries(), controller_manager_flags=controller_manager_flags)
    rounds: list[tuple[Phase, Phase, OperatorUsage]] = []
    with tempfile.TemporaryDirectory() as scratch, control_plane as cp:
        if pin:
            for process in cp.processes.values():
                os.sched_setaffinity(process.pid, control_plane_cpus)
            os.sched_setaffinity(0, client_cpus)
        install_crd(cp)
        operator_kubeconfig = attributed_user(cp, OPERATOR_USER, OPERATOR_ITEMIZED)
        loop_kubeconfig = attributed_user(cp, LOOP_USER)
        log = args.operator_log or Path(scratch) / "operator.log"
        for number in range(args.rounds):
            baseline = run_baseline(
                cp, loop_kubeconfig, f"baseline-{number}", args.jobs, args.workers, args.timeout
            )
            operator, usage = run_operator_phase(
                cp,
                operator_kubeconfig,
                loop_kubeconfig,
                f"operator-{number}",
                args.jobs,
                args.workers,
                args.timeout,
                args.idle_seconds if number == 0 else 0.0,
                client_cpus if pin else None,
                log.with_name(f"{log.stem}-{number}{log.suffix}") if args.rounds > 1 else log,
                args.operator_source,
                delete_after=number + 1 < args.rounds,
            )
            rounds.append((baseline, operator, usage))
    for number, (baseline, operator, usage) in enumerate(rounds):
        print(f"=== round {number + 1} of {args.rounds}")
        report_phase(baseline)
        report_phase(operator)
        report_usage(usage, args.jobs + 1)
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"control plane pinned: {pin}; controller-manager QPS: {args.controller_qps or 'default'}"
    )
    pods_p50 = [percentile(operator.latencies(operator.children_seen), 0.5) for _, operator, _ in rounds]
    jobs_ratios = [operator.total_jobs_s / baseline.total_jobs_s for baseline, operator, _ in rounds]
    ratios = [operator.total_s / baseline.total_s for baseline, operator, _ in rounds]
    rss = max(usage.peak_rss_bytes for _, _, usage in rounds) / 2**20
    print(f"per round, ratio to all children: {', '.join(f'{ratio:.3f}' for ratio in ratios)}")
    jobs_ratio = statistics.median(jobs_ratios)
    print(f"ratio operator/plain loop, first create to all Jobs (median): {jobs_ratio:.3f}")
    print(
        f"targets: p50 apply-to-pods {statistics.median(pods_p50):.3f} s (median of rounds; < 1 s), "
        f"peak RSS {rss:.0f} MiB (< 250 MiB), total ratio (< 1.5) below"
    )
    print(
        "ratio operator/plain loop, first create to all children (median of rounds): "
        f"{statistics.median(ratios):.3f}"
    )


def report_usage(usage: OperatorUsage, pending: int) -> None:
    """Print the operator process's costs: the burst, and the idle window if there was one."""
    print(
        f"  operator: {usage.busy_cpu_s:.2f} CPU s for the burst ({usage.start_cpu_s:.2f} s to start and "
        f"warm up); peak RSS {usage.peak_rss_bytes / 2**20:.0f} MiB"
    )
    if usage.idle_s:
        minutes = usage.idle_s / 60
        idle = sum(usage.idle_requests.values())
        print(
            f"  idle ({usage.idle_s:.0f} s, {pending} pending jobs): "
            f"{idle / minutes / pending:.2f} requests per job per minute, "
            f"{usage.idle_cpu_s / minutes:.2f} CPU s per minute; "
            f"per job per minute: {per_job(usage.idle_requests, minutes * pending)}"
        )


if __name__ == "__main__":
    main()
