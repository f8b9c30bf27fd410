"""Session fixtures: the real control plane built by hack/controlplane.sh, its test node, the
S3-compatible server built by hack/s3server.sh, and headless Chromium for the dashboard's tests."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest

from tests.base_install import create_base_install
from tests.browser import chromium_path
from tests.cluster import BuildError, ControlPlane, TestNode, build_binaries
from tests.cluster.objectstore import S3Server, build_s3_server
from tests.gitops import Kstatus, build_kstatus

# Property tests run derandomized and without an example database, so that every run (CI's
# included) tries the same examples; HYPOTHESIS_PROFILE=explore searches afresh each run.
hypothesis.settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis.settings.register_profile("explore", derandomize=False)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@functools.cache
def _binaries() -> Path | BuildError:
    """The binaries' directory, or why they cannot be built (built once per session)."""
    try:
        return build_binaries()
    except BuildError as error:
        return error


@functools.cache
def _s3_binary() -> Path | BuildError:
    """The S3 server's binary, or why it cannot be built (built once per session)."""
    try:
        return build_s3_server()
    except BuildError as error:
        return error


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Build (or find cached) binaries before any test runs, so no per-test timeout covers a build."""
    if any("k8s_bin_dir" in item.fixturenames for item in items):
        _binaries()
    if any("kstatus" in item.fixturenames for item in items):
        build_kstatus()
    if any("s3_server" in item.fixturenames for item in items):
        _s3_binary()


def _unavailable(reason: str, what: str = "control plane") -> None:
    """Skip on a developer machine without the toolchain; fail loudly in CI (CI=true)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"{what} unavailable: {reason}")


@pytest.fixture(scope="session")
def k8s_bin_dir() -> Path:
    """The directory of the built binaries (the control plane's, kubectl and helm)."""
    bin_dir = _binaries()
    if isinstance(bin_dir, BuildError):
        _unavailable(str(bin_dir))
    return bin_dir


@pytest.fixture(scope="session")
def kstatus() -> Kstatus:
    """The kstatus checker (hack/kstatus.sh). It needs only Go, so it fails, never skips, without it."""
    checker = build_kstatus()
    if isinstance(checker, str):
        pytest.fail(f"the kstatus checker could not be built: {checker}", pytrace=False)
    return checker


@pytest.fixture(scope="session")
def control_plane(k8s_bin_dir: Path) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler, once per session."""
    if os.geteuid() != 0:
        _unavailable("the pod network needs root (network namespaces)")
    with ControlPlane(k8s_bin_dir) as cp:
        yield cp


@pytest.fixture(scope="session")
def test_node(control_plane: ControlPlane) -> Iterator[TestNode]:
    """The node that runs pods as local processes, once per session."""
    with TestNode(control_plane) as node:
        yield node


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace on the control plane, deleted after the test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    control_plane.admin.create("/api/v1/namespaces", {"metadata": {"name": name}})
    yield name
    control_plane.admin.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def base_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ of a fresh venv with only the base install of trainjob (no torch, no kopf)."""
    return create_base_install(tmp_path_factory.mktemp("base-install") / "venv")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (versitygw over a directory) as its own process, once per session."""
    binary = _s3_binary()
    if isinstance(binary, BuildError):
        _unavailable(str(binary), "S3 server")
    with S3Server(binary, tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket's URL (`s3://...`), with the server's credentials in this process's environment."""
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3_server.make_bucket(name)
    for variable, value in s3_server.credentials().items():
        monkeypatch.setenv(variable, value)
    return f"s3://{name}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium under Playwright, one per test module (a fresh context per test).

    Not one per session: Playwright's sync API keeps an asyncio event loop running in this thread
    while it is open, and the asyncio tests that a test process runs later need the thread free.
    """
    executable = chromium_path()
    if executable is None:
        _unavailable("no chromium on PATH (hack/setup.sh installs Debian's package)", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True)
        yield launched
        launched.close()
