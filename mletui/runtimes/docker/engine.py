"""Which Docker Engine, and how to talk to it.

The address is chosen as the docker CLI chooses it: ``--docker-host``, else ``DOCKER_HOST``
(with ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``), else the Docker context (``DOCKER_CONTEXT``
or the current one in ``~/.docker/config.json``), else the local socket. A run keeps the
resolved address in ``run.json``, so any later mletui process (``ls``, ``watch``, ``kill`` from
a new shell) reaches the same engine. Every failure becomes one sentence (:class:`EngineError`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.context import ContextAPI
from docker.tls import TLSConfig

from mletui.runtimes import RuntimeFailure

DEFAULT_HOST = "unix:///var/run/docker.sock"
API_TIMEOUT_S = 30  # one ordinary call; streams have none (a watchdog pings instead)
PING_TIMEOUT_S = 5
MIN_API_VERSION = "1.24"  # the SDK's minimum; Docker 1.12 (2016)


class EngineError(RuntimeFailure):
    """The Engine could not be reached, or refused; the message is one sentence."""


@dataclass(frozen=True)
class EngineAddress:
    """Where an Engine is, and how it was chosen."""

    host: str  # unix:///var/run/docker.sock, tcp://10.0.0.5:2376, ssh://user@box
    source: str  # "--docker-host", "DOCKER_HOST", "context NAME", "default"
    context: str | None = None  # a Docker context's name: its TLS material is read from it
    tls_verify: bool = False
    cert_path: str | None = None  # DOCKER_CERT_PATH: ca.pem, cert.pem, key.pem

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EngineAddress:
        return cls(
            host=str(data["host"]),
            source=str(data.get("source", "run.json")),
            context=data.get("context"),
            tls_verify=bool(data.get("tls_verify", False)),
            cert_path=data.get("cert_path"),
        )

    @property
    def is_local(self) -> bool:
        """True when the Engine runs on this machine (so bind mounts and NVML mean the same)."""
        host = self.host.lower()
        if host.startswith(("unix://", "npipe://")):
            return True
        if host.startswith(("tcp://", "http://", "https://")):
            name = host.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
            return name in ("localhost", "127.0.0.1", "::1")
        return False


def resolve_engine(
    explicit: str | None = None, environ: dict[str, str] | None = None
) -> EngineAddress:
    """The Engine a new run or ``mletui image build`` talks to."""
    env = dict(os.environ if environ is None else environ)
    tls_verify = env.get("DOCKER_TLS_VERIFY", "") != ""
    cert_path = env.get("DOCKER_CERT_PATH") or None
    if explicit:
        return EngineAddress(_normalise(explicit), "--docker-host", None, tls_verify, cert_path)
    if env.get("DOCKER_HOST"):
        return EngineAddress(
            _normalise(env["DOCKER_HOST"]), "DOCKER_HOST", None, tls_verify, cert_path
        )
    try:
        context = ContextAPI.get_context(env.get("DOCKER_CONTEXT") or None)
    except docker.errors.DockerException as exc:
        raise EngineError(f"The Docker context could not be read: {exc}.") from exc
    if context is None:
        name = env.get("DOCKER_CONTEXT") or "the current one"
        raise EngineError(f"The Docker context '{name}' does not exist (`docker context ls`).")
    if context.Name != "default" and context.Host:
        return EngineAddress(str(context.Host), f"context {context.Name}", context.Name)
    return EngineAddress(DEFAULT_HOST, "default")


def _normalise(host: str) -> str:
    host = host.strip()
    if "://" not in host:
        # As the docker CLI: a bare path is a socket, a bare host:port is TCP.
        return f"unix://{host}" if host.startswith("/") else f"tcp://{host}"
    return host


def connect(
    address: EngineAddress, timeout: float = API_TIMEOUT_S, version: str | None = None
) -> docker.DockerClient:
    """A client for ``address``; raises :class:`EngineError` with a sentence when none answers.

    Without ``version`` the Engine is asked for its API version, so this is also the check that
    it answers; with one, nothing is sent until the first call.
    """
    kwargs: dict[str, Any] = {"base_url": address.host, "timeout": timeout, "version": version}
    if address.context:
        try:
            context = ContextAPI.get_context(address.context)
        except docker.errors.DockerException as exc:
            raise EngineError(
                f"The Docker context '{address.context}' cannot be read: {exc}."
            ) from exc
        if context is not None and context.TLSConfig is not None:
            kwargs["tls"] = context.TLSConfig
    elif address.tls_verify or address.cert_path:
        path = address.cert_path or os.path.join(os.path.expanduser("~"), ".docker")
        try:
            kwargs["tls"] = TLSConfig(
                client_cert=(os.path.join(path, "cert.pem"), os.path.join(path, "key.pem")),
                ca_cert=os.path.join(path, "ca.pem"),
                verify=address.tls_verify,
            )
        except docker.errors.TLSParameterError as exc:
            raise EngineError(
                f"The TLS certificates for the Docker Engine at {address.host} are not in {path} "
                "(ca.pem, cert.pem, key.pem): set DOCKER_CERT_PATH to where they are."
            ) from exc
    if address.host.startswith("ssh://"):
        kwargs["use_ssh_client"] = True  # the system's ssh, its config and agent, as the CLI does
    # A placeholder version: the constructor then sends nothing, so the session can be set up
    # before the first request.
    kwargs["version"] = version or MIN_API_VERSION
    try:
        client = docker.DockerClient(**kwargs)
        if "tls" in kwargs:
            # requests would let REQUESTS_CA_BUNDLE (set on many machines) replace the Engine's
            # CA on every call, and the handshake would fail: the certificates given win.
            client.api.trust_env = False
        if version is None:
            api: Any = client.api
            api._version = str(api.version(api_version=False)["ApiVersion"])
        return client
    except Exception as exc:  # the SDK raises several kinds here; all mean "no engine"
        raise unreachable(address, exc) from exc


def unreachable(address: EngineAddress, exc: BaseException) -> EngineError:
    """The sentence for an Engine that does not answer at ``address``."""
    text = str(exc)
    where = f"{address.host} (from {address.source})"
    if "Permission denied" in text or isinstance(exc, PermissionError):
        path = address.host.removeprefix("unix://")
        return EngineError(
            f"Permission denied on the Docker socket {path}: add yourself to the docker group "
            "(`sudo usermod -aG docker $USER`, then log in again), or give --docker-host."
        )
    if "HTTPS server" in text:
        return EngineError(
            f"The Docker Engine at {where} wants TLS: set DOCKER_TLS_VERIFY=1 and "
            "DOCKER_CERT_PATH to your certificates (ca.pem, cert.pem, key.pem), or use a Docker "
            "context that has them."
        )
    if "SSL" in text or "certificate" in text.lower():
        return EngineError(
            f"The TLS handshake with the Docker Engine at {where} failed ({_short(text)}): "
            "check DOCKER_CERT_PATH or the context's certificates."
        )
    if address.host.startswith("unix://"):
        how = "start one (`sudo systemctl start docker`, or `sudo dockerd &`)"
    else:
        how = "check that it runs and listens there"
    return EngineError(
        f"No Docker Engine answers at {where}: {how}, or point --docker-host (or DOCKER_HOST) "
        "at one that does."
    )


def api_failure(address: EngineAddress, exc: BaseException, doing: str) -> RuntimeFailure:
    """The sentence for a failed call while ``doing`` something (e.g. "pausing the container")."""
    if is_connection_error(exc):
        return unreachable(address, exc)
    if isinstance(exc, docker.errors.APIError):
        return RuntimeFailure(f"The Docker Engine refused {doing}: {api_message(exc)}.")
    return RuntimeFailure(f"{doing.capitalize()} failed: {_short(str(exc))}.")


def is_connection_error(exc: BaseException) -> bool:
    """True for a failure to reach the Engine (as opposed to the Engine saying no)."""
    if isinstance(exc, docker.errors.APIError):
        return False
    return isinstance(
        exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError
    ) or (isinstance(exc, docker.errors.DockerException) and "Error while fetching" in str(exc))


def api_message(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return _short(str(explanation or exc)).rstrip(".")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# A container's state after each of the Engine's events about it (others leave it as it is).
STATE_AFTER = {
    "create": "created",
    "start": "running",
    "restart": "running",
    "unpause": "running",
    "pause": "paused",
    "die": "exited",
    "destroy": "removed",
}


@dataclass(frozen=True)
class ContainerEventInfo:
    """The parts of one ``/events`` document that mletui reads."""

    action: str  # as the Engine says it ("exec_start: sh -c ..." included)
    base: str  # the verb alone ("exec_start")
    time_ns: int
    attributes: dict[str, Any]


def read_event(event: dict[str, Any]) -> ContainerEventInfo:
    action = str(event.get("Action") or event.get("status") or "")
    time_ns = int(event.get("timeNano") or int(event.get("time") or 0) * 1_000_000_000)
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    return ContainerEventInfo(action, action.split(":", 1)[0].strip(), time_ns, attributes)
