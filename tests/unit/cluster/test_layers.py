"""The test node's storage rules without an apiserver: claims to volumes, and which directories get a
container's own writable layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cluster.layers import overlaid_directories
from tests.cluster.podspec import MissingReference
from tests.cluster.volumes import UnsupportedVolume, VolumeMaker

POD = {"metadata": {"name": "w-0", "namespace": "team", "uid": "u-1"}, "spec": {"containers": []}}


def maker(objects: dict[tuple[str, str], dict[str, Any]], tmp_path: Path) -> VolumeMaker:
    return VolumeMaker(POD, tmp_path / "volumes", lambda kind, name: objects.get((kind, name)), None, {})  # type: ignore[arg-type]


def claim_volume(name: str = "ckpt") -> dict[str, Any]:
    return {"name": "checkpoints", "persistentVolumeClaim": {"claimName": name}}


def test_a_claim_mounts_the_host_directory_of_the_volume_it_is_bound_to(tmp_path):
    directory = tmp_path / "pv"
    objects = {
        ("persistentvolumeclaims", "ckpt"): {"spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}},
        ("persistentvolumes", "pv-1"): {
            "spec": {"hostPath": {"path": str(directory), "type": "DirectoryOrCreate"}}
        },
    }
    assert maker(objects, tmp_path)._make(claim_volume()) == directory
    assert directory.is_dir()


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        (None, "persistentvolumeclaim ckpt not found"),
        ({"spec": {}, "status": {"phase": "Pending"}}, "not bound yet"),
    ],
)
def test_a_missing_or_unbound_claim_waits(tmp_path, claim, message):
    objects = {} if claim is None else {("persistentvolumeclaims", "ckpt"): claim}
    with pytest.raises(MissingReference, match=message):
        maker(objects, tmp_path)._make(claim_volume())


def test_a_claim_bound_to_anything_but_a_host_path_volume_is_refused(tmp_path):
    objects = {
        ("persistentvolumeclaims", "ckpt"): {"spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}},
        ("persistentvolumes", "pv-1"): {"spec": {"nfs": {"server": "nas", "path": "/x"}}},
    }
    with pytest.raises(UnsupportedVolume, match="only hostPath"):
        maker(objects, tmp_path)._make(claim_volume())


def test_the_writable_layers_cover_tmp_home_and_the_workdir_once_each(tmp_path):
    workdir, home = tmp_path / "repo", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    assert overlaid_directories(str(workdir), str(home)) == ["/tmp", "/var/tmp"]  # tmp_path is under /tmp
    assert overlaid_directories("/var/tmp/x-does-not-exist", "/root") == ["/root", "/tmp", "/var/tmp"]
