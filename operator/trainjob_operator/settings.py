"""kopf's settings for this operator, all explicit."""

from __future__ import annotations

import kopf

from trainjob_api.names import LABEL_NAME, MANAGER, PREFIX
from trainjob_operator.config import OperatorConfig
from trainjob_operator.kopf_storage import ObservedGenerationDiffBase, RetryProgressStorage


def configure(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    """Set kopf's settings from the operator's configuration."""
    # kopf's own state: a finalizer and its retries in annotations with the project's prefix; what
    # was handled is the generation the status observed. Nothing is written for a TrainJob
    # reconciled at the first try (see `kopf_storage`).
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = RetryProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = ObservedGenerationDiffBase()
    # Events: only the ones the operator posts itself (kopf.event), under its own name.
    settings.posting.enabled = True
    settings.posting.loggers = False
    settings.posting.reporting_component = MANAGER
    settings.posting.reporting_instance = config.identity
    # Watches: let the server end them regularly, reconnect fast, notice a silent connection.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.watching.reconnect_backoff = 1.0
    # Watching chosen namespaces: serve them for the operator's life. kopf would otherwise watch the
    # namespaces and stop serving one as soon as its deletion begins, before the TrainJobs in it
    # are released, and they would keep kopf's finalizer, the namespace Terminating, for good.
    # The price: the CRD is looked up once, at start (the startup handler waits for it).
    settings.scanning.disabled = not config.clusterwide
    # Jobs and pods: only the TrainJobs' own, filtered by the apiserver (not every pod of a cluster).
    settings.watching.label_selectors["batch", "v1", "jobs"] = LABEL_NAME
    settings.watching.label_selectors["v1", "pods"] = LABEL_NAME
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    # One active replica among peers (kopf peering); standalone without a peering name. With
    # peering, a missing KopfPeering CRD stops the operator instead of leaving replicas racing.
    settings.peering.standalone = config.peering is None
    settings.peering.mandatory = config.peering is not None
    settings.peering.name = config.peering or MANAGER
    settings.peering.priority = config.effective_priority
    settings.peering.lifetime = config.peering_lifetime_seconds
    # A TrainJob deleted while its resync runs (the TTL's own deletion, or `kubectl delete` at that
    # moment) keeps kopf's finalizer until the timer has stopped; kopf looks again this often
    # (its default, 60 s, held such deletions for a minute).
    settings.background.cancellation_polling = 1.0
    # Retry failed handlers with a capped backoff; never give up on a TrainJob.
    settings.execution.default_backoff = 10
