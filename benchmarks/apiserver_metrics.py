"""Request counts from the apiserver's `/metrics`, and attribution of one client's requests.

`apiserver_request_total` counts requests by verb and resource, but not by client. API Priority
and Fairness does know the client: a FlowSchema that matches one user counts that user's
requests in `apiserver_flowcontrol_dispatched_requests_total{flow_schema=...}`. `attributed_user`
creates such FlowSchemas (on the `exempt` priority level, so that they are never queued, as an
admin is not), one per verb and resource to itemize, and a cluster-admin binding for the user.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def flow_schema(
    name: str,
    subject: dict[str, Any],
    *,
    precedence: int = 100,
    level: str = "exempt",
    verb: str = "*",
    resource: str = "*",
) -> dict[str, Any]:
    """A FlowSchema that sends `subject`'s requests of `verb` on `resource` to priority `level`.

    `subject` as in a FlowSchema rule, e.g. `{"kind": "User", "user": {"name": "alice"}}`.
    """
    rule: dict[str, Any] = {
        "subjects": [subject],
        "resourceRules": [
            {
                "verbs": [verb],
                "apiGroups": ["*"],
                "resources": [resource],
                "namespaces": ["*"],
                "clusterScope": True,
            }
        ],
    }
    if verb == "*" and resource == "*":
        rule["nonResourceRules"] = [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
    return {
        "metadata": {"name": name},
        "spec": {
            "matchingPrecedence": precedence,
            "priorityLevelConfiguration": {"name": level},
            "rules": [rule],
        },
    }


def itemized_name(user: str, verb: str, resource: str) -> str:
    """The FlowSchema that counts `user`'s requests of `verb` on `resource`."""
    return f"{user}.{verb}.{resource.replace('/', '-')}"


def attributed_user(
    cp: ControlPlane, user: str, itemized: Iterable[tuple[str, str]] = (), timeout: float = 60.0
) -> Path:
    """A kubeconfig for `user` (cluster-admin) whose requests the apiserver counts apart.

    Requests of each (verb, resource) in `itemized` count under their own FlowSchema
    (`itemized_name`); all others under the FlowSchema `user`. `requests_by` sums them up.
    """
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
    subject = {"kind": "User", "user": {"name": user}}
    for verb, resource in itemized:
        name = itemized_name(user, verb, resource)
        cp.admin.create(FLOW_SCHEMAS, flow_schema(name, subject, precedence=99, verb=verb, resource=resource))
    cp.admin.create(FLOW_SCHEMAS, flow_schema(user, subject))
    credentials = cp.credentials(user)
    client = Kube(cp.server, cp.ca.cert, cert=credentials)
    deadline = time.monotonic() + timeout
    while not scrape(cp.admin).by_flow_schema[user]:  # the FlowSchemas take effect in moments
        if time.monotonic() > deadline:
            raise TimeoutError(f"the FlowSchema {user!r} did not take effect within {timeout} s")
        client.get("/version")
        time.sleep(0.2)
    return cp.write_kubeconfig(user, credentials)


def requests_by(scrape: Scrape, user: str) -> Counter[str]:
    """`user`'s requests by itemized "verb resource" ("other" for the rest)."""
    counts: Counter[str] = Counter()
    for flow, count in scrape.by_flow_schema.items():
        if flow == user:
            counts["other"] += count
        elif flow.startswith(f"{user}."):
            verb, resource = flow.removeprefix(f"{user}.").split(".", 1)
            counts[f"{verb} {resource.replace('-', '/')}"] += count
    return +counts
