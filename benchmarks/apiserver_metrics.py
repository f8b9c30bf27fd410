"""Request counts from the apiserver's `/metrics`, and attribution of one client's requests.

`apiserver_request_total` counts requests by verb and resource, but not by client. API Priority
and Fairness does know the client: a FlowSchema that matches one user counts that user's
requests in `apiserver_flowcontrol_dispatched_requests_total{flow_schema=...}`. `attributed_user`
creates such a FlowSchema (on the `exempt` priority level, so it is never queued, as an admin
is not) and a cluster-admin binding for the user.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.cluster import ControlPlane, Kube

_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')
REQUESTS = "apiserver_request_total"
DISPATCHED = "apiserver_flowcontrol_dispatched_requests_total"
FLOW_SCHEMAS = "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"
CLUSTER_ROLE_BINDINGS = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"


@dataclass(frozen=True)
class Scrape:
    """Counters read from one `/metrics` answer."""

    #: Requests by (verb, resource, subresource); the group is left out (resource names suffice here).
    requests: Counter[tuple[str, str, str]]
    #: Requests dispatched by API Priority and Fairness, by FlowSchema.
    by_flow_schema: Counter[str]

    def __sub__(self, earlier: Scrape) -> Scrape:
        return Scrape(self.requests - earlier.requests, self.by_flow_schema - earlier.by_flow_schema)


def parse(text: str) -> Scrape:
    """The request counters of a Prometheus text answer."""
    requests: Counter[tuple[str, str, str]] = Counter()
    flows: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith((REQUESTS, DISPATCHED)):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        value = int(float(match["value"]))
        if match["name"] == REQUESTS:
            requests[(labels["verb"], labels["resource"], labels["subresource"])] += value
        elif match["name"] == DISPATCHED:
            flows[labels["flow_schema"]] += value
    return Scrape(requests, flows)


def scrape(kube: Kube) -> Scrape:
    """Read the apiserver's request counters now."""
    return parse(kube.text("/metrics"))


def attributed_user(cp: ControlPlane, user: str, timeout: float = 60.0) -> Path:
    """A kubeconfig for `user` (cluster-admin) whose requests count under the FlowSchema `user`."""
    cp.admin.create(
        CLUSTER_ROLE_BINDINGS,
        {
            "metadata": {"name": user},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )
    everything = {
        "verbs": ["*"],
        "apiGroups": ["*"],
        "resources": ["*"],
        "namespaces": ["*"],
        "clusterScope": True,
    }
    cp.admin.create(
        FLOW_SCHEMAS,
        {
            "metadata": {"name": user},
            "spec": {
                "matchingPrecedence": 100,
                "priorityLevelConfiguration": {"name": "exempt"},
                "rules": [
                    {
                        "subjects": [{"kind": "User", "user": {"name": user}}],
                        "resourceRules": [everything],
                        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    }
                ],
            },
        },
    )
    credentials = cp.credentials(user)
    client = Kube(cp.server, cp.ca.cert, cert=credentials)
    deadline = time.monotonic() + timeout
    while not scrape(cp.admin).by_flow_schema[user]:  # the FlowSchema takes effect in moments
        if time.monotonic() > deadline:
            raise TimeoutError(f"the FlowSchema {user!r} did not take effect within {timeout} s")
        client.get("/version")
        time.sleep(0.2)
    return cp.write_kubeconfig(user, credentials)
