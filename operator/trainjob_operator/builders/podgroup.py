"""The PodGroup of a gang-scheduled TrainJob (`spec.podGroupPolicy`), and how the worker pods name it.

One PodGroup of `numNodes` members, for the scheduler the policy names:

- native: `scheduling.k8s.io/v1alpha2` PodGroup with `schedulingPolicy.gang.minCount`; pods name it
  in `spec.schedulingGroup.podGroupName`. No Workload object: kube-scheduler reads PodGroups only,
  a PodGroup's `podGroupTemplateRef` is optional, and a Workload's templates are immutable while
  `numNodes` may still change before the workers first run.
- coscheduling: `scheduling.x-k8s.io/v1alpha1` PodGroup with `minMember`; pods carry its label.
- volcano: `scheduling.volcano.sh/v1beta1` PodGroup with `minMember`, queue and priority class;
  pods carry its annotation.

The PodGroup is owned by the TrainJob (garbage-collected with it) and created before the Job.
Every attempt of the same spec uses the same PodGroup: a group restart deletes the old pods
first, so the new ones form the gang anew. Its name ends in a digest of what it asks for, so a
spec changed before the workers first ran (`numNodes`, the policy) gets a new PodGroup rather
than an old one with a stale member count (a native PodGroup's spec is immutable). The Job
controller's own Workload/PodGroup creation (feature gate WorkloadWithJob) leaves these Jobs
alone: it skips pod templates that already name a scheduling group.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from trainjob_api.gang import (
    COSCHEDULING_POD_GROUP_LABEL,
    POD_GROUP_APIS,
    VOLCANO_POD_GROUP_ANNOTATION,
    GangScheduler,
    gang_scheduler,
)
from trainjob_operator.builders.meta import Body, child_metadata

#: Hex digits of the spec digest in a PodGroup's name: `<trainjob>-<digest>` stays a label value
#: (at most 63 characters, as the coscheduling label needs) for the longest TrainJob name.
DIGEST_LENGTH = 6


def _policy(trainjob: Body) -> tuple[GangScheduler, dict[str, Any]] | None:
    """The scheduler `spec.podGroupPolicy` names and its options; None without gang scheduling."""
    policy = trainjob["spec"].get("podGroupPolicy")
    scheduler = gang_scheduler(policy)
    return None if scheduler is None else (scheduler, dict(policy[scheduler]))


def _group_spec(trainjob: Body, scheduler: GangScheduler, options: dict[str, Any]) -> dict[str, Any]:
    """The PodGroup's `spec` for `scheduler`."""
    nodes = trainjob["spec"]["numNodes"]
    if scheduler is GangScheduler.NATIVE:
        return {"schedulingPolicy": {"gang": {"minCount": nodes}}}
    spec: dict[str, Any] = {"minMember": nodes}
    if scheduler is GangScheduler.COSCHEDULING:
        if "scheduleTimeoutSeconds" in options:
            spec["scheduleTimeoutSeconds"] = options["scheduleTimeoutSeconds"]
        return spec
    if "queue" in options:
        spec["queue"] = options["queue"]
    priority = trainjob["spec"].get("podTemplate", {}).get("priorityClassName")
    if priority:
        spec["priorityClassName"] = priority
    return spec


def _name(trainjob: Body, scheduler: GangScheduler, spec: dict[str, Any]) -> str:
    """`<trainjob>-<digest of the scheduler and the group's spec>`."""
    text = json.dumps({"scheduler": scheduler.value, "spec": spec}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]
    return f"{trainjob['metadata']['name']}-{digest}"


def pod_group(trainjob: Body) -> dict[str, Any] | None:
    """The TrainJob's PodGroup, or None when it asks for no gang scheduling."""
    chosen = _policy(trainjob)
    if chosen is None:
        return None
    scheduler, options = chosen
    spec = _group_spec(trainjob, scheduler, options)
    api_version, _ = POD_GROUP_APIS[scheduler]
    return {
        "apiVersion": api_version,
        "kind": "PodGroup",
        "metadata": child_metadata(trainjob, _name(trainjob, scheduler, spec)),
        "spec": spec,
    }


def pod_group_link(trainjob: Body) -> dict[str, Any]:
    """What every worker pod carries to join the PodGroup: {"labels", "annotations", "spec"} fields.

    Empty without gang scheduling.
    """
    chosen = _policy(trainjob)
    if chosen is None:
        return {}
    scheduler, options = chosen
    name = _name(trainjob, scheduler, _group_spec(trainjob, scheduler, options))
    spec: dict[str, Any] = {}
    if options.get("schedulerName"):
        spec["schedulerName"] = options["schedulerName"]
    if scheduler is GangScheduler.NATIVE:
        return {"spec": {**spec, "schedulingGroup": {"podGroupName": name}}}
    if scheduler is GangScheduler.COSCHEDULING:
        return {"labels": {COSCHEDULING_POD_GROUP_LABEL: name}, "spec": spec}
    return {"annotations": {VOLCANO_POD_GROUP_ANNOTATION: name}, "spec": spec}
