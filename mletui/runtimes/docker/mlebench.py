"""MLE-bench's containers on a Docker Engine: found from a run, and their folders read live.

MLE-bench names a run's container ``competition-<competition>-<time>-<uuid4 hex>`` and gives it no
labels; the right one is the one created closest to the run's start. Its ``/home/code`` and
``/home/logs`` are read through the Engine's archive API (no ``docker exec``: nothing runs in the
container, the agent is never disturbed) into a local mirror, writing only the files that changed.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors

from mletui.runtimes.docker.engine import EngineAddress, EngineError, connect, resolve_engine

MAX_ARCHIVE_BYTES = 64 << 20
LOOKUP_TIMEOUT_S = 10


@dataclass(frozen=True)
class MlebenchContainer:
    id: str
    name: str
    status: str  # the Engine's word: running, paused, exited, ...
    created: float  # epoch seconds


class MlebenchEngine:
    """An Engine's MLE-bench containers (``$DOCKER_HOST``, the current context, or the socket)."""

    def __init__(self, address: EngineAddress | None = None) -> None:
        self.address = address
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            address = self.address or resolve_engine()
            self._client = connect(address, timeout=LOOKUP_TIMEOUT_S)
        return self._client

    def find(self, competition: str, near: float | None) -> MlebenchContainer | None:
        """The competition's container created closest to ``near`` (the run's start), if any."""
        try:
            found = self.client.api.containers(
                all=True, filters={"name": f"competition-{competition}-"}
            )
        except docker.errors.DockerException as exc:
            raise EngineError(f"The Docker Engine could not list containers: {exc}.") from exc
        prefix = f"/competition-{competition}-"
        candidates = [
            MlebenchContainer(
                str(c["Id"]),
                next(n for n in c["Names"] if n.startswith(prefix)).lstrip("/"),
                str(c.get("State", "")),
                float(c.get("Created", 0)),
            )
            for c in found
            if any(n.startswith(prefix) for n in c.get("Names", []))
        ]
        if not candidates:
            return None
        if near is None:
            return max(candidates, key=lambda c: c.created)
        return min(candidates, key=lambda c: abs(c.created - near))

    def status(self, container_id: str) -> str | None:
        """The container's state now; None when it is gone."""
        try:
            info: dict[str, Any] = self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        except docker.errors.DockerException as exc:
            raise EngineError(f"The Docker Engine could not inspect the container: {exc}.") from exc
        return str(info.get("State", {}).get("Status", ""))

    def mirror(self, container_id: str, path: str, into: Path) -> int:
        """Copy the folder ``path`` of the container into ``into``; the number of files written.

        Files whose size and time are unchanged are not written again; files gone from the
        container are removed. A folder that is not there yet leaves ``into`` as it is.
        """
        data = self._archive(container_id, path, "mirrored")
        if data is None:
            return 0
        written = 0
        present: set[Path] = set()
        with tarfile.open(fileobj=data, mode="r:") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts[1:]  # the archive's root is the folder
                if not member.isfile() or not parts or ".." in parts:
                    continue
                target = into.joinpath(*parts)
                present.add(target)
                try:
                    st = target.stat()
                    if st.st_size == member.size and int(st.st_mtime) == int(member.mtime):
                        continue
                except OSError:
                    pass
                source = tar.extractfile(member)
                if source is None:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                tmp.write_bytes(source.read())
                os.utime(tmp, (member.mtime, member.mtime))
                os.replace(tmp, target)
                written += 1
        if into.is_dir():
            for root, _dirs, names in os.walk(into):
                for name in names:
                    full = Path(root) / name
                    if full not in present:
                        full.unlink(missing_ok=True)
                        written += 1
        return written

    def read_file(self, container_id: str, path: str) -> bytes | None:
        """One file of the container (through the archive API); None when it is not there."""
        data = self._archive(container_id, path, "read")
        if data is None:
            return None
        with tarfile.open(fileobj=data, mode="r:") as tar:
            for member in tar:
                if member.isfile():
                    source = tar.extractfile(member)
                    return None if source is None else source.read()
        return None

    def _archive(self, container_id: str, path: str, what: str) -> io.BytesIO | None:
        """``path`` of the container as a tar archive in memory; None when it is not there."""
        try:
            stream, _stat = self.client.api.get_archive(container_id, path)
            data = io.BytesIO()
            for block in stream:
                data.write(block)
                if data.tell() > MAX_ARCHIVE_BYTES:
                    raise EngineError(f"{path} in the container is over 64 MiB: not {what}.")
        except docker.errors.NotFound:
            return None
        except docker.errors.DockerException as exc:
            raise EngineError(f"The Docker Engine could not read {path}: {exc}.") from exc
        data.seek(0)
        return data

    def pause(self, container_id: str) -> None:
        """``docker pause``: every process of the container stops (its grading server too)."""
        self._call("pause", container_id)

    def unpause(self, container_id: str) -> None:
        self._call("unpause", container_id)

    def _call(self, name: str, container_id: str) -> None:
        try:
            getattr(self.client.api, name)(container_id)
        except docker.errors.NotFound as exc:
            raise EngineError("The run's container is gone.") from exc
        except docker.errors.DockerException as exc:
            raise EngineError(f"The Docker Engine refused to {name} the container: {exc}.") from exc

    def signal_agent(self, container_id: str, signal: str) -> int:
        """Send ``signal`` ("TERM", "KILL", "0" to count) to every process of MLE-bench's agent
        user inside the container; how many there were. The grading server (root) is spared,
        and the harness then still copies the outputs out."""
        script = _SIGNAL_AGENT.format(user=AGENT_USER, sig=signal)
        try:
            result = self.client.api.exec_create(container_id, ["sh", "-c", script], user="root")
            output = self.client.api.exec_start(result["Id"])
            code = self.client.api.exec_inspect(result["Id"]).get("ExitCode")
        except docker.errors.NotFound as exc:
            raise EngineError("The run's container is gone.") from exc
        except docker.errors.DockerException as exc:
            raise EngineError(f"The Docker Engine could not signal the agent: {exc}.") from exc
        if code == 3:
            raise EngineError(f"The container has no user '{AGENT_USER}' (MLE-bench's agent user).")
        try:
            return int(bytes(output).decode().strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise EngineError(f"Signalling the agent failed: {bytes(output)[-200:]!r}.") from exc


AGENT_USER = "nonroot"  # MLE-bench runs the agent as this user (docker exec --user nonroot)
# No pkill in every image: walk /proc, as POSIX sh, with coreutils' stat.
_SIGNAL_AGENT = (
    "u=$(id -u {user} 2>/dev/null) || exit 3; n=0; for p in /proc/[0-9]*; do "
    '[ "$(stat -c %u "$p" 2>/dev/null)" = "$u" ] || continue; '
    'kill -{sig} "${{p#/proc/}}" 2>/dev/null && n=$((n+1)); done; echo $n'
)
