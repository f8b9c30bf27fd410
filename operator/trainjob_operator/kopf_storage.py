"""What kopf records of handling a TrainJob, kept where it costs no request of its own.

kopf tells a new spec from one already handled by a *diff base*, by default a copy of the last
handled object in an annotation, written with one more PATCH of the TrainJob after every handled
change. A TrainJob's status records the same thing: every reconcile writes `observedGeneration`,
the `metadata.generation` it acted on (the apiserver bumps the generation on each spec change and
on nothing else). So the diff base here is derived, never stored: a TrainJob whose status observed
its current generation is as handled (no change; on a restart of the operator, a resume), and one
that did not, or has no status yet, is new to the operator (the create handler runs).

kopf also records each handler's progress in annotations, to retry a failed one with backoff, and
brands the object with a `kopf-managed` marker when it first does. A handler that succeeds at its
first try needs no record (kopf purges the records once all handlers are done, and the TrainJob
has one), so none is written: no PATCH, no marker. Retries are recorded as kopf does.
"""

from __future__ import annotations

import kopf


class ObservedGenerationDiffBase(kopf.DiffBaseStorage):
    """A kopf diff base read from `status.observedGeneration` against `metadata.generation`."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """The object's essence as it stands when its status observed its generation, else None."""
        generation = (body.get("metadata") or {}).get("generation")
        observed = (body.get("status") or {}).get("observedGeneration")
        if generation is None or observed != generation:
            return None
        return self.build(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Store nothing: the reconcile's own status write records what it handled."""


class RetryProgressStorage(kopf.AnnotationsProgressStorage):
    """kopf's progress annotations, written only where a handler failed or retries."""

    def store(
        self, *, key: kopf.HandlerId, record: kopf.ProgressRecord, body: kopf.Body, patch: kopf.Patch
    ) -> None:
        """Store the record unless it is the first success of a handler with no record yet."""
        if record.get("success") and self.fetch(key=key, body=body) is None:
            return
        super().store(key=key, record=record, body=body, patch=patch)
