"""The few Kubernetes API calls the operator makes, as plain dicts, with the official client.

Objects of API groups (TrainJobs, Jobs, Roles) go through the client's CustomObjectsApi, which
speaks plain dicts and JSON merge patches for any group; the core objects (pods, Services,
ServiceAccounts) through CoreV1Api, reading raw JSON (`_preload_content=False`) rather than the
client's models, which break on fields they do not know. The client is synchronous: every call
runs in a worker thread so that kopf's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import kubernetes.client
import kubernetes.config
from kubernetes.client.exceptions import ApiException

from trainjob_operator.api.names import GROUP, PLURAL, VERSION

T = TypeVar("T")


@dataclass(frozen=True)
class Resource:
    """A namespaced resource of an API group ("" for the core group)."""

    group: str
    version: str
    plural: str


TRAINJOBS = Resource(GROUP, VERSION, PLURAL)
JOBS = Resource("batch", "v1", "jobs")
#: The resource of every kind of child the builders make.
RESOURCES_BY_KIND = {
    "ServiceAccount": Resource("", "v1", "serviceaccounts"),
    "Service": Resource("", "v1", "services"),
    "Role": Resource("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": Resource("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "Job": JOBS,
}


def client_configuration() -> kubernetes.client.Configuration:
    """Credentials from the pod's ServiceAccount, or else from the kubeconfig (as kopf's login does)."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=configuration)
    return configuration


def error_message(error: ApiException) -> str:
    """The apiserver's message from an error response (a Status object), else the HTTP reason."""
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


class KubeApi:
    """Async access to TrainJobs, their Jobs, pods and other children."""

    def __init__(self, client: kubernetes.client.ApiClient) -> None:
        self._custom = kubernetes.client.CustomObjectsApi(client)
        self._core = kubernetes.client.CoreV1Api(client)

    async def _run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(functools.partial(call, *args, **kwargs))

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """One object of an API group, or None if it does not exist."""
        coordinates = (resource.group, resource.version, namespace, resource.plural, name)
        try:
            return await self._run(self._custom.get_namespaced_custom_object, *coordinates)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """The pods with the given labels, as dicts."""
        response = await self._run(
            self._core.list_namespaced_pod, namespace, label_selector=label_selector, _preload_content=False
        )
        return list(json.loads(response.data).get("items") or [])

    async def event_messages(self, namespace: str, uid: str, reason: str) -> list[str]:
        """The messages of the Events about object `uid` with `reason`, oldest first."""
        selector = f"involvedObject.uid={uid},reason={reason}"
        response = await self._run(
            self._core.list_namespaced_event, namespace, field_selector=selector, _preload_content=False
        )
        events = json.loads(response.data).get("items") or []
        events.sort(key=_event_time)
        return [str(event.get("message") or "") for event in events]

    async def create(self, body: Mapping[str, Any]) -> bool:
        """Create a child built by the builders; False if it already exists."""
        resource = RESOURCES_BY_KIND[body["kind"]]
        namespace = body["metadata"]["namespace"]
        if resource.group:
            call = functools.partial(
                self._custom.create_namespaced_custom_object,
                resource.group,
                resource.version,
                namespace,
                resource.plural,
            )
        else:
            create_core = {"services": self._core.create_namespaced_service}
            create_core["serviceaccounts"] = self._core.create_namespaced_service_account
            call = functools.partial(create_core[resource.plural], namespace, _preload_content=False)
        try:
            await self._run(call, dict(body))
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True

    async def patch(self, resource: Resource, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Apply a JSON merge patch to an object of an API group."""
        coordinates = (resource.group, resource.version, namespace, resource.plural, name)
        await self._run(self._custom.patch_namespaced_custom_object, *coordinates, dict(patch))

    async def patch_status(
        self, resource: Resource, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """Apply a JSON merge patch of the `status` (its fields only) through the status subresource."""
        coordinates = (resource.group, resource.version, namespace, resource.plural, name)
        body = {"status": dict(patch)}
        await self._run(self._custom.patch_namespaced_custom_object_status, *coordinates, body)

    async def delete(
        self, resource: Resource, namespace: str, name: str, propagation: str = "Background"
    ) -> None:
        """Delete an object of an API group; one that is already gone is fine."""
        coordinates = (resource.group, resource.version, namespace, resource.plural, name)
        call = self._custom.delete_namespaced_custom_object
        await _gone_is_fine(self._run(call, *coordinates, propagation_policy=propagation))

    async def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod; one that is already gone is fine."""
        await _gone_is_fine(
            self._run(self._core.delete_namespaced_pod, name, namespace, _preload_content=False)
        )


def _event_time(event: Mapping[str, Any]) -> str:
    """When an Event last happened (RFC 3339, so that strings sort in time order)."""
    series = event.get("series") or {}
    return str(series.get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime") or "")


async def _gone_is_fine(deletion: Awaitable[Any]) -> None:
    try:
        await deletion
    except ApiException as error:
        if error.status != 404:
            raise
