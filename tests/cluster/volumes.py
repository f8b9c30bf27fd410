"""Pod volumes, made on the host the way the kubelet makes them, for bind mounts into containers.

Supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected (with
serviceAccountToken: the kube-api-access-* volume the ServiceAccount admission plugin adds,
mounted at /var/run/secrets/kubernetes.io/serviceaccount) and persistentVolumeClaim, once
kube-controller-manager has bound the claim to a hostPath PersistentVolume. Anything else is
refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .podspec import MissingReference, Pod, expand, field_value, object_data, resource_value

# fetch(kind, name) -> the ConfigMap/Secret/PVC of the pod's namespace (or the PersistentVolume), or None
Fetch = Callable[[str, str], "dict[str, Any] | None"]
# token(service_account, audiences, expiration_seconds) -> a token bound to the pod
Token = Callable[[str, list[str], int], str]


class UnsupportedVolume(Exception):
    """The pod uses a volume type the test node cannot provide."""


class VolumeMaker:
    """Builds one pod's volumes under root/<volume name> with the pod's own credentials."""

    def __init__(
        self, pod: Pod, root: Path, fetch: Fetch, token: Token, allocatable: Mapping[str, str]
    ) -> None:
        self.pod = pod
        self.root = root
        self.fetch = fetch
        self.token = token
        self.allocatable = allocatable

    def make_all(self) -> dict[str, Path]:
        """Make every volume of the pod; return name -> host path."""
        return {volume["name"]: self._make(volume) for volume in self.pod["spec"].get("volumes", [])}

    def _make(self, volume: Mapping[str, Any]) -> Path:
        path = self.root / volume["name"]
        if "hostPath" in volume:
            return self._host_path(volume["hostPath"])
        if "persistentVolumeClaim" in volume:
            return self._claim(volume["persistentVolumeClaim"]["claimName"])
        path.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in volume:
            return path
        files: dict[str, tuple[bytes, int | None]]
        if "configMap" in volume or "secret" in volume:
            files = self._object_files(volume)
            mode = (volume.get("configMap") or volume["secret"]).get("defaultMode", 0o644)
        elif "downwardAPI" in volume:
            files = self._downward(volume["downwardAPI"].get("items", []))
            mode = volume["downwardAPI"].get("defaultMode", 0o644)
        elif "projected" in volume:
            files = {}
            for source in volume["projected"].get("sources", []):
                files.update(self._projection(source))
            mode = volume["projected"].get("defaultMode", 0o644)
        else:
            kind = next(k for k in volume if k != "name")
            raise UnsupportedVolume(f"volume {volume['name']!r}: {kind} is not supported by the test node")
        for relative, (content, item_mode) in files.items():
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(item_mode if item_mode is not None else mode)
        return path

    @staticmethod
    def _host_path(source: Mapping[str, Any]) -> Path:
        path = Path(source["path"])
        kind = source.get("type", "")
        if kind == "DirectoryOrCreate":
            path.mkdir(parents=True, exist_ok=True)
        elif kind == "FileOrCreate":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        elif kind and not path.exists():
            raise MissingReference(f"hostPath {path} does not exist")
        return path

    def _claim(self, name: str) -> Path:
        """The directory of the PersistentVolume the claim is bound to (waits, by raising, until it is)."""
        claim = self.fetch("persistentvolumeclaims", name)
        if claim is None:
            raise MissingReference(f"persistentvolumeclaim {name} not found")
        bound = claim.get("spec", {}).get("volumeName")
        if claim.get("status", {}).get("phase") != "Bound" or not bound:
            raise MissingReference(f"persistentvolumeclaim {name} is not bound yet")
        volume = self.fetch("persistentvolumes", bound)
        if volume is None:
            raise MissingReference(f"persistentvolume {bound} (of claim {name}) not found")
        if "hostPath" not in volume["spec"]:
            raise UnsupportedVolume(
                f"persistentvolume {bound}: only hostPath volumes are supported by the test node"
            )
        return self._host_path(volume["spec"]["hostPath"])

    def _object_files(self, volume: Mapping[str, Any]) -> dict[str, tuple[bytes, int | None]]:
        if "configMap" in volume:
            kind, source = "configmaps", volume["configMap"]
            name = source["name"]
        else:
            kind, source = "secrets", volume["secret"]
            name = source["secretName"]
        return self._items(kind, name, source)

    def _items(self, kind: str, name: str, source: Mapping[str, Any]) -> dict[str, tuple[bytes, int | None]]:
        obj = self.fetch(kind, name)
        if obj is None:
            if source.get("optional"):
                return {}
            raise MissingReference(f"{kind} {name} not found")
        data = object_data(obj)
        if "items" not in source:
            return {key: (value, None) for key, value in data.items()}
        files = {}
        for item in source["items"]:
            if item["key"] in data:
                files[item["path"]] = (data[item["key"]], item.get("mode"))
            elif not source.get("optional"):
                raise MissingReference(f"{kind} {name} has no key {item['key']!r}")
        return files

    def _downward(self, items: list[Mapping[str, Any]]) -> dict[str, tuple[bytes, int | None]]:
        files = {}
        for item in items:
            if "fieldRef" in item:
                value = field_value(self.pod, item["fieldRef"]["fieldPath"])
            else:
                value = resource_value(self.pod, item["resourceFieldRef"], self.allocatable)
            files[item["path"]] = (value.encode(), item.get("mode"))
        return files

    def _projection(self, source: Mapping[str, Any]) -> dict[str, tuple[bytes, int | None]]:
        if "serviceAccountToken" in source:
            spec = source["serviceAccountToken"]
            audiences = [spec["audience"]] if spec.get("audience") else []
            account = self.pod["spec"].get("serviceAccountName", "default")
            token = self.token(account, audiences, spec.get("expirationSeconds", 3600))
            return {spec["path"]: (token.encode(), None)}
        if "configMap" in source:
            return self._items("configmaps", source["configMap"]["name"], source["configMap"])
        if "secret" in source:
            return self._items("secrets", source["secret"]["name"], source["secret"])
        if "downwardAPI" in source:
            return self._downward(source["downwardAPI"].get("items", []))
        raise UnsupportedVolume(f"projected source {sorted(source)} is not supported by the test node")


def container_mounts(
    container: Mapping[str, Any], volumes: Mapping[str, Path], env: Mapping[str, str]
) -> list[tuple[str, str, bool]]:
    """The container's bind mounts as (host path, container path, read only)."""
    mounts = []
    for mount in container.get("volumeMounts", []):
        source = volumes[mount["name"]]
        sub_path = mount.get("subPath") or expand(mount.get("subPathExpr", ""), env)
        if sub_path:
            source = source / sub_path
            if not source.exists():
                source.mkdir(parents=True)
        mounts.append((str(source), mount["mountPath"], bool(mount.get("readOnly"))))
    return mounts
