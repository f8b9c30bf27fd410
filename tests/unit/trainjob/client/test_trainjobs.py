"""Watching TrainJobs over real HTTP: a watch the apiserver expires (410 Gone) starts again from a
fresh read, as a scripted apiserver answers it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes.client import ApiClient, Configuration

from trainjob.client.connection import Cluster, ClusterError
from trainjob.client.trainjobs import TrainJobs

EXPIRED = {
    "type": "ERROR",
    "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
}


def job(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ml", "resourceVersion": version}}


class ScriptedApiserver(ThreadingHTTPServer):
    """Answers reads from `reads` and watches from `watches` (by resourceVersion), in order.

    A watch's events are sent one JSON line each; the stream then ends, or stays open until the
    server stops when its script says "hold".
    """

    daemon_threads = True

    def __init__(self, reads: list[dict[str, Any]], watches: dict[str, list[Any]]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.reads, self.watches = reads, watches
        self.requests: list[str] = []
        self.stopping = threading.Event()


class Handler(BaseHTTPRequestHandler):
    """Reads as one JSON body; watches as chunks, one event each (as the apiserver streams them)."""

    server: ScriptedApiserver
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if query.get("watch") != ["true"]:
            body = json.dumps(self.server.reads.pop(0)).encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in self.server.watches[query["resourceVersion"][0]]:
            if event == "hold":
                self.server.stopping.wait(10)
                break
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator:
    servers: list[ScriptedApiserver] = []

    def start(
        reads: list[dict[str, Any]], watches: dict[str, list[Any]]
    ) -> tuple[ScriptedApiserver, TrainJobs]:
        server = ScriptedApiserver(reads, watches)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        configuration = Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
        return server, TrainJobs(Cluster(api=ApiClient(configuration), context="test", namespace="ml"))

    yield start
    for server in servers:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def test_changes_relist_after_the_watch_expires_and_go_on_from_the_new_list(serve) -> None:
    server, trainjobs = serve(
        reads=[
            {"metadata": {"resourceVersion": "10"}, "items": [job("a", "10")]},
            {"metadata": {"resourceVersion": "20"}, "items": [job("a", "11"), job("b", "20")]},
        ],
        watches={
            # The client library resumes once by itself from the last version; a second 410 is ours.
            "10": [{"type": "MODIFIED", "object": job("a", "11")}, EXPIRED],
            "11": [EXPIRED],
            "20": [
                {"type": "BOOKMARK", "object": job("", "21")},
                {"type": "DELETED", "object": job("a", "22")},
                "hold",
            ],
        },
    )
    changes = trainjobs.changes()
    seen = [next(changes) for _ in range(4)]
    assert [
        (kind, [j["metadata"]["name"] for j in data] if kind == "SYNC" else data["metadata"]["name"])
        for kind, data in seen
    ] == [
        ("SYNC", ["a"]),
        ("MODIFIED", "a"),
        ("SYNC", ["a", "b"]),
        ("DELETED", "a"),
    ]
    assert [parse_qs(urlsplit(path).query).get("resourceVersion") for path in server.requests] == [
        None,
        ["10"],
        ["11"],
        None,
        ["20"],
    ]


def test_watch_reads_the_job_again_after_the_watch_expires_and_ends_when_it_is_deleted(serve) -> None:
    _, trainjobs = serve(
        reads=[job("a", "10"), job("a", "12")],
        watches={
            "10": [{"type": "MODIFIED", "object": job("a", "11")}, EXPIRED],
            "11": [EXPIRED],
            "12": [{"type": "DELETED", "object": job("a", "13")}],
        },
    )
    versions = []
    with pytest.raises(ClusterError, match='trainjob "a" in namespace "ml" was deleted'):
        for trainjob in trainjobs.watch("a"):
            versions.append(trainjob["metadata"]["resourceVersion"])
    assert versions == ["10", "11", "12"]
