"""The PodGroup builder: one PodGroup of numNodes members per spec, and the worker pods linked to it."""

import pytest

from trainjob_api.gang import COSCHEDULING_POD_GROUP_LABEL, VOLCANO_POD_GROUP_ANNOTATION
from trainjob_api.names import MAX_NAME_LENGTH
from trainjob_api.objectmeta import is_label_value
from trainjob_operator.builders.children import children
from trainjob_operator.builders.job import desired_template_hash
from trainjob_operator.builders.pod import pod_template
from trainjob_operator.builders.podgroup import pod_group


def test_no_policy_no_pod_group_and_untouched_pods(trainjob_factory):
    trainjob = trainjob_factory(numNodes=3)
    assert pod_group(trainjob) is None
    assert [child["kind"] for child in children(trainjob, 0)] == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Service",
        "Job",
    ]
    spec = pod_template(trainjob, 0)["spec"]
    assert "schedulingGroup" not in spec and "schedulerName" not in spec


def test_native_gang_of_all_workers_named_by_every_pod(trainjob_factory):
    trainjob = trainjob_factory(numNodes=3, podGroupPolicy={"native": {}})
    group = pod_group(trainjob)
    assert group["apiVersion"] == "scheduling.k8s.io/v1alpha2"
    assert group["kind"] == "PodGroup"
    assert group["spec"] == {"schedulingPolicy": {"gang": {"minCount": 3}}}
    assert group["metadata"]["namespace"] == "ml"
    (owner,) = group["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("TrainJob", "uid-1", True)
    spec = pod_template(trainjob, 0)["spec"]
    assert spec["schedulingGroup"] == {"podGroupName": group["metadata"]["name"]}
    assert "schedulerName" not in spec
    kinds = [child["kind"] for child in children(trainjob, 0)]
    assert kinds.index("PodGroup") < kinds.index("Job"), "the PodGroup is there before any pod"


def test_coscheduling_pod_group_label_scheduler_and_timeout(trainjob_factory):
    trainjob = trainjob_factory(numNodes=4, podGroupPolicy={"coscheduling": {"scheduleTimeoutSeconds": 90}})
    group = pod_group(trainjob)
    assert group["apiVersion"] == "scheduling.x-k8s.io/v1alpha1"
    assert group["spec"] == {"minMember": 4, "scheduleTimeoutSeconds": 90}
    template = pod_template(trainjob, 0)
    assert template["metadata"]["labels"][COSCHEDULING_POD_GROUP_LABEL] == group["metadata"]["name"]
    assert template["spec"]["schedulerName"] == "scheduler-plugins-scheduler"


def test_volcano_pod_group_queue_priority_annotation_and_scheduler(trainjob_factory):
    trainjob = trainjob_factory(
        numNodes=2,
        podGroupPolicy={"volcano": {"queue": "research"}},
        podTemplate={"priorityClassName": "high", "annotations": {"team": "vision"}},
    )
    group = pod_group(trainjob)
    assert group["apiVersion"] == "scheduling.volcano.sh/v1beta1"
    assert group["spec"] == {"minMember": 2, "queue": "research", "priorityClassName": "high"}
    template = pod_template(trainjob, 0)
    assert template["metadata"]["annotations"] == {
        "team": "vision",
        VOLCANO_POD_GROUP_ANNOTATION: group["metadata"]["name"],
    }
    assert template["spec"]["schedulerName"] == "volcano"


def test_a_chosen_scheduler_name_wins(trainjob_factory):
    trainjob = trainjob_factory(numNodes=2, podGroupPolicy={"native": {"schedulerName": "gang-scheduler"}})
    assert pod_template(trainjob, 0)["spec"]["schedulerName"] == "gang-scheduler"


def test_the_user_cannot_point_the_pods_at_another_group(trainjob_factory):
    trainjob = trainjob_factory(
        numNodes=2,
        podGroupPolicy={"coscheduling": {}},
        podTemplate={"labels": {COSCHEDULING_POD_GROUP_LABEL: "someone-elses"}},
    )
    labels = pod_template(trainjob, 0)["metadata"]["labels"]
    assert labels[COSCHEDULING_POD_GROUP_LABEL] == pod_group(trainjob)["metadata"]["name"]


def test_every_attempt_shares_the_group_and_a_changed_gang_gets_a_new_one(trainjob_factory):
    three = trainjob_factory(numNodes=3, podGroupPolicy={"native": {}})
    name = pod_group(three)["metadata"]["name"]
    assert (
        pod_template(three, 0)["spec"]["schedulingGroup"] == pod_template(three, 5)["spec"]["schedulingGroup"]
    )
    two = trainjob_factory(numNodes=2, podGroupPolicy={"native": {}})
    volcano = trainjob_factory(numNodes=3, podGroupPolicy={"volcano": {}})
    assert len({name, pod_group(two)["metadata"]["name"], pod_group(volcano)["metadata"]["name"]}) == 3
    assert desired_template_hash(three, 0) != desired_template_hash(two, 0)


@pytest.mark.parametrize("policy", [{"native": {}}, {"coscheduling": {}}, {"volcano": {}}])
def test_the_longest_name_is_still_a_label_value(trainjob_factory, policy):
    trainjob = trainjob_factory(numNodes=2, podGroupPolicy=policy)
    trainjob["metadata"]["name"] = "a" * MAX_NAME_LENGTH
    assert is_label_value(pod_group(trainjob)["metadata"]["name"])
