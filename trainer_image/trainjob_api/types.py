"""Types shared by every side of the API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A Kubernetes object as the API returns it: a TrainJob, a Job, a pod, an Event.
Body = Mapping[str, Any]
