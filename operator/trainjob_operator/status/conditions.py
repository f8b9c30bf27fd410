"""The TrainJob's conditions, derived from its phase, following Kubernetes conventions.

Semantics, per type (each carries `observedGeneration`; `lastTransitionTime` moves only when the
status flips):

- `Created`: True once the workers were created; never set back.
- `Running`, `Suspended`, `Restarting`: True while the phase is that; False (with the reason of
  the phase that followed) once it was True.
- `Succeeded`, `Failed`: True when the job ends that way.
- `EarlyStopped`: True when the job succeeded because the trainer's early stopping triggered
  (the reporter's `status.earlyStopping.triggered`).
- `Ready`, `Reconciling`, `Stalled`: the summary that kstatus (Flux, `kubectl wait`, cli-utils)
  and Argo CD read, with the semantics of a batch Job: `Reconciling` is True while the job moves
  on without anyone acting (Pending, Created, Running, Restarting, and Suspended while queued by
  Kueue or resuming: kstatus InProgress); `Stalled` is True when it failed (kstatus Failed);
  `Ready` is True once it succeeded (kstatus Current, and what `kubectl wait
  --for=condition=Ready` waits for). A job held by its own `runPolicy.suspend` is where it was
  asked to be and nothing moves it but a spec change, so kstatus must read it as Current: it
  has no `Ready` condition then (kstatus reads a False `Ready` as InProgress, an absent one as
  Current), and `Reconciling` is False. `Reconciling` is always present and carries the reason
  and message of the latest transition; `Ready` is present except while held.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainjob_api.enums import ConditionType, Phase, Reason

#: Phases in which the job is still on its way to success.
IN_PROGRESS = frozenset({Phase.PENDING, Phase.CREATED, Phase.RUNNING, Phase.RESTARTING})
#: Conditions written even while False, so that the summary is always readable (`Ready`: except
#: while held, see `held`).
ALWAYS_PRESENT = frozenset({ConditionType.READY, ConditionType.RECONCILING})
#: Conditions that, once True, keep their reason and message.
STICKY = frozenset({ConditionType.CREATED})


@dataclass(frozen=True)
class Transition:
    """Where a TrainJob is going: its phase, with a CamelCase reason and a message for people."""

    phase: Phase
    reason: str
    message: str
    #: Whether the transition deserves a Warning event (a failure, a restart, a stuck worker).
    warning: bool = False


def held(transition: Transition) -> bool:
    """Whether the job is suspended by its own `runPolicy.suspend` (kstatus Current, Argo CD Suspended).

    Only a spec change resumes it, so GitOps tools read it as settled; a job suspended for another
    reason (Queued by Kueue, Resuming) moves on by itself.
    """
    return transition.phase is Phase.SUSPENDED and transition.reason == Reason.SUSPENDED


def _wanted(
    transition: Transition, early_stop: tuple[str, str] | None
) -> dict[ConditionType, tuple[bool, str, str] | None]:
    """The (status, reason, message) each condition should have; None removes one, unlisted ones stay."""
    phase = transition.phase
    live = (transition.reason, transition.message)
    moving = phase in IN_PROGRESS or (phase is Phase.SUSPENDED and not held(transition))
    wanted: dict[ConditionType, tuple[bool, str, str] | None] = {
        ConditionType.RUNNING: (phase is Phase.RUNNING, *live),
        ConditionType.SUSPENDED: (phase is Phase.SUSPENDED, *live),
        ConditionType.RESTARTING: (phase is Phase.RESTARTING, *live),
        ConditionType.READY: None if held(transition) else (phase is Phase.SUCCEEDED, *live),
        ConditionType.RECONCILING: (moving, *live),
        ConditionType.STALLED: (phase is Phase.FAILED, *live),
    }
    if phase in (Phase.CREATED, Phase.RUNNING, Phase.SUSPENDED):
        wanted[ConditionType.CREATED] = (True, Reason.WORKERS_CREATED, "the worker pods were created")
    if phase is Phase.SUCCEEDED:
        wanted[ConditionType.SUCCEEDED] = (True, *live)
        if early_stop is not None:
            wanted[ConditionType.EARLY_STOPPED] = (True, *early_stop)
    if phase is Phase.FAILED:
        wanted[ConditionType.FAILED] = (True, *live)
    return wanted


def render_conditions(
    existing: Sequence[Mapping[str, Any]],
    transition: Transition,
    *,
    generation: int,
    now: str,
    early_stop: tuple[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The new `status.conditions` list, in the order of `ConditionType`.

    `early_stop` is the (reason, message) of a triggered early stop, reported by the trainer.
    """
    by_type = {condition.get("type"): dict(condition) for condition in existing}
    for type_, wanted in _wanted(transition, early_stop).items():
        if wanted is None:
            by_type.pop(str(type_), None)
            continue
        holds, reason, message = wanted
        current = by_type.get(type_)
        status = "True" if holds else "False"
        if current is None and not holds and type_ not in ALWAYS_PRESENT:
            continue
        if current is not None and type_ in STICKY and current.get("status") == "True":
            continue
        changed = current is None or current.get("status") != status
        by_type[type_] = {
            "type": str(type_),
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now if changed else current.get("lastTransitionTime", now),
            "observedGeneration": generation,
        }
    order = {str(type_): index for index, type_ in enumerate(ConditionType)}
    return sorted(by_type.values(), key=lambda condition: order.get(condition["type"], len(order)))


def summary(conditions: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The (reason, message) of the `Reconciling` condition: those of the latest transition."""
    for condition in conditions:
        if condition.get("type") == ConditionType.RECONCILING:
            return condition.get("reason", ""), condition.get("message", "")
    return "", ""
