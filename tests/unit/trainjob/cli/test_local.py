import subprocess
import sys
import textwrap

import pytest


def trainjob(*args, cwd=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "trainjob.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "spec: {image: x, command: [python], numNodes: 0, maxEpochs: 1}",
            "spec.numNodes: must be at least 1",
        ),
        (
            "spec: {image: x, command: [python], maxEpochs: 1, env: [{name: WORLD_SIZE, value: '9'}]}",
            "spec.env[0].name",
        ),
        ("spec: {image: x, command: [python], maxEpochs: 1, backend: mpi}", "spec.backend"),
        ("spec: {image: x, command: [python], maxEpochs: 0}", "spec.maxEpochs"),
    ],
)
def test_an_invalid_manifest_exits_2_naming_the_field(tmp_path, body, expected):
    manifest = tmp_path / "job.yaml"
    manifest.write_text("apiVersion: trainjob.dev/v1alpha1\nkind: TrainJob\nmetadata: {name: bad}\n" + body)
    result = trainjob("run", str(manifest))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr


def test_missing_file_and_wrong_kind_are_clear(tmp_path):
    missing = trainjob("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    other = tmp_path / "cm.yaml"
    other.write_text(
        textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: x}
    """)
    )
    result = trainjob("run", str(other))
    assert result.returncode == 2 and "no document with kind: TrainJob" in result.stderr
