"""When the objects of each TrainJob appear, timed by watches of their collections.

One list-then-watch thread per collection of a namespace records the moment each object was
first seen (`time.monotonic()` on the watch event's arrival), grouped by the TrainJob it
belongs to: the object's own name for TrainJobs, its `trainjob.dev/name` label for children
and worker pods. Creation timestamps on the objects are whole seconds, too coarse for this.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from tests.cluster import Kube
from tests.cluster.informer import run_informer
from trainjob_api.names import LABEL_NAME

#: The collections of one namespace, by kind, that a TrainJob's objects live in.
COLLECTIONS = {
    "TrainJob": "/apis/trainjob.dev/v1alpha1/namespaces/{namespace}/trainjobs",
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
    "Service": "/api/v1/namespaces/{namespace}/services",
    "Job": "/apis/batch/v1/namespaces/{namespace}/jobs",
    "Pod": "/api/v1/namespaces/{namespace}/pods",
}
#: Decides, from a TrainJob as a watch delivers it, whether its status has caught up.
Settled = Callable[[Mapping[str, Any]], bool]


def owner(kind: str, obj: Mapping[str, Any]) -> str | None:
    """The TrainJob an object belongs to (None for objects of no TrainJob, like `default`)."""
    metadata = obj["metadata"]
    if kind == "TrainJob":
        return metadata["name"]
    return (metadata.get("labels") or {}).get(LABEL_NAME)


class Arrivals:
    """First-seen times of every TrainJob's objects in one namespace, kept up to date by watches."""

    def __init__(self, kube: Kube, namespace: str, settled: Settled | None = None) -> None:
        self._kube = kube
        self._namespace = namespace
        self._settled = settled
        self._stop = threading.Event()
        self._changed = threading.Condition()
        #: kind -> TrainJob name -> object name -> first seen (monotonic seconds).
        self.first_seen: defaultdict[str, defaultdict[str, dict[str, float]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        #: TrainJob name -> when a watch first delivered it with `settled(trainjob)` true.
        self.settled_at: dict[str, float] = {}
        self._synced = {kind: threading.Event() for kind in COLLECTIONS}
        self._threads = [
            threading.Thread(target=self._watch, args=(kind, path), name=f"arrivals-{kind}", daemon=True)
            for kind, path in COLLECTIONS.items()
        ]

    def __enter__(self) -> Arrivals:
        """Start the watches; returns once every collection has been listed."""
        for thread in self._threads:
            thread.start()
        for kind, synced in self._synced.items():
            if not synced.wait(60):
                raise TimeoutError(f"the watch of {kind} did not start within 60 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)

    def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until `done()` (checked at every arrival, at least once a second); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 1.0))
        return True

    def complete_at(self, name: str, kinds: Mapping[str, int]) -> float | None:
        """When the last of TrainJob `name`'s objects of `kinds` (kind -> how many) arrived, or None."""
        times = []
        for kind, count in kinds.items():
            seen = self.first_seen[kind][name]
            if len(seen) < count:
                return None
            times.extend(sorted(seen.values())[:count])
        return max(times)

    def _watch(self, kind: str, path: str) -> None:
        def record(event: str, obj: dict[str, Any]) -> None:
            name = owner(kind, obj)
            if event == "DELETED" or name is None:
                return
            now = time.monotonic()
            with self._changed:
                self.first_seen[kind][name].setdefault(obj["metadata"]["name"], now)
                if (
                    self._settled
                    and kind == "TrainJob"
                    and name not in self.settled_at
                    and self._settled(obj)
                ):
                    self.settled_at[name] = now
                self._changed.notify_all()

        path = path.format(namespace=self._namespace)
        run_informer(self._kube, path, record, self._stop, synced=self._synced[kind])
