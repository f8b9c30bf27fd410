"""List-then-watch loops, the way client-go informers keep a view of a collection."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .kube import ApiError, Kube

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], None]


class _Expired(Exception):
    pass


def run_informer(
    kube: Kube,
    path: str,
    handler: Handler,
    stop: threading.Event,
    *,
    synced: threading.Event | None = None,
    **query: Any,
) -> None:
    """Call handler(type, object) for every change of the collection at path until stop is set.

    ADDED/MODIFIED/DELETED events, also after a relist (objects gone meanwhile are DELETED).
    Errors are retried; handler exceptions are logged and do not stop the loop. `synced` is set
    once the first list has been handled: every later change arrives as a watch event.
    """
    known: dict[str, dict[str, Any]] = {}

    def emit(kind: str, obj: dict[str, Any]) -> None:
        try:
            handler(kind, obj)
        except Exception:
            log.exception("informer %s: handler failed on %s", path, kind)

    while not stop.is_set():
        try:
            listing = kube.get(path, **query)
            current = {o["metadata"]["uid"]: o for o in listing["items"]}
            for uid in known.keys() - current.keys():
                emit("DELETED", known[uid])
            for uid, obj in current.items():
                emit("MODIFIED" if uid in known else "ADDED", obj)
            known = current
            if synced is not None:
                synced.set()
            version = listing["metadata"]["resourceVersion"]
            while not stop.is_set():
                for event in kube.watch(path, version, timeout_seconds=10, **query):
                    if stop.is_set():
                        return
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        raise _Expired(obj.get("message"))
                    version = obj["metadata"]["resourceVersion"]
                    if kind == "BOOKMARK":
                        continue
                    uid = obj["metadata"]["uid"]
                    if kind == "DELETED":
                        known.pop(uid, None)
                    else:
                        known[uid] = obj
                    emit(kind, obj)
        except (_Expired, ApiError, OSError, ValueError) as error:
            if not stop.is_set():
                log.debug("informer %s: %s; relisting", path, error)
                stop.wait(0.5)
