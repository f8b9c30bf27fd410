"""TrainJobs through the apiserver: get, list, watch one, and ask one to stop."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from trainjob.client.connection import Cluster, ClusterError, api_errors
from trainjob_api.enums import Phase
from trainjob_api.names import GROUP, PLURAL, STOP_ANNOTATION, VERSION

#: Phases after which nothing changes a TrainJob any more.
FINISHED_PHASES = frozenset(phase.value for phase in Phase if phase.finished)

TrainJob = dict[str, Any]


def phase_of(trainjob: TrainJob) -> str:
    """The TrainJob's phase (Pending before the operator has written any status)."""
    return (trainjob.get("status") or {}).get("phase") or Phase.PENDING.value


def is_finished(trainjob: TrainJob) -> bool:
    """Whether the TrainJob has ended (Succeeded or Failed): nothing changes it any more."""
    return phase_of(trainjob) in FINISHED_PHASES


class TrainJobs:
    """The TrainJobs of the cluster's namespace."""

    def __init__(self, cluster: Cluster) -> None:
        from kubernetes.client import CustomObjectsApi

        self.namespace = cluster.namespace
        self._api = CustomObjectsApi(cluster.api)

    def get(self, name: str) -> TrainJob:
        """The TrainJob as the apiserver has it."""
        with api_errors(self._what(name)):
            return self._api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def list(self, all_namespaces: bool = False) -> dict[str, Any]:
        """The TrainJobList of the namespace (or of every namespace)."""
        with api_errors("trainjobs"):
            if all_namespaces:
                return self._api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
            return self._api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)

    def request_stop(self, name: str) -> TrainJob:
        """Set the stop annotation (a merge patch of the metadata); return the patched TrainJob."""
        patch = {"metadata": {"annotations": {STOP_ANNOTATION: "true"}}}
        with api_errors(self._what(name)):
            return self._api.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, patch
            )

    def watch(self, name: str) -> Iterator[TrainJob]:
        """The TrainJob now, then every new version of it, from one watch on that object.

        A watch the apiserver expires (410 Gone) is started again from a fresh read. Raises
        ClusterError when the TrainJob is deleted.
        """
        while True:
            trainjob = self.get(name)
            yield trainjob
            changes = self._events(
                trainjob["metadata"]["resourceVersion"],
                self._what(name),
                field_selector=f"metadata.name={name}",
            )
            for kind, changed in changes:
                if kind == "DELETED":
                    raise ClusterError(f"{self._what(name)} was deleted")
                yield changed

    def changes(self, all_namespaces: bool = False) -> Iterator[tuple[str, TrainJob | list[TrainJob]]]:
        """Every TrainJob of the namespace (or of all), then each change, from one watch on the collection.

        Yields `("SYNC", items)` with the whole list first, and again after the apiserver expires
        the watch (410 Gone, so a relist); in between `("ADDED" | "MODIFIED" | "DELETED", trainjob)`.
        """
        while True:
            listed = self.list(all_namespaces)
            yield "SYNC", list(listed.get("items") or [])
            yield from self._events(
                listed["metadata"]["resourceVersion"], "trainjobs", all_namespaces=all_namespaces
            )

    def _events(
        self, version: str, what: str, *, all_namespaces: bool = False, **query: Any
    ) -> Iterator[tuple[str, TrainJob]]:
        """`(type, trainjob)` of every change after `version`, until the apiserver expires it (410 Gone).

        A watch the apiserver ends now and then goes on from the last version it delivered. Errors
        are ClusterErrors about `what`.
        """
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        collection: tuple[Any, ...] = (
            (self._api.list_cluster_custom_object, GROUP, VERSION, PLURAL)
            if all_namespaces
            else (self._api.list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL)
        )
        with api_errors(what):
            try:
                while True:
                    for event in watch.Watch().stream(
                        *collection, resource_version=version, allow_watch_bookmarks=True, **query
                    ):
                        trainjob = event["raw_object"]
                        version = trainjob["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                            yield event["type"], trainjob
            except ApiException as error:
                if error.status != HTTPStatus.GONE:
                    raise

    def _what(self, name: str) -> str:
        return f'trainjob "{name}" in namespace "{self.namespace}"'
