"""The dashboard's HTTP server: the page, its JSON and event streams, and the stop action.

The standard library's ThreadingHTTPServer: one thread per request, so each open event stream
holds a thread (a page holds one, two while it follows a rank's log).
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import socket
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from trainjob.cli.stop import StopAnswer, ask_to_stop
from trainjob.client.connection import Cluster, ClusterError
from trainjob.client.trainjobs import TrainJob, TrainJobs
from trainjob.dashboard.detail import job_detail
from trainjob.dashboard.hub import JobHub
from trainjob.dashboard.logstream import rank_log
from trainjob.dashboard.routes import Route, route
from trainjob.dashboard.security import SECURITY_HEADERS, Guard
from trainjob.dashboard.sse import KEEPALIVE, KEEPALIVE_S, Subscription, dumps
from trainjob_api.names import STOP_ANNOTATION

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
}
#: The largest request body read (a stop request's is `{}`).
MAX_BODY = 1024
TOKEN_PLACEHOLDER = "__CSRF_TOKEN__"


@dataclasses.dataclass
class Dashboard:
    """What the server serves: the cluster (the user's credentials), the shared watch, the guard."""

    cluster: Cluster
    hub: JobHub
    guard: Guard
    all_namespaces: bool = False

    def cluster_for(self, namespace: str) -> Cluster | None:
        """The cluster, acting in `namespace`; None for a namespace this dashboard does not show."""
        if not self.all_namespaces and namespace != self.cluster.namespace:
            return None
        return dataclasses.replace(self.cluster, namespace=namespace)


def static_file(name: str) -> bytes | None:
    """A file of the page, from the package's `static/`, or None."""
    try:
        return resources.files("trainjob.dashboard").joinpath("static", name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def index_page(token: str) -> bytes:
    """The page, carrying the server's CSRF token in a meta tag (escaped, though it is URL-safe)."""
    page = static_file("index.html") or b""
    return page.replace(TOKEN_PLACEHOLDER.encode(), html.escape(token, quote=True).encode())


def stop_message(answer: StopAnswer, name: str) -> str:
    """What the page says after a stop request."""
    if answer is StopAnswer.REQUESTED:
        return (
            f'Stop requested for {name} ({STOP_ANNOTATION}: "true"): every rank stops at the same step, '
            "rank 0 saves a checkpoint, and the job ends Succeeded."
        )
    return f"{name}: {answer.value}."


def refusal_message(error: ClusterError, name: str) -> str:
    """A ClusterError from the stop request, in words for the page (a 403 says what right is missing)."""
    if error.status == HTTPStatus.FORBIDDEN:
        return (
            f"You are not allowed to stop {name}: stopping needs the right to patch trainjobs in its "
            f"namespace, and your credentials lack it. The apiserver said: {error}"
        )
    return f"Could not stop {name}: {error}"


class Handler(BaseHTTPRequestHandler):
    """One request: routed by `routes.route`, answered with the security headers."""

    server: DashboardServer
    protocol_version = "HTTP/1.1"
    server_version = "trainjob-dashboard"
    sys_version = ""
    #: An idle kept-alive connection is closed after this many seconds (it holds a thread).
    timeout = 120

    def do_GET(self) -> None:
        """Answer a GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Answer a POST."""
        self._serve("POST")

    def do_PUT(self) -> None:
        """Refuse a PUT."""
        self._serve("PUT")

    def do_DELETE(self) -> None:
        """Refuse a DELETE."""
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the debug log, not to stderr."""
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self, method: str) -> None:
        if not self.server.app.guard.host_allowed(self.headers.get("Host")):
            self._json(HTTPStatus.MISDIRECTED_REQUEST, {"error": "this dashboard does not serve that host"})
            return
        found = route(method, self.path)
        try:
            getattr(self, f"_{found.handler}")(found)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- the answers -----------------------------------------------------------------------
    def _not_found(self, _: Route) -> None:
        self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _method_not_allowed(self, _: Route) -> None:
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "method not allowed"})

    def _health(self, _: Route) -> None:
        self._json(HTTPStatus.OK, {"ok": True, "synced": self.server.app.hub.synced.is_set()})

    def _index(self, _: Route) -> None:
        self._send(HTTPStatus.OK, index_page(self.server.app.guard.token), CONTENT_TYPES["html"])

    def _static(self, found: Route) -> None:
        body = static_file(found.file)
        if body is None:
            self._not_found(found)
            return
        self._send(HTTPStatus.OK, body, CONTENT_TYPES[found.file.rsplit(".", 1)[1]])

    def _rows(self, _: Route) -> None:
        self._json(HTTPStatus.OK, {"rows": self.server.app.hub.rows()})

    def _detail(self, found: Route) -> None:
        job = self._job(found)
        if job is not None:
            self._json(HTTPStatus.OK, job_detail(*job))

    def _stream(self, _: Route) -> None:
        hub = self.server.app.hub
        subscription = hub.subscribe()
        try:
            self._events(_frames(subscription))
        finally:
            hub.broadcast.unsubscribe(subscription)

    def _log(self, found: Route) -> None:
        rank = (found.query.get("rank") or ["0"])[0]
        if not rank.isdigit():
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no rank {rank!r}"})
            return
        job = self._job(found)
        if job is not None:
            self._events(rank_log(*job, int(rank)))

    def _stop(self, found: Route) -> None:
        app = self.server.app
        refused = app.guard.refuse_post(self.headers)
        length = int(self.headers.get("Content-Length") or 0)
        if refused is None and length > MAX_BODY:
            refused = "the request body is too large"
        if refused is None:
            try:
                json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                refused = "the request body is not JSON"
        if refused is not None:
            self.close_connection = True
            self._json(HTTPStatus.FORBIDDEN, {"error": f"Refused: {refused}."})
            return
        cluster = app.cluster_for(found.namespace)
        if cluster is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no TrainJob {found.namespace}/{found.name}"})
            return
        try:
            answer, _ = ask_to_stop(TrainJobs(cluster), found.name)
        except ClusterError as error:
            status = HTTPStatus(error.status) if error.status in (403, 404, 409) else HTTPStatus.BAD_GATEWAY
            self._json(status, {"error": refusal_message(error, found.name)})
            return
        self._json(HTTPStatus.OK, {"answer": answer.name, "message": stop_message(answer, found.name)})

    def _job(self, found: Route) -> tuple[Cluster, TrainJob] | None:
        """The cluster and the TrainJob (as the watch last saw it) the route names; else answers 404."""
        app = self.server.app
        cluster, trainjob = app.cluster_for(found.namespace), app.hub.get(found.namespace, found.name)
        if cluster is None or trainjob is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no TrainJob {found.namespace}/{found.name}"})
            return None
        return cluster, trainjob

    # -- writing ---------------------------------------------------------------------------
    def _headers(self, status: HTTPStatus, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for header, value in SECURITY_HEADERS.items():
            self.send_header(header, value)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self._headers(status, content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, document: Any) -> None:
        self._send(status, dumps(document).encode(), "application/json")

    def _events(self, frames: Iterable[bytes]) -> None:
        """Stream server-sent events until they end or the page goes away."""
        self._headers(HTTPStatus.OK, "text/event-stream")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b"retry: 1000\n\n")
        self.wfile.flush()
        for data in frames:
            self.wfile.write(data)
            self.wfile.flush()


def _frames(subscription: Subscription) -> Iterator[bytes]:
    """A subscription's frames, keepalives while idle, until the broadcast drops it."""
    while not subscription.closed:
        data = subscription.next(KEEPALIVE_S)
        yield KEEPALIVE if data is None else data


class DashboardServer(ThreadingHTTPServer):
    """The HTTP server of one dashboard (request threads are daemons)."""

    daemon_threads = True
    #: The listen backlog: a page opens its modules and its stream at once (socketserver's 5 drops
    #: connections under load, which the browser retries only after 1, 2, 4... seconds).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Dashboard) -> None:
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
