"""Containers another harness started, on a Docker Engine: found by name, their folders read live.

A harness that gives its containers no labels names them (MLE-bench: ``competition-<id>-...``);
the right one is the live one whose name has the harness's prefix, created closest to the run's
start. Its folders are read through
the Engine's archive API (no ``docker exec``: nothing runs in the container, the agent is never
disturbed) into a local mirror: a ``HEAD`` of each path tells whether it changed, and only what
changed is fetched. Its state follows the Engine's events, its resources the Engine's stats
(:class:`ContainerWatch`, two threads).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import queue
import re
import tarfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors

from mletui.core.events import ResourceSample
from mletui.runtimes.docker.engine import (
    STATE_AFTER,
    EngineAddress,
    EngineError,
    connect,
    read_event,
    resolve_engine,
)
from mletui.runtimes.docker.stats import ContainerStatsSampler
from mletui.runtimes.docker.streams import RETRY_S, RawStream, since_param

MAX_ARCHIVE_BYTES = 64 << 20
LOOKUP_TIMEOUT_S = 10
LIVE = ("running", "paused", "restarting")
_NS = 1_000_000_000


@dataclass(frozen=True)
class AttachedContainer:
    id: str
    name: str
    status: str  # the Engine's word: running, paused, exited, ...
    created: float  # epoch seconds


@dataclass(frozen=True)
class PathStat:
    """What the Engine says about a path in a container, without transferring it."""

    size: int
    mtime: int  # whole seconds since the epoch (what a tar archive keeps)
    folder: bool


class AttachedEngine:
    """An Engine's containers started by another harness (``$DOCKER_HOST``, the current
    context, or the socket)."""

    def __init__(self, address: EngineAddress | None = None) -> None:
        self.address = address
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            address = self.address or resolve_engine()
            self._client = connect(address, timeout=LOOKUP_TIMEOUT_S)
        return self._client

    @property
    def is_remote(self) -> bool:
        """The Engine is on another machine (its containers' processes and network are not
        this machine's)."""
        return not (self.address or resolve_engine()).is_local

    def find(self, name_prefix: str, near: float | None) -> AttachedContainer | None:
        """The container named ``name_prefix...`` created closest to ``near`` (the run's start)."""
        try:
            found = self.client.api.containers(all=True, filters={"name": name_prefix})
        except docker.errors.DockerException as exc:
            raise EngineError(f"The Docker Engine could not list containers: {exc}.") from exc
        prefix = f"/{name_prefix}"
        candidates = [
            AttachedContainer(
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
        # A live one first (a stopped one is an earlier run's, left over), then the closest.
        if near is None:
            return min(candidates, key=lambda c: (c.status not in LIVE, -c.created))
        return min(candidates, key=lambda c: (c.status not in LIVE, abs(c.created - near)))

    def status(self, container_id: str) -> str | None:
        """The container's state now; None when it is gone."""
        try:
            info: dict[str, Any] = self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        except docker.errors.DockerException as exc:
            raise EngineError(f"The Docker Engine could not inspect the container: {exc}.") from exc
        return str(info.get("State", {}).get("Status", ""))

    def stat(self, container_id: str, path: str) -> PathStat | None:
        """``(size, mtime, is_folder)`` of ``path`` in the container (a ``HEAD`` of the archive
        API: nothing is transferred); None when it is not there."""
        api: Any = self.client.api
        try:
            response = api.head(
                api._url("/containers/{0}/archive", container_id),
                params={"path": path},
                timeout=LOOKUP_TIMEOUT_S,
            )
        except Exception as exc:
            raise EngineError(f"The Docker Engine could not look at {path}: {exc}.") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise EngineError(
                f"The Docker Engine could not look at {path} ({response.status_code})."
            )
        try:
            header = response.headers["X-Docker-Container-Path-Stat"]
            info = json.loads(base64.b64decode(header))
        except (KeyError, ValueError, binascii.Error) as exc:
            raise EngineError(f"The Docker Engine said nothing usable about {path}.") from exc
        mode = int(info.get("mode") or 0)
        folder = bool(mode & (1 << 31))  # Go's os.ModeDir
        return PathStat(int(info.get("size") or 0), _epoch(str(info.get("mtime") or "")), folder)

    def mirror(self, container_id: str, path: str, into: Path) -> int:
        """Copy the folder (or file) ``path`` of the container to ``into``; the number of files
        written or removed.

        Files whose size and time are unchanged are not written again; files gone from the
        container are removed. A path that is not there yet leaves ``into`` as it is.
        """
        data = self._archive(container_id, path, "mirrored")
        if data is None:
            return 0
        with tarfile.open(fileobj=data, mode="r:") as tar:
            first = tar.next()
            if first is not None and first.isfile():  # ``path`` is a file
                return _write_member(tar, first, into)
        data.seek(0)
        written = 0
        present: set[Path] = set()
        with tarfile.open(fileobj=data, mode="r:") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts[1:]  # the archive's root is the folder
                if not member.isfile() or not parts or ".." in parts:
                    continue
                target = into.joinpath(*parts)
                present.add(target)
                written += _write_member(tar, member, target)
        if into.is_dir():
            for root, _dirs, names in os.walk(into):
                for name in names:
                    full = Path(root) / name
                    if full not in present:
                        full.unlink(missing_ok=True)
                        written += 1
        return written

    def ip_address(self, container_id: str) -> str | None:
        """The container's IP address on its first network with one (None: none)."""
        try:
            info: dict[str, Any] = self.client.api.inspect_container(container_id)
        except docker.errors.DockerException:
            return None
        settings = info.get("NetworkSettings") or {}
        if settings.get("IPAddress"):
            return str(settings["IPAddress"])
        for network in (settings.get("Networks") or {}).values():
            if network and network.get("IPAddress"):
                return str(network["IPAddress"])
        return None

    def kill(self, container_id: str) -> None:
        """``docker kill``: the container itself stops (MLE-bench may then lose the outputs)."""
        self._call("kill", container_id)

    def watch(self, container_id: str) -> ContainerWatch:
        """Follow the container's events and stats (two daemon threads); stop it when done."""
        watch = ContainerWatch(self.client, container_id)
        watch.start()
        return watch

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
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # not running, already paused, ...
                raise EngineError(f"The Engine says: {exc.explanation}.") from exc
            raise EngineError(f"The Docker Engine refused to {name} the container: {exc}.") from exc
        except docker.errors.DockerException as exc:
            raise EngineError(f"The Docker Engine refused to {name} the container: {exc}.") from exc

    def signal_user(self, container_id: str, user: str, signal: str) -> int:
        """Send ``signal`` ("TERM", "KILL", "0" to count) to every process of ``user`` inside
        the container; how many there were. Processes of other users (root's) are spared."""
        script = _SIGNAL_USER.format(user=user, sig=signal)
        try:
            result = self.client.api.exec_create(container_id, ["sh", "-c", script], user="root")
            output = self.client.api.exec_start(result["Id"])
            code = self.client.api.exec_inspect(result["Id"]).get("ExitCode")
        except docker.errors.NotFound as exc:
            raise EngineError("The run's container is gone.") from exc
        except docker.errors.DockerException as exc:
            raise EngineError(f"The Docker Engine could not signal the agent: {exc}.") from exc
        if code == 3:
            raise EngineError(f"The container has no user '{user}'.")
        try:
            return int(bytes(output).decode().strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise EngineError(f"Signalling the agent failed: {bytes(output)[-200:]!r}.") from exc


# No pkill in every image: walk /proc, as POSIX sh, with coreutils' stat. A zombie has ended
# (a container's pid 1 need not reap the orphans): neither signalled nor counted as alive.
_SIGNAL_USER = (
    "u=$(id -u {user} 2>/dev/null) || exit 3; n=0; for p in /proc/[0-9]*; do "
    '[ "$(stat -c %u "$p" 2>/dev/null)" = "$u" ] || continue; '
    'grep -q "^State:[[:space:]]*Z" "$p/status" 2>/dev/null && continue; '
    'kill -{sig} "${{p#/proc/}}" 2>/dev/null && n=$((n+1)); done; echo $n'
)


def _epoch(stamp: str) -> int:
    """RFC 3339 (``2024-09-18T18:21:42.123456789Z``, or with an offset) in whole seconds."""
    match = _STAMP.match(stamp)
    if match is None:
        return 0
    zone = match["zone"].replace("Z", "+00:00")
    return int(datetime.fromisoformat(match["base"] + zone).timestamp())


_STAMP = re.compile(
    r"^(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(?P<zone>Z|[+-]\d\d:\d\d)$"
)


class PathMirror:
    """One path of a container (a file or a folder) kept copied at a local path; each
    :meth:`sync` asks the Engine what changed (``HEAD`` requests) and fetches only that: the
    whole folder when its entries changed, else each changed file."""

    MAX_FILES = 64  # a bigger folder is fetched whole whenever its entries change

    def __init__(self, engine: AttachedEngine, source: str, target: Path) -> None:
        self.engine = engine
        self.source = source.rstrip("/")
        self.target = target
        self._root: PathStat | None = None
        self.fetches = 0  # archive transfers made (for tests and curiosity)

    def sync(self, container_id: str) -> int:
        """Bring the copy up to date; the number of local files written or removed."""
        root = self.engine.stat(container_id, self.source)
        if root is None:
            return 0  # not there (yet): the copy stays as it is
        if root == self._root and (not root.folder or self._known_files() > self.MAX_FILES):
            return 0
        if root != self._root:
            self._root = root
            self.fetches += 1
            return self.engine.mirror(container_id, self.source, self.target)
        written = 0
        for local in list(self._files()):
            rel = local.relative_to(self.target).as_posix()
            st = self.engine.stat(container_id, f"{self.source}/{rel}")
            if st is None:
                local.unlink(missing_ok=True)
                written += 1
                continue
            mine = local.stat()
            if (st.size, st.mtime) != (mine.st_size, int(mine.st_mtime)):
                self.fetches += 1
                written += self.engine.mirror(container_id, f"{self.source}/{rel}", local)
        return written

    def _files(self) -> list[Path]:
        if not self.target.is_dir():
            return []
        return [p for p in self.target.rglob("*") if p.is_file() and not p.name.startswith(".")]

    def _known_files(self) -> int:
        return len(self._files())


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> int:
    """One file of an archive written to ``target`` unless its size and time are unchanged."""
    with contextlib.suppress(OSError):
        st = target.stat()
        if st.st_size == member.size and int(st.st_mtime) == int(member.mtime):
            return 0
    source = tar.extractfile(member)
    if source is None:
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(source.read())
    os.utime(tmp, (member.mtime, member.mtime))
    os.replace(tmp, target)
    return 1


@dataclass(frozen=True)
class ContainerEvent:
    """One of the Engine's events about the container, as a watcher shows it."""

    ts: float
    action: str  # "pause", "unpause", "oom", "die", "destroy", ...
    state: str  # the container's state after it
    detail: str  # "exit code 137", "signal 15", ""


WATCHED = ("start", "restart", "pause", "unpause", "kill", "oom", "die", "stop", "destroy")


class ContainerWatch:
    """The Engine's events about one container (its state, live) and its stats (resources).

    Two daemon threads read the Engine's streams; :meth:`take_events` and :meth:`sample` never
    wait for the Engine. A dropped stream is opened again (events from where they stopped).
    """

    def __init__(self, client: docker.DockerClient, container_id: str) -> None:
        self.client = client
        self.container_id = container_id
        self.state: str | None = None  # None until the first inspect
        self.oom = False
        self.stats = ContainerStatsSampler()
        self._events: queue.SimpleQueue[ContainerEvent] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._raw: dict[str, RawStream] = {}
        self._lock = threading.Lock()
        self._last_ns = time.time_ns()
        self._seen: set[tuple[int, str]] = set()

    def start(self) -> None:
        self._inspect()
        for target in (self._follow_events, self._follow_stats):
            threading.Thread(target=target, daemon=True, name="mlebench-container").start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            raws = list(self._raw.values())
        for raw in raws:
            raw.close()

    def take_events(self) -> list[ContainerEvent]:
        taken: list[ContainerEvent] = []
        while True:
            try:
                taken.append(self._events.get_nowait())
            except queue.Empty:
                return taken

    def sample(self) -> ResourceSample | None:
        """The latest stats; None before the first document (or when they went stale)."""
        sample = self.stats.sample()
        return sample if sample.processes or sample.rss_bytes else None

    def _inspect(self) -> None:
        try:
            info: dict[str, Any] = self.client.api.inspect_container(self.container_id)
        except docker.errors.NotFound:
            self.state = "removed"
            return
        except docker.errors.DockerException:
            return  # the events say the rest when the Engine answers again
        status = info.get("State") or {}
        self.state = str(status.get("Status") or "")
        self.oom = bool(status.get("OOMKilled"))

    def _lines(self, name: str, path: str, params: dict[str, Any]) -> Any:
        raw = RawStream(self.client, path, params)
        with self._lock:
            self._raw[name] = raw
        if self._stop.is_set():
            raw.close()
        buffer = b""
        for chunk in raw.chunks():
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)

    def _follow_events(self) -> None:
        failures = 0
        filters = json.dumps({"container": [self.container_id], "type": ["container"]})
        while not self._stop.is_set():
            try:
                params = {"since": since_param(self._last_ns), "filters": filters}
                for event in self._lines("events", "/events", params):
                    self._on_event(event)
                failures = 0
            except Exception:
                failures += 1
            if self.state == "removed" or self._stop.wait(RETRY_S[min(failures, 4)]):
                return
            self._inspect()  # what happened while nobody listened

    def _on_event(self, event: dict[str, Any]) -> None:
        info = read_event(event)
        if (info.time_ns, info.action) in self._seen or info.base not in WATCHED:
            return
        self._seen.add((info.time_ns, info.action))
        self._last_ns = max(self._last_ns, info.time_ns)
        base = info.base
        self.state = STATE_AFTER.get(base, self.state)
        detail = ""
        if base == "oom":
            self.oom = True
        elif base == "kill":
            detail = f"signal {info.attributes.get('signal', '?')}"
        elif base == "die":
            detail = f"exit code {info.attributes.get('exitCode', '?')}"
        self._events.put(ContainerEvent(info.time_ns / _NS, base, self.state or "", detail))

    def _follow_stats(self) -> None:
        failures = 0
        path = f"/containers/{self.container_id}/stats"
        while not self._stop.is_set() and self.state not in ("removed", "exited"):
            try:
                for doc in self._lines("stats", path, {"stream": 1}):
                    self.stats.feed(doc)
                failures = 0
            except docker.errors.NotFound:
                return
            except Exception:
                failures += 1
            if self._stop.wait(RETRY_S[min(failures, 4)] + 0.5):
                return
