"""Running the operator: what `python -m trainjob_operator` (the operator image's entry point) calls."""

from __future__ import annotations

from typing import Any

import kopf

from trainjob_operator import handlers, settings
from trainjob_operator.config import OperatorConfig

LOG_FORMATS = {"json": kopf.LogFormat.JSON, "full": kopf.LogFormat.FULL, "plain": kopf.LogFormat.PLAIN}


def operator_arguments(config: OperatorConfig) -> dict[str, Any]:
    """The arguments of `kopf.run` / `kopf.operator` for this configuration (handlers and settings)."""
    registry = kopf.OperatorRegistry()
    handlers.register(registry, config)
    operator_settings = kopf.OperatorSettings()
    settings.configure(operator_settings, config)
    return {
        "registry": registry,
        "settings": operator_settings,
        "clusterwide": config.clusterwide,
        "namespaces": list(config.namespaces),
        "liveness_endpoint": config.liveness_endpoint,
        "memo": kopf.Memo(),
    }


def run_operator(config: OperatorConfig | None = None) -> None:
    """Run the operator until it is stopped (SIGTERM or SIGINT).

    To embed it in an asyncio program instead, await `kopf.operator(**operator_arguments(config))`.
    """
    config = config or OperatorConfig()
    kopf.configure(verbose=config.verbose, log_format=LOG_FORMATS[config.log_format], log_refkey="object")
    kopf.run(**operator_arguments(config))
