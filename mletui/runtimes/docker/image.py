"""``mletui image build``: the agent image, built with no network inside the build.

The Python packages mletui needs are gathered on the host with ``pip download`` (for the base
image's Python version and platform, which are asked from the base image itself) and copied into
the build, which installs them with ``pip install --no-index``. mletui's own package is copied
as source. The build's only input from outside is the base image, which must be on the Engine
(or pullable by it); ``--base`` picks any image with python3 and its venv module.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import platformdirs

import mletui
from mletui.runtimes import RuntimeFailure
from mletui.runtimes.docker.engine import EngineAddress, api_failure, api_message, connect
from mletui.runtimes.docker.runtime import DEFAULT_IMAGE

DOCKERFILE = Path(__file__).with_name("Dockerfile")
DEFAULT_BASE = "python:3.11-slim"
SOURCE_LABEL = "mletui.source_hash"
# As MLE-bench bakes /home/validate_submission.sh into its images: the agent's way to ask whether
# a submission passes the task's checks (valid, or why not; never a score).
VALIDATE_SCRIPT = """#!/bin/sh
# Checks a submission with the task's submission checks (mletui answers; never a score).
# usage: validate_submission.sh [SUBMISSION.csv]   exit 0: valid, 1: invalid, 2: no answer
exec python3 -m mletui.protocol validate "$@"
"""
_PROBE = (
    "import json, platform, sys; "
    "print(json.dumps({'version': '%d.%d' % sys.version_info[:2], "
    "'machine': platform.machine(), 'libc': list(platform.libc_ver())}))"
)

Log = Callable[[str], None]


class ImageBuildError(RuntimeFailure):
    """The image could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class PythonTarget:
    """The base image's Python, as pip download needs it."""

    version: str  # "3.11"
    machine: str  # "x86_64", "aarch64"
    libc: tuple[str, str]  # ("glibc", "2.36"), or ("", "") (musl)

    @property
    def abi(self) -> str:
        return "cp" + self.version.replace(".", "")

    def platforms(self) -> list[str]:
        """Every wheel platform tag this Python installs, newest first."""
        arch = self.machine
        if self.libc[0] == "glibc":
            major, minor = (int(x) for x in self.libc[1].split(".")[:2])
            tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
            tags += [f"{name}_{arch}" for m, name in legacy.items() if m <= minor]
            return tags
        return [f"musllinux_1_{m}_{arch}" for m in (2, 1)]


@dataclass(frozen=True)
class BuildResult:
    tag: str
    base: str
    seconds: float
    source_hash: str
    reused_wheels: bool


def package_root() -> Path:
    return Path(mletui.__file__).resolve().parent


def requirements() -> list[str]:
    """mletui's own dependencies: from pyproject.toml in a checkout, else the installed metadata."""
    pyproject = package_root().parent / "pyproject.toml"
    if pyproject.is_file():
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        deps = data.get("project", {}).get("dependencies")
        if isinstance(deps, list):
            return [str(d) for d in deps]
    declared = importlib.metadata.requires("mletui") or []
    return [r for r in declared if "extra ==" not in r]


def source_hash(reqs: Iterable[str] | None = None) -> str:
    """A hash of mletui's package files and requirements: an image labelled with it is current."""
    digest = hashlib.sha256()
    root = package_root()
    for path in sorted(_source_files(root)):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for req in sorted(requirements() if reqs is None else reqs):
        digest.update(req.encode() + b"\0")
    return digest.hexdigest()[:16]


def _source_files(root: Path) -> list[Path]:
    return [
        p
        for p in root.rglob("*")
        if p.is_file()
        and not {"__pycache__", "private"} & set(p.relative_to(root).parts)
        and p.suffix not in (".pyc", ".pyo")
    ]


def image_source_hash(client: docker.DockerClient, tag: str) -> str | None:
    """The source hash an image was built from, or None (no such image, or not mletui's)."""
    try:
        labels = client.images.get(tag).labels or {}
    except docker.errors.ImageNotFound:
        return None
    value = labels.get(SOURCE_LABEL)
    return str(value) if value else None


def probe_python(client: docker.DockerClient, base: str) -> PythonTarget:
    try:
        output = client.containers.run(
            base, ["python3", "-c", _PROBE], remove=True, stdout=True, stderr=True
        )
        info = json.loads(output.decode("utf-8", "replace").strip().splitlines()[-1])
    except (docker.errors.ContainerError, ValueError, IndexError) as exc:
        raise ImageBuildError(
            f"The base image {base} has no usable python3 ({str(exc)[:200]}): give --base an "
            "image with Python 3.11 or newer and its venv module (e.g. python:3.11-slim)."
        ) from exc
    version = str(info["version"])
    if tuple(int(x) for x in version.split(".")) < (3, 11):
        raise ImageBuildError(f"The base image {base} has Python {version}; mletui needs 3.11+.")
    libc = info.get("libc") or ["", ""]
    return PythonTarget(version, str(info["machine"]), (str(libc[0]), str(libc[1])))


def gather_wheels(target: PythonTarget, reqs: list[str], log: Log) -> tuple[Path, bool]:
    """Wheels of ``reqs`` and everything they need, for ``target``: a folder kept between builds
    (keyed by the requirements and the target), filled by pip download on the host."""
    key = hashlib.sha256(
        json.dumps([sorted(reqs), target.version, target.machine, list(target.libc)]).encode()
    ).hexdigest()[:16]
    folder = Path(platformdirs.user_cache_dir("mletui")) / "wheels" / key
    done = folder / ".complete"
    if done.is_file():
        return folder, True
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "requirements.txt").write_text("\n".join(reqs) + "\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--dest",
        str(folder),
        "--only-binary=:all:",
        "--python-version",
        target.version,
        "--implementation",
        "cp",
        "--abi",
        target.abi,
        *[arg for tag in target.platforms() for arg in ("--platform", tag)],
        "-r",
        str(folder / "requirements.txt"),
    ]
    log(f"gathering Python packages for Python {target.version} on {target.machine} (pip download)")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = " ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise ImageBuildError(
            f"pip download could not gather the packages for the image ({tail[:400]}); "
            "check that this machine reaches your package index (pip config, PIP_INDEX_URL)."
        )
    done.write_text(time.strftime("%Y-%m-%d %H:%M:%S"), encoding="utf-8")
    return folder, False


def build_image(
    address: EngineAddress,
    base: str = DEFAULT_BASE,
    tag: str = DEFAULT_IMAGE,
    log: Log = print,
) -> BuildResult:
    """Build mletui's agent image on the Engine at ``address``."""
    started = time.monotonic()
    client = connect(address)
    try:
        _ensure_base(client, base, log)
        target = probe_python(client, base)
        reqs = requirements()
        wheels, reused = gather_wheels(target, reqs, log)
        digest = source_hash(reqs)
        with tempfile.TemporaryDirectory(prefix="mletui-image-") as tmp:
            context = Path(tmp)
            shutil.copy(DOCKERFILE, context / "Dockerfile")
            script = context / "validate_submission.sh"
            script.write_text(VALIDATE_SCRIPT, encoding="utf-8")
            script.chmod(0o755)  # COPY keeps the mode
            shutil.copytree(wheels, context / "wheels", ignore=shutil.ignore_patterns(".complete"))
            shutil.copytree(
                package_root(),
                context / "src" / "mletui",
                # Never a task's answers: an agent could read them in its own image.
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "private"),
            )
            log(f"building {tag} from {base} on {address.host}")
            _build(client, context, tag, base, digest, log)
    except docker.errors.DockerException as exc:
        raise api_failure(address, exc, "building the image") from exc
    finally:
        client.close()
    return BuildResult(tag, base, time.monotonic() - started, digest, reused)


def _ensure_base(client: docker.DockerClient, base: str, log: Log) -> None:
    try:
        client.images.get(base)
        return
    except docker.errors.ImageNotFound:
        pass
    log(f"pulling {base}")
    try:
        client.images.pull(base)
    except docker.errors.APIError as exc:
        raise ImageBuildError(
            f"The base image {base} is not on the Engine and could not be pulled "
            f"({api_message(exc)}): pull or load it there, or give --base an image it has."
        ) from exc


def _build(
    client: docker.DockerClient, context: Path, tag: str, base: str, digest: str, log: Log
) -> None:
    last: list[str] = []
    for chunk in client.api.build(
        path=str(context),
        tag=tag,
        buildargs={"BASE": base, "SOURCE_HASH": digest, "MLETUI_VERSION": mletui.__version__},
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
    ):
        if "error" in chunk:
            detail = " ".join([*last[-3:], str(chunk["error"])])
            raise ImageBuildError(f"The image build failed: {detail[-500:]}")
        text = str(chunk.get("stream") or "").rstrip()
        for line in text.splitlines():
            last = [*last[-5:], line]
            if re.match(r"^Step \d+/\d+ :", line):
                log(line)
