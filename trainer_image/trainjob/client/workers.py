"""A TrainJob's worker pods, which rank each one runs, and their logs through the apiserver."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from trainjob.client.connection import Cluster, ClusterError, api_errors
from trainjob_api.names import COMPLETION_INDEX, LABEL_ATTEMPT, LABEL_NAME, WORKER_CONTAINER

TERMINAL_POD_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Worker:
    """One worker pod: its name, attempt, node rank (the Indexed Job's completion index) and phase.

    Once the worker container has exited: its exit code and the reason (OOMKilled, Error, ...).
    """

    pod: str
    attempt: int
    node_rank: int
    phase: str
    exit_code: int | None = None
    reason: str = ""

    @property
    def ended(self) -> bool:
        """Whether the pod has terminated (its log will not grow any more)."""
        return self.phase in TERMINAL_POD_PHASES


def workers_of(pods: Iterable[Mapping[str, Any]]) -> list[Worker]:
    """The worker pods among `pods` (those not being deleted), by attempt and node rank."""
    workers = []
    for pod in pods:
        metadata = pod.get("metadata") or {}
        labels = metadata.get("labels") or {}
        index = (metadata.get("annotations") or {}).get(COMPLETION_INDEX, labels.get(COMPLETION_INDEX))
        if index is None or metadata.get("deletionTimestamp"):
            continue
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        ended = _terminated(pod)
        workers.append(
            Worker(
                metadata["name"],
                int(labels.get(LABEL_ATTEMPT, 0)),
                int(index),
                phase,
                ended.get("exitCode"),
                ended.get("reason") or "",
            )
        )
    return sorted(workers, key=lambda worker: (worker.attempt, worker.node_rank))


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    """The worker container's `terminated` state (empty while it runs or has not started)."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") == WORKER_CONTAINER:
            return (container.get("state") or {}).get("terminated") or {}
    return {}


def latest_workers(workers: Sequence[Worker], attempt: int) -> list[Worker]:
    """The workers of attempt `attempt`, or of the latest attempt there is if that one has none.

    During a group restart the old attempt's pods are being deleted and the new ones do not
    exist yet: the latest pods there are still tell what happened.
    """
    current = [worker for worker in workers if worker.attempt == attempt]
    if current or not workers:
        return current
    latest = max(worker.attempt for worker in workers)
    return [worker for worker in workers if worker.attempt == latest]


class WorkerPods:
    """The worker pods of the TrainJobs in the cluster's namespace, and their logs."""

    def __init__(self, cluster: Cluster) -> None:
        from kubernetes.client import CoreV1Api

        self.namespace = cluster.namespace
        self._core = CoreV1Api(cluster.api)

    def of(self, name: str) -> list[Worker]:
        """The worker pods of TrainJob `name`, every attempt's."""
        with api_errors(f'pods of trainjob "{name}" in namespace "{self.namespace}"'):
            pods = self._core.list_namespaced_pod(
                self.namespace, label_selector=f"{LABEL_NAME}={name}", _preload_content=False
            )
            return workers_of(pods.json()["items"])

    def phase(self, pod: str) -> str | None:
        """The pod's phase now; None when it no longer exists."""
        try:
            with api_errors(f'pod "{pod}" in namespace "{self.namespace}"'):
                response = self._core.read_namespaced_pod_status(pod, self.namespace, _preload_content=False)
                return (response.json().get("status") or {}).get("phase")
        except ClusterError as error:
            if error.status == HTTPStatus.NOT_FOUND:
                return None
            raise

    def log_lines(self, pod: str, *, follow: bool, previous: bool = False) -> Iterator[str]:
        """The worker container's log, line by line; with `follow`, until the container ends."""
        with api_errors(f'logs of pod "{pod}" in namespace "{self.namespace}"'):
            response = self._core.read_namespaced_pod_log(
                pod,
                self.namespace,
                container=WORKER_CONTAINER,
                follow=follow,
                previous=previous,
                _preload_content=False,
            )
            try:
                yield from split_lines(response.stream(amt=None, decode_content=False))
            finally:
                response.release_conn()


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Lines (without their newline) of a byte stream, decoded as UTF-8; the last one even unterminated."""
    pending = b""
    for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if pending:
        yield pending.decode(errors="replace")
