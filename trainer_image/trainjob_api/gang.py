"""Gang scheduling: the TrainJob's `spec.podGroupPolicy` and the names the gang schedulers read.

A DDP group cannot train with some of its ranks, so two half-scheduled jobs that hold part of a
cluster each wait for each other forever. `podGroupPolicy` asks for all-or-nothing scheduling of
the workers: the operator creates a PodGroup of `numNodes` members for the scheduler named by
the policy's one field, and links every worker pod to it (see `trainjob_operator.builders.podgroup`).
"""

from __future__ import annotations

from enum import StrEnum

from trainjob_api.objectmeta import DNS_SUBDOMAIN, MAX_DNS_SUBDOMAIN
from trainjob_api.openapi import Schema, integer, obj, rule, string


class GangScheduler(StrEnum):
    """The gang schedulers `spec.podGroupPolicy` can name (its one field)."""

    #: kube-scheduler's own gang scheduling (Kubernetes 1.35+, alpha): scheduling.k8s.io/v1alpha2.
    NATIVE = "native"
    #: The coscheduling plugin of kubernetes-sigs/scheduler-plugins: scheduling.x-k8s.io/v1alpha1.
    COSCHEDULING = "coscheduling"
    #: Volcano: scheduling.volcano.sh/v1beta1.
    VOLCANO = "volcano"


#: The PodGroup of each scheduler: (apiVersion, plural).
POD_GROUP_APIS = {
    GangScheduler.NATIVE: ("scheduling.k8s.io/v1alpha2", "podgroups"),
    GangScheduler.COSCHEDULING: ("scheduling.x-k8s.io/v1alpha1", "podgroups"),
    GangScheduler.VOLCANO: ("scheduling.volcano.sh/v1beta1", "podgroups"),
}
#: The scheduler name the scheduler-plugins Helm chart gives its second scheduler.
COSCHEDULING_SCHEDULER = "scheduler-plugins-scheduler"
#: Volcano's scheduler name.
VOLCANO_SCHEDULER = "volcano"
#: The pod label that names a pod's coscheduling PodGroup.
COSCHEDULING_POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
#: The pod annotation that names a pod's Volcano PodGroup.
VOLCANO_POD_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
#: int32, as the schedulers' own fields.
MAX_INT32 = 2**31 - 1


def _scheduler_name(default: str | None) -> Schema:
    """The `schedulerName` of the worker pods under a policy."""
    said = f" Default: `{default}`." if default else " Default: the pod's default (`default-scheduler`)."
    return string(
        "The scheduler that runs this gang scheduling, set as the worker pods' `schedulerName`." + said,
        max_length=MAX_DNS_SUBDOMAIN,
        pattern=DNS_SUBDOMAIN,
        default=default,
    )


NATIVE_POLICY = obj(
    "kube-scheduler's own gang scheduling: a `scheduling.k8s.io/v1alpha2` PodGroup with "
    "`schedulingPolicy.gang.minCount: numNodes`, and every worker pod's `spec.schedulingGroup` "
    "naming it. Needs the GenericWorkload and GangScheduling feature gates (alpha) and the "
    "`scheduling.k8s.io/v1alpha2` API (see docs/platform.md).",
    {"schedulerName": _scheduler_name(None)},
)

COSCHEDULING_POLICY = obj(
    "The coscheduling plugin of kubernetes-sigs/scheduler-plugins: a `scheduling.x-k8s.io/v1alpha1` "
    "PodGroup with `minMember: numNodes`, and the `scheduling.x-k8s.io/pod-group` label on every "
    "worker pod.",
    {
        "scheduleTimeoutSeconds": integer(
            "How long the workers that already got a place wait for the others before the plugin "
            "gives their places back and tries the whole group again. Unset: the plugin's default.",
            minimum=1,
            maximum=MAX_INT32,
        ),
        "schedulerName": _scheduler_name(COSCHEDULING_SCHEDULER),
    },
)

VOLCANO_POLICY = obj(
    "Volcano: a `scheduling.volcano.sh/v1beta1` PodGroup with `minMember: numNodes` (and the "
    "workers' `podTemplate.priorityClassName`), and the `scheduling.k8s.io/group-name` annotation "
    "on every worker pod.",
    {
        "queue": string(
            "The Volcano queue of the workers. Unset: Volcano's `default` queue.",
            max_length=MAX_DNS_SUBDOMAIN,
            pattern=DNS_SUBDOMAIN,
        ),
        "schedulerName": _scheduler_name(VOLCANO_SCHEDULER),
    },
)

POD_GROUP_POLICY = obj(
    "Gang scheduling: all workers are scheduled together or none is, so that two jobs that each "
    "fit only partly never hold part of the cluster while waiting for each other. Exactly one "
    "field names the scheduler. Unset: the workers are scheduled one by one.",
    {
        GangScheduler.NATIVE.value: NATIVE_POLICY,
        GangScheduler.COSCHEDULING.value: COSCHEDULING_POLICY,
        GangScheduler.VOLCANO.value: VOLCANO_POLICY,
    },
    rules=[
        rule(
            " + ".join(f"(has(self.{name}) ? 1 : 0)" for name in GangScheduler) + " == 1",
            "podGroupPolicy must name exactly one gang scheduler: native, coscheduling or volcano",
            reason="FieldValueInvalid",
        )
    ],
)


def gang_scheduler(policy: dict[str, object] | None) -> GangScheduler | None:
    """The scheduler a (valid) `spec.podGroupPolicy` names; None without one."""
    return next((scheduler for scheduler in GangScheduler if scheduler in (policy or {})), None)
