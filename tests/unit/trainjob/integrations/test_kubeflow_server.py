"""transformers' own KubeflowCallback, unchanged, reporting through trainjob's in-pod server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.unit.trainjob.test_loop_reporting import Recorder
from trainjob.integrations.kubeflow_server import KubeflowProgressServer, progress_update
from trainjob.reporting.run import RunReporter

pytest.importorskip("transformers")


@pytest.fixture
def server():
    sink = Recorder()
    server = KubeflowProgressServer(RunReporter(sink, min_interval_s=0)).start()
    server.sink = sink
    yield server
    server.close()


def post(server: KubeflowProgressServer, body: dict, token: str) -> int:
    request = urllib.request.Request(
        server.url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_callbacks_fields_map_to_progress_and_metrics():
    update = progress_update(
        {
            "progressPercentage": 40,
            "estimatedRemainingSeconds": 12,
            "metrics": [
                {"name": "loss", "value": "0.5"},
                {"name": "learning_rate", "value": "1e-3"},
                {"name": "current_step", "value": "40"},
                {"name": "total_steps", "value": "100"},
                {"name": "current_epoch", "value": "1.6"},
                {"name": "broken", "value": "nan"},
                {"name": "text", "value": "abc"},
            ],
        }
    )
    assert update == {
        "metrics": {"loss": 0.5, "learning_rate": 0.001},
        "step": 40,
        "total_steps": 100,
        "epoch": 2,
        "percent": 40.0,
        "eta_seconds": 12.0,
    }


def test_only_the_holder_of_the_token_is_heard(server):
    body = {"trainerStatus": {"progressPercentage": 10}}
    assert post(server, body, "wrong") == 401
    assert post(server, {"nothing": 1}, server.token_file.read_text()) == 400
    assert server.updates == 0
    assert post(server, body, server.token_file.read_text()) == 200 and server.updates == 1


def test_an_unchanged_hugging_face_trainer_reports_through_its_kubeflow_callback(
    server, monkeypatch, tmp_path
):
    from transformers.integrations import KubeflowCallback

    from tests.unit.trainjob.integrations.test_transformers import train

    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    trainer = train(tmp_path, [], num_train_epochs=2, eval_strategy="epoch")
    assert any(isinstance(c, KubeflowCallback) for c in trainer.callback_handler.callbacks)
    assert server.updates >= 2  # the start and the end (it sends at most every 5 s between)
    server.reporter.close()
    last = server.sink.written[-1]
    assert last["progress"]["totalSteps"] == 16 and last["progress"]["percent"] == 100.0
    assert last["progress"]["etaSeconds"] == 0.0
    assert {"loss", "eval_loss", "learning_rate"} <= set(last["metrics"]["values"])


def node_env(tmp_path, **extra: str) -> dict[str, str]:
    base = {
        "TRAINJOB_NAME": "hf",
        "TRAINJOB_STATUS_FILE": str(tmp_path / "status.json"),
        "WORLD_SIZE": "4",
        "NNODES": "2",
        "NPROC_PER_NODE": "2",
        "NODE_RANK": "0",
    }
    return {**base, **extra}


def test_the_launcher_of_node_0_serves_and_no_other(tmp_path):
    from trainjob.integrations.kubeflow_node import progress_server_for_node

    server = progress_server_for_node(node_env(tmp_path))
    assert server is not None
    try:
        assert set(server.environment()) == {"KUBEFLOW_TRAINER_SERVER_URL", "KUBEFLOW_TRAINER_SERVER_TOKEN"}
        assert (
            post(server, {"trainerStatus": {"progressPercentage": 5}}, server.token_file.read_text()) == 200
        )
    finally:
        server.close()
    assert json.loads((tmp_path / "status.json").read_text())["progress"]["percent"] == 5.0
    assert not server.token_file.exists()
    for extra in (
        {"NODE_RANK": "1"},
        {"TRAINJOB_AUTO_CALLBACKS": "0"},
        {"DISABLE_KUBEFLOW_INTEGRATION": "true"},
        {"KUBEFLOW_TRAINER_SERVER_URL": "https://elsewhere"},
    ):
        assert progress_server_for_node(node_env(tmp_path, **extra)) is None, extra
    outside = {key: value for key, value in node_env(tmp_path).items() if not key.startswith("TRAINJOB_")}
    assert progress_server_for_node(outside) is None
