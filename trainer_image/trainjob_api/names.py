"""Names of the TrainJob API and of the objects the operator creates for a TrainJob."""

from __future__ import annotations

from trainjob_api.types import Body

GROUP = "trainjob.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TrainJob"
PLURAL = "trainjobs"
SINGULAR = "trainjob"
SHORT_NAMES = ("tj",)
CATEGORIES = ("all",)

#: The prefix of every label, annotation and finalizer the operator owns.
PREFIX = GROUP
#: On every child and every worker pod: the name of the TrainJob it belongs to.
LABEL_NAME = f"{PREFIX}/name"
#: On the Job and its pods: which attempt (0 = first run, n = after n group restarts) they belong to.
LABEL_ATTEMPT = f"{PREFIX}/attempt"
#: On the Job: a digest of the worker template it was built from (see `builders.job`).
ANNOTATION_TEMPLATE_HASH = f"{PREFIX}/template-hash"
#: The annotation that asks a running TrainJob to stop: every rank stops at the same step,
#: checkpoints and exits 0 (`trainjob stop NAME` sets it to "true").
STOP_ANNOTATION = f"{PREFIX}/stop-requested"
#: On the Job: the TrainJob's `runPolicy.suspend` the operator last applied to it.
ANNOTATION_SUSPEND = f"{PREFIX}/suspend"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "trainjob-operator"
#: Labels with this prefix on a TrainJob are copied to its Job, so that Kueue queues the workers.
KUEUE_PREFIX = "kueue.x-k8s.io/"
KUEUE_QUEUE_LABEL = f"{KUEUE_PREFIX}queue-name"
#: Set by the Job controller on every pod of an Indexed Job (label and annotation).
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"

#: The headless Service's name is the TrainJob's name plus this suffix.
SERVICE_SUFFIX = "-workers"
#: The per-job ServiceAccount, Role and RoleBinding of the status reporter: name plus this suffix.
REPORTER_SUFFIX = "-reporter"
#: The ConfigMap that keeps a TrainJob's training history: name plus this suffix, under `HISTORY_KEY`.
HISTORY_SUFFIX = "-history"
HISTORY_KEY = "history.json"
#: The container that runs the user's command in every worker pod.
WORKER_CONTAINER = "worker"

MAX_NODES = 1024
MAX_PROC_PER_NODE = 64
#: Kubernetes limits a DNS label (Service name, pod hostname) to 63 characters.
DNS_LABEL_MAX = 63
#: The longest TrainJob name whose Service (`<name>-workers`) and pod hostnames
#: (`<name>-<index>`, index < MAX_NODES) are still DNS labels.
MAX_NAME_LENGTH = DNS_LABEL_MAX - max(len(SERVICE_SUFFIX), len(f"-{MAX_NODES - 1}"))
#: A DNS-1035 label: Service names must also start with a letter.
DNS_1035_LABEL = "^[a-z]([-a-z0-9]*[a-z0-9])?$"


def service_name(name: str) -> str:
    """The headless Service that gives every worker a stable DNS name."""
    return f"{name}{SERVICE_SUFFIX}"


def job_name(name: str) -> str:
    """The Indexed Job of the workers; every attempt reuses it (see `planner`)."""
    return name


def reporter_name(name: str) -> str:
    """The ServiceAccount, Role and RoleBinding of the in-pod status reporter."""
    return f"{name}{REPORTER_SUFFIX}"


def history_name(name: str) -> str:
    """The ConfigMap of the training history (made by the operator, written by the reporter)."""
    return f"{name}{HISTORY_SUFFIX}"


def pod_hostname(name: str, index: int) -> str:
    """The hostname of worker `index`, as the Job controller sets it for an Indexed Job."""
    return f"{job_name(name)}-{index}"


def master_address(name: str, namespace: str) -> str:
    """The DNS name of worker 0 through the headless Service, resolvable from every worker."""
    return f"{pod_hostname(name, 0)}.{service_name(name)}.{namespace}.svc"


def stop_requested(trainjob: Body) -> bool:
    """Whether the TrainJob carries the stop-request annotation set to "true"."""
    annotations = trainjob.get("metadata", {}).get("annotations") or {}
    return str(annotations.get(STOP_ANNOTATION, "")).strip().lower() == "true"
