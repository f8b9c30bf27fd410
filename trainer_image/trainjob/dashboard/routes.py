"""Which handler serves a request: the method and path, parsed into a route (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

#: A namespace or TrainJob name as Kubernetes allows them (DNS subdomain).
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
#: A static file's name: no directories, no dot files.
STATIC_FILE = re.compile(r"^[A-Za-z0-9_-]+\.(html|css|js|svg|png)$")


@dataclass(frozen=True)
class Route:
    """A handler's name and what the path named: namespace, name, static file; the query."""

    handler: str
    namespace: str = ""
    name: str = ""
    file: str = ""
    query: dict[str, list[str]] = field(default_factory=dict)


#: Routes whose paths match but whose method does not: 405.
METHOD_NOT_ALLOWED = Route("method_not_allowed")
NOT_FOUND = Route("not_found")


def route(method: str, target: str) -> Route:
    """The route of `method target`; NOT_FOUND or METHOD_NOT_ALLOWED when none fits."""
    parts = urlsplit(target)
    query = parse_qs(parts.query)
    segments = [unquote(segment) for segment in parts.path.split("/")[1:]]
    found, wanted = _match(segments, query)
    if found is NOT_FOUND:
        return NOT_FOUND
    return found if method == wanted else METHOD_NOT_ALLOWED


def _match(segments: list[str], query: dict[str, list[str]]) -> tuple[Route, str]:
    """The route the path names and the method it takes."""
    match segments:
        case [""]:
            return Route("index"), "GET"
        case ["healthz"]:
            return Route("health"), "GET"
        case ["static", file] if STATIC_FILE.match(file):
            return Route("static", file=file), "GET"
        case ["api", "jobs"]:
            return Route("rows"), "GET"
        case ["api", "stream"]:
            return Route("stream"), "GET"
        case ["api", "jobs", namespace, name, *rest] if NAME.match(namespace) and NAME.match(name):
            action = {(): ("detail", "GET"), ("log",): ("log", "GET"), ("stop",): ("stop", "POST")}.get(
                tuple(rest)
            )
            if action is not None:
                return Route(action[0], namespace, name, query=query), action[1]
    return NOT_FOUND, ""
