"""A TrainJob can do no more than the person who creates it: the chart's creator policies on the
real control plane.

The chart is installed once (its operator runs as a pod on the test node, with the chart's RBAC
only). Users authenticate with client certificates and hold only the Roles each test gives them:
alice may use TrainJobs only, bob may also create pods, carol may also act as one ServiceAccount
and read some Secrets, dana may create pods and read every Secret. The policies' switches are
turned with `helm upgrade` in the last test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart import installed, permission_denials, running_pods, upgrade
from tests.cluster import ApiError, ControlPlane, Kube, TestNode
from tests.e2e.convergence import QUICK, trainjobs
from tests.e2e.support import (
    TRAINJOBS,
    assert_succeeded,
    wait_for_status,
    wait_until,
    with_host_directory,
    worker_manifest,
)
from trainjob_api.names import STOP_ANNOTATION

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RELEASE = "tj-creator"
CREATOR_POLICY = f"ValidatingAdmissionPolicy '{RELEASE}-trainjob-operator-creator-rights'"
REFERENCES_POLICY = f"ValidatingAdmissionPolicy '{RELEASE}-trainjob-operator-creator-references'"
STRICT = {"trainjob.dev/creator-rights": "strict"}
#: What a user needs to use TrainJobs (and nothing else).
TRAINJOB_RIGHTS = {
    "apiGroups": ["trainjob.dev"],
    "resources": ["trainjobs"],
    "verbs": ["create", "get", "list", "watch", "patch"],
}
POD_RIGHTS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}
SECRET_RIGHTS = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
#: The ServiceAccount that may read the namespace's Secrets, and the Secrets.
READER = "secret-reader"
SECRETS = [f"secret-{index}" for index in range(17)]
RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"


@pytest.fixture(scope="module")
def chart(control_plane: ControlPlane, test_node: TestNode) -> Iterator[str]:
    """The chart installed with its default values (watching every namespace); its namespace."""
    with installed(control_plane, RELEASE) as namespace:
        yield namespace


@pytest.fixture
def secrets(control_plane: ControlPlane, namespace: str) -> None:
    """The Secrets, and a ServiceAccount that may read them (what an attacker would want to use)."""
    cp = control_plane
    for name in SECRETS:
        secret = {"metadata": {"name": name}, "stringData": {"password": f"{name}-value"}}
        cp.admin.create(f"/api/v1/namespaces/{namespace}/secrets", secret)
    cp.admin.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": READER}})
    grant(
        cp,
        namespace,
        READER,
        SECRET_RIGHTS,
        kind="ServiceAccount",
    )


def grant(cp: ControlPlane, namespace: str, user: str, *rules: dict[str, Any], kind: str = "User") -> Kube:
    """Give `user` exactly these rules in the namespace (a Role and a RoleBinding); a client as them."""
    cp.admin.create(
        f"{RBAC.format(namespace=namespace)}/roles", {"metadata": {"name": user}, "rules": list(rules)}
    )
    subject = {"kind": kind, "name": user}
    subject |= (
        {"namespace": namespace} if kind == "ServiceAccount" else {"apiGroup": "rbac.authorization.k8s.io"}
    )
    binding = {
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
        "subjects": [subject],
    }
    cp.admin.create(f"{RBAC.format(namespace=namespace)}/rolebindings", binding)
    return cp.client(user)


def trainjob(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    """A suspended TrainJob (no pods run unless it is resumed) with spec fields."""
    return worker_manifest(name, namespace, QUICK, runPolicy={"suspend": True}, **spec)


def from_secret(variable: str, secret: str) -> dict[str, Any]:
    """An environment variable from a Secret's key."""
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}


def uses(namespace: str) -> dict[str, dict[str, Any]]:
    """TrainJobs that use another ServiceAccount, or a Secret in each way a worker can read one."""
    volume = {"name": "s", "secret": {"secretName": SECRETS[0]}}
    projected = {"name": "s", "projected": {"sources": [{"secret": {"name": SECRETS[0]}}]}}
    return {
        "service-account": trainjob(namespace, "as-reader", podTemplate={"serviceAccountName": READER}),
        "secret-volume": trainjob(namespace, "volume", podTemplate={"volumes": [volume]}),
        "projected-volume": trainjob(namespace, "projected", podTemplate={"volumes": [projected]}),
        "env-secret": trainjob(namespace, "env", env=[from_secret("PASSWORD", SECRETS[0])]),
    }


def admission(client: Kube, manifest: dict[str, Any], *, dry_run: bool = True) -> ApiError | None:
    """Create the TrainJob as the client (by default a server-side dry run: admission, nothing
    stored); the refusal, if any."""
    path = TRAINJOBS.format(namespace=manifest["metadata"]["namespace"])
    try:
        client.request("POST", path, manifest, query={"dryRun": "All"} if dry_run else None)
    except ApiError as error:
        return error
    return None


def refused(client: Kube, manifest: dict[str, Any], policy: str) -> str:
    """The message of `policy`'s refusal of the TrainJob, once the policy is in force (it fails if
    the TrainJob is admitted meanwhile, or refused for another reason)."""

    def answer() -> ApiError | None:
        error = admission(client, manifest)
        assert error is None or (error.status == 403 and policy in str(error)), error
        return error

    return str(wait_until(answer, f"{policy} to refuse {manifest['metadata']['name']}", timeout=60))


def admitted(client: Kube, manifest: dict[str, Any]) -> bool:
    """Whether the TrainJob is admitted (a dry run)."""
    return admission(client, manifest) is None


def test_a_user_with_trainjob_rights_only_is_refused_with_the_reason(
    control_plane: ControlPlane, chart: str, namespace: str, secrets: None
) -> None:
    cp = control_plane
    alice = grant(cp, namespace, "alice", TRAINJOB_RIGHTS)
    for what, manifest in {"plain": trainjob(namespace, "plain"), **uses(namespace)}.items():
        message = refused(alice, manifest, CREATOR_POLICY)
        assert f"alice may not create pods in namespace {namespace}: " in message, what
        assert "requires the right to create pods there (RBAC: verb create on pods)" in message, what
        error = admission(alice, manifest, dry_run=False)
        assert error is not None and error.status == 403, what
    assert cp.admin.get(TRAINJOBS.format(namespace=namespace))["items"] == []

    # Writes that leave the spec alone create no pods: alice may ask a job to stop, not change it.
    path = f"{TRAINJOBS.format(namespace=namespace)}/plain"
    cp.admin.create(TRAINJOBS.format(namespace=namespace), trainjob(namespace, "plain"))
    stop = {"metadata": {"annotations": {STOP_ANNOTATION: "true"}}}
    assert alice.patch(path, stop, kind="merge")["metadata"]["annotations"][STOP_ANNOTATION] == "true"
    with pytest.raises(ApiError) as changed:
        alice.patch(path, {"spec": {"runPolicy": {"suspend": False}}}, kind="merge")
    assert changed.value.status == 403 and CREATOR_POLICY in str(changed.value)
    assert cp.admin.get(path)["spec"]["runPolicy"]["suspend"] is True


def test_a_user_who_may_create_pods_is_admitted_and_the_operator_works_as_before(
    control_plane: ControlPlane, test_node: TestNode, chart: str, namespace: str, tmp_path: Path
) -> None:
    """bob's TrainJob trains to Succeeded through a group restart, the reporter writes its status,
    and the operator deletes the job after its TTL: none of the operator's writes is refused."""
    cp = control_plane
    bob = grant(cp, namespace, "bob", TRAINJOB_RIGHTS, POD_RIGHTS)
    command = ["python", "tests/workers/tiny_regression.py", "--out", str(tmp_path / "out"), "--epochs", "1"]
    manifest = worker_manifest(
        "crash-once",
        namespace,
        [*command, "--crash-rank", "0", "--crash-step", "3"],
        numNodes=1,
        maxEpochs=1,
        env=[{"name": "TRAINJOB_STATUS_INTERVAL_SECONDS", "value": "0.5"}],
        runPolicy={"backoffLimit": 1, "ttlSecondsAfterFinished": 5},
        podTemplate={"terminationGracePeriodSeconds": 1},
    )
    # The worker's crash marker outlives the first attempt on the node's disk (a hostPath volume).
    bob.create(TRAINJOBS.format(namespace=namespace), with_host_directory(manifest, tmp_path / "out"))

    status = wait_for_status(cp, namespace, "crash-once", timeout=240)
    assert_succeeded(cp, namespace, status, test_node)
    assert status["restarts"] == 1
    assert status["progress"]["epoch"] == status["progress"]["totalEpochs"] == 1

    wait_until(
        lambda: not trainjobs(cp, namespace), "the operator to delete the job after its TTL", timeout=60
    )
    (pod,) = running_pods(cp, chart, RELEASE, 1)
    log = test_node.logs(chart, pod["metadata"]["name"])
    assert "ValidatingAdmissionPolicy" not in log
    assert not permission_denials(log)


def test_a_strict_namespace_allows_only_the_creators_own_service_accounts_and_secrets(
    control_plane: ControlPlane, chart: str, namespace: str, secrets: None
) -> None:
    cp = control_plane
    bob = grant(cp, namespace, "bob", TRAINJOB_RIGHTS, POD_RIGHTS)
    carol = grant(
        cp,
        namespace,
        "carol",
        TRAINJOB_RIGHTS,
        POD_RIGHTS,
        {
            "apiGroups": [""],
            "resources": ["serviceaccounts"],
            "verbs": ["impersonate"],
            "resourceNames": [READER],
        },
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": SECRETS[:16]},
    )
    jobs = uses(namespace)
    # Kubernetes' own model where the namespace is not labelled: who may create pods may use them all.
    wait_until(
        lambda: all(admitted(bob, job) for job in jobs.values()), "bob's TrainJobs to be admitted", timeout=60
    )

    cp.admin.patch(f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": STRICT}})
    message = refused(bob, jobs.pop("service-account"), REFERENCES_POLICY)
    assert f"bob may not impersonate ServiceAccount {READER} in namespace {namespace}: " in message
    assert "(RBAC: verb impersonate on serviceaccounts, resourceNames [secret-reader])" in message
    for what, job in jobs.items():
        message = refused(bob, job, REFERENCES_POLICY)
        assert f"bob may not get Secret {SECRETS[0]} in namespace {namespace}: " in message, what
        assert f"(RBAC: verb get on secrets, resourceNames [{SECRETS[0]}])" in message, what
    assert admitted(bob, trainjob(namespace, "plain"))

    # carol may act as the account and read 16 Secrets: each is checked by name (16 checks, the
    # apiserver's cost budget allows them), the 17th is refused, and so are more than 16 references.
    assert [name for name, job in uses(namespace).items() if not admitted(carol, job)] == []
    env = [from_secret(f"S{index}", name) for index, name in enumerate(SECRETS)]
    every = trainjob(namespace, "many", env=env[:16], podTemplate={"serviceAccountName": READER})
    assert admission(carol, every, dry_run=False) is None
    assert cp.admin.get(f"{TRAINJOBS.format(namespace=namespace)}/many")["spec"]["env"] == env[:16]
    one_more = trainjob(namespace, "one-more", env=env[16:])
    assert f"carol may not get Secret {SECRETS[16]} in namespace" in refused(
        carol, one_more, REFERENCES_POLICY
    )
    too_many = trainjob(namespace, "too-many", env=[from_secret(f"V{i}", SECRETS[i % 8]) for i in range(17)])
    assert "this TrainJob references 17 Secrets" in refused(carol, too_many, REFERENCES_POLICY)
    # Whoever may read every Secret of the namespace may reference more.
    dana = grant(cp, namespace, "dana", TRAINJOB_RIGHTS, POD_RIGHTS, SECRET_RIGHTS)
    assert admitted(dana, trainjob(namespace, "all", env=env))


def test_the_switches_turn_the_checks_on_and_off(
    control_plane: ControlPlane, chart: str, namespace: str, secrets: None
) -> None:
    cp = control_plane
    alice = grant(cp, namespace, "alice", TRAINJOB_RIGHTS)
    bob = grant(cp, namespace, "bob", TRAINJOB_RIGHTS, POD_RIGHTS)
    jobs = uses(namespace)
    refused(alice, jobs["service-account"], CREATOR_POLICY)
    try:
        # The finer checks in every namespace, the label or not.
        upgrade(cp, RELEASE, chart, "creatorPolicy.strictEverywhere=true")
        assert "bob may not impersonate" in refused(bob, jobs["service-account"], REFERENCES_POLICY)
        # Off: whoever may create TrainJobs has the operator create their pods, as any account.
        upgrade(cp, RELEASE, chart, "creatorPolicy.enabled=false")
        wait_until(
            lambda: admitted(alice, jobs["service-account"]), "alice's TrainJob to be admitted", timeout=60
        )
        assert [name for name, job in jobs.items() if not admitted(alice, job)] == []
        assert admission(alice, jobs["service-account"], dry_run=False) is None
    finally:
        upgrade(cp, RELEASE, chart)
    refused(alice, jobs["secret-volume"], CREATOR_POLICY)
