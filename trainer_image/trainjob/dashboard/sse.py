"""Server-sent events: framing, and one broadcast that fans every change out to the open pages."""

from __future__ import annotations

import json
import math
import queue
import threading
from typing import Any

#: A comment line: keeps proxies and the browser from closing an idle stream.
KEEPALIVE = b": keepalive\n\n"
#: How often an idle stream sends `KEEPALIVE` (and so notices a page that went away).
KEEPALIVE_S = 10.0
#: How many events a page may lag behind before it is dropped (it reconnects and resyncs).
BACKLOG = 10_000


#: Characters JSON may carry raw that mean markup to HTML: escaped anyway, should a browser ever sniff.
_MARKUP = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def dumps(data: Any) -> str:
    """Compact JSON, with NaN and infinities (which JSON lacks) as null, and `<>&` as unicode escapes."""
    return json.dumps(_finite(data), separators=(",", ":"), allow_nan=False).translate(_MARKUP)


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(value) for value in data]
    return data


def frame(event: str, data: Any) -> bytes:
    """One event: its name and its data as one line of JSON (JSON escapes every newline)."""
    if any(char in event for char in "\r\n:"):
        raise ValueError(f"bad event name {event!r}")
    return f"event: {event}\ndata: {dumps(data)}\n\n".encode()


class Subscription:
    """One page's queue of frames; `closed` once the broadcast dropped it for lagging behind."""

    def __init__(self, backlog: int = BACKLOG) -> None:
        self.frames: queue.Queue[bytes] = queue.Queue(backlog)
        self.closed = False

    def next(self, timeout: float) -> bytes | None:
        """The next frame, or None after `timeout` seconds without one."""
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            return None


class Broadcast:
    """The open pages; `publish` hands each a frame without ever blocking the watch."""

    def __init__(self, backlog: int = BACKLOG) -> None:
        self._backlog = backlog
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()

    def subscribe(self, first: bytes | None = None) -> Subscription:
        """A new page's subscription, starting with `first` (the snapshot), atomically with publishes."""
        subscription = Subscription(self._backlog)
        with self._lock:
            if first is not None:
                subscription.frames.put_nowait(first)
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a page that went away."""
        with self._lock:
            self._subscribers.discard(subscription)

    def publish(self, data: bytes) -> None:
        """Queue a frame for every page; a page too far behind is dropped (and told by `closed`)."""
        with self._lock:
            for subscription in list(self._subscribers):
                try:
                    subscription.frames.put_nowait(data)
                except queue.Full:
                    subscription.closed = True
                    self._subscribers.discard(subscription)

    def __len__(self) -> int:
        with self._lock:
            return len(self._subscribers)
