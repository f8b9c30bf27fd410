"""Invalid TrainJobs are rejected by `kubectl apply` itself, with the CRD's messages; nothing is created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import ControlPlane
from tests.e2e.support import TRAINJOBS, example_manifest

pytestmark = pytest.mark.e2e

#: One character more than a TrainJob name may have (55: `<name>-workers` must stay a DNS label).
LONG_NAME = "digits-" + "x" * 49

#: What is wrong -> (the change to the digits example, the line kubectl prints; {path} is the file).
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "no nodes": (
        {"spec": {"numNodes": 0}},
        'The TrainJob "digits" is invalid: spec.numNodes: Invalid value: 0: '
        "spec.numNodes in body should be greater than or equal to 1",
    ),
    "a contract variable in env": (
        {"spec": {"env": [{"name": "DATA", "value": "/data"}, {"name": "MASTER_ADDR", "value": "x"}]}},
        'The TrainJob "digits" is invalid: spec.env[1].name: Forbidden: the variable MASTER_ADDR '
        "is set by trainjob (the environment contract) and cannot be overridden",
    ),
    "an unknown early-stopping mode": (
        {"spec": {"earlyStopping": {"mode": "median"}}},
        '* spec.earlyStopping.mode: Unsupported value: "median": supported values: "min", "max"',
    ),
    "a divergence threshold better than the stopping threshold": (
        {"spec": {"earlyStopping": {"mode": "min", "stoppingThreshold": 0.5, "divergenceThreshold": 0.1}}},
        'The TrainJob "digits" is invalid: spec.earlyStopping.divergenceThreshold: Invalid value: '
        "divergenceThreshold must be worse than stoppingThreshold: greater with mode min, "
        "smaller with mode max",
    ),
    "an unknown field (kubectl's strict field validation)": (
        {"spec": {"numNode": 2}},
        'Error from server (BadRequest): error when creating "{path}": TrainJob in version "v1alpha1" '
        'cannot be handled as a TrainJob: strict decoding error: unknown field "spec.numNode"',
    ),
    "a name too long for the workers' DNS names": (
        {"metadata": {"name": LONG_NAME}},
        f'The TrainJob "{LONG_NAME}" is invalid: metadata.name: Invalid value: may have at most 55 '
        "characters: the workers' Service (<name>-workers) and pod hostnames (<name>-<index>) "
        "must be DNS labels of at most 63",
    ),
    "a name that is no DNS label": (
        {"metadata": {"name": "9digits"}},
        'The TrainJob "9digits" is invalid: metadata.name: Invalid value: must consist of lowercase '
        "letters, digits and '-', start with a letter and end with a letter or digit: it names the "
        "workers' Service and hostnames",
    ),
    "an operator label in the pod template": (
        {"spec": {"podTemplate": {"labels": {"trainjob.dev/name": "other"}}}},
        'The TrainJob "digits" is invalid: spec.podTemplate.labels: Forbidden: '
        "labels with the trainjob.dev/ prefix are set by the operator",
    ),
    "a volume mount without its volume": (
        {"spec": {"podTemplate": {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}}},
        'The TrainJob "digits" is invalid: spec.podTemplate.volumeMounts: Invalid value: '
        "every volumeMount must name a volume in podTemplate.volumes",
    ),
}


@pytest.mark.parametrize(("change", "message"), CASES.values(), ids=CASES.keys())
def test_kubectl_apply_rejects_an_invalid_trainjob_with_the_crds_message(
    control_plane: ControlPlane,
    namespace: str,
    crd: None,
    tmp_path: Path,
    change: dict[str, Any],
    message: str,
) -> None:
    manifest = example_manifest("digits-ddp", namespace)
    for section, fields in change.items():
        manifest[section].update(fields)
    path = tmp_path / "trainjob.yaml"
    path.write_text(yaml.safe_dump(manifest))

    result = control_plane.kubectl("apply", "-f", str(path), check=False)

    assert result.returncode == 1
    assert message.replace("{path}", str(path)) in result.stderr.splitlines(), result.stderr
    assert control_plane.admin.get(TRAINJOBS.format(namespace=namespace))["items"] == []
