"""The local run's status, in the same shape as the TrainJob's status in a cluster."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from trainjob.processes import Exit
from trainjob_api.enums import ConditionType, Phase, Reason


def utc_timestamp() -> str:
    """Now, as Kubernetes writes times."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LocalStatus:
    """What the runner knows of the job: the operator's fields, filled from local processes."""

    total_workers: int
    start_time: str = field(default_factory=utc_timestamp)
    restarts: int = 0
    completion_time: str | None = None
    exits: list[Exit] = field(default_factory=list)
    deadline_exceeded: bool = False
    interrupted: bool = False

    @property
    def failure(self) -> Exit | None:
        """The first worker that failed, if any."""
        return next((exit_ for exit_ in self.exits if exit_.code != 0), None)

    @property
    def phase(self) -> Phase:
        """Running, Succeeded or Failed."""
        if self.completion_time is None:
            return Phase.RUNNING
        if self.failure is None and not self.deadline_exceeded and not self.interrupted:
            return Phase.SUCCEEDED
        return Phase.FAILED

    def document(self, reported: dict[str, Any]) -> dict[str, Any]:
        """The full status: the runner's fields and those the rank-0 reporter wrote."""
        status: dict[str, Any] = {
            "phase": str(self.phase),
            "startTime": self.start_time,
            "restarts": self.restarts,
            "workers": {
                "total": self.total_workers,
                "active": self.total_workers if self.completion_time is None else 0,
                "succeeded": sum(1 for exit_ in self.exits if exit_.code == 0),
                "failed": sum(1 for exit_ in self.exits if exit_.code != 0),
            },
        }
        if self.completion_time:
            status["completionTime"] = self.completion_time
        status["conditions"] = self._conditions(reported)
        failure = self.failure
        if failure is not None:
            status["failure"] = {
                "worker": failure.label,
                "exitCode": failure.code,
                "reason": "Error" if failure.code > 0 else "Killed",
                "message": f"{failure.label} failed ({failure.reason})",
            }
        status.update({key: value for key, value in reported.items() if key not in status})
        return status

    def _conditions(self, reported: dict[str, Any]) -> list[dict[str, Any]]:
        now = utc_timestamp()
        phase = self.phase
        conditions = [
            _condition(
                ConditionType.RUNNING,
                phase == Phase.RUNNING,
                Reason.WORKERS_RUNNING,
                "the workers are training",
                now,
            )
        ]
        if phase == Phase.SUCCEEDED:
            conditions.append(
                _condition(ConditionType.SUCCEEDED, True, Reason.COMPLETED, "every worker exited 0", now)
            )
        if phase == Phase.FAILED:
            conditions.append(_condition(ConditionType.FAILED, True, *self._failure_reason(), now))
        early = reported.get("earlyStopping") or {}
        if early.get("triggered"):
            conditions.append(
                _condition(
                    ConditionType.EARLY_STOPPED, True, early.get("reason", ""), early.get("message", ""), now
                )
            )
        conditions.append(
            _condition(ConditionType.READY, phase == Phase.SUCCEEDED, phase, f"the job phase is {phase}", now)
        )
        return conditions

    def _failure_reason(self) -> tuple[str, str]:
        if self.deadline_exceeded:
            return Reason.DEADLINE_EXCEEDED, "the job ran past runPolicy.activeDeadlineSeconds"
        if self.interrupted:
            return Reason.INTERRUPTED, "the run was interrupted"
        failure = self.failure
        assert failure is not None
        return Reason.WORKER_FAILED, f"{failure.label} failed ({failure.reason})"


def _condition(kind: ConditionType, status: bool, reason: str, message: str, now: str) -> dict[str, Any]:
    return {
        "type": str(kind),
        "status": "True" if status else "False",
        "reason": str(reason),
        "message": message,
        "lastTransitionTime": now,
    }
