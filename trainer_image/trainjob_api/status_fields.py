"""Who writes which top-level field of a TrainJob's status.

The operator writes the phase, conditions, counts, times and the failure; the in-pod reporter
(rank 0 of the workers) writes what only training knows. The chart's ValidatingAdmissionPolicy
lets a reporter's ServiceAccount change its own fields and nothing else.
"""

from __future__ import annotations

#: Top-level status fields written by the in-pod reporter; the operator writes everything else.
REPORTER_FIELDS = ("progress", "metrics", "earlyStopping", "checkpoint", "stoppedOnRequest")
