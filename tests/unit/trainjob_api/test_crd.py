"""The CRD files in the repository are exactly what the Python schema renders."""

from pathlib import Path

import yaml

from trainjob_api.crd import GENERATED_COPIES, crd_manifest, render, stale_copies

ROOT = Path(__file__).resolve().parents[3]


def test_generated_crd_copies_are_up_to_date():
    assert stale_copies(ROOT) == [], "run hack/gen_crd.py"


def test_every_copy_is_listed_and_parses_back():
    assert "crds/trainjob.dev_trainjobs.yaml" in GENERATED_COPIES
    assert "charts/trainjob-operator/crds/trainjob.dev_trainjobs.yaml" in GENERATED_COPIES
    assert yaml.safe_load(render()) == crd_manifest()


def test_stale_copies_are_found(tmp_path):
    assert [path.relative_to(tmp_path).as_posix() for path in stale_copies(tmp_path)] == list(
        GENERATED_COPIES
    )
    for relative in GENERATED_COPIES:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(render())
    assert stale_copies(tmp_path) == []
    (tmp_path / GENERATED_COPIES[0]).write_text(render() + "# edited\n")
    assert stale_copies(tmp_path) == [tmp_path / GENERATED_COPIES[0]]


def test_crd_names_and_columns():
    spec = crd_manifest()["spec"]
    assert spec["group"] == "trainjob.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["tj"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = {column["name"]: column["jsonPath"] for column in version["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase"
    assert columns["Nodes"] == ".spec.numNodes"
    assert columns["Epoch"] == ".status.progress.epoch"
    assert columns["Progress"] == ".status.progress.percent"
    assert columns["Loss"] == ".status.metrics.loss"
    assert columns["Age"] == ".metadata.creationTimestamp"
