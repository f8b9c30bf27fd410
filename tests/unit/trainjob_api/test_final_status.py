"""The final status as a termination message: within the kubelet's limit; only valid reporter fields back."""

import json

from trainjob_api.final_status import (
    FINAL_STATUS_KEY,
    MAX_MESSAGE_BYTES,
    decode_final_status,
    encode_final_status,
    is_final_status,
)

FRAGMENT = {
    "progress": {"epoch": 10, "totalEpochs": 40, "percent": 25.0, "lastUpdateTime": "2026-12-07T10:00:00Z"},
    "metrics": {"loss": 0.1, "values": {"loss": 0.1, "val_accuracy": 0.97}},
    "earlyStopping": {"triggered": True, "reason": "EarlyStopping", "message": "no improvement", "epoch": 10},
    "checkpoint": {"path": "/ckpt/epoch-10.pt", "epoch": 10},
    "stoppedOnRequest": False,
}


def test_a_final_status_round_trips_whole() -> None:
    message = encode_final_status(FRAGMENT)
    assert is_final_status(message)
    assert decode_final_status(message) == FRAGMENT


def test_a_final_status_too_big_for_the_kubelet_drops_whole_fields_metrics_first() -> None:
    many = {f"metric_{index:04d}": index / 7 for index in range(400)}
    fragment = {**FRAGMENT, "metrics": {"loss": 0.1, "values": many}}
    message = encode_final_status(fragment)
    assert len(message.encode()) <= MAX_MESSAGE_BYTES
    assert decode_final_status(message) == {key: value for key, value in FRAGMENT.items() if key != "metrics"}


def test_only_the_reporters_fields_that_pass_the_status_schema_come_back() -> None:
    hostile = {
        "phase": "Failed",  # the operator's field
        "conditions": [],
        "progress": {"epoch": "ten"},  # the wrong type
        "metrics": {"loss": 0.5, "unknown": 1},  # a field the apiserver would prune
        "earlyStopping": {"triggered": True, "wait": -1},  # below the minimum
        "checkpoint": {"path": "/ckpt/last.pt"},
    }
    message = json.dumps({FINAL_STATUS_KEY: hostile})
    assert decode_final_status(message) == {"checkpoint": {"path": "/ckpt/last.pt"}}


def test_a_death_rattle_is_no_final_status() -> None:
    for message in ("", "Traceback (most recent call last): ...", "{not json", '{"other": 1}', "[1]", "{}"):
        assert not is_final_status(message)
        assert decode_final_status(message) == {}
    assert decode_final_status(json.dumps({FINAL_STATUS_KEY: "text"})) == {}
