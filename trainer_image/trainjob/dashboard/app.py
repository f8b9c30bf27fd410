"""Putting the dashboard together: the shared watch, the guard and the server, for one cluster."""

from __future__ import annotations

from trainjob.client.connection import Cluster
from trainjob.client.histories import cluster_histories
from trainjob.client.trainjobs import TrainJobs
from trainjob.dashboard.hub import JobHub
from trainjob.dashboard.security import Guard, allowed_hosts, new_token
from trainjob.dashboard.server import Dashboard, DashboardServer


class BoundDashboard(DashboardServer):
    """A dashboard server bound to its address; `url` is where to open it, `start` runs it."""

    @property
    def url(self) -> str:
        """The page's address (a wildcard bind is shown as 127.0.0.1)."""
        host, port = self.server_address[:2]
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(str(host), str(host))
        return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"

    def start_watch(self) -> None:
        """Start the one watch on the TrainJobs that feeds every page (a daemon thread)."""
        self.app.hub.start()


def build(cluster: Cluster, address: str, port: int, *, all_namespaces: bool = False) -> BoundDashboard:
    """Bind the server (port 0: a free one); its watch on the TrainJobs starts with `start_watch`."""
    trainjobs = TrainJobs(cluster)
    hub = JobHub(
        lambda: trainjobs.changes(all_namespaces), lambda: cluster_histories(cluster, all_namespaces)
    )
    # The guard needs the bound port; the app is complete before any request is served.
    server = BoundDashboard(
        (address, port), Dashboard(cluster, hub, Guard(new_token(), frozenset()), all_namespaces)
    )
    bound = server.server_address[1]
    server.app.guard = Guard(server.app.guard.token, allowed_hosts(address, bound))
    return server
