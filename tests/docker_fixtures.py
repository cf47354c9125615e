"""Fixtures for the docker runtime's tests: a real Docker Engine, images built offline, and a
second engine of the tests' own on a loopback TCP port (a stand-in for a remote one).

- ``docker_engine``: the default engine. None answers: the tests fail under CI (``.ci/run``
  starts one) and skip elsewhere.
- ``test_base_image``: ``mletui-test-base``, a minimal Debian with python3 made by
  ``scripts/build-test-base.sh`` (debootstrap; no image registry), built once and kept.
- ``agent_image``: mletui's agent image built from that base exactly as ``mletui image build
  --base mletui-test-base`` builds it; rebuilt only when mletui's sources changed.
- ``second_engine``: a ``dockerd`` on 127.0.0.1 over TCP with TLS (a CA, server and client
  certificates made with openssl for the session; clients verify it and it verifies them), with
  ``--live-restore`` (containers outlive a restart of it), its own bridge, data root and files
  (one per test session; all removed at the end, or by a later session if this one died).

Registered as a plugin in ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest

from mletui.runtimes.docker.engine import EngineAddress, EngineError, connect, resolve_engine
from mletui.runtimes.docker.image import build_image, image_source_hash, source_hash
from mletui.store.runs import list_runs
from tests.conftest import free_port, unavailable

REPO = Path(__file__).resolve().parent.parent
TEST_BASE = "mletui-test-base"
# Several checkouts on one Engine (worktrees side by side) each keep an agent image of their own.
TEST_AGENT_IMAGE = os.environ.get("MLETUI_TEST_AGENT_IMAGE", "mletui-agent:test")
# The second engine's files, one set per test session (several sessions may run at once on a
# developer's machine), named by the session's pid so that a dead session's can be found.
SECOND_ROOTS = Path("/var/lib/mletui-test-engines")
SECOND_RUN = Path("/var/run")
SECOND_PREFIX = "mletui-test-dockerd-"


def _unavailable(reason: str) -> None:
    """Under CI the docker tests must run: a missing engine fails them; elsewhere, a skip."""
    unavailable("docker tests", reason)


@dataclass
class Engine:
    address: EngineAddress
    client: docker.DockerClient

    @property
    def url(self) -> str:
        return self.address.host


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    address = resolve_engine()
    try:
        client = connect(address)
    except EngineError as exc:
        _unavailable(str(exc))
        raise
    yield Engine(address, client)
    client.close()


@pytest.fixture(scope="session")
def test_base_image(docker_engine: Engine) -> str:
    try:
        docker_engine.client.images.get(TEST_BASE)
        return TEST_BASE
    except docker.errors.ImageNotFound:
        pass
    if os.geteuid() != 0:
        _unavailable(
            f"{TEST_BASE} is missing and building it needs root: scripts/build-test-base.sh"
        )
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-test-base.sh"), TEST_BASE],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        _unavailable(f"building {TEST_BASE} failed: {result.stderr.strip()[-500:]}")
    return TEST_BASE


@pytest.fixture(scope="session")
def agent_image(docker_engine: Engine, test_base_image: str) -> str:
    """mletui's agent image, built offline the way ``mletui image build --base`` builds it."""
    if image_source_hash(docker_engine.client, TEST_AGENT_IMAGE) != source_hash():
        result = build_image(docker_engine.address, base=test_base_image, tag=TEST_AGENT_IMAGE)
        print(f"built {TEST_AGENT_IMAGE} in {result.seconds:.0f} s")
    return TEST_AGENT_IMAGE


class SecondEngine:
    """A dockerd of the tests' own, on a loopback TCP port, with TLS both ways."""

    def __init__(self, port: int, certs: Path, session: int) -> None:
        self.port = port
        self.certs = certs
        self.session = session
        self.data_root = SECOND_ROOTS / str(session)
        self.exec_root = SECOND_RUN / f"{SECOND_PREFIX}{session}"
        self.pidfile = SECOND_RUN / f"{SECOND_PREFIX}{session}.pid"
        self.log = Path("/var/tmp") / f"{SECOND_PREFIX}{session}.log"
        # Its own bridge: with --bridge=none a dockerd deletes docker0, the default engine's.
        self.bridge = f"mletuit{session % 100000}"
        self.url = f"tcp://127.0.0.1:{port}"
        self.address = EngineAddress(self.url, "--docker-host", None, True, str(certs))
        # What a user sets to reach it, as with any TLS engine.
        self.env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
        self._proc: subprocess.Popen[bytes] | None = None
        self.client: docker.DockerClient | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    "dockerd",
                    "--data-root",
                    str(self.data_root),
                    "--exec-root",
                    str(self.exec_root),
                    "--pidfile",
                    str(self.pidfile),
                    "-H",
                    self.url,
                    "-H",
                    f"unix://{self.exec_root}.sock",
                    f"--bridge={self.bridge}",
                    "--iptables=false",
                    "--ip-masq=false",
                    "--live-restore",
                    "--tlsverify",
                    f"--tlscacert={self.certs / 'ca.pem'}",
                    f"--tlscert={self.certs / 'server-cert.pem'}",
                    f"--tlskey={self.certs / 'server-key.pem'}",
                ],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"dockerd exited ({self._proc.returncode}); see {self.log}")
            try:
                self.client = connect(self.address, timeout=10)
                return
            except EngineError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the second dockerd did not answer in 60 s; see {self.log}")

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None

    def restart(self, down_s: float = 1.0) -> None:
        """Stop the daemon (its containers live on: live-restore) and start it again."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def create_bridge(self) -> None:
        used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
        subnet = next(f"172.31.{n}." for n in range(1, 255) if f" 172.31.{n}." not in used)
        for args in (
            ["link", "add", self.bridge, "type", "bridge"],
            ["addr", "add", f"{subnet}1/24", "dev", self.bridge],
            ["link", "set", self.bridge, "up"],
        ):
            subprocess.run(["ip", *args], check=True, capture_output=True)

    def remove(self) -> None:
        """Everything of this engine: the daemon, its containers, bridge and files."""
        if self.client is not None:
            ours = {"label": "mletui.run_id"}
            with contextlib.suppress(docker.errors.DockerException):
                for container in self.client.containers.list(all=True, filters=ours):
                    container.remove(force=True)
        self.stop()
        _remove_leftovers(self.session)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _mounted(path: Path) -> bool:
    """True when something is mounted at ``path`` (a bind mount of the same disk included, which
    os.path.ismount does not see)."""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        return any(line.split()[1] == str(path) for line in mounts if line.strip())


def _remove_leftovers(session: int) -> None:
    """The second engine of a test session: its daemon ended, its bridge and files removed."""
    pidfile = SECOND_RUN / f"{SECOND_PREFIX}{session}.pid"
    with contextlib.suppress(OSError, ValueError, ProcessLookupError):
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.1)
    subprocess.run(
        ["ip", "link", "del", f"mletuit{session % 100000}"], capture_output=True, check=False
    )
    root = SECOND_ROOTS / str(session)
    for _ in range(10):
        # dockerd mounts its data root over itself, and with --live-restore a restart leaves
        # that mount behind: take every layer off before removing the folder.
        if _mounted(root):
            subprocess.run(["umount", "--lazy", str(root)], capture_output=True, check=False)
            continue
        shutil.rmtree(root, ignore_errors=True)
        if not root.exists():
            break
        time.sleep(0.25)
    shutil.rmtree(SECOND_RUN / f"{SECOND_PREFIX}{session}", ignore_errors=True)


def _remove_stale_engines() -> None:
    """Second engines of test sessions that died without cleaning up."""
    sessions = {p.name for p in SECOND_ROOTS.glob("*")} | {
        p.name.removeprefix(SECOND_PREFIX).removesuffix(".pid")
        for p in SECOND_RUN.glob(f"{SECOND_PREFIX}*.pid")
    }
    for session in sessions:
        if session.isdigit() and not _alive(int(session)):
            _remove_leftovers(int(session))


def make_certificates(folder: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, laid out as
    DOCKER_CERT_PATH wants them (ca.pem, cert.pem, key.pem)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(command: str) -> None:
        subprocess.run(["openssl", *command.split()], cwd=folder, check=True, capture_output=True)

    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    openssl(f"req -x509 {key} -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=mletui-test-ca")
    for name, subject, usage in (
        ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "/CN=mletui-test-client", "extendedKeyUsage=clientAuth"),
    ):
        (folder / f"{name}.ext").write_text(usage + "\n")
        openssl(f"req {key} -keyout {name}-key.pem -out {name}.csr -subj {subject}")
        openssl(
            f"x509 -req -in {name}.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
            f"-out {name}-cert.pem -days 2 -extfile {name}.ext"
        )
    shutil.copy(folder / "client-cert.pem", folder / "cert.pem")
    shutil.copy(folder / "client-key.pem", folder / "key.pem")
    return folder


@pytest.fixture(scope="session")
def second_engine(
    docker_engine: Engine, test_base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecondEngine]:
    if os.geteuid() != 0 or shutil.which("dockerd") is None or shutil.which("openssl") is None:
        _unavailable("a second dockerd needs root, dockerd and openssl")
    _remove_stale_engines()
    certs = make_certificates(tmp_path_factory.mktemp("certs"))
    engine = SecondEngine(free_port(), certs, os.getpid())
    try:
        engine.create_bridge()
        engine.start()
        assert engine.client is not None
        image = docker_engine.client.images.get(test_base_image).save(named=True)
        engine.client.images.load(b"".join(image))
        yield engine
    finally:
        engine.remove()


@pytest.fixture
def docker_cleanup(docker_engine: Engine, home: Path) -> Iterator[None]:
    """Removes, after the test, every container of this test's runs on the default engine (the
    second engine's go when it stops)."""
    yield
    for folder in list_runs():
        for container in docker_engine.client.containers.list(
            all=True, filters={"label": f"mletui.run_id={folder.id}"}
        ):
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
