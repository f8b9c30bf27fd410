"""One call for any training loop: `trainjob.report(...)`, `trainjob.stop_requested()`.

```python
import trainjob

for epoch in range(1, epochs + 1):
    for step, batch in enumerate(loader, start=(epoch - 1) * len(loader) + 1):
        ...
        trainjob.report(epoch=epoch, total_epochs=epochs, step=step, total_steps=epochs * len(loader),
                        metrics={"loss": loss.item()})
        if trainjob.stop_requested():   # on every rank, at the same step: they all agree
            break
```

Only rank 0 (the `RANK` variable) writes; on other ranks every call returns at once. In a
TrainJob pod the status goes to the TrainJob, under `trainjob run` to the local runner; in a
plain process with no TrainJob around, nothing happens and nothing is raised. The framework
integrations (Lightning, Hugging Face) report through the same process-wide reporter.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from trainjob.reporting.agree import any_rank
from trainjob.reporting.kube import cluster_access_from_environment
from trainjob.reporting.run import RunReporter
from trainjob.reporting.stop_flag import StopFlag
from trainjob.reporting.target import status_target
from trainjob_api.contract import ContractError, WorkerEnvironment

log = logging.getLogger(__name__)

_lock = threading.Lock()
_reporter: RunReporter | None = None
_stop_flag: StopFlag | None = None
_env: WorkerEnvironment | None = None
_env_read = False


def run_reporter() -> RunReporter:
    """This process's reporter, made from the environment on first use (inactive outside rank 0)."""
    global _reporter
    with _lock:
        if _reporter is None:
            _reporter = _from_environment(os.environ)
        return _reporter


def _on_this_process(method: Callable[..., None]) -> Callable[..., None]:
    """`method` of `RunReporter`, called on this process's reporter (same signature and docstring)."""

    @functools.wraps(method)
    def call(**fields: Any) -> None:
        method(run_reporter(), **fields)

    signature = inspect.signature(method)
    call.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    return call


#: Report where the run is; give any subset, as often as every step (it is cheap). See
#: `RunReporter.report`: percent, ETA and samples per second are derived.
report = _on_this_process(RunReporter.report)

#: Report your own early stopping (see `RunReporter.report_early_stopping`); with
#: `triggered=True` the job ends with the EarlyStopped reason once the workers exit 0.
report_early_stopping = _on_this_process(RunReporter.report_early_stopping)


def stop_flag() -> StopFlag:
    """This process's stop-request flag, made from the environment on first use (watched on rank 0)."""
    global _stop_flag
    with _lock:
        if _stop_flag is None:
            _stop_flag = _stop_flag_from_environment(os.environ)
        return _stop_flag


def stop_requested(agree: bool = True) -> bool:
    """Whether the TrainJob was asked to stop (`trainjob stop NAME`); stop training when True.

    Rank 0 watches the TrainJob. With a torch.distributed group up and `agree` (the default)
    this is a collective (one tiny all-reduce): call it on every rank at the same step, and
    every rank gets the same answer there. Once it says True, the status records that the run
    stopped on request.
    """
    requested = stop_flag().is_set()
    if agree:
        requested = any_rank(requested)
    if requested:
        run_reporter().report_stopped_on_request()
    return requested


def finish(timeout_s: float = 10.0) -> bool:
    """Send the final state now and wait (at most `timeout_s`) for it to land (also done at exit)."""
    with _lock:
        reporter, flag = _reporter, _stop_flag
    if flag is not None:
        flag.close()
    return True if reporter is None else reporter.close(timeout_s)


def _environment(environ: Mapping[str, str]) -> WorkerEnvironment | None:
    """The worker's contract, read once; None (said once) when it is broken."""
    global _env, _env_read
    if not _env_read:
        _env_read = True
        try:
            _env = WorkerEnvironment.from_environ(environ)
        except ContractError as error:
            log.warning("trainjob: not reporting: %s", error)
    return _env


def _from_environment(environ: Mapping[str, str]) -> RunReporter:
    env = _environment(environ)
    if env is None or not env.is_chief:
        return RunReporter(None, 0.0)
    target = status_target(env, environ, cluster_access_from_environment(env.job, environ))
    if target is None:
        return RunReporter(None, 0.0)
    return RunReporter(target.sink, target.min_interval_s, history=target.history, last_word=target.last_word)


def _stop_flag_from_environment(environ: Mapping[str, str]) -> StopFlag:
    env = _environment(environ)
    if env is None or not env.is_chief:
        return StopFlag(None, None)
    return StopFlag(cluster_access_from_environment(env.job, environ), env.job)
