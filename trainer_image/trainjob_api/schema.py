"""The TrainJob's OpenAPI v3 schema and CEL rules: the one source of truth of the API.

The CRD (`crd.py`), defaulting and the local validator (`validation.py`) are all driven by
`TRAINJOB_SCHEMA`; every field is documented where it is declared.
"""

from __future__ import annotations

from trainjob_api import corev1
from trainjob_api.contract import DEFAULT_MASTER_PORT, RESERVED_PREFIX, RESERVED_VARIABLES
from trainjob_api.corev1 import MAX_ARGUMENT
from trainjob_api.enums import (
    CONDITION_STATUSES,
    PULL_POLICIES,
    Backend,
    CleanPodPolicy,
    Mode,
    Phase,
)
from trainjob_api.gang import POD_GROUP_POLICY
from trainjob_api.names import (
    DNS_1035_LABEL,
    MAX_NAME_LENGTH,
    MAX_NODES,
    MAX_PROC_PER_NODE,
    PREFIX,
)
from trainjob_api.objectmeta import (
    DNS_SUBDOMAIN,
    LABEL_VALUE,
    MAX_DNS_SUBDOMAIN,
    MAX_LABEL_VALUE,
    MAX_QUALIFIED_NAME,
    QUALIFIED_NAME,
)
from trainjob_api.openapi import (
    Schema,
    array,
    boolean,
    integer,
    map_of,
    number,
    obj,
    rule,
    string,
    string_map,
    with_rules,
)

#: Bounds on what CEL rules iterate over or compare, so that the apiserver's cost estimate of each
#: rule stays far below its limit (it assumes the largest request otherwise).
MAX_LIST = 64
MAX_ENV = 256
MAX_STRING = 4096
MAX_MAP = 128
MAX_ARGS = 1024
#: Counts are int32 in Kubernetes' own APIs; the same bound keeps every count sane here.
MAX_COUNT = 2**31 - 1
#: An image reference as the container runtime parses it (distribution/reference): an optional
#: registry host (any case) and port, a lowercase repository path, an optional tag and digest.
IMAGE_REFERENCE = (
    "^(([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9])([.]([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9]))*"
    "(:[0-9]+)?/)?"
    "[a-z0-9]+(([.]|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([.]|_|__|-+)[a-z0-9]+)*)*"
    "(:[A-Za-z0-9_][-A-Za-z0-9_.]{0,127})?"
    "(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)

#: Spec fields that cannot change while the workers run (`status.startTime` is set).
IMMUTABLE_ONCE_STARTED = ("image", "command", "numNodes", "numProcPerNode", "backend")


def _cel_strings(values: tuple[str, ...]) -> str:
    """A CEL list literal of strings."""
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def _keys_rule(what: str) -> Schema:
    """Every key of a map is a label or annotation key, as the apiserver requires of pod metadata."""
    return rule(
        f"self.all(key, key.size() <= {MAX_QUALIFIED_NAME} && key.matches('{QUALIFIED_NAME}'))",
        f"{what} keys must be qualified names: an optional DNS subdomain prefix and '/', then at most 63 "
        "alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character",
        reason="FieldValueInvalid",
    )


def _label_values(description: str) -> Schema:
    """A label value (labels and node selectors)."""
    return string(description, max_length=MAX_LABEL_VALUE, pattern=LABEL_VALUE)


def _dns_subdomain(description: str) -> Schema:
    """The name of an object that must be a DNS subdomain (a ServiceAccount, a PriorityClass)."""
    return string(description, max_length=MAX_DNS_SUBDOMAIN, pattern=DNS_SUBDOMAIN)


ENV_VAR = with_rules(
    corev1.env_var("An environment variable of the worker container."),
    rule(
        f"!(self.name in {_cel_strings(RESERVED_VARIABLES)})",
        "the variable is set by trainjob (the environment contract) and cannot be overridden",
        message_expression="'the variable ' + self.name + ' is set by trainjob (the environment contract) "
        "and cannot be overridden'",
        field_path=".name",
        reason="FieldValueForbidden",
    ),
    rule(
        f"self.name in {_cel_strings(RESERVED_VARIABLES)} || !self.name.startsWith('{RESERVED_PREFIX}')",
        f"{RESERVED_PREFIX}* variables are torchrun's options, which trainjob sets for the rendezvous: "
        "pass torchrun options as arguments instead",
        field_path=".name",
        reason="FieldValueForbidden",
    ),
    rule(
        "self.name.matches('^[ -<>-~]+$')",
        "a valid environment variable name must consist only of printable ASCII characters other than '='",
        field_path=".name",
        reason="FieldValueInvalid",
    ),
)

POD_TEMPLATE = obj(
    "What the operator merges into every worker pod. Nothing here is dropped: a field the operator "
    "also sets is combined with the user's (labels, security contexts) or the user's value wins.",
    {
        "labels": string_map(
            "Labels of the worker pods, added to the operator's own.",
            max_properties=MAX_MAP,
            values=_label_values("A label value."),
            rules=[
                rule(
                    f"self.all(key, !key.startsWith('{PREFIX}/'))",
                    f"labels with the {PREFIX}/ prefix are set by the operator",
                    reason="FieldValueForbidden",
                ),
                _keys_rule("label"),
            ],
        ),
        "annotations": string_map(
            "Annotations of the worker pods.", max_properties=MAX_MAP, rules=[_keys_rule("annotation")]
        ),
        "nodeSelector": string_map(
            "Node labels a worker's node must have.",
            max_properties=MAX_MAP,
            values=_label_values("The label's value."),
            rules=[_keys_rule("node label")],
        ),
        "tolerations": array(
            "Taints the workers tolerate (for example of GPU nodes).",
            corev1.toleration("A toleration."),
            max_items=MAX_LIST,
        ),
        "affinity": corev1.affinity("Node and pod (anti-)affinity of the workers (core/v1 Affinity)."),
        "volumes": array(
            "Volumes of the worker pods (core/v1 Volume), e.g. a PersistentVolumeClaim for data and "
            "checkpoints.",
            corev1.volume("A volume."),
            max_items=MAX_LIST,
            list_type="map",
            map_keys=["name"],
        ),
        "volumeMounts": array(
            "Where `volumes` appear in the worker container.",
            corev1.volume_mount("A volume mount."),
            max_items=MAX_LIST,
            list_type="map",
            map_keys=["mountPath"],
        ),
        "priorityClassName": _dns_subdomain("The PriorityClass of the worker pods."),
        "terminationGracePeriodSeconds": integer(
            "How long a worker may take to stop after SIGTERM (a deletion, a group restart, a stop) "
            "before it is killed; the trainer checkpoints in that time. Kubernetes' default: 30.",
            minimum=0,
            maximum=MAX_COUNT,
        ),
        "serviceAccountName": _dns_subdomain(
            "The ServiceAccount the user's code runs as. By default the workers run as the per-job "
            "ServiceAccount `<name>-reporter`; when this is set, the operator binds the reporter's Role "
            "to this account too, so that the status reporter keeps working."
        ),
        "imagePullSecrets": array(
            "Secrets to pull the image with.",
            corev1.local_object_reference("A Secret in the TrainJob's namespace."),
            max_items=MAX_LIST,
        ),
        "securityContext": corev1.pod_security_context(
            "The pod security context, merged over the operator's defaults (runAsNonRoot, seccomp "
            "RuntimeDefault)."
        ),
        "containerSecurityContext": corev1.security_context(
            "The worker container's security context, merged over the operator's defaults "
            "(no privilege escalation, all capabilities dropped)."
        ),
    },
    rules=[
        rule(
            "!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) && "
            "self.volumes.exists(v, v.name == m.name))",
            "every volumeMount must name a volume in podTemplate.volumes",
            field_path=".volumeMounts",
            reason="FieldValueInvalid",
        )
    ],
)

RUN_POLICY = obj(
    "How the workers are run, restarted, stopped and cleaned up.",
    {
        "backoffLimit": integer(
            "How many times the whole group of workers is restarted after a worker fails (DDP cannot "
            "survive a lost rank). The count is kept in `status.restarts` and never reset.",
            minimum=0,
            maximum=MAX_COUNT,
            default=0,
        ),
        "activeDeadlineSeconds": integer(
            "How long the job may run, from `status.startTime` and across restarts (afresh after a "
            "suspension), before it fails with reason DeadlineExceeded.",
            minimum=1,
        ),
        "progressDeadlineSeconds": integer(
            "How long the running workers may go without reporting progress (the reporter's "
            "`status.progress.lastUpdateTime`, or since they all started running) before the group "
            "counts as hung: it is restarted like a failed group while `backoffLimit` allows, else the "
            "job fails, in both cases with reason ProgressDeadlineExceeded. It must exceed the reporter's "
            "status interval (10 s by default), the workers' start-up (imports, data loading, resuming "
            "from a checkpoint) and any apiserver outage to ride out. Unset: no deadline.",
            minimum=1,
            maximum=MAX_COUNT,
        ),
        "ttlSecondsAfterFinished": integer(
            "Delete the TrainJob (and so its children) this many seconds after it finished.",
            minimum=0,
            maximum=MAX_COUNT,
        ),
        "suspend": boolean(
            "Suspend the workers (their pods are deleted) until set back to false. A queue such as Kueue "
            "may also suspend and resume them.",
            default=False,
        ),
        "cleanPodPolicy": string(
            "Which worker pods to delete once the job finished: `None` keeps them, `Running` deletes the "
            "ones still running, `All` deletes every one (logs go with them).",
            enum=list(CleanPodPolicy),
            default=CleanPodPolicy.RUNNING,
        ),
    },
    default={},
)

EARLY_STOPPING = obj(
    "Stop training when the monitored metric stops improving; decided by all ranks together.",
    {
        "monitor": string(
            "The metric to watch, as the training script reports it.", max_length=256, default="val_loss"
        ),
        "mode": string(
            "Whether smaller (`min`) or larger (`max`) is better.", enum=list(Mode), default=Mode.MIN
        ),
        "patience": integer(
            "How many epochs without improvement to wait before stopping.",
            minimum=0,
            maximum=MAX_COUNT,
            default=3,
        ),
        "minDelta": number("The smallest change that counts as an improvement.", minimum=0, default=0),
        "stoppingThreshold": number("Stop as soon as the metric is at least this good."),
        "divergenceThreshold": number("Stop (as diverged) as soon as the metric is worse than this."),
    },
    rules=[
        rule(
            "!has(self.stoppingThreshold) || !has(self.divergenceThreshold) || (self.mode == 'min' "
            "? self.divergenceThreshold > self.stoppingThreshold "
            ": self.divergenceThreshold < self.stoppingThreshold)",
            "divergenceThreshold must be worse than stoppingThreshold: greater with mode min, smaller "
            "with mode max",
            field_path=".divergenceThreshold",
            reason="FieldValueInvalid",
        )
    ],
)

CHECKPOINT = obj(
    "Where and how often rank 0 saves checkpoints; a restarted group resumes from the latest one.",
    {
        "path": string(
            "Where the checkpoints live. A group restart recreates the pods, so only a path on a volume "
            "from `podTemplate.volumes` (a PersistentVolumeClaim; ReadWriteMany when workers run on "
            "several nodes) or object storage (`s3://bucket/prefix`, credentials from `env`: "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL) survives it.",
            min_length=1,
            max_length=MAX_STRING,
        ),
        "everyEpochs": integer(
            "Save a checkpoint every this many epochs.", minimum=1, maximum=MAX_COUNT, default=1
        ),
        "keepLast": integer(
            "How many of the newest checkpoints to keep.", minimum=1, maximum=MAX_COUNT, default=3
        ),
        "resume": boolean(
            "Resume from the latest checkpoint in `path` when the workers start.", default=True
        ),
    },
    required=["path"],
)

SPEC = obj(
    "The desired training run.",
    {
        "image": with_rules(
            string(
                "The worker image; it contains the training code and the trainjob library.",
                min_length=1,
                max_length=MAX_STRING,
            ),
            rule(
                f"self.matches('{IMAGE_REFERENCE}')",
                "must be an image reference such as registry.example.com/team/trainer:1.0 (a lowercase "
                "repository path, an optional :tag and @digest, no spaces)",
                reason="FieldValueInvalid",
            ),
        ),
        "imagePullPolicy": string("When to pull the image.", enum=PULL_POLICIES),
        "command": array(
            "The training entry point, e.g. `[python, train.py]` or `[torchrun, train.py]`. With more "
            "than one process per node and a command other than torchrun, trainjob's node launcher "
            "starts the processes.",
            string("A word of the command.", max_length=MAX_STRING),
            min_items=1,
            max_items=MAX_LIST,
        ),
        "args": array(
            "Arguments appended to the command, passed as they are (no shell).",
            string("An argument.", max_length=MAX_ARGUMENT),
            max_items=MAX_ARGS,
        ),
        "workingDir": string("The worker container's working directory.", max_length=MAX_STRING),
        "numNodes": integer(
            "How many worker pods (nodes) train together.", minimum=1, maximum=MAX_NODES, default=1
        ),
        "numProcPerNode": integer(
            "How many training processes each pod runs (typically one per GPU).",
            minimum=1,
            maximum=MAX_PROC_PER_NODE,
            default=1,
        ),
        "backend": string(
            "The torch.distributed backend; `auto` is nccl when resourcesPerNode asks for `nvidia.com/gpu`, "
            "gloo otherwise.",
            enum=list(Backend),
            default=Backend.AUTO,
        ),
        "masterPort": integer(
            "The rendezvous port of worker 0.", minimum=1024, maximum=65535, default=DEFAULT_MASTER_PORT
        ),
        "resourcesPerNode": corev1.resource_requirements("The resources of each worker pod (core/v1)."),
        "env": array(
            "Extra environment variables of the workers; the contract's own variables cannot be set.",
            ENV_VAR,
            max_items=MAX_ENV,
            list_type="map",
            map_keys=["name"],
        ),
        "podTemplate": POD_TEMPLATE,
        "runPolicy": RUN_POLICY,
        "podGroupPolicy": POD_GROUP_POLICY,
        "earlyStopping": EARLY_STOPPING,
        "checkpoint": CHECKPOINT,
        "maxEpochs": integer(
            "How many epochs the trainjob Trainer trains at most. Optional: a script that runs its "
            "own loop (Lightning, Hugging Face, plain torchrun) decides its epochs itself.",
            minimum=1,
            maximum=100000,
        ),
    },
    required=["image", "command"],
)


def _time(description: str) -> Schema:
    """A timestamp in RFC 3339 (`2024-05-01T12:00:00Z`)."""
    return string(description, format="date-time")


CONDITION = obj(
    "A condition, as Kubernetes conventions define it (metav1.Condition).",
    {
        "type": string("The condition's type, e.g. Running or Ready.", max_length=316),
        "status": string("Whether the condition holds.", enum=CONDITION_STATUSES),
        "reason": string("A CamelCase word for why.", max_length=1024),
        "message": string("A sentence for people: what happened, and which worker.", max_length=32768),
        "lastTransitionTime": _time("When the status last changed."),
        "observedGeneration": integer("The `metadata.generation` the condition was computed for.", minimum=0),
    },
    required=["type", "status"],
)

WORKERS = obj(
    "How many worker pods of the current attempt are in which state.",
    {
        "active": integer("Pending or running workers.", minimum=0),
        "succeeded": integer("Workers that exited 0.", minimum=0),
        "failed": integer("Workers that failed.", minimum=0),
        "total": integer("Workers of the job (numNodes).", minimum=0),
    },
)

FAILURE = obj(
    "The latest worker failure: which worker, and why.",
    {
        "worker": integer("The failed worker's index (node rank).", minimum=0),
        "pod": string("The failed worker's pod."),
        "exitCode": integer("The worker container's exit code."),
        "reason": string("Why: OOMKilled, Error, Evicted, ImagePullBackOff, DeadlineExceeded, ..."),
        "message": string("The whole story, as in the Failed or Restarting condition."),
    },
)

PROGRESS = obj(
    "Training progress, written by the reporter in rank 0.",
    {
        "epoch": integer("The current epoch (1-based).", minimum=0),
        "totalEpochs": integer("The epochs to train, as the script reports them.", minimum=0),
        "step": integer("The current step within the epoch.", minimum=0),
        "totalSteps": integer("The steps of an epoch.", minimum=0),
        "percent": number("How much of the whole training is done, 0 to 100."),
        "etaSeconds": number("The estimated time to the end of training."),
        "samplesPerSecond": number("Training throughput over all ranks."),
        "lastUpdateTime": _time("When the reporter last wrote progress."),
    },
)

METRICS = obj(
    "The latest metrics, written by the reporter in rank 0.",
    {
        "loss": number("The latest training loss."),
        "valLoss": number("The latest validation loss."),
        "lr": number("The current learning rate."),
        "values": map_of("Every reported metric by name.", number("A metric's latest value.")),
        "best": number("The best value of the monitored metric so far."),
        "bestEpoch": integer("The epoch of the best value.", minimum=0),
        "monitor": string("The metric `best` refers to."),
    },
)

EARLY_STOPPING_STATUS = obj(
    "The early-stopping state, written by the reporter in rank 0.",
    {
        "triggered": boolean("Whether training stopped early."),
        "reason": string("Why it stopped: no improvement, stopping threshold reached, diverged."),
        "message": string("The same, in a sentence."),
        "epoch": integer("The epoch at which it stopped.", minimum=0),
        "best": number("The best value of the monitored metric."),
        "wait": integer("Epochs since the last improvement.", minimum=0),
        "patience": integer("The patience in effect.", minimum=0),
    },
)

CHECKPOINT_STATUS = obj(
    "The latest checkpoint, what the current attempt resumed from, and a failed save, written by the "
    "reporter in rank 0.",
    {
        "path": string("The latest checkpoint's file."),
        "epoch": integer("Its epoch.", minimum=0),
        "resumedFrom": string(
            "The checkpoint the current attempt resumed from; empty when it found none and started over."
        ),
        "resumedEpoch": integer(
            "The epoch of the checkpoint the current attempt resumed from; 0 when it started over.", minimum=0
        ),
        "resume": string(
            "What the current attempt resumed from, in a sentence (which checkpoint, any unreadable one "
            "skipped), or that it found no checkpoint and started from the beginning."
        ),
        "saveError": string(
            "Why a checkpoint could not be saved; the worker then fails, and a restart resumes from the "
            "last good checkpoint."
        ),
    },
)

STATUS = obj(
    "The observed state. The operator writes phase, conditions, observedGeneration, times, restarts, "
    "workers and failure; the reporter in rank 0 writes progress, metrics, earlyStopping, checkpoint and "
    "stoppedOnRequest. To ask a running job to stop, annotate it with "
    '`trainjob.dev/stop-requested: "true"` (what `trainjob stop NAME` does).',
    {
        "phase": string("A one-word summary.", enum=list(Phase)),
        "conditions": array(
            "Conditions by type (Created, Running, Suspended, Restarting, Succeeded, Failed, EarlyStopped, "
            "Ready, Reconciling, Stalled).",
            CONDITION,
            list_type="map",
            map_keys=["type"],
        ),
        "observedGeneration": integer("The `metadata.generation` the operator last acted on.", minimum=0),
        "startTime": _time(
            "When the workers started (recorded once all of them run, cleared while suspended); "
            "activeDeadlineSeconds counts from here, across restarts."
        ),
        "completionTime": _time("When the job finished."),
        "restarts": integer("How many times the whole group was restarted; never reset.", minimum=0),
        "workers": WORKERS,
        "failure": FAILURE,
        "progress": PROGRESS,
        "metrics": METRICS,
        "earlyStopping": EARLY_STOPPING_STATUS,
        "checkpoint": CHECKPOINT_STATUS,
        "stoppedOnRequest": boolean(
            "Whether the trainer stopped because the `trainjob.dev/stop-requested` annotation asked it to."
        ),
    },
)


def _immutable_once_started(field: str) -> Schema:
    """A root transition rule: `spec.<field>` may change only while the workers do not run.

    `status.startTime` is set once every worker runs and cleared while the job is suspended; the
    operator re-creates a Job whose spec changed meanwhile.
    """
    return rule(
        "!has(oldSelf.status) || !has(oldSelf.status.startTime) || "
        f"self.spec.{field} == oldSelf.spec.{field}",
        f"spec.{field} cannot change while the workers run (status.startTime is set): suspend the job "
        "first, or create a new TrainJob",
        field_path=f".spec.{field}",
        reason="FieldValueForbidden",
    )


NAME_RULES = (
    rule(
        f"!has(self.metadata.name) || self.metadata.name.size() <= {MAX_NAME_LENGTH}",
        f"may have at most {MAX_NAME_LENGTH} characters: the workers' Service (<name>-workers) and "
        "pod hostnames (<name>-<index>) must be DNS labels of at most 63",
        field_path=".metadata.name",
        reason="FieldValueInvalid",
    ),
    rule(
        f"!has(self.metadata.name) || self.metadata.name.matches('{DNS_1035_LABEL}')",
        "must consist of lowercase letters, digits and '-', start with a letter and end with a letter "
        "or digit: it names the workers' Service and hostnames",
        field_path=".metadata.name",
        reason="FieldValueInvalid",
    ),
)

TRAINJOB_SCHEMA: Schema = obj(
    "A distributed PyTorch training run: numNodes pods with numProcPerNode processes each, "
    "rendezvous through a headless Service, status reported by rank 0.",
    {
        "apiVersion": string("The versioned schema of this object."),
        "kind": string("The kind of this object."),
        # At the root a CRD may only restrict metadata.name (not even describe metadata itself).
        "metadata": {
            "type": "object",
            "properties": {"name": string("The TrainJob's name.", max_length=253)},
        },
        "spec": SPEC,
        "status": STATUS,
    },
    required=["spec"],
    rules=[*NAME_RULES, *(_immutable_once_started(field) for field in IMMUTABLE_ONCE_STARTED)],
)
