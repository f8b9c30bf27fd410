"""The cluster CLI against the real control plane: `trainjob list|status|watch|logs|stop`, and as
`kubectl trainjob ...`, with the kubeconfig and context chosen as kubectl chooses them.

Status fixtures are written with the admin client, shaped as the operator and the rank-0
reporter write them; one real TrainJob runs under the operator for `watch` and `logs -f`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import Cli, ControlPlane, TestNode
from tests.e2e.support import (
    TRAINJOBS,
    cluster_example,
    condition,
    create_trainjob,
    get_trainjob,
    kubectl_apply,
    wait_for_status,
)
from trainjob_api.names import STOP_ANNOTATION

pytestmark = pytest.mark.e2e


VENV_BIN = Path(sys.executable).parent


def trainjob_cli(cp: ControlPlane, *args: str, kubeconfig: Path | None = None, timeout: float = 60) -> Any:
    """`python -m trainjob ARGS` with KUBECONFIG set, as a user runs it."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig or cp.kubeconfig)}
    return subprocess.run(
        [sys.executable, "-m", "trainjob", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


class Background:
    """`python -m trainjob ARGS` running in the background; its output is collected as it comes."""

    def __init__(self, cp: ControlPlane, *args: str) -> None:
        env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trainjob", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for_lines(self, count: int, timeout: float = 60) -> list[str]:
        """The first `count` output lines, once printed."""
        deadline = time.monotonic() + timeout
        while len(self.out) < count:
            assert self.process.poll() is None and time.monotonic() < deadline, (self.out, self.err)
            time.sleep(0.1)
        return self.out[:count]

    def finish(self, timeout: float) -> tuple[int, list[str], str]:
        """Wait for the command to end: its exit code, output lines and error output."""
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            self.process.kill()
        for reader in self._readers:
            reader.join(timeout=10)
        return code, self.out, "\n".join(self.err)


def kubectl_with_plugin(cp: ControlPlane) -> Cli:
    """kubectl with this venv's bin/ (where `kubectl-trainjob` is installed) on PATH."""
    return Cli(cp.bin_dir / "kubectl", {**cp.kubectl.env, "PATH": f"{VENV_BIN}:{cp.kubectl.env['PATH']}"})


RUNNING = {
    "phase": "Running",
    "startTime": "2024-05-01T12:00:00Z",
    "restarts": 1,
    "workers": {"total": 2, "active": 2, "succeeded": 0, "failed": 0},
    "conditions": [
        condition("Running", "True", "WorkersRunning", "2 workers run"),
        condition("Ready", "False", "Running", "the job is running"),
    ],
    "progress": {
        "epoch": 3,
        "totalEpochs": 8,
        "step": 60,
        "totalSteps": 160,
        "percent": 37.5,
        "etaSeconds": 95.0,
        "samplesPerSecond": 850.4,
        "lastUpdateTime": "2024-05-01T12:03:00Z",
    },
    "metrics": {
        "loss": 0.4321,
        "valLoss": 0.3012,
        "lr": 0.05,
        "values": {"loss": 0.4321, "val_loss": 0.3012, "lr": 0.05, "val_accuracy": 0.9125},
        "best": 0.3012,
        "bestEpoch": 2,
        "monitor": "val_loss",
    },
    "earlyStopping": {"triggered": False, "wait": 0, "patience": 3, "best": 0.3012},
    "checkpoint": {"path": "/ckpt/epoch-2.pt", "epoch": 2},
}

FAILED = {
    "phase": "Failed",
    "startTime": "2024-05-01T12:00:00Z",
    "completionTime": "2024-05-01T12:10:00Z",
    "restarts": 2,
    "workers": {"total": 2, "active": 0, "succeeded": 0, "failed": 1},
    "conditions": [
        condition("Failed", "True", "BackoffLimitExceeded", "worker 1 was OOMKilled (exit code 137)"),
        condition("Ready", "False", "Failed", "the job failed"),
    ],
    "failure": {
        "worker": 1,
        "pod": "beta-1-xk2p9",
        "exitCode": 137,
        "reason": "OOMKilled",
        "message": "worker 1 was OOMKilled (exit code 137)",
    },
}


def context_kubeconfig(cp: ControlPlane, tmp_path: Path, namespace: str) -> Path:
    """The admin kubeconfig with two contexts: `elsewhere` (current, namespace default) and `mine`."""
    config = yaml.safe_load(cp.kubeconfig.read_text())
    admin = config["contexts"][0]["context"]
    config["contexts"] = [
        {"name": "elsewhere", "context": {**admin, "namespace": "default"}},
        {"name": "mine", "context": {**admin, "namespace": namespace}},
    ]
    config["current-context"] = "elsewhere"
    path = tmp_path / "contexts.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_list_status_and_stop_read_and_write_the_trainjobs_of_the_chosen_context(
    control_plane: ControlPlane, namespace: str, crd: None, tmp_path: Path
) -> None:
    create_trainjob(control_plane, namespace, "alpha", RUNNING, numNodes=2, runPolicy={"backoffLimit": 3})
    create_trainjob(control_plane, namespace, "beta", FAILED, numNodes=2, runPolicy={"backoffLimit": 2})
    kubeconfig = context_kubeconfig(control_plane, tmp_path, namespace)

    # the current context's namespace (default) has none; --context and -n pick the test namespace
    elsewhere = trainjob_cli(control_plane, "list", kubeconfig=kubeconfig)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert elsewhere.stdout.strip() == 'No TrainJobs in namespace "default".'
    for args in (["--context", "mine"], ["-n", namespace]):
        listed = trainjob_cli(control_plane, "list", *args, kubeconfig=kubeconfig)
        assert listed.returncode == 0, listed.stderr
        header, alpha, beta = listed.stdout.splitlines()
        assert header.split() == ["NAME", "PHASE", "NODES", "EPOCH", "PROGRESS", "LOSS", "AGE"]
        assert alpha.split()[:6] == ["alpha", "Running", "2", "3/8", "37.5%", "0.4321"]
        assert beta.split()[:6] == ["beta", "Failed", "2", "-", "-", "-"]
    every = trainjob_cli(control_plane, "list", "-A")
    assert every.returncode == 0, every.stderr
    assert every.stdout.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert f"{namespace}   alpha" in every.stdout
    as_json = json.loads(trainjob_cli(control_plane, "list", "-n", namespace, "-o", "json").stdout)
    assert [item["metadata"]["name"] for item in as_json["items"]] == ["alpha", "beta"]

    status = trainjob_cli(control_plane, "status", "alpha", "--context", "mine", kubeconfig=kubeconfig)
    assert status.returncode == 0, status.stderr
    lines = dict(line.split(":", 1) for line in status.stdout.splitlines() if not line.startswith(" "))
    shown = {key: value.strip() for key, value in lines.items()}
    assert shown["Phase"] == "Running"
    assert shown["Workers"] == "2 node(s) x 1 process(es): 2 active, 0 succeeded, 0 failed"
    assert shown["Progress"].startswith("epoch 3/8, step 60/160, 37.5%, loss 0.4321, 850 samples/s, ETA 95s")
    assert shown["Metrics"] == "loss 0.4321, lr 0.05, val_accuracy 0.9125, val_loss 0.3012"
    assert shown["Best"] == "val_loss 0.3012 at epoch 2"
    assert shown["Early stopping"] == "not triggered (epochs without improvement 0/3)"
    assert shown["Checkpoint"] == "/ckpt/epoch-2.pt (epoch 2)"
    assert shown["Restarts"] == "1 (backoffLimit 3)"
    assert "Failure" not in shown and "Stop" not in shown
    assert any(
        line.split()[:3] == ["Running", "True", "WorkersRunning"] for line in status.stdout.splitlines()
    )

    failed = trainjob_cli(control_plane, "status", "beta", "-n", namespace)
    assert failed.returncode == 0, failed.stderr
    assert (
        "Failure:        worker 1 (pod beta-1-xk2p9), exit code 137, OOMKilled: "
        "worker 1 was OOMKilled (exit code 137)" in failed.stdout
    )
    assert "Restarts:       2 (backoffLimit 2)" in failed.stdout
    as_yaml = yaml.safe_load(
        trainjob_cli(control_plane, "status", "beta", "-n", namespace, "-o", "yaml").stdout
    )
    assert as_yaml["metadata"]["name"] == "beta" and as_yaml["status"]["failure"]["exitCode"] == 137

    missing = trainjob_cli(control_plane, "status", "nope", "-n", namespace)
    assert missing.returncode == 1
    assert f'trainjob "nope" in namespace "{namespace}" not found' in missing.stderr
    unknown_context = trainjob_cli(control_plane, "list", "--context", "nowhere", kubeconfig=kubeconfig)
    assert unknown_context.returncode == 1 and 'context "nowhere"' in unknown_context.stderr

    stopped = trainjob_cli(control_plane, "stop", "alpha", "-n", namespace)
    assert stopped.returncode == 0, stopped.stderr
    assert "stop requested" in stopped.stdout and f"trainjob watch alpha -n {namespace}" in stopped.stdout
    annotations = get_trainjob(control_plane, namespace, "alpha")["metadata"]["annotations"]
    assert annotations[STOP_ANNOTATION] == "true"
    again = trainjob_cli(control_plane, "stop", "alpha", "-n", namespace)
    assert again.returncode == 0 and "already requested" in again.stdout
    assert (
        "Stop:           requested" in trainjob_cli(control_plane, "status", "alpha", "-n", namespace).stdout
    )
    finished = trainjob_cli(control_plane, "stop", "beta", "-n", namespace)
    assert finished.returncode == 0 and "already finished (Failed)" in finished.stdout
    assert STOP_ANNOTATION not in (
        get_trainjob(control_plane, namespace, "beta")["metadata"].get("annotations") or {}
    )


def test_kubectl_runs_the_cli_as_its_trainjob_plugin(
    control_plane: ControlPlane, namespace: str, crd: None
) -> None:
    create_trainjob(control_plane, namespace, "alpha", RUNNING, numNodes=2)
    kubectl = kubectl_with_plugin(control_plane)
    plugins = kubectl("plugin", "list", check=False).stdout
    assert f"{VENV_BIN}/kubectl-trainjob" in plugins
    listed = kubectl("trainjob", "list", "-n", namespace).stdout
    assert listed.splitlines()[1].split()[:4] == ["alpha", "Running", "2", "3/8"]
    status = kubectl("trainjob", "status", "alpha", "-n", namespace).stdout
    assert status == trainjob_cli(control_plane, "status", "alpha", "-n", namespace).stdout
    stopped = kubectl("trainjob", "stop", "alpha", "-n", namespace).stdout
    assert f"kubectl trainjob watch alpha -n {namespace}" in stopped
    assert (
        get_trainjob(control_plane, namespace, "alpha")["metadata"]["annotations"][STOP_ANNOTATION] == "true"
    )
    local_only = kubectl("trainjob", "run", "job.yaml", check=False)
    assert local_only.returncode == 2 and "invalid choice: 'run'" in local_only.stderr


def test_kubectl_trainjob_status_works_from_the_base_install(
    control_plane: ControlPlane, namespace: str, crd: None, base_install: Path
) -> None:
    create_trainjob(control_plane, namespace, "alpha", RUNNING, numNodes=2)
    env = control_plane.kubectl.env
    light = Cli(control_plane.bin_dir / "kubectl", {**env, "PATH": f"{base_install}:{env['PATH']}"})
    assert f"{base_install}/kubectl-trainjob" in light("plugin", "list", check=False).stdout
    status = light("trainjob", "status", "alpha", "-n", namespace).stdout
    assert status == trainjob_cli(control_plane, "status", "alpha", "-n", namespace).stdout
    assert "alpha" in status and "Running" in status


def test_stop_wait_and_watch_follow_status_changes_to_the_end(
    control_plane: ControlPlane, namespace: str, crd: None
) -> None:
    create_trainjob(control_plane, namespace, "gamma", RUNNING, numNodes=2)
    create_trainjob(control_plane, namespace, "delta", RUNNING, numNodes=2)
    path = TRAINJOBS.format(namespace=namespace)
    stopping = Background(control_plane, "stop", "gamma", "--wait", "-n", namespace)
    watching = Background(control_plane, "watch", "delta", "-n", namespace)
    # once it has printed what it read, the watch sees every later change
    assert watching.wait_for_lines(2) == [
        "delta: Running (2 workers run)",
        "  epoch 3/8, step 60/160, 37.5%, loss 0.4321, 850 samples/s, ETA 95s",
    ]
    later = {**RUNNING["progress"], "epoch": 4, "percent": 50.0}
    control_plane.admin.patch(f"{path}/delta/status", {"status": {"progress": later}}, kind="merge")
    assert watching.wait_for_lines(3)[2].startswith("  epoch 4/8, step 60/160, 50.0%")
    failed = {
        "phase": "Failed",
        "conditions": [condition("Failed", "True", "WorkerFailed", "worker 0 failed")],
    }
    control_plane.admin.patch(f"{path}/delta/status", {"status": failed}, kind="merge")
    code, out, err = watching.finish(60)
    assert code == 1, (out, err)
    assert out[3] == "delta: Failed (worker 0 failed)"
    assert "Phase:          Failed" in out

    assert (
        stopping.wait_for_lines(2)[0]
        == f'trainjob "gamma" in namespace "{namespace}": stop requested ({STOP_ANNOTATION}: "true").'
    )
    assert (
        get_trainjob(control_plane, namespace, "gamma")["metadata"]["annotations"][STOP_ANNOTATION] == "true"
    )
    assert stopping.out[1].endswith("Waiting for it to end...")
    succeeded = {
        "phase": "Succeeded",
        "completionTime": "2024-05-01T12:20:00Z",
        "stoppedOnRequest": True,
        "conditions": [condition("Succeeded", "True", "Completed", "every worker exited 0")],
    }
    control_plane.admin.patch(f"{path}/gamma/status", {"status": succeeded}, kind="merge")
    code, out, err = stopping.finish(60)
    assert code == 0, (out, err)
    assert "gamma: Succeeded (every worker exited 0)" in out
    assert "Stop:           stopped on request" in out


WRAPPED = ["sh", "-c", 'echo "worker $RANK of $WORLD_SIZE starts"; exec "$@"', "sh"]


def test_watch_and_logs_follow_a_real_trainjob_to_its_end(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    manifest = cluster_example("digits-ddp", namespace, tmp_path, maxEpochs=3)
    spec = manifest["spec"]
    spec["command"] = [*WRAPPED, *spec["command"]]
    kubectl_apply(control_plane, manifest, tmp_path)
    watching = Background(control_plane, "watch", "digits", "-n", namespace)
    following = Background(control_plane, "logs", "digits", "-f", "-n", namespace)

    code, watched, err = watching.finish(300)
    assert code == 0, (watched, err)
    assert operator.poll() is None
    assert any(line.startswith("digits: Running") for line in watched), watched
    epochs = [line.split(",")[0].strip() for line in watched if line.startswith("  epoch ")]
    assert epochs[-1] == "epoch 3/3", watched
    assert "Phase:          Succeeded" in watched

    code, lines, err = following.finish(120)
    assert code == 0, (lines, err)
    followed = "\n".join(lines)
    assert "[rank 0] worker 0 of 2 starts" in lines and "[rank 1] worker 1 of 2 starts" in lines, followed
    for rank in (0, 1):  # each rank's log to its end
        assert any(line.startswith(f"[rank {rank}] ") and "done: 3 epochs" in line for line in lines), (
            followed
        )
    assert all(line.startswith(("[rank 0] ", "[rank 1] ")) for line in lines), followed

    kubectl = kubectl_with_plugin(control_plane)
    rank1 = kubectl("trainjob", "logs", "digits", "--rank", "1", "-n", namespace).stdout.splitlines()
    assert rank1[0] == "[rank 1] worker 1 of 2 starts"
    assert all(line.startswith("[rank 1] ") for line in rank1)
    everything = trainjob_cli(control_plane, "logs", "digits", "-n", namespace).stdout.splitlines()
    rank0 = [line for line in everything if line.startswith("[rank 0] ")]
    assert everything == rank0 + rank1  # by rank, each worker's log whole
    assert rank0 == [line for line in lines if line.startswith("[rank 0] ")]


def worker_pod(job: str, index: int) -> dict[str, Any]:
    """Worker `index` of attempt 0, labelled as the operator labels it; its env needs ConfigMap `settings`."""
    script = (
        "import os, time\nfor i in range(3): print(os.environ['GREETING'], i, flush=True); time.sleep(0.3)"
    )
    greeting = {"configMapKeyRef": {"name": "settings", "key": "greeting"}}
    return {
        "metadata": {
            "name": f"{job}-{index}-abcde",
            "labels": {"trainjob.dev/name": job, "trainjob.dev/attempt": "0"},
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "worker",
                    "image": "trainer:1",
                    "command": ["python", "-c", script],
                    "env": [{"name": "GREETING", "valueFrom": greeting}],
                }
            ],
        },
    }


def test_logs_follow_waits_for_containers_that_have_not_started_yet(
    control_plane: ControlPlane, test_node: TestNode, namespace: str, crd: None
) -> None:
    create_trainjob(control_plane, namespace, "echo", RUNNING | {"restarts": 0}, numNodes=2)
    for index in (1, 0):
        control_plane.admin.create(f"/api/v1/namespaces/{namespace}/pods", worker_pod("echo", index))

    def waiting() -> bool:
        pods = control_plane.admin.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
        states = [s["state"] for p in pods for s in (p.get("status") or {}).get("containerStatuses", [])]
        return len(states) == 2 and all("waiting" in state for state in states)

    deadline = time.monotonic() + 60
    while not waiting():
        assert time.monotonic() < deadline, "the pods did not get to CreateContainerConfigError"
        time.sleep(0.2)
    now = trainjob_cli(control_plane, "logs", "echo", "-n", namespace)
    assert now.returncode == 1
    assert 'container "worker" in pod "echo-0-abcde" is waiting to start' in now.stderr, now.stderr
    following = Background(control_plane, "logs", "echo", "-f", "-n", namespace)
    time.sleep(2)  # let it meet the waiting containers before they can start
    assert following.process.poll() is None and following.out == []

    control_plane.admin.create(
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"metadata": {"name": "settings"}, "data": {"greeting": "hi"}},
    )
    code, lines, err = following.finish(120)
    assert code == 0, (lines, err)
    assert sorted(lines) == [f"[rank {rank}] hi {i}" for rank in (0, 1) for i in range(3)]


def test_kubectl_trainjob_stop_wait_stops_a_real_trainjob_and_reports_how_it_ended(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    manifest = cluster_example("digits-ddp", namespace, tmp_path, maxEpochs=300)
    kubectl_apply(control_plane, manifest, tmp_path)
    wait_for_status(
        control_plane,
        namespace,
        "digits",
        lambda status: status.get("phase") == "Running" and status.get("progress", {}).get("epoch", 0) >= 2,
        operator=operator,
    )

    stopped = kubectl_with_plugin(control_plane)(
        "trainjob", "stop", "digits", "--wait", "-n", namespace, timeout=300
    )
    lines = stopped.stdout.splitlines()
    assert (
        lines[0]
        == f'trainjob "digits" in namespace "{namespace}": stop requested ({STOP_ANNOTATION}: "true").'
    )
    assert "Stop:           stopped on request" in lines
    assert "Phase:          Succeeded" in lines
    status = get_trainjob(control_plane, namespace, "digits")["status"]
    assert status["stoppedOnRequest"] is True and 2 <= status["progress"]["epoch"] < 300
