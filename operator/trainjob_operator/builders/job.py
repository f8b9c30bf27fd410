"""The workers as one batch/v1 Indexed Job: `numNodes` pods, pod i has completion index i = node rank.

The Job's own `backoffLimit` is 0: DDP cannot survive a lost rank, so the first failed pod fails
the Job at once (the Job controller then stops the other pods), and the operator restarts the
whole group from its own budget (`runPolicy.backoffLimit`), which lives in the TrainJob's status
and so survives the Job's deletion. Per-index retries (`backoffLimitPerIndex`) or a
`podFailurePolicy` would restart one rank alone, which a DDP group cannot rejoin.

Suspension, Kueue admission and pod lifecycle come from the Job controller: `spec.suspend`
starts as the TrainJob's `runPolicy.suspend`, or true when a Kueue queue is named (Kueue then
resumes the Job when it admits it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from trainjob_api.names import (
    ANNOTATION_SUSPEND,
    ANNOTATION_TEMPLATE_HASH,
    KUEUE_PREFIX,
    KUEUE_QUEUE_LABEL,
    LABEL_ATTEMPT,
    job_name,
)
from trainjob_operator.builders.meta import Body, child_metadata
from trainjob_operator.builders.pod import pod_template


def template_hash(nodes: int, template: Mapping[str, Any]) -> str:
    """A digest of what a Job runs (its size and pod template), to notice a changed spec."""
    text = json.dumps({"nodes": nodes, "template": template}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def desired_template_hash(trainjob: Body, attempt: int) -> str:
    """The template hash the Job of attempt `attempt` should carry for the current spec."""
    return template_hash(trainjob["spec"]["numNodes"], pod_template(trainjob, attempt))


def kueue_labels(trainjob: Body) -> dict[str, str]:
    """The TrainJob's Kueue labels (queue name, priority class), which Kueue reads from the Job."""
    labels = trainjob["metadata"].get("labels") or {}
    return {key: value for key, value in labels.items() if key.startswith(KUEUE_PREFIX)}


def suspend_label_value(suspend: bool) -> str:
    """How `runPolicy.suspend` is recorded on the Job (see `ANNOTATION_SUSPEND`)."""
    return "true" if suspend else "false"


def worker_job(trainjob: Body, attempt: int, deadline_seconds: int | None = None) -> dict[str, Any]:
    """The Indexed Job of attempt `attempt`; `deadline_seconds` is what is left of activeDeadlineSeconds."""
    spec = trainjob["spec"]
    nodes = spec["numNodes"]
    template = pod_template(trainjob, attempt)
    suspend = spec["runPolicy"]["suspend"]
    labels = {**kueue_labels(trainjob), LABEL_ATTEMPT: str(attempt)}
    annotations = {
        ANNOTATION_TEMPLATE_HASH: template_hash(nodes, template),
        ANNOTATION_SUSPEND: suspend_label_value(suspend),
    }
    job_spec: dict[str, Any] = {
        "completions": nodes,
        "parallelism": nodes,
        "completionMode": "Indexed",
        "backoffLimit": 0,
        "suspend": suspend or KUEUE_QUEUE_LABEL in labels,
        "template": template,
    }
    if deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": child_metadata(
            trainjob, job_name(trainjob["metadata"]["name"]), labels=labels, annotations=annotations
        ),
        "spec": job_spec,
    }
