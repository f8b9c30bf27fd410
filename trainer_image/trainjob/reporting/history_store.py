r"""Where a reporter's history lives: a file in the local run directory, or the job's ConfigMap.

In a cluster the history is the `history.json` key of the ConfigMap `<name>-history`, which the
operator creates owned by the TrainJob (so it is deleted with it) and which the reporter's Role
may get and patch by name, nothing more. Its bytes stay out of the TrainJob object, which every
TrainJob watcher receives on every status write. Read it with
`kubectl get configmap NAME-history -o jsonpath='{.data.history\.json}'`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Protocol

from trainjob.reporting.kube import ApiError, ClusterAccess, trainjob_path, write_error
from trainjob_api.contract import JobIdentity
from trainjob_api.names import HISTORY_KEY, history_name

log = logging.getLogger(__name__)

#: The history's file in a local run directory.
HISTORY_FILE_NAME = "history.json"


class HistoryStore(Protocol):
    """Reads and replaces one stored history document."""

    location: str

    def load(self) -> str | None:
        """The stored document, or None when there is none yet."""
        ...

    def save(self, text: str) -> None:
        """Replace the stored document (errors as for `StatusSink.write`)."""
        ...

    def attempt(self) -> int | None:
        """Which attempt this is (0, then one more per group restart), when the store knows."""
        ...


class FileHistoryStore:
    """The history as a JSON file, replaced atomically on every save."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def load(self) -> str | None:
        """The file's text, or None when it does not exist."""
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return None

    def save(self, text: str) -> None:
        """Write `text` to a temporary file, then rename it over the history."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".history-", dir=self.path.parent)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, self.path)

    def attempt(self) -> None:
        """A local run does not count restarts: the history's own count is used."""
        return None


class ConfigMapHistoryStore:
    """The history as a key of the job's ConfigMap, read with GET and saved with a merge PATCH."""

    def __init__(self, access: ClusterAccess, job: JobIdentity, timeout_s: float = 10.0) -> None:
        self.job = job
        name = history_name(job.name)
        self.path = f"/api/v1/namespaces/{job.namespace}/configmaps/{name}"
        self.location = f"configmap {job.namespace}/{name}"
        self._connection = access.connect(timeout_s)

    def load(self) -> str | None:
        """The stored document; None when the ConfigMap has no history yet or cannot be read."""
        try:
            body = json.loads(self._connection.request("GET", self.path))
        except (ApiError, OSError) as error:
            log.warning("could not read the history in %s (%s): starting a new one", self.location, error)
            return None
        return (body.get("data") or {}).get(HISTORY_KEY)

    def save(self, text: str) -> None:
        """Replace the history key of the ConfigMap."""
        patch = json.dumps({"data": {HISTORY_KEY: text}}).encode()
        try:
            self._connection.request("PATCH", self.path, patch, "application/merge-patch+json")
        except ApiError as error:
            raise write_error(f"PATCH {self.location}", error) from error

    def attempt(self) -> int | None:
        """The TrainJob's `status.restarts` (the operator counts group restarts), if readable."""
        try:
            trainjob = json.loads(self._connection.request("GET", trainjob_path(self.job)))
        except (ApiError, OSError, ValueError):
            return None
        restarts = (trainjob.get("status") or {}).get("restarts")
        return restarts if isinstance(restarts, int) else None
