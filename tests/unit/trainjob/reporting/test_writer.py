import logging
import threading
import time

import pytest

from trainjob.reporting.sinks import FileSink, TerminationMessage, read_status_file
from trainjob.reporting.writer import BackgroundWriter, PermanentWriteError, RefusedWriteError, WriteSchedule
from trainjob_api.final_status import decode_final_status
from trainjob_api.merge import merge


def test_merge_is_deep_and_latest_wins_without_touching_inputs():
    base = {"progress": {"epoch": 1, "step": 10}, "metrics": {"loss": 1.0}}
    merged = merge(base, {"progress": {"step": 20}})
    assert merged == {"progress": {"epoch": 1, "step": 20}, "metrics": {"loss": 1.0}}
    assert base["progress"]["step"] == 10


def test_schedule_coalesces_and_rate_limits():
    schedule = WriteSchedule(min_interval_s=10, jitter=lambda: 1.0)
    schedule.submit({"progress": {"step": 1}})
    schedule.submit({"progress": {"step": 2}, "metrics": {"loss": 0.5}})
    plan = schedule.plan(now=0)
    assert plan.fragment == {"progress": {"step": 2}, "metrics": {"loss": 0.5}}
    schedule.succeeded(now=0)
    assert schedule.plan(now=1).fragment is None and schedule.plan(now=1).wait_s is None
    schedule.submit({"progress": {"step": 3}})
    assert schedule.plan(now=4).wait_s == pytest.approx(6)
    assert schedule.plan(now=10).fragment == {"progress": {"step": 3}}


def test_urgent_flush_skips_the_rate_limit_but_not_the_backoff():
    schedule = WriteSchedule(min_interval_s=10, jitter=lambda: 1.0)
    schedule.submit({"a": 1})
    assert schedule.plan(now=0).fragment == {"a": 1}
    schedule.succeeded(now=0)
    schedule.submit({"a": 2})
    assert schedule.plan(now=1, urgent=True).fragment == {"a": 2}
    schedule.failed(now=1, fragment={"a": 2})
    assert schedule.plan(now=1.1, urgent=True).fragment is None


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets_on_success():
    schedule = WriteSchedule(min_interval_s=1, base_backoff_s=1, max_backoff_s=8, jitter=lambda: 1.0)
    backoffs = []
    for attempt in range(6):
        schedule.submit({"n": attempt})
        fragment = schedule.plan(now=1000 * attempt).fragment
        backoffs.append(schedule.failed(now=1000 * attempt, fragment=fragment))
    assert backoffs == [1, 2, 4, 8, 8, 8]
    half = WriteSchedule(min_interval_s=1, base_backoff_s=4, jitter=lambda: 0.0)
    half.submit({})
    assert half.failed(now=0, fragment=half.plan(now=0).fragment) == 2
    schedule.succeeded(now=0)
    assert schedule.failures == 0


def test_a_failed_write_is_retried_under_newer_fragments():
    schedule = WriteSchedule(min_interval_s=0, jitter=lambda: 0.0)
    schedule.submit({"progress": {"epoch": 1, "step": 5}, "checkpoint": {"epoch": 1}})
    failed = schedule.plan(now=0).fragment
    schedule.submit({"progress": {"step": 9}})
    schedule.failed(now=0, fragment=failed)
    retry = schedule.plan(now=100).fragment
    assert retry == {"progress": {"epoch": 1, "step": 9}, "checkpoint": {"epoch": 1}}


class FlakySink:
    """Fails its first `failures` writes, then records; can block to prove submit never waits."""

    def __init__(self, failures=0, error=None):
        self.failures = failures
        self.error = error or ConnectionError("apiserver unreachable")
        self.written: list[dict] = []
        self.gate = threading.Event()
        self.gate.set()

    def write(self, fragment):
        self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise self.error
        self.written.append(fragment)


def test_writer_retries_through_an_outage_and_lands_the_latest(caplog):
    sink = FlakySink(failures=3)
    writer = BackgroundWriter(
        sink, min_interval_s=0, schedule=WriteSchedule(0, base_backoff_s=0.01, jitter=lambda: 0)
    )
    with caplog.at_level(logging.DEBUG, logger="trainjob.reporting.writer"):
        for step in range(5):
            writer.submit({"progress": {"step": step}})
        assert writer.close(timeout_s=5)
    assert sink.written[-1] == {"progress": {"step": 4}}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len([r for r in warnings if "retrying" in r.message]) == 1
    assert any("recovered" in r.message for r in warnings)


def test_submit_never_waits_for_a_slow_sink():
    sink = FlakySink()
    sink.gate.clear()
    writer = BackgroundWriter(sink, min_interval_s=0)
    writer.submit({"n": 0})
    time.sleep(0.05)
    started = time.perf_counter()
    for n in range(1000):
        writer.submit({"n": n})
    assert time.perf_counter() - started < 0.5
    sink.gate.set()
    assert writer.close(timeout_s=5)
    assert sink.written[-1] == {"n": 999} and len(sink.written) <= 3


def test_a_refused_write_is_said_once_as_an_error_and_retried_until_it_lands(caplog):
    # As after an apiserver restart: forbidden until its caches sync, then written.
    sink = FlakySink(failures=4, error=RefusedWriteError("HTTP 403 forbidden: trainjobs/status"))
    writer = BackgroundWriter(
        sink, min_interval_s=0, schedule=WriteSchedule(0, base_backoff_s=0.01, jitter=lambda: 0)
    )
    with caplog.at_level(logging.DEBUG, logger="trainjob.reporting.writer"):
        writer.submit({"progress": {"step": 24}, "checkpoint": {"epoch": 3}})
        assert writer.close(timeout_s=5)
    assert sink.failures == 0
    assert sink.written == [{"progress": {"step": 24}, "checkpoint": {"epoch": 3}}]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused (HTTP 403" in errors[0]


def test_a_refused_fragment_gives_way_to_a_newer_one_unmerged():
    schedule = WriteSchedule(min_interval_s=0, base_backoff_s=1, jitter=lambda: 1.0)
    schedule.submit({"progress": {"step": 1}, "forbidden": True})
    refused = schedule.plan(now=0).fragment
    assert schedule.refused(now=0, fragment=refused) == 1
    assert schedule.plan(now=0.5).fragment is None
    assert schedule.plan(now=1).fragment == {"progress": {"step": 1}, "forbidden": True}
    schedule.refused(now=1, fragment=refused)
    schedule.submit({"progress": {"step": 2}})
    assert schedule.plan(now=3).fragment == {"progress": {"step": 2}}


def test_a_permanent_error_is_logged_once_and_not_retried(caplog):
    sink = FlakySink(failures=100, error=PermanentWriteError("HTTP 422 invalid: status.progress.epoch"))
    writer = BackgroundWriter(sink, min_interval_s=0)
    with caplog.at_level(logging.WARNING, logger="trainjob.reporting.writer"):
        for n in range(5):
            writer.submit({"n": n})
            writer.flush(timeout_s=2)
        writer.close(timeout_s=1)
    errors = [r for r in caplog.records if "will not be retried" in r.message]
    assert len(errors) == 1 and "422" in errors[0].message


def test_flush_gives_up_at_its_deadline_while_the_sink_is_down_and_says_the_write_is_lost(caplog):
    sink = FlakySink(failures=10**6)
    writer = BackgroundWriter(
        sink, min_interval_s=0, schedule=WriteSchedule(0, base_backoff_s=0.05, jitter=lambda: 0)
    )
    writer.submit({"n": 1})
    started = time.monotonic()
    assert writer.close(timeout_s=0.3) is False
    assert time.monotonic() - started < 2
    (lost,) = [r for r in caplog.records if "did not land" in r.message]
    assert lost.levelname == "ERROR"
    assert "it is lost" in lost.message and "failed attempts in a row" in lost.message


def test_the_last_word_gets_everything_submitted_before_the_final_flush_even_if_that_never_lands(caplog):
    sink = FlakySink(failures=10**6)
    left: list[dict] = []
    writer = BackgroundWriter(
        sink,
        min_interval_s=0,
        schedule=WriteSchedule(0, base_backoff_s=0.05, jitter=lambda: 0),
        last_word=left.append,
    )
    writer.submit({"progress": {"epoch": 9}, "earlyStopping": {"triggered": False, "wait": 1}})
    writer.submit({"progress": {"epoch": 10}, "earlyStopping": {"triggered": True}})
    assert writer.close(timeout_s=0.3) is False
    assert left == [{"progress": {"epoch": 10}, "earlyStopping": {"triggered": True, "wait": 1}}]
    (late,) = [r for r in caplog.records if "did not land" in r.message]
    assert late.levelname == "WARNING" and "the final status left beside it takes its place" in late.message


def test_a_last_word_that_cannot_be_written_is_said_and_the_flush_goes_on(caplog, tmp_path):
    sink = FlakySink()
    writer = BackgroundWriter(
        sink, min_interval_s=0, last_word=TerminationMessage(tmp_path / "missing" / "termination-log").write
    )
    writer.submit({"progress": {"epoch": 1}})
    assert writer.close(timeout_s=5) is True
    assert sink.written[-1] == {"progress": {"epoch": 1}}
    assert any("could not leave the final status" in r.message for r in caplog.records)


def test_the_termination_message_holds_the_final_status(tmp_path):
    path = tmp_path / "termination-log"
    path.write_text("")
    TerminationMessage(path).write({"progress": {"epoch": 2}})
    TerminationMessage(path).write({"progress": {"epoch": 3}, "metrics": {"loss": 0.2}})
    assert decode_final_status(path.read_text()) == {"progress": {"epoch": 3}, "metrics": {"loss": 0.2}}


def test_the_termination_message_keeps_what_the_script_wrote_there_itself(tmp_path):
    path = tmp_path / "termination-log"
    path.write_text("CUDA error: out of memory while loading shard 3")
    TerminationMessage(path).write({"progress": {"epoch": 3}})
    assert path.read_text() == "CUDA error: out of memory while loading shard 3"


def test_file_sink_keeps_the_merged_document(tmp_path):
    path = tmp_path / "status.json"
    assert read_status_file(path) == {}
    sink = FileSink(path)
    sink.write({"progress": {"epoch": 1}})
    sink.write({"progress": {"step": 3}, "metrics": {"loss": 0.1}})
    assert read_status_file(path) == {"progress": {"epoch": 1, "step": 3}, "metrics": {"loss": 0.1}}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]
