"""Whether a node launcher serves transformers' Kubeflow progress protocol, and the server if so."""

from __future__ import annotations

from collections.abc import Mapping

from trainjob.integrations.kubeflow_server import URL_VARIABLE, KubeflowProgressServer
from trainjob.integrations.switch import auto_callbacks_enabled
from trainjob.reporting.kube import cluster_access_from_environment
from trainjob.reporting.run import RunReporter
from trainjob.reporting.target import status_target
from trainjob_api.contract import RANK, ContractError, WorkerEnvironment

#: transformers' own switch for its Kubeflow callback.
DISABLE_VARIABLE = "DISABLE_KUBEFLOW_INTEGRATION"


def progress_server_for_node(environ: Mapping[str, str]) -> KubeflowProgressServer | None:
    """A started server when this node holds rank 0 of a TrainJob, else None.

    Not when the integrations are switched off (`TRAINJOB_AUTO_CALLBACKS=0`, or transformers'
    `DISABLE_KUBEFLOW_INTEGRATION=TRUE`), nor when the environment already names a server.
    """
    if not auto_callbacks_enabled(environ) or URL_VARIABLE in environ:
        return None
    if environ.get(DISABLE_VARIABLE, "").upper() == "TRUE":
        return None
    try:
        env = WorkerEnvironment.from_environ({**environ, RANK: "0"})
    except ContractError:
        return None
    if env.node_rank != 0:
        return None
    target = status_target(env, environ, cluster_access_from_environment(env.job, environ))
    if target is None:
        return None
    reporter = RunReporter(
        target.sink, target.min_interval_s, history=target.history, last_word=target.last_word
    )
    return KubeflowProgressServer(reporter).start()
