"""`trainjob dashboard`'s options, in both programs, and the URL it prints."""

from __future__ import annotations

import pytest
from kubernetes.client import ApiClient

from trainjob.cli import build_parser
from trainjob.cli.dashboard import serve_dashboard
from trainjob.client.connection import Cluster
from trainjob.dashboard.app import build


@pytest.mark.parametrize(("prog", "local"), [("trainjob", True), ("kubectl trainjob", False)])
def test_both_programs_have_the_dashboard_local_by_default(prog: str, local: bool) -> None:
    args = build_parser(prog, with_local=local).parse_args(["dashboard"])
    assert args.handler is serve_dashboard
    assert (args.address, args.port, args.open, args.all_namespaces) == ("127.0.0.1", 8080, False, False)
    assert (args.kubeconfig, args.context, args.namespace, args.in_cluster) == (None, None, None, False)


def test_every_option_parses() -> None:
    args = build_parser("trainjob", with_local=True).parse_args(
        ["dashboard", "-A", "--port", "0", "--open", "--address", "::1", "--context", "prod", "-n", "ml"]
    )
    assert (args.all_namespaces, args.port, args.open, args.address) == (True, 0, True, "::1")
    assert (args.context, args.namespace) == ("prod", "ml")


@pytest.mark.parametrize(
    ("address", "shown"), [("127.0.0.1", "http://127.0.0.1:{port}/"), ("::1", "http://[::1]:{port}/")]
)
def test_the_printed_url_is_where_the_server_listens(address: str, shown: str) -> None:
    server = build(Cluster(ApiClient(), "test", "ml"), address, 0)
    try:
        assert server.url == shown.format(port=server.server_address[1])
        assert server.app.guard.host_allowed(server.url.split("/")[2])
    finally:
        server.server_close()
