"""Flags, kopf settings, handler registration and the metrics exposition."""

import argparse

import kopf
import pytest

from trainjob_operator.config import OperatorConfig, add_arguments, config_from_args
from trainjob_operator.handlers import needs_resync, phase_changed
from trainjob_operator.metrics import Metrics
from trainjob_operator.runtime import operator_arguments
from trainjob_operator.settings import configure


def parse(argv, environ=None):
    parser = argparse.ArgumentParser()
    add_arguments(parser, environ or {})
    return config_from_args(parser.parse_args(argv))


def test_defaults_run_one_replica_cluster_wide():
    config = parse([])
    assert config.clusterwide and config.namespaces == ()
    assert config.peering is None and config.peering_lifetime_seconds == 60
    assert config.metrics_port == 9090
    assert config.liveness_endpoint == "http://0.0.0.0:8080/healthz"
    assert config.log_format == "json"


def test_flags():
    config = parse(
        ["--namespace", "a", "--namespace", "b", "--peering", "trainjob", "--priority", "7",
         "--peering-lifetime", "15", "--metrics-port", "0", "--liveness", "", "--resync-seconds", "5",
         "--log-format", "plain", "--verbose"]
    )  # fmt: skip
    assert config.namespaces == ("a", "b") and not config.clusterwide
    assert (config.peering, config.effective_priority, config.peering_lifetime_seconds) == ("trainjob", 7, 15)
    assert config.metrics_port is None and config.liveness_endpoint is None
    assert (config.resync_seconds, config.log_format, config.verbose) == (5.0, "plain", True)


def test_environment_sets_the_defaults():
    environ = {
        "TRAINJOB_OPERATOR_NAMESPACES": "ml,research",
        "TRAINJOB_OPERATOR_PEERING": "trainjob",
        "TRAINJOB_OPERATOR_METRICS_PORT": "9100",
        "TRAINJOB_OPERATOR_VERBOSE": "true",
    }
    config = parse([], environ)
    assert config.namespaces == ("ml", "research")
    assert (config.peering, config.metrics_port, config.verbose) == ("trainjob", 9100, True)


def test_replicas_get_distinct_stable_priorities():
    first, second = OperatorConfig(identity="op-7d9f-abcde"), OperatorConfig(identity="op-7d9f-fghij")
    assert first.effective_priority != second.effective_priority
    assert first.effective_priority == OperatorConfig(identity="op-7d9f-abcde").effective_priority


def test_kopf_settings():
    settings = kopf.OperatorSettings()
    configure(
        settings, OperatorConfig(peering="trainjob", identity="op-1", priority=3, peering_lifetime_seconds=20)
    )
    assert settings.persistence.finalizer == "trainjob.dev/finalizer"
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert settings.posting.reporting_component == "trainjob-operator"
    assert settings.posting.reporting_instance == "op-1"
    assert (settings.peering.name, settings.peering.priority, settings.peering.lifetime) == (
        "trainjob",
        3,
        20,
    )
    assert not settings.peering.standalone and settings.peering.mandatory
    assert settings.background.cancellation_polling <= 1, "a deletion during a resync waits for this"
    standalone = kopf.OperatorSettings()
    configure(standalone, OperatorConfig())
    assert standalone.peering.standalone and not standalone.peering.mandatory


def test_operator_arguments_register_the_handlers():
    arguments = operator_arguments(OperatorConfig(namespaces=("ml",)))
    assert arguments["namespaces"] == ["ml"] and arguments["clusterwide"] is False
    registry = arguments["registry"]
    assert registry._changing.get_all_handlers()
    assert not registry._spawning.get_all_handlers(), "standalone: the resync is the operator's own loop"
    assert len(registry._watching.get_all_handlers()) == 2, "Job events and TrainJob phases"
    peered = operator_arguments(OperatorConfig(namespaces=("ml",), peering="trainjob"))["registry"]
    assert [handler.id for handler in peered._spawning.get_all_handlers()] == ["resync"], "kopf's timer"


@pytest.mark.parametrize(
    ("spec", "status", "needed"),
    [
        ({}, {}, False),
        ({}, {"phase": "Created"}, False),
        ({}, {"phase": "Created", "observedGeneration": 1}, True),
        ({}, {"phase": "Running", "observedGeneration": 2}, True),
        ({"runPolicy": {}}, {"phase": "Succeeded", "observedGeneration": 1}, False),
        ({"runPolicy": {"ttlSecondsAfterFinished": 0}}, {"phase": "Failed", "observedGeneration": 1}, True),
    ],
)
def test_needs_resync(spec, status, needed):
    assert needs_resync(spec, status) is needed


def test_only_events_that_change_the_tracked_phase_reach_the_phase_handler():
    memo = kopf.Memo(metrics=Metrics())

    def changed(type, status):
        return phase_changed(type=type, namespace="ml", name="a", status=status, memo=memo)

    assert changed(None, {}), "a new TrainJob is Pending"
    assert not changed("DELETED", {}), "nothing tracked: nothing to forget"
    memo.metrics.set_phase("ml", "a", "Running")
    assert not changed("MODIFIED", {"phase": "Running", "progress": {"epoch": 3}}), "a reporter's write"
    assert changed("MODIFIED", {"phase": "Succeeded"})
    assert changed("DELETED", {"phase": "Running"})


def test_metrics_exposition():
    metrics = Metrics()
    metrics.record_reconcile(0.02)
    metrics.record_reconcile(3.0, "ApiException")
    metrics.record_transition("Failed", "WorkerFailed")
    metrics.set_phase("ml", "a", "Running")
    metrics.set_phase("ml", "b", "Running")
    metrics.set_phase("ml", "c", "Failed")
    metrics.set_phase("ml", "c", None)
    lines = metrics.render().splitlines()
    assert "trainjob_operator_reconciles_total 2" in lines
    assert 'trainjob_operator_reconcile_errors_total{error="ApiException"} 1' in lines
    assert 'trainjob_operator_reconcile_duration_seconds_bucket{le="0.01"} 0' in lines
    assert 'trainjob_operator_reconcile_duration_seconds_bucket{le="0.025"} 1' in lines
    assert 'trainjob_operator_reconcile_duration_seconds_bucket{le="5.0"} 2' in lines
    assert 'trainjob_operator_reconcile_duration_seconds_bucket{le="+Inf"} 2' in lines
    assert "trainjob_operator_reconcile_duration_seconds_count 2" in lines
    assert 'trainjob_operator_transitions_total{phase="Failed",reason="WorkerFailed"} 1' in lines
    assert 'trainjob_operator_trainjobs{phase="Running"} 2' in lines
    assert not any('phase="Failed"' in line and "trainjobs{" in line for line in lines)
    assert "# TYPE trainjob_operator_reconcile_duration_seconds histogram" in lines
