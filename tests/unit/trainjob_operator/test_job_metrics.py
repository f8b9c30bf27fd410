"""Per-TrainJob gauges: only running jobs, only numbers, a bounded set of metric labels."""

from trainjob_operator.job_metrics import MAX_METRICS, live, samples
from trainjob_operator.metrics import Metrics


def job(phase: str, **status):
    return {"status": {"phase": phase, **status}}


def test_only_running_and_restarting_jobs_have_gauges_and_only_finite_numbers_are_exported() -> None:
    values = {f"m{index:02d}": float(index) for index in range(MAX_METRICS + 5)} | {"nan": float("nan")}
    trainjobs = [
        (("a", "done"), job("Succeeded", progress={"percent": 100.0})),
        (("a", "run"), job("Running", progress={"percent": 50.0, "epoch": True}, metrics={"values": values})),
        (("b", "again"), job("Restarting", metrics={"loss": 0.25})),
    ]
    found = list(samples(live(trainjobs)))
    assert ("progress_percent", found[0][1], {"namespace": "a", "name": "run"}, 50.0) in found
    assert ("loss", found[1][1], {"namespace": "b", "name": "again"}, 0.25) in found
    metric_labels = [labels["metric"] for gauge, _, labels, _ in found if gauge == "metric"]
    assert metric_labels == [f"m{index:02d}" for index in range(MAX_METRICS)]
    assert not [gauge for gauge, _, labels, _ in found if labels["name"] == "done" or gauge == "epoch"]


def test_the_exposition_has_one_header_per_gauge_and_nothing_once_the_job_ends() -> None:
    metrics = Metrics()
    jobs = {("ns", "x"): job("Running", progress={"percent": 10.0}, metrics={"loss": 1.5})}
    metrics.trainjobs = lambda: jobs.items()
    text = metrics.render()
    assert text.count("# TYPE trainjob_operator_job_loss gauge") == 1
    assert 'trainjob_operator_job_loss{namespace="ns",name="x"} 1.5' in text
    jobs[("ns", "x")] = job("Succeeded")
    assert "trainjob_operator_job_" not in metrics.render()
