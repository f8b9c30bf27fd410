"""A connection to a cluster, chosen from the user's kubeconfig as kubectl chooses it."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from kubernetes.client.exceptions import ApiException

DEFAULT_KUBECONFIG = "~/.kube/config"
DEFAULT_NAMESPACE = "default"
#: Where a pod finds its own namespace.
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class ClusterError(RuntimeError):
    """The cluster cannot be reached or answered with an error; the message says why, for people.

    `status` is the apiserver's HTTP status, when it answered.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Cluster:
    """An API client for one kubeconfig context, and the namespace commands act in."""

    api: ApiClient
    context: str
    namespace: str


def kubeconfig_paths(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Where the kubeconfig is: `--kubeconfig`, else `$KUBECONFIG`, else ~/.kube/config."""
    env = os.environ if environ is None else environ
    return explicit or env.get("KUBECONFIG") or DEFAULT_KUBECONFIG


def connect(
    kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None
) -> Cluster:
    """Connect with the kubeconfig's current context (or `context`).

    The namespace is `namespace`, else the context's own, else `default`, as with kubectl.
    """
    from kubernetes import config

    paths = kubeconfig_paths(kubeconfig)
    try:
        contexts, current = config.list_kube_config_contexts(paths)
    except config.ConfigException as error:
        raise ClusterError(
            f"no usable kubeconfig at {paths} ({error}): pass --kubeconfig or set KUBECONFIG"
        ) from error
    chosen = current if context is None else next((c for c in contexts if c["name"] == context), None)
    if chosen is None:
        names = ", ".join(c["name"] for c in contexts) or "none"
        raise ClusterError(f'context "{context}" is not in the kubeconfig (contexts: {names})')
    try:
        api = config.new_client_from_config(paths, context=chosen["name"], persist_config=False)
    except config.ConfigException as error:
        raise ClusterError(f'kubeconfig context "{chosen["name"]}": {error}') from error
    own_namespace = (chosen.get("context") or {}).get("namespace")
    return Cluster(api=api, context=chosen["name"], namespace=namespace or own_namespace or DEFAULT_NAMESPACE)


@contextlib.contextmanager
def api_errors(what: str) -> Iterator[None]:
    """Turn the client's exceptions into a ClusterError that says what failed (`what`: the object)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as error:
        if error.status == HTTPStatus.NOT_FOUND:
            raise ClusterError(f"{what} not found", error.status) from error
        raise ClusterError(f"{what}: {api_message(error)}", error.status) from error
    except HTTPError as error:
        raise ClusterError(f"{what}: cannot reach the apiserver: {error}") from error


def api_message(error: ApiException) -> str:
    """The apiserver's own message in an error response (a Status object), else the HTTP status."""
    try:
        return str(json.loads(error.body or "")["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {error.status} {error.reason}".strip()


def connect_in_cluster(namespace: str | None = None) -> Cluster:
    """Connect as the pod's ServiceAccount (in a cluster); the namespace is `namespace`, else the pod's."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException as error:
        raise ClusterError(f"not inside a cluster: {error}") from error
    if namespace is None:
        try:
            with open(SERVICE_ACCOUNT_NAMESPACE) as handle:
                namespace = handle.read().strip()
        except OSError:
            namespace = DEFAULT_NAMESPACE
    return Cluster(api=client.ApiClient(), context="in-cluster", namespace=namespace)
