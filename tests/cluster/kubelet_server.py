"""The test node's kubelet API, as far as the apiserver needs it for `kubectl logs`.

The apiserver serves `pods/NAME/log` by proxying to the kubelet of the pod's node:
`GET https://<node InternalIP>:<kubeletEndpoint port>/containerLogs/NS/POD/CONTAINER`. This
server answers that request from the log files the test node keeps. It uses TLS with a
serving certificate from the cluster CA (the apiserver verifies it with
`--kubelet-certificate-authority`) and accepts only clients with a certificate from the same
CA (the apiserver's `--kubelet-client-certificate`).

Query parameters: `follow` (stream until the container ends), `previous` (the run before the
current one), `tailLines`, `limitBytes`. `timestamps`, `sinceSeconds` and `sinceTime` need a
time per line, which the node does not record: they are refused with 400.
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/containerLogs/([^/]+)/([^/]+)/([^/]+)$")
UNSUPPORTED = ("timestamps", "sinceSeconds", "sinceTime")
FOLLOW_POLL_S = 0.1
CHUNK = 64 * 1024


@dataclass(frozen=True)
class ContainerLog:
    """One run of a container: its log file, and whether that run is still going."""

    path: Path
    running: Callable[[], bool]


class LogUnavailable(LookupError):
    """No log to serve; `status` is the HTTP status the kubelet answers with (400 or 404)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


#: Finds a container's log: (namespace, pod, container, previous) -> ContainerLog; raises LogUnavailable.
LogFinder = Callable[[str, str, str, bool], ContainerLog]


class KubeletServer:
    """An HTTPS server on `host` (port chosen by the OS) serving `/containerLogs/...`."""

    def __init__(self, host: str, cert: tuple[Path, Path], client_ca: Path, find: LogFinder) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*cert)
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        self._stopping = threading.Event()
        handler = _handler_class(find, self._stopping)
        self._server = ThreadingHTTPServer((host, 0), handler)
        self._server.daemon_threads = True
        # the handshake happens on the first read, in the request's thread, not in the accept loop
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="kubelet-server", daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; streams being followed end."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()


def _handler_class(find: LogFinder, stopping: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """One kubelet API request."""

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            match = _PATH.match(url.path)
            if match is None:
                self._error(404, f"{url.path}: the test node serves only /containerLogs/NS/POD/CONTAINER")
                return
            namespace, pod, container = (unquote(part) for part in match.groups())
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            unsupported = [key for key in UNSUPPORTED if _flag(query.get(key, ""), key)]
            if unsupported:
                self._error(
                    400, f"the test node keeps no per-line times: {', '.join(unsupported)} unsupported"
                )
                return
            try:
                tail = int(query["tailLines"]) if "tailLines" in query else None
                limit = int(query["limitBytes"]) if "limitBytes" in query else None
            except ValueError as error:
                self._error(400, f"bad query: {error}")
                return
            try:
                found = find(namespace, pod, container, _flag(query.get("previous", "")))
            except LogUnavailable as error:
                self._error(error.status, str(error))
                return
            follow = _flag(query.get("follow", "")) and not _flag(query.get("previous", ""))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
                _stream(found, self.wfile, follow=follow, tail=tail, limit=limit, stopping=stopping)

        def _error(self, status: int, message: str) -> None:
            body = message.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("kubelet server: " + format, *args)

    return Handler


def _flag(value: str, name: str = "") -> bool:
    """A query flag as Go's strconv.ParseBool reads it; for sinceSeconds/sinceTime, any value."""
    if name in ("sinceSeconds", "sinceTime"):
        return bool(value)
    return value.lower() in ("1", "t", "true")


def _stream(
    found: ContainerLog,
    out: IO[bytes],
    *,
    follow: bool,
    tail: int | None,
    limit: int | None,
    stopping: threading.Event,
) -> None:
    """Write the log (its last `tail` lines, at most `limit` bytes), then follow it while the run lasts."""
    budget = limit if limit is not None else -1
    with found.path.open("rb") as source:
        first = source.read()
        if tail is not None:
            lines = first.splitlines(keepends=True)
            first = b"".join(lines[-tail:]) if tail > 0 else b""
        budget = _write(out, first, budget)
        while follow and budget != 0 and not stopping.is_set():
            running = found.running()  # asked before reading: what it wrote until it ended is read next
            chunk = source.read(CHUNK)
            if chunk:
                budget = _write(out, chunk, budget)
            elif not running:
                return
            else:
                time.sleep(FOLLOW_POLL_S)


def _write(out: IO[bytes], data: bytes, budget: int) -> int:
    """Write data within the byte budget (-1: unlimited); return what is left of it."""
    if budget >= 0:
        data = data[:budget]
        budget -= len(data)
    if data:
        out.write(data)
        out.flush()
    return budget
