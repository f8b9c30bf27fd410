"""The in-pod API access over real HTTPS against a scripted server.

KubeStatusSink: error classes and kept-alive connections. StopRequestWatcher: closing it ends
an open watch at once.
"""

from __future__ import annotations

import http.server
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.pki import CertificateAuthority
from trainjob.reporting.kube import ClusterAccess, KubeStatusSink
from trainjob.reporting.stop_watch import StopRequestWatcher
from trainjob.reporting.writer import PermanentWriteError, RefusedWriteError
from trainjob_api.contract import JobIdentity
from trainjob_api.names import STOP_ANNOTATION


class ScriptedApiserver(http.server.ThreadingHTTPServer):
    """Answers each PATCH with the next scripted status; records requests and connections."""

    def __init__(self, script: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script
        self.requests: list[tuple[str, str, dict]] = []
        self.connections = 0
        self.access: ClusterAccess | None = None
        #: The statuses of the next reads of the job (then 200), and the job's annotations.
        self.read_script: list[int] = []
        self.annotations: dict[str, str] = {}
        self.watching = threading.Event()
        self.stopping = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedApiserver

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_PATCH(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, self.headers["Authorization"], body))
        status = self.server.script.pop(0) if self.server.script else 200
        if status == 0:  # drop the connection without an answer
            self.close_connection = True
            return
        payload = json.dumps(
            {"status": body["status"]} if status == 200 else {"message": f"scripted {status}"}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        """The job (never asked to stop), or a watch that sends nothing until the server stops."""
        if "watch=true" in self.path:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.server.watching.set()
            self.server.stopping.wait(timeout=60)
            return
        status = self.server.read_script.pop(0) if self.server.read_script else 200
        job = {"metadata": {"name": "job", "resourceVersion": "7", "annotations": self.server.annotations}}
        payload = json.dumps(job if status == 200 else {"message": f"scripted {status}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateAuthority, tuple[Path, Path]]:
    ca = CertificateAuthority(tmp_path_factory.mktemp("ca"))
    return ca, ca.issue("server", "apiserver", ips=("127.0.0.1",))


@pytest.fixture
def serve(tls: tuple[CertificateAuthority, tuple[Path, Path]], tmp_path: Path) -> Iterator:
    servers: list[ScriptedApiserver] = []

    def start(script: list[int]) -> tuple[ScriptedApiserver, KubeStatusSink]:
        ca, (cert, key) = tls
        server = ScriptedApiserver(script)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        token = tmp_path / "token"
        token.write_text("first-token\n")
        server.access = ClusterAccess(f"https://127.0.0.1:{server.server_address[1]}", ca.cert, token)
        return server, KubeStatusSink(server.access, JobIdentity("job", "ns"))

    yield start
    for server in servers:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def test_writes_share_one_connection_and_send_the_current_token(serve, tmp_path: Path) -> None:
    server, sink = serve([])
    sink.write({"progress": {"epoch": 1}})
    (tmp_path / "token").write_text("rotated-token\n")
    sink.write({"progress": {"epoch": 2}})
    assert server.connections == 1
    assert [(path, auth) for path, auth, _ in server.requests] == [
        ("/apis/trainjob.dev/v1alpha1/namespaces/ns/trainjobs/job/status", "Bearer first-token"),
        ("/apis/trainjob.dev/v1alpha1/namespaces/ns/trainjobs/job/status", "Bearer rotated-token"),
    ]
    assert sink.last_object == {"status": {"progress": {"epoch": 2}}}


@pytest.mark.parametrize("status", [409, 429, 500, 503])
def test_conflicts_throttling_and_server_errors_are_transient(serve, status: int) -> None:
    _, sink = serve([status])
    with pytest.raises(ConnectionError, match=f"HTTP {status} scripted {status}"):
        sink.write({"progress": {"epoch": 1}})
    sink.write({"progress": {"epoch": 1}})  # the retry goes through


@pytest.mark.parametrize("status", [400, 422])
def test_a_fragment_the_apiserver_finds_invalid_is_a_permanent_error(serve, status: int) -> None:
    _, sink = serve([status])
    with pytest.raises(PermanentWriteError, match=f"HTTP {status} scripted {status}"):
        sink.write({"progress": {"epoch": 1}})


@pytest.mark.parametrize("status", [401, 403, 404])
def test_unauthorised_forbidden_and_not_found_are_refusals_that_may_pass_later(serve, status: int) -> None:
    # A just restarted apiserver answers so until its caches sync.
    _, sink = serve([status])
    with pytest.raises(RefusedWriteError, match=f"HTTP {status} scripted {status}"):
        sink.write({"progress": {"epoch": 1}})
    sink.write({"progress": {"epoch": 1}})
    assert sink.last_object == {"status": {"progress": {"epoch": 1}}}


def test_a_connection_the_server_dropped_is_replaced_once_without_an_error(serve) -> None:
    server, sink = serve([200, 0])
    sink.write({"progress": {"epoch": 1}})
    sink.write({"progress": {"epoch": 2}})
    assert server.connections == 2
    assert [body["status"]["progress"]["epoch"] for _, _, body in server.requests] == [1, 2, 2]


def test_closing_the_stop_watcher_ends_its_open_watch_at_once(
    serve, caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = serve([])
    requested = threading.Event()
    watcher = StopRequestWatcher(server.access, JobIdentity("job", "ns"), requested.set).start()
    assert server.watching.wait(timeout=10), "the watcher did not open its watch"
    started = time.monotonic()
    watcher.close()
    # The thread is gone before close returns, long before the server would end the watch.
    assert not watcher._thread.is_alive() and time.monotonic() - started < 2
    assert not requested.is_set()
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_the_stop_watcher_retries_answers_that_look_permanent(serve, caplog: pytest.LogCaptureFixture):
    # A restarting apiserver answers 401, 403 or 404 until its caches have synced.
    server, _ = serve([])
    server.read_script = [404, 403]
    server.annotations = {STOP_ANNOTATION: "true"}
    requested = threading.Event()
    watcher = StopRequestWatcher(
        server.access, JobIdentity("job", "ns"), requested.set, base_backoff_s=0.01, max_backoff_s=0.05
    ).start()
    try:
        assert requested.wait(timeout=10), "the stop request was not seen after the apiserver recovered"
    finally:
        watcher.close()
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "HTTP 404 scripted 404" in errors[0]
