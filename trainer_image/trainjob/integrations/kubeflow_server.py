"""Serves, on loopback inside a pod, the progress protocol of transformers' built-in Kubeflow callback.

transformers (5.x) registers its `KubeflowCallback` by itself whenever
`KUBEFLOW_TRAINER_SERVER_URL` is set: rank 0 POSTs `{"trainerStatus": {"progressPercentage",
"estimatedRemainingSeconds", "metrics": [{"name", "value"}], "lastUpdatedTime"}}` with a bearer
token read from the file `KUBEFLOW_TRAINER_SERVER_TOKEN` names, at most every 5 s. trainjob's
node launcher runs this server and sets those variables for the processes it starts, so an
unchanged Hugging Face script reports its steps, epochs and metrics into the TrainJob status.

What the protocol cannot carry: early-stopping state, checkpoints, and stop requests (the
callback ignores the answer). For those, add `trainjob.integrations.transformers.TrainJobCallback`.
"""

from __future__ import annotations

import hmac
import http.server
import json
import logging
import math
import os
import secrets
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainjob.reporting.run import RunReporter

log = logging.getLogger(__name__)

URL_VARIABLE = "KUBEFLOW_TRAINER_SERVER_URL"
TOKEN_VARIABLE = "KUBEFLOW_TRAINER_SERVER_TOKEN"
#: Metric names the callback adds for position, not measurement: read into progress instead.
POSITION_METRICS = ("current_step", "total_steps", "current_epoch")
#: The largest request body read (the callback sends well under 10 KiB).
MAX_BODY_BYTES = 1 << 20


def progress_update(trainer_status: Mapping[str, Any]) -> dict[str, Any]:
    """`RunReporter.report` arguments from one `trainerStatus` the callback sent."""
    values: dict[str, float] = {}
    for item in trainer_status.get("metrics") or []:
        try:
            value = float(item["value"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(value):
            values[str(item.get("name"))] = value
    update: dict[str, Any] = {
        "metrics": {name: value for name, value in values.items() if name not in POSITION_METRICS}
    }
    if "current_step" in values:
        update["step"] = int(values["current_step"])
    if "total_steps" in values:
        update["total_steps"] = int(values["total_steps"])
    if "current_epoch" in values:
        update["epoch"] = max(1, math.ceil(values["current_epoch"]))
    for field, name in (("percent", "progressPercentage"), ("eta_seconds", "estimatedRemainingSeconds")):
        if isinstance(trainer_status.get(name), int | float):
            update[field] = float(trainer_status[name])
    return update


class KubeflowProgressServer:
    """An HTTP server on 127.0.0.1 that feeds what the callback POSTs into a `RunReporter`.

    Only requests carrying its token (a random secret, in a file only this user can read) are
    taken; anything else in the pod gets 401.
    """

    def __init__(self, reporter: RunReporter) -> None:
        self.reporter = reporter
        self._token = secrets.token_urlsafe(32)
        fd, token_file = tempfile.mkstemp(prefix="trainjob-progress-token-")
        with os.fdopen(fd, "w") as handle:
            handle.write(self._token)
        self.token_file = Path(token_file)
        self.updates = 0
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="trainjob-kubeflow", daemon=True
        )

    @property
    def url(self) -> str:
        """Where the callback POSTs."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/trainerstatus"

    def environment(self) -> dict[str, str]:
        """The variables that switch transformers' Kubeflow callback on and point it here."""
        return {URL_VARIABLE: self.url, TOKEN_VARIABLE: str(self.token_file)}

    def start(self) -> KubeflowProgressServer:
        """Start serving in a daemon thread; returns self."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, land the last report (bounded), and remove the token file."""
        self._server.shutdown()
        self._server.server_close()
        self.reporter.close()
        self.token_file.unlink(missing_ok=True)

    def take(self, authorization: str, body: bytes) -> int:
        """Handle one POST; returns the HTTP status to answer."""
        if not hmac.compare_digest(authorization.encode(), f"Bearer {self._token}".encode()):
            return 401
        try:
            trainer_status = json.loads(body)["trainerStatus"]
            update = progress_update(trainer_status)
        except (ValueError, KeyError, TypeError, AttributeError):
            return 400
        self.reporter.report(**update)
        self.updates += 1
        return 200

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    code = 413
                else:
                    code = server.take(self.headers.get("Authorization", ""), self.rfile.read(length))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("kubeflow progress server: " + format, *args)

        return Handler
