"""The agent in a container, as the run's supervisor drives it.

:class:`ContainerAgent` creates and starts the container, then follows it with a few threads:

- two log streams (stdout, stderr; :mod:`~mletui.runtimes.docker.streams`) into the log spool;
- the Engine's events for this container (start, die, oom, pause, unpause, kill, destroy): the
  container's state, each change journalled with the Engine's time; on every (re)connection the
  container is inspected, so a change missed while disconnected is caught up;
- the Engine's stats stream, fed to the recorder's sampler (:mod:`mletui.runtimes.docker.stats`);
- a watchdog that pings the Engine: the engine link's state goes into ``run.json`` and the log,
  and a link that went quiet has its streams cut, so they reconnect instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

from mletui.core.events import Stream
from mletui.core.records import ContainerEvent, JournalNotice
from mletui.runtimes import AgentExit, LineSink, LiveSink, ResourceSampler, RuntimeFailure
from mletui.runtimes.docker.container import agent_logs_dir, create_kwargs, describe_limits
from mletui.runtimes.docker.engine import (
    PING_TIMEOUT_S,
    STATE_AFTER,
    EngineAddress,
    api_failure,
    api_message,
    connect,
    is_connection_error,
    read_event,
)
from mletui.runtimes.docker.stats import ContainerStatsSampler
from mletui.runtimes.docker.streams import (
    RETRY_S,
    ContainerLogStream,
    RawStream,
    _is_transport_error,
    since_param,
)
from mletui.store.journal import Journal
from mletui.store.runs import RunFolder, RunRecord

PING_EVERY_S = 2.0
INSPECT_EVERY_S = 10.0  # besides events: a safety net for a stream that went quietly wrong
JOURNALED = ("create", "start", "restart", "pause", "unpause", "kill", "oom", "die", "destroy")
_NS = 1_000_000_000


def image_missing(image: str, address: EngineAddress) -> RuntimeFailure:
    how = (
        "build it with `mletui image build`"
        if image.startswith("mletui-agent")
        else f"pull or build it there (`docker pull {image}`)"
    )
    engine = "" if address.source == "default" else f" (add --docker-host {address.host})"
    return RuntimeFailure(
        f"The image {image} is not on the Docker Engine at {address.host}: {how}{engine}."
    )


def create_failure(exc: docker.errors.APIError, address: EngineAddress) -> RuntimeFailure:
    message = api_message(exc)
    if "could not select device driver" in message or "nvidia" in message.lower():
        return RuntimeFailure(
            f"The Docker Engine at {address.host} cannot give the container GPUs ({message}): "
            "install the NVIDIA Container Toolkit there, or run with --gpus none."
        )
    return RuntimeFailure(
        f"The Docker Engine at {address.host} could not create the container: {message}."
    )


class ContainerAgent:
    """One run's container: created, started, followed, stopped."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        record = folder.read()
        self.options = record.runtime_options
        self.address = EngineAddress.from_json(self.options["engine"])
        self.image = str(self.options["image"])
        self.journal = Journal(folder.journal_path)
        self.client: docker.DockerClient | None = None
        self.container_id: str | None = None
        self.state = "created"
        self.exit_code: int | None = None
        self.oom = False
        self.removed = False
        memory = self.options.get("memory")
        self.stats = ContainerStatsSampler(int(memory) if memory else None)
        self._emit: LineSink = lambda stream, lines, ts: None
        self._ended = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._streams: list[ContainerLogStream] = []
        self._threads: list[threading.Thread] = []
        self._raw: dict[str, RawStream] = {}  # the events and stats streams now open
        self._seen: deque[tuple[int, str]] = deque(maxlen=256)
        self._since_ns = 0
        self._last_event_ns = 0
        self._written_state: str | None = None
        self._down_since: float | None = None
        self._down_error = ""

    # --- AgentSide ---------------------------------------------------------------------------

    def launch(self, emit: LineSink, live: LiveSink | None = None) -> str:
        self._emit = emit
        record = self.folder.read()
        agent_logs_dir(self.folder).mkdir(parents=True, exist_ok=True)
        self.client = client = connect(self.address)
        kwargs = create_kwargs(record, self.folder)
        self._since_ns = time.time_ns() - _NS  # events from here on (a second of clock slack)
        try:
            container = client.containers.create(**kwargs)
        except docker.errors.ImageNotFound as exc:
            raise image_missing(self.image, self.address) from exc
        except docker.errors.APIError as exc:
            raise create_failure(exc, self.address) from exc
        except Exception as exc:
            raise api_failure(self.address, exc, "creating the container") from exc
        self.container_id = cid = str(container.id)
        with self.folder.updating() as rec:
            rec.container_id = cid
            rec.container_state = "created"
        self._streams = [ContainerLogStream(client, cid, emit, self._stream_reconnected)]
        for log_stream in self._streams:
            log_stream.start()
        for target, name in (
            (self._follow_events, "events"),
            (self._follow_stats, "stats"),
            (self._watch_engine, "watchdog"),
        ):
            thread = threading.Thread(target=target, name=f"docker-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        try:
            container.start()
        except Exception as exc:
            self._shutdown()
            if isinstance(exc, docker.errors.APIError):
                raise create_failure(exc, self.address) from exc
            raise api_failure(self.address, exc, "starting the container") from exc
        limits = describe_limits(self.options)
        return (
            f"container {cid[:12]} ({container.name}), image {self.image}, "
            f"engine {self.address.host}" + (f", limits: {limits}" if limits else "")
        )

    def ended(self) -> bool:
        return self._ended.is_set()

    def frozen(self) -> bool:
        return self.state == "paused"

    def terminate(self, grace_s: float) -> bool:
        """SIGTERM to the container's init (it passes it to the agent), SIGKILL after grace.

        A paused container is unpaused first, so the agent can act on SIGTERM (asked whatever
        the state seen: a pause may be on its way; "not paused" is no error).
        """
        self._call(lambda api, cid: api.unpause(cid), "unpausing the container")
        if grace_s > 0:
            self._call(lambda api, cid: api.kill(cid, "SIGTERM"), "stopping the container")
            if self._ended.wait(grace_s):
                return False
        self._call(lambda api, cid: api.kill(cid, "SIGKILL"), "killing the container")
        self._ended.wait(30)
        return True

    def sampler(self) -> ResourceSampler:
        return self.stats

    def update_record(self, record: RunRecord) -> None:
        record.container_id = self.container_id
        state = self.state
        if state != self._written_state:
            # Only on a change: `mletui freeze` writes "paused" at once, not to be undone here.
            record.container_state = state
            self._written_state = state
        record.oom_killed = self.oom
        if self._down_since is None:
            record.engine_status = None
        else:
            since = time.strftime("%H:%M:%S", time.localtime(self._down_since))
            record.engine_status = (
                f"cannot reach the Docker Engine at {self.address.host} since {since} "
                f"({self._down_error}); reconnecting"
            )

    def finish(self) -> AgentExit:
        incomplete = ["output" for s in self._streams if not s.finish()]
        if any(s.gone for s in self._streams):
            self.removed = True
        for log_stream in self._streams:
            if log_stream.error:
                self._note(f"reading the output failed: {log_stream.error}")
        self._inspect_final()
        self._shutdown()
        if incomplete and not self.removed:
            self._note(f"the Engine did not hand over the end of the {' and '.join(incomplete)}")
        lost = "the container was removed outside mletui" if self.removed else None
        return AgentExit(self.exit_code, self.oom, lost)

    # --- threads -----------------------------------------------------------------------------

    def _follow_events(self) -> None:
        failures = 0
        filters = json.dumps({"container": [self.container_id], "type": ["container"]})
        while not self._stop.is_set():
            try:
                since = since_param(self._last_event_ns or self._since_ns)
                raw = self._open("events", "/events", {"since": since, "filters": filters})
                if self._last_event_ns:
                    self._reconcile()  # after a drop: what happened while nobody listened
                buffer = b""
                for chunk in raw.chunks():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            self._on_event(json.loads(line))
                failures = 0
            except Exception as exc:
                if not (is_connection_error(exc) or _is_transport_error(exc)):
                    self._note(f"reading the Engine's events failed: {exc}")
                failures += 1
            if self._stop.wait(RETRY_S[min(failures, len(RETRY_S) - 1)]):
                return

    def _follow_stats(self) -> None:
        failures = 0
        while not self._stop.is_set() and not self._ended.is_set():
            try:
                raw = self._open("stats", f"/containers/{self.container_id}/stats", {"stream": 1})
                buffer = b""
                for chunk in raw.chunks():
                    buffer += chunk
                    *docs, buffer = buffer.split(b"\n")
                    for doc in docs:
                        if doc.strip():
                            self.stats.feed(json.loads(doc))
                failures = 0
            except docker.errors.NotFound:
                return
            except Exception:
                failures += 1  # the watchdog tells the operator about the engine link
            if self._stop.wait(RETRY_S[min(failures, len(RETRY_S) - 1)] + 0.5):
                return

    def _watch_engine(self) -> None:
        assert self.client is not None
        pinger = connect(self.address, PING_TIMEOUT_S, version=self.client.api.api_version)
        inspected = time.monotonic()
        while not self._stop.wait(PING_EVERY_S):
            try:
                pinger.api.ping()
            except Exception as exc:
                if self._down_since is None:
                    self._down_since = time.time()
                    self._down_error = _reason(exc)
                    self._engine_notice(
                        f"lost the connection to the Docker Engine at {self.address.host} "
                        f"({self._down_error}); reconnecting",
                        engine="unreachable",
                        error=self._down_error,
                    )
                    self._cut_streams()  # a half-open connection would wait forever
                continue
            if self._down_since is not None:
                gap = time.time() - self._down_since
                self._down_since = None
                self._engine_notice(
                    f"the Docker Engine at {self.address.host} answers again after {gap:.1f} s",
                    engine="connected",
                    gap_s=round(gap, 2),
                )
            if time.monotonic() - inspected > INSPECT_EVERY_S:
                inspected = time.monotonic()
                with contextlib.suppress(Exception):  # the next ping says if the Engine is there
                    self._reconcile()

    # --- helpers -----------------------------------------------------------------------------

    def _open(self, name: str, path: str, params: dict[str, Any]) -> RawStream:
        assert self.client is not None
        raw = RawStream(self.client, path, params)
        with self._lock:
            self._raw[name] = raw
        if self._stop.is_set():
            raw.close()
        return raw

    def _cut_streams(self) -> None:
        with self._lock:
            raws = list(self._raw.values())
        for raw in raws:
            raw.close()
        for log_stream in self._streams:
            log_stream.interrupt()

    def _on_event(self, event: dict[str, Any]) -> None:
        info = read_event(event)
        base, time_ns, attributes = info.base, info.time_ns, info.attributes
        key = (time_ns, info.action)
        if key in self._seen:
            return  # replayed after a reconnection
        self._seen.append(key)
        self._last_event_ns = max(self._last_event_ns, time_ns)
        if base not in JOURNALED:
            return
        self.state = STATE_AFTER.get(base, self.state)
        signal: str | None = None
        if base == "oom":
            self.oom = True
        elif base == "kill":
            raw = attributes.get("signal")
            signal = None if raw is None else str(raw)
        elif base == "die":
            code = attributes.get("exitCode")
            self.exit_code = int(code) if code is not None and str(code).isdigit() else None
        elif base == "destroy":
            self.removed = True
        self.journal.write(
            ContainerEvent(
                0.0,
                base,
                self.state,
                engine_ts=time_ns / _NS,
                signal=signal,
                exit_code=self.exit_code if base == "die" else None,
            )
        )
        if base in ("die", "destroy"):
            self._ended.set()

    def _reconcile(self) -> None:
        """Inspect the container: catch up on whatever happened while events were not read."""
        assert self.client is not None and self.container_id is not None
        try:
            info = self.client.api.inspect_container(self.container_id)
        except docker.errors.NotFound:
            if not self.removed:
                self.state, self.removed = "removed", True
                self.journal.write(ContainerEvent(0.0, "missing", "removed"))
            self._ended.set()
            return
        state = info.get("State") or {}
        if state.get("OOMKilled"):
            self.oom = True
        status = str(state.get("Status") or "")
        if status in ("removing", "dead"):  # someone is removing it (`docker rm -f`)
            self.removed = True
        now = "paused" if state.get("Paused") else "running" if state.get("Running") else status
        if now != self.state:
            self.state = now
            self.journal.write(ContainerEvent(0.0, "inspect", now))
        if status in ("exited", "dead", "removing"):
            self.exit_code = int(state.get("ExitCode", -1))
            self._ended.set()

    def _inspect_final(self) -> None:
        """The exit code and OOM flag as the Engine keeps them (events can be missed)."""
        deadline = time.monotonic() + 15
        while True:
            try:
                self._reconcile()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    self._note(f"could not read how the container ended: {_reason(exc)}")
                    return
                time.sleep(0.5)

    def _call(self, call: Callable[[Any, str], Any], doing: str, tries_s: float = 30.0) -> None:
        """An Engine call on the container, retried while the Engine does not answer."""
        assert self.client is not None and self.container_id is not None
        deadline = time.monotonic() + tries_s
        while True:
            try:
                call(self.client.api, self.container_id)
                return
            except docker.errors.NotFound:
                self._reconcile()
                return
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # not running, not paused: nothing to do
                    return
                self._note(f"{doing} failed: {api_message(exc)}")
                return
            except Exception as exc:
                if time.monotonic() > deadline or self._ended.is_set():
                    self._note(f"{doing} failed: {_reason(exc)}")
                    return
                time.sleep(0.5)

    def _stream_reconnected(self, gap_s: float) -> None:
        self._note(f"log stream reconnected after {gap_s:.1f} s; nothing lost")

    def _engine_notice(
        self, text: str, engine: str, error: str | None = None, gap_s: float | None = None
    ) -> None:
        """The engine link changed: a line in the log, and a notice for every watcher."""
        self._note(text)
        self.journal.write(JournalNotice(0.0, text, engine=engine, error=error, gap_s=gap_s))

    def _note(self, text: str) -> None:
        self._emit(Stream.SYSTEM, [f"[mletui] {text}".encode()], time.time())

    def _shutdown(self) -> None:
        self._stop.set()
        for log_stream in self._streams:
            log_stream.stop()
        self._cut_streams()
        for thread in self._threads:
            thread.join(timeout=5)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if "Connection refused" in text:
        return "connection refused"
    if "No such file or directory" in text:
        return "no socket"
    if "timed out" in text.lower():
        return "timed out"
    return text[:120] or type(exc).__name__
