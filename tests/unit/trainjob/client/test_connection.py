"""The kubeconfig, context and namespace, chosen as kubectl chooses them."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml

from trainjob.client.connection import ClusterError, connect

NOW = datetime.datetime(2024, 5, 1, 12, 10, tzinfo=datetime.UTC)


def kubeconfig(path: Path, current: str, contexts: dict[str, str | None]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {
                        "name": name,
                        "context": {"cluster": "c", "user": "u", **({"namespace": ns} if ns else {})},
                    }
                    for name, ns in contexts.items()
                ],
                "current-context": current,
            }
        )
    )
    return path


def test_the_namespace_and_context_are_chosen_as_kubectl_chooses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "first", "team", {"team": "ml", "bare": None})
    monkeypatch.setenv("KUBECONFIG", str(first))
    assert (connect().context, connect().namespace) == ("team", "ml")
    assert connect(namespace="other").namespace == "other"
    assert connect(context="bare").namespace == "default"
    assert connect().api.configuration.host == "https://127.0.0.1:6443"
    second = kubeconfig(tmp_path / "second", "prod", {"prod": "serving"})
    assert connect(str(second)).namespace == "serving"  # --kubeconfig wins over $KUBECONFIG
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{first}")  # a list, as kubectl reads it
    assert connect().namespace == "ml"
    with pytest.raises(ClusterError, match='context "nowhere" is not in the kubeconfig'):
        connect(context="nowhere")
    with pytest.raises(ClusterError, match="no usable kubeconfig"):
        connect(str(tmp_path / "missing"))
