"""The control plane and the test node are real: authn, RBAC, PodSecurity, Jobs, DNS, GC, kubelet duties."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ApiError, ControlPlane, Kube, TestNode

pytestmark = pytest.mark.integration


def wait_until(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Retry check until it returns something truthy without raising; return that value."""
    deadline = time.monotonic() + timeout
    result = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, ApiError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        time.sleep(interval)


def pod_manifest(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11", "command": ["python", "-c", textwrap.dedent(script)]}
    container.update(spec.pop("container", {}))
    return {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [container], **spec}}


def get_pod(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    return cp.admin.get(f"/api/v1/namespaces/{namespace}/pods/{name}")


def pod_exists(cp: ControlPlane, namespace: str, name: str) -> bool:
    pods = cp.admin.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
    return any(p["metadata"]["name"] == name for p in pods)


def wait_phase(
    cp: ControlPlane, namespace: str, name: str, phases: set[str], timeout: float = 60
) -> dict[str, Any]:
    return wait_until(
        lambda: (pod := get_pod(cp, namespace, name))["status"].get("phase") in phases and pod, timeout
    )


def test_binaries_report_the_pinned_release(control_plane: ControlPlane) -> None:
    version = control_plane.kubectl.json("version")
    assert version["serverVersion"]["gitVersion"] == control_plane.version
    assert version["clientVersion"]["gitVersion"] == control_plane.version
    assert control_plane.version.startswith("v1.")
    assert "v3." in control_plane.helm("version", "--short").stdout


def test_rbac_denies_a_service_account_token_until_a_role_binding_allows_it(
    control_plane: ControlPlane, namespace: str
) -> None:
    admin = control_plane.admin
    admin.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "reader"}})
    token = control_plane.service_account_token(namespace, "reader")
    reader = control_plane.token_client(token)
    review = reader.create("/apis/authentication.k8s.io/v1/selfsubjectreviews", {})
    assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:reader"

    with pytest.raises(ApiError) as denied:
        reader.get(f"/api/v1/namespaces/{namespace}/pods")
    assert denied.value.status == 403
    with pytest.raises(ApiError) as unknown:
        Kube(control_plane.server, control_plane.ca.cert, token="not-a-token").get("/api/v1/namespaces")
    assert unknown.value.status == 401

    admin.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        },
    )
    admin.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "metadata": {"name": "reader-reads-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    assert wait_until(lambda: reader.get(f"/api/v1/namespaces/{namespace}/pods"))["items"] == []
    with pytest.raises(ApiError) as still_denied:
        reader.get(f"/api/v1/namespaces/{namespace}/secrets")
    assert still_denied.value.status == 403


def test_pod_security_restricted_rejects_a_privileged_pod(control_plane: ControlPlane) -> None:
    name = f"restricted-{uuid.uuid4().hex[:8]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    control_plane.admin.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels}})
    try:
        pod = pod_manifest("privileged", "pass", container={"securityContext": {"privileged": True}})
        with pytest.raises(ApiError) as rejected:
            control_plane.admin.create(f"/api/v1/namespaces/{name}/pods", pod)
        assert rejected.value.status == 403
        assert 'violates PodSecurity "restricted:latest"' in str(rejected.value)
        assert "privileged" in str(rejected.value)
    finally:
        control_plane.admin.delete(f"/api/v1/namespaces/{name}")


WORKER = """
    import json, os, socket, ssl, sys, time, urllib.request

    index = int(os.environ["JOB_COMPLETION_INDEX"])
    assert sys.argv[1] == str(index), sys.argv  # $(VAR) expansion in args
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    token = open(f"{sa}/token").read()
    request = urllib.request.Request(
        f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        data=b'{}', method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    tls = ssl.create_default_context(cafile=f"{sa}/ca.crt")
    review = json.load(urllib.request.urlopen(request, context=tls))
    info = review["status"]["userInfo"]
    print(json.dumps({
        "index": index, "pod": os.environ["POD_NAME"], "ip": os.environ["POD_IP"],
        "hostname": socket.gethostname(), "namespace": open(f"{sa}/namespace").read(),
        "user": info["username"], "bound_pod": info["extra"]["authentication.kubernetes.io/pod-name"][0],
    }), flush=True)

    master = f"{os.environ['JOB_NAME']}-0.workers"
    if index == 0:
        server = socket.create_server(("0.0.0.0", 29500))
        conn, peer = server.accept()
        conn.sendall(b"welcome " + conn.recv(100))
        print("served", peer[0], flush=True)
    else:
        for _ in range(300):
            try:
                address = socket.gethostbyname(master)
                conn = socket.create_connection((address, 29500), timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        conn.sendall(b"worker 1")
        print("master", address, conn.recv(100).decode(), flush=True)
"""


def test_indexed_job_pods_see_their_index_resolve_the_master_and_talk_tcp(
    control_plane: ControlPlane, test_node: TestNode, namespace: str
) -> None:
    admin = control_plane.admin
    admin.create(
        f"/api/v1/namespaces/{namespace}/services",
        {"metadata": {"name": "workers"}, "spec": {"clusterIP": "None", "selector": {"job-name": "ddp"}}},
    )
    env = [
        {"name": "JOB_NAME", "value": "ddp"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    pod = pod_manifest(
        "worker", WORKER, subdomain="workers", container={"env": env, "args": ["$(JOB_COMPLETION_INDEX)"]}
    )
    job = {
        "metadata": {"name": "ddp"},
        "spec": {
            "completionMode": "Indexed",
            "completions": 2,
            "parallelism": 2,
            "backoffLimit": 0,
            "template": {"spec": pod["spec"]},
        },
    }
    admin.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job)

    def complete() -> bool:
        status = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/ddp")["status"]
        assert not status.get("failed"), status
        return any(c["type"] == "Complete" and c["status"] == "True" for c in status.get("conditions", []))

    wait_until(complete, timeout=90)
    pods = {
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p
        for p in admin.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector="job-name=ddp")["items"]
    }
    assert sorted(pods) == ["0", "1"]
    for index, p in pods.items():
        assert p["spec"]["nodeName"] == test_node.name
        assert p["status"]["phase"] == "Succeeded"
        assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
        report = json.loads(test_node.logs(namespace, p["metadata"]["name"]).splitlines()[0])
        assert report == {
            "index": int(index),
            "pod": p["metadata"]["name"],
            "ip": p["status"]["podIP"],
            "hostname": f"ddp-{index}",
            "namespace": namespace,
            "user": f"system:serviceaccount:{namespace}:default",
            "bound_pod": p["metadata"]["name"],
        }
    master_ip, worker_ip = pods["0"]["status"]["podIP"], pods["1"]["status"]["podIP"]
    assert master_ip != worker_ip
    assert f"served {worker_ip}" in test_node.logs(namespace, pods["0"]["metadata"]["name"])
    assert f"master {master_ip} welcome worker 1" in test_node.logs(namespace, pods["1"]["metadata"]["name"])


def test_deleting_a_pod_sends_sigterm_then_kills_its_process(
    control_plane: ControlPlane, test_node: TestNode, namespace: str, tmp_path: Path
) -> None:
    script = """
        import pathlib, signal, time
        data = pathlib.Path("/data")
        signal.signal(signal.SIGTERM, lambda *_: (data / "signal").write_text("TERM"))  # and keep running
        beat = 0
        while True:
            beat += 1
            (data / "beat").write_text(str(beat))
            time.sleep(0.05)
    """
    volume = {"name": "data", "hostPath": {"path": str(tmp_path), "type": "Directory"}}
    pod = pod_manifest(
        "sleeper",
        script,
        volumes=[volume],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    control_plane.admin.create(f"/api/v1/namespaces/{namespace}/pods", pod)
    wait_phase(control_plane, namespace, "sleeper", {"Running"})
    wait_until(lambda: (tmp_path / "beat").exists())

    deleted_at = time.monotonic()
    control_plane.admin.delete(f"/api/v1/namespaces/{namespace}/pods/sleeper", {"gracePeriodSeconds": 1})

    wait_until(lambda: not pod_exists(control_plane, namespace, "sleeper"), timeout=30)
    assert time.monotonic() - deleted_at >= 1.0  # the grace period was honoured
    assert (tmp_path / "signal").read_text() == "TERM"
    last_beat = (tmp_path / "beat").read_text()
    time.sleep(0.5)
    assert (tmp_path / "beat").read_text() == last_beat  # nothing writes any more


def test_restart_policy_on_failure_restarts_the_container(
    control_plane: ControlPlane, test_node: TestNode, namespace: str, tmp_path: Path
) -> None:
    script = """
        import pathlib, sys
        marker = pathlib.Path("/data/attempt")
        first = not marker.exists()
        marker.touch()
        print("failing" if first else "succeeding")
        sys.exit(3 if first else 0)
    """
    volume = {"name": "data", "hostPath": {"path": str(tmp_path), "type": "Directory"}}
    pod = pod_manifest(
        "flaky",
        script,
        restartPolicy="OnFailure",
        volumes=[volume],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    control_plane.admin.create(f"/api/v1/namespaces/{namespace}/pods", pod)
    status = wait_phase(control_plane, namespace, "flaky", {"Succeeded", "Failed"})["status"]
    container = status["containerStatuses"][0]
    assert status["phase"] == "Succeeded"
    assert container["restartCount"] == 1
    assert container["lastState"]["terminated"]["exitCode"] == 3
    assert container["lastState"]["terminated"]["reason"] == "Error"
    assert container["state"]["terminated"]["reason"] == "Completed"
    assert test_node.logs(namespace, "flaky", previous=True).strip() == "failing"


def test_failed_container_reports_exit_code_and_deadline_kills_the_pod(
    control_plane: ControlPlane, test_node: TestNode, namespace: str
) -> None:
    failing = pod_manifest(
        "failing",
        "import sys; print('boom'); sys.exit(7)",
        container={"terminationMessagePolicy": "FallbackToLogsOnError"},
    )
    slow = pod_manifest(
        "slow", "import time; time.sleep(600)", activeDeadlineSeconds=2, terminationGracePeriodSeconds=1
    )
    for pod in (failing, slow):
        control_plane.admin.create(f"/api/v1/namespaces/{namespace}/pods", pod)

    terminated = wait_phase(control_plane, namespace, "failing", {"Failed"})["status"]["containerStatuses"][0]
    assert terminated["state"]["terminated"]["exitCode"] == 7
    assert terminated["state"]["terminated"]["reason"] == "Error"
    assert terminated["state"]["terminated"]["message"].strip() == "boom"

    status = wait_phase(control_plane, namespace, "slow", {"Failed"}, timeout=30)["status"]
    assert status["reason"] == "DeadlineExceeded"
    killed = status["containerStatuses"][0]["state"]["terminated"]
    assert killed["exitCode"] == 137  # SIGKILL after the grace period: PID 1 without a handler ignores TERM


def test_termination_messages_come_from_the_file_each_run_gets_or_the_log_as_the_policy_says(
    control_plane: ControlPlane, test_node: TestNode, namespace: str
) -> None:
    write = "import sys; open({path!r}, 'w').write('last words'); print('log line'); sys.exit({code})"
    pods = {
        "default-path": pod_manifest("default-path", write.format(path="/dev/termination-log", code=0)),
        "own-path": pod_manifest(
            "own-path",
            write.format(path="/tmp/said", code=4),
            container={
                "terminationMessagePath": "/tmp/said",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            },
        ),
        "silent": pod_manifest("silent", "print('log line')"),
    }
    for pod in pods.values():
        control_plane.admin.create(f"/api/v1/namespaces/{namespace}/pods", pod)
    messages = {}
    for name in pods:
        status = wait_phase(control_plane, namespace, name, {"Succeeded", "Failed"})["status"]
        messages[name] = status["containerStatuses"][0]["state"]["terminated"].get("message")
    # The file wins over the log even on failure; a run that wrote nothing and succeeded has no message.
    assert messages == {"default-path": "last words", "own-path": "last words", "silent": None}


def test_init_container_volumes_and_referenced_config_reach_the_container(
    control_plane: ControlPlane, test_node: TestNode, namespace: str
) -> None:
    admin = control_plane.admin
    admin.create(
        f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "cfg"}, "data": {"lr": "0.1"}}
    )
    admin.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {"metadata": {"name": "creds"}, "stringData": {"key": "s3cret"}},
    )
    pod = pod_manifest(
        "configured",
        """
            import os, pathlib
            print(pathlib.Path("/scratch/from-init").read_text(), pathlib.Path("/config/lr").read_text(),
                  os.environ["SECRET"], os.getcwd())
        """,
        initContainers=[
            {
                "name": "prepare",
                "image": "busybox",
                "command": ["python", "-c", "open('/scratch/from-init', 'w').write('prepared')"],
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            }
        ],
        volumes=[{"name": "scratch", "emptyDir": {}}, {"name": "config", "configMap": {"name": "cfg"}}],
        container={
            "workingDir": "/scratch",
            "env": [{"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}}],
            "volumeMounts": [
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "config", "mountPath": "/config", "readOnly": True},
            ],
        },
    )
    admin.create(f"/api/v1/namespaces/{namespace}/pods", pod)
    status = wait_phase(control_plane, namespace, "configured", {"Succeeded", "Failed"})["status"]
    assert status["phase"] == "Succeeded", test_node.logs(namespace, "configured")
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert test_node.logs(namespace, "configured").split() == ["prepared", "0.1", "s3cret", "/scratch"]


@pytest.mark.parametrize(("reason", "reported"), [(None, "Error"), ("OOMKilled", "OOMKilled")])
def test_a_killed_container_fails_the_pod_with_the_signal_exit_code(
    control_plane: ControlPlane, test_node: TestNode, namespace: str, reason: str | None, reported: str
) -> None:
    pod = pod_manifest("victim", "import time; print('up', flush=True); time.sleep(600)")
    control_plane.admin.create(f"/api/v1/namespaces/{namespace}/pods", pod)
    wait_phase(control_plane, namespace, "victim", {"Running"})
    wait_until(lambda: test_node.logs(namespace, "victim").strip() == "up")
    test_node.kill(namespace, "victim", reason=reason)
    status = wait_phase(control_plane, namespace, "victim", {"Failed"})["status"]
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, reported)


def test_kubectl_logs_follows_reads_previous_and_tails_a_test_node_pod(
    control_plane: ControlPlane, test_node: TestNode, namespace: str
) -> None:
    script = """
        import pathlib, sys, time
        marker = pathlib.Path("/data/ran")
        if not marker.exists():
            marker.touch()
            print("first run", flush=True)
            sys.exit(1)
        for i in range(10):
            print(f"line {i}", flush=True)
            time.sleep(0.5)
    """
    pod = pod_manifest(
        "talker",
        script,
        restartPolicy="OnFailure",
        volumes=[{"name": "data", "emptyDir": {}}],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    control_plane.admin.create(f"/api/v1/namespaces/{namespace}/pods", pod)

    def second_run_started() -> bool:
        statuses = get_pod(control_plane, namespace, "talker")["status"].get("containerStatuses", [])
        return bool(statuses) and statuses[0]["restartCount"] == 1 and "running" in statuses[0]["state"]

    wait_until(second_run_started)

    kubectl = control_plane.kubectl
    follow = subprocess.Popen(
        [str(kubectl.binary), "logs", "-f", "talker", "-n", namespace],
        env=kubectl.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        first = follow.stdout.readline()
        assert first.startswith("line "), (first, follow.stderr.read() if follow.poll() is not None else "")
        assert get_pod(control_plane, namespace, "talker")["status"]["phase"] == "Running"  # still going
        rest, errors = follow.communicate(timeout=60)
    finally:
        follow.kill()
    assert follow.returncode == 0, errors
    assert (first + rest).splitlines()[-1] == "line 9"  # the stream ended when the container did
    assert wait_phase(control_plane, namespace, "talker", {"Succeeded"})

    assert kubectl("logs", "talker", "-n", namespace).stdout.splitlines() == [f"line {i}" for i in range(10)]
    assert kubectl("logs", "talker", "-n", namespace, "--tail=2").stdout == "line 8\nline 9\n"
    assert kubectl("logs", "talker", "-n", namespace, "--previous").stdout == "first run\n"
    assert kubectl("logs", "talker", "-n", namespace, "--limit-bytes=4").stdout == "line"

    missing = kubectl("logs", "talker", "-n", namespace, "-c", "other", check=False)
    assert missing.returncode != 0 and "other" in missing.stderr
    unsupported = kubectl("logs", "talker", "-n", namespace, "--timestamps", check=False)
    assert unsupported.returncode != 0 and "timestamps" in unsupported.stderr


def test_owner_references_garbage_collect_children(control_plane: ControlPlane, namespace: str) -> None:
    admin = control_plane.admin
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    parent = admin.create(configmaps, {"metadata": {"name": "parent"}})
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": parent["metadata"]["uid"]}
    admin.create(configmaps, {"metadata": {"name": "child", "ownerReferences": [owner]}})
    admin.delete(f"{configmaps}/parent", propagationPolicy="Background")

    def child_collected() -> bool:
        names = [c["metadata"]["name"] for c in admin.get(configmaps)["items"]]
        return "child" not in names and "parent" not in names

    wait_until(child_collected, timeout=60)


def test_node_without_processes_marks_pods_running(control_plane: ControlPlane, namespace: str) -> None:
    with TestNode(control_plane, "fake-node", labels={"trainjob.dev/fake": "true"}, run_processes=False):
        pod = pod_manifest("idle", "raise SystemExit(1)", nodeSelector={"trainjob.dev/fake": "true"})
        control_plane.admin.create(f"/api/v1/namespaces/{namespace}/pods", pod)
        running = wait_phase(control_plane, namespace, "idle", {"Running"})
        assert running["spec"]["nodeName"] == "fake-node"
        assert running["status"]["podIP"]
        assert running["status"]["containerStatuses"][0]["ready"] is True
        control_plane.admin.delete(f"/api/v1/namespaces/{namespace}/pods/idle")
        wait_until(lambda: not pod_exists(control_plane, namespace, "idle"), timeout=30)


def test_helm_installs_a_chart_that_kubectl_sees(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: demo\nversion: 0.1.0\nkubeVersion: '>=1.30.0-0'\n"
    )
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    (chart / "values.yaml").write_text("greeting: hello\n")
    control_plane.helm("install", "demo", str(chart), "-n", namespace, "--set", "greeting=hi", "--wait")
    configmap = control_plane.kubectl.json("get", "configmap", "demo", "-n", namespace)
    assert configmap["data"] == {"greeting": "hi"}
    control_plane.helm("uninstall", "demo", "-n", namespace, "--wait")
    assert control_plane.kubectl("get", "configmap", "demo", "-n", namespace, check=False).returncode != 0
