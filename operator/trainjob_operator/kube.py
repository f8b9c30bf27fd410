"""The few Kubernetes API calls the operator makes, as plain dicts, with the official client.

Every call is a plain REST request (paths built here, JSON in and out, JSON merge patches)
through the client's `ApiClient`, which brings the credentials (kubeconfig or the pod's
ServiceAccount, with token refresh) and a pool of kept-alive connections. The client's models
are not used: they break on fields they do not know. The client is synchronous: every call
runs in a worker thread so that kopf's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import kubernetes.client
import kubernetes.config
from kubernetes.client.exceptions import ApiException

from trainjob_api.names import GROUP, PLURAL, VERSION

T = TypeVar("T")


class PodList(NamedTuple):
    """Pods as listed, and the list's resourceVersion."""

    items: list[dict[str, Any]]
    version: str | None


@dataclass(frozen=True)
class Resource:
    """A namespaced resource of an API group ("" for the core group)."""

    group: str
    version: str
    plural: str


TRAINJOBS = Resource(GROUP, VERSION, PLURAL)
JOBS = Resource("batch", "v1", "jobs")
PODS = Resource("", "v1", "pods")
EVENTS = Resource("", "v1", "events")
WORKLOADS = Resource("kueue.x-k8s.io", "v1beta2", "workloads")
MERGE_PATCH = "application/merge-patch+json"
#: Requests in flight at once (worker threads, and kept-alive connections in the pool). Reconciles
#: of different TrainJobs run concurrently; each waits on the network, not on the CPU.
CONCURRENT_REQUESTS = 32
#: The resource of every kind of child the builders make.
RESOURCES_BY_KIND = {
    "ServiceAccount": Resource("", "v1", "serviceaccounts"),
    "Service": Resource("", "v1", "services"),
    "ConfigMap": Resource("", "v1", "configmaps"),
    "Role": Resource("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": Resource("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "Job": JOBS,
    # one of three API groups (trainjob_api.gang.POD_GROUP_APIS): `resource_of` reads it from the body
    "PodGroup": Resource("scheduling.k8s.io", "v1alpha2", "podgroups"),
}


def client_configuration() -> kubernetes.client.Configuration:
    """Credentials from the pod's ServiceAccount, or else from the kubeconfig (as kopf's login does)."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = CONCURRENT_REQUESTS
    return configuration


def resource_of(body: Mapping[str, Any]) -> Resource:
    """The resource of a child the builders made, in the group and version of its `apiVersion`."""
    group, _, version = str(body["apiVersion"]).rpartition("/")
    return Resource(group, version, RESOURCES_BY_KIND[body["kind"]].plural)


def error_message(error: ApiException) -> str:
    """The apiserver's message from an error response (a Status object), else the HTTP reason."""
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


def group_version_path(resource: Resource) -> str:
    """The API path of a resource's group and version (its discovery document)."""
    return f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"


def collection_path(resource: Resource, namespace: str) -> str:
    """The API path of a namespaced collection."""
    return f"{group_version_path(resource)}/namespaces/{namespace}/{resource.plural}"


class KubeApi:
    """Async access to TrainJobs, their Jobs, pods and other children.

    Plain REST calls through the client's `ApiClient` (its connection pool, credentials and
    token refresh), without the generated API classes: `CoreV1Api` alone takes seconds of CPU
    and some 70 MiB to import, for the few calls this needs.
    """

    def __init__(self, client: kubernetes.client.ApiClient, concurrency: int = CONCURRENT_REQUESTS) -> None:
        self._client = client
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="kube-api")

    async def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> bytes:
        """One request in a worker thread; the response body, or `ApiException` for a non-2xx answer."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        request = functools.partial(
            self._client.param_serialize,
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=None if body is None else dict(body),
            auth_settings=["BearerToken"],
        )
        return await self._run(self._send, request)

    def _send(self, request: Callable[[], tuple[Any, ...]]) -> bytes:
        """Serialize and send (in a worker thread: both take CPU the event loop need not wait on)."""
        response = self._client.call_api(*request())
        data = response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return data

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    async def serves(self, resource: Resource) -> bool:
        """Whether the apiserver serves `resource` (API discovery; a CRD not installed: False)."""
        try:
            discovery = json.loads(await self._request("GET", group_version_path(resource)))
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return any(item.get("name") == resource.plural for item in discovery.get("resources") or [])

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """One object, or None if it does not exist."""
        try:
            return json.loads(await self._request("GET", f"{collection_path(resource, namespace)}/{name}"))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def list_pods(self, namespace: str, label_selector: str) -> PodList:
        """The pods with the given labels, as dicts, and the list's resourceVersion."""
        data = json.loads(
            await self._request(
                "GET", collection_path(PODS, namespace), query={"labelSelector": label_selector}
            )
        )
        return PodList(list(data.get("items") or []), (data.get("metadata") or {}).get("resourceVersion"))

    async def event_messages(self, namespace: str, uid: str, reason: str) -> list[str]:
        """The messages of the Events about object `uid` with `reason`, oldest first."""
        selector = f"involvedObject.uid={uid},reason={reason}"
        data = await self._request(
            "GET", collection_path(EVENTS, namespace), query={"fieldSelector": selector}
        )
        events = json.loads(data).get("items") or []
        events.sort(key=_event_time)
        return [str(event.get("message") or "") for event in events]

    async def list_or_nothing(
        self, resource: Resource, namespace: str, label_selector: str
    ) -> list[dict[str, Any]]:
        """The objects with the given labels; none where the kind is not installed or not ours to read.

        For optional integrations (Kueue's Workloads): a cluster without Kueue answers 404, a chart
        installed without the Kueue integration 403.
        """
        try:
            data = await self._request(
                "GET", collection_path(resource, namespace), query={"labelSelector": label_selector}
            )
        except ApiException as error:
            if error.status in (403, 404):
                return []
            raise
        return list(json.loads(data).get("items") or [])

    async def create(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create a child built by the builders; the object as created, or None if it already exists."""
        path = collection_path(resource_of(body), body["metadata"]["namespace"])
        try:
            return json.loads(await self._request("POST", path, body))
        except ApiException as error:
            if error.status == 409:
                return None
            raise

    async def patch(
        self, resource: Resource, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Apply a JSON merge patch to an object; the object as patched."""
        path = f"{collection_path(resource, namespace)}/{name}"
        return json.loads(await self._request("PATCH", path, patch, content_type=MERGE_PATCH))

    async def patch_status(
        self, resource: Resource, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Apply a JSON merge patch of the `status` (its fields only) through the status subresource.

        Returns the object as patched.
        """
        path = f"{collection_path(resource, namespace)}/{name}/status"
        return json.loads(
            await self._request("PATCH", path, {"status": dict(patch)}, content_type=MERGE_PATCH)
        )

    async def delete(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        propagation: str = "Background",
        *,
        uid: str | None = None,
    ) -> None:
        """Delete an object (only if it is still the object `uid`, when given); one that is gone is fine.

        A changed uid raises `ApiException` 409 (Conflict).
        """
        path = f"{collection_path(resource, namespace)}/{name}"
        options: dict[str, Any] = {"propagationPolicy": propagation}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        await _gone_is_fine(self._request("DELETE", path, options))

    async def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod; one that is already gone is fine."""
        await _gone_is_fine(self._request("DELETE", f"{collection_path(PODS, namespace)}/{name}"))


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
