"""Server-sent events: one event per frame whatever the data holds, and a broadcast that never blocks."""

from __future__ import annotations

import json

import pytest

from trainjob.dashboard.sse import Broadcast, dumps, frame


def parse(data: bytes) -> tuple[str, object]:
    """An event's name and data, read as EventSource reads a frame."""
    text = data.decode()
    assert text.endswith("\n\n") and text.count("\n\n") == 1, text
    fields = dict(line.split(": ", 1) for line in text.rstrip("\n").split("\n"))
    return fields["event"], json.loads(fields["data"])


def test_a_frame_is_one_event_even_when_the_data_has_newlines_and_markup() -> None:
    hostile = {"line": "epoch 1\n\nevent: stop\ndata: {}\r\n</script><img src=x onerror=alert(1)>"}
    name, data = parse(frame("line", hostile))
    assert (name, data) == ("line", hostile)
    assert b"<" not in frame("line", hostile)


def test_json_has_no_nan_and_no_raw_markup() -> None:
    text = dumps({"loss": float("nan"), "best": float("inf"), "name": "<b>&</b>", "ok": [1.5]})
    assert json.loads(text) == {"loss": None, "best": None, "name": "<b>&</b>", "ok": [1.5]}
    assert "<" not in text and "&" not in text


@pytest.mark.parametrize("name", ["a\nb", "a:b", "x\r"])
def test_an_event_name_that_would_break_the_framing_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        frame(name, {})


def test_the_broadcast_gives_every_page_each_frame_after_its_first() -> None:
    broadcast = Broadcast()
    one = broadcast.subscribe(b"snapshot-1")
    broadcast.publish(b"a")
    two = broadcast.subscribe(b"snapshot-2")
    broadcast.publish(b"b")
    assert [one.next(0), one.next(0), one.next(0), one.next(0)] == [b"snapshot-1", b"a", b"b", None]
    assert [two.next(0), two.next(0), two.next(0)] == [b"snapshot-2", b"b", None]
    broadcast.unsubscribe(one)
    broadcast.publish(b"c")
    assert one.next(0) is None and two.next(0) == b"c"


def test_a_page_that_lags_too_far_behind_is_dropped_not_waited_for() -> None:
    broadcast = Broadcast(backlog=3)
    slow = broadcast.subscribe()
    for index in range(5):
        broadcast.publish(str(index).encode())
    assert slow.closed and len(broadcast) == 0
