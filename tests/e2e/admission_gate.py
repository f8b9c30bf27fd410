"""A validating admission webhook that holds the operator's creations: crashes at a chosen point.

The operator creates its children within a fraction of a second, faster than a test can watch
them appear, so a crash "while it creates" would land before or after at random. The gate lets
the first `let_through` creations of one kind of child pass and holds every later one (the
apiserver waits on the webhook, as on a slow one) until the gate closes, when they all pass: a
test can crash the operator while some of its creations are done and others in flight. Only
creations of new objects count: a restarted operator creating again what already exists (the
apiserver then answers AlreadyExists) passes at once, since it adds nothing.

With `refuse`, the gate refuses those creations instead, with a server error (500), until it
opens: a transient failure of the apiserver, which the operator must retry.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.cluster import ApiError, ControlPlane
from tests.cluster.controlplane import free_port
from trainjob_api.names import LABEL_MANAGED_BY, MANAGER

WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
#: How long the apiserver waits on the gate (its maximum), and how long the gate holds at most.
HOLD_SECONDS = 25


class AdmissionGate:
    """Holds (or, with `refuse`, refuses) creations of `resource` (a core/v1 plural) by the operator
    in `namespace` after the first `let_through`; a context manager: registered on entry, opened and
    removed on exit."""

    def __init__(
        self, cp: ControlPlane, namespace: str, resource: str, let_through: int, *, refuse: bool = False
    ) -> None:
        self._cp = cp
        self._objects = f"/api/v1/namespaces/{namespace}/{resource}"
        self._let_through = let_through
        self._refuse = refuse
        self._passed = 0
        self._lock = threading.Lock()
        self._held = threading.Event()
        self._open = threading.Event()
        self.name = f"gate-{uuid.uuid4().hex[:8]}"
        cert, key = cp.ca.issue(self.name, self.name, ips=(cp.host,))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = ThreadingHTTPServer((cp.host, free_port(cp.host)), self._handler())
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._configuration = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": self.name},
            "webhooks": [
                {
                    "name": f"{self.name}.faults.trainjob.dev",
                    "clientConfig": {
                        "url": f"https://{cp.host}:{self._server.server_address[1]}/",
                        "caBundle": base64.b64encode(cp.ca.cert.read_bytes()).decode(),
                    },
                    "rules": [
                        {
                            "operations": ["CREATE"],
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "resources": [resource],
                            "scope": "Namespaced",
                        }
                    ],
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "objectSelector": {"matchLabels": {LABEL_MANAGED_BY: MANAGER}},
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": HOLD_SECONDS + 5,
                    "failurePolicy": "Fail",
                }
            ],
        }

    def __enter__(self) -> AdmissionGate:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._cp.admin.create(WEBHOOKS, self._configuration)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._cp.admin.delete(f"{WEBHOOKS}/{self.name}")
        self._server.shutdown()

    def release(self) -> None:
        """Let every held creation pass, and every later one."""
        self._open.set()

    def wait_until_holding(self, timeout: float = 120) -> None:
        """Return once a creation beyond the first `let_through` is held (or refused)."""
        assert self._held.wait(timeout), f"the gate {self.name} held nothing within {timeout:.0f}s"

    def _admit(self, name: str) -> bool:
        """Whether the creation of `name` passes: now, or once the gate opens (held at most HOLD_SECONDS).

        With `refuse`, a creation that the open gate would not let pass is refused at once.
        """
        if self._exists(name):
            return True
        with self._lock:
            self._passed += 1
            hold = self._passed > self._let_through
        if hold:
            self._held.set()
            if self._refuse:
                return self._open.is_set()
            self._open.wait(HOLD_SECONDS)
        return True

    def _exists(self, name: str) -> bool:
        """Whether an object of that name is known to exist (its creation will be refused as such);
        False when the apiserver cannot tell (it is going down): the creation then counts."""
        try:
            self._cp.admin.get(f"{self._objects}/{name}")
        except (ApiError, OSError):
            return False
        return True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                response: dict[str, Any] = {
                    "uid": review["request"]["uid"],
                    "allowed": gate._admit(review["request"]["name"]),
                }
                if not response["allowed"]:
                    response["status"] = {"code": 500, "message": "the gate refuses it for now"}
                answer = {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "response": response,
                }
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the apiserver calls for every creation."""

        return Handler
