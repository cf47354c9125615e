"""A watch session over one MLE-bench run: a :class:`~mletui.watch.session.Session` like mletui's
own, so the same watch screen shows it.

What it reads: the host's ``run.log`` (followed like ``tail -F``, unwrapped into the agent's lines),
AIDE's ``logs/journal.json`` (validation scores), and the run's code and submissions. MLE-bench
copies ``logs/``, ``code/`` and ``submission/`` out of the container only at the end, so while a run
lives they are read from its container through the Docker Engine's archive API (only what changed)
into a mirror under mletui's cache, with AIDE's live workspace (the code it is running,
``runfile.py``, and its ``submission/``). The container's state follows the Engine's events, its
resources the Engine's stats. New ``submission.csv`` versions are checked by the container's grading
server and scored on the host when MLE-bench's private answers are there
(:mod:`mletui.integrations.mlebench.grading`). Freeze, thaw and kill act on the container through
the Engine (kill: the agent's processes, or on a second choice the container itself); soft pause and
hints are unavailable (observe-only)."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mletui.core.events import (
    Event,
    LogBatch,
    LogLine,
    Notice,
    ResourceSample,
    RunState,
    Snapshot,
    StatusUpdate,
    Stream,
)
from mletui.core.words import counted
from mletui.gpu.attribution import REMOTE_PREFIX, RunProcesses
from mletui.gpu.resources import RunGpu
from mletui.integrations.mlebench.aide import AideScores, describe_unscored
from mletui.integrations.mlebench.aide_steps import AideSteps
from mletui.integrations.mlebench.grading import HostGrader, SubmissionChecker
from mletui.integrations.mlebench.runlog import RunLogFollower
from mletui.integrations.mlebench.runs import MlebenchRun, read_run
from mletui.store.journal import JournalFollower
from mletui.store.runs import RunFolder, RunRecord, mletui_home
from mletui.store.snapshots import WorkspaceTimeline
from mletui.watch.control import ActionError, ActionJournal, unavailable_reason
from mletui.watch.live import event_from_entry
from mletui.watch.notices import NoticeOnce
from mletui.watch.session import ActionNotes, Capability

if TYPE_CHECKING:
    from mletui.runtimes.docker.attached import (
        AttachedContainer,
        AttachedEngine,
        ContainerWatch,
        PathMirror,
    )

READ_ONLY = "attach is read-only in this version"
NO_CONTAINER = "the run's container was not found on the Docker Engine"
KILL_GRACE_S = 10.0
OBSERVE_ONLY = "MLE-bench's agents are observe-only (they do not speak mletui's protocol)"
# What the watch screen says when a key cannot act on an MLE-bench run.
NOT_SPOKEN = {
    Capability.SOFT_PAUSE: "soft pause unavailable: MLE-bench's agents are observe-only",
    Capability.HINTS: "hints unavailable: MLE-bench's agents are observe-only",
}
NOTES = ActionNotes(
    frozen=(
        "Frozen (docker pause): MLE-bench's grading server is frozen too, and the harness's wall "
        "clock (its time limit) keeps counting."
    ),
    thawed="Thawed (docker unpause).",
    killed=(
        "Kill sent to the agent's processes in the container (SIGTERM, SIGKILL after 10 s); "
        "MLE-bench still saves the outputs and removes the container."
    ),
    container_killed=(
        "Container killed (docker kill). MLE-bench may not be able to copy the outputs out."
    ),
    kill_title="Kill this MLE-bench run?",
    kill_choices=(
        "a  the agent: SIGTERM to its processes in the container, SIGKILL after "
        "10 s. MLE-bench then still copies code, logs and submission out.\n"
        "c  the container itself (docker kill): the grading server stops too, and "
        "MLE-bench may lose the outputs.\n"
        "Neither can be undone; the journal records who did it."
    ),
)
OPENING = (
    "MLE-bench run. While it runs, code and AIDE's scores are read from its "
    "container when the Docker Engine answers (else at the end)."
)
AGENT_USER = "nonroot"  # MLE-bench runs its agent as this user (docker exec --user nonroot)
STATE_EVERY_S = 1.0
CODE_EVERY_S = 2.0
LIVE_EVERY_S = 5.0  # the container's folders, through the Engine's archive API
ENGINE_RETRY_S = 30.0
RESOURCES_EVERY_S = 2.0
JOURNAL = "journal.json"
# What is read from a live container, and where it goes in the code timeline's tree.
LIVE_PATHS = (
    ("/home/code", "code"),
    ("/home/submission", "submission"),
    ("/home/agent/workspaces/exp/runfile.py", "workspace/runfile.py"),  # AIDE: the code it runs
    ("/home/agent/workspaces/exp/submission", "workspace/submission"),
)
# What MLE-bench copies out at the end (run folder name -> tree folder).
HOST_PATHS = (("code", "code"), ("submission", "submission"))
SUBMISSIONS = ("submission/submission.csv", "workspace/submission/submission.csv")
ENGINE_WORDS = {
    "pause": "container frozen (docker pause)",
    "unpause": "container thawed (docker unpause)",
    "oom": "the kernel killed a process of the container: out of memory",
    "kill": "the container was sent a signal",
    "die": "the container stopped",
    "stop": "the container was stopped",
    "destroy": "the container was removed",
    "start": "the container started",
    "restart": "the container restarted",
}
_STATES = {
    "queued": RunState.STARTING,
    "running": RunState.RUNNING,
    "done": RunState.EXITED,
    "failed": RunState.EXITED,
    "lost": RunState.LOST,
}


def cache_dir(run: MlebenchRun) -> Path:
    """mletui's own folder for an MLE-bench run: the code timeline's stored file versions."""
    return mletui_home() / "mlebench" / f"{run.group}__{run.id}"


class MlebenchFolder(RunFolder):
    """A stand-in run folder: ``read()`` describes the MLE-bench run as a :class:`RunRecord`;
    the paths inside are mletui's cache for it (MLE-bench's own folder is never written)."""

    def __init__(self, run: MlebenchRun, cache: Path | None = None) -> None:
        super().__init__(cache or cache_dir(run))
        self.run = run

    @property
    def id(self) -> str:
        return self.run.id

    def read(self) -> RunRecord:
        run = self.run = read_run(self.run.path)
        states = {"queued": RunState.CREATED, "running": RunState.RUNNING, "lost": RunState.LOST}
        state = states.get(run.state, RunState.EXITED)
        return RunRecord(
            id=run.id,
            task=run.competition,
            task_path=str(run.path),
            agent=run.agent,
            command=[],
            runtime="mle-bench",
            created=run.created,
            host="",
            state=state,
            started=run.started,
            ended=run.ended,
            exit_code=0 if run.state == "done" else None,
            end_reason=_end_reason(run),
        )

    def write(self, record: RunRecord) -> None:
        raise ActionError(READ_ONLY)


class MlebenchControl:
    """Freeze and thaw are ``docker pause`` / ``docker unpause`` of the run's container, once the
    session has found it; kill stops the agent's processes inside the container (not the
    container: MLE-bench then still saves the outputs), or on a second choice the container.
    Soft pause and hints need mletui's protocol, which no MLE-bench agent speaks: this control
    has neither. Actions are journaled in mletui's cache folder."""

    def __init__(self, folder: MlebenchFolder, operator: str | None = None) -> None:
        self.folder = folder
        self.actions = ActionJournal(folder.journal_path, operator)
        self.engine: AttachedEngine | None = None
        self.container: AttachedContainer | None = None

    def status(self) -> StatusUpdate:
        folder = self.folder
        state = None
        if self.engine is not None and self.container is not None:
            state = self.engine.status(self.container.id)
        return status_of(read_run(folder.run.path), container_state=state)

    def check(self, action: str) -> StatusUpdate:
        status = self.status()
        reason = unavailable_reason(action, status)
        if reason:
            raise ActionError(f"Cannot {action} run {self.folder.id}: {reason}.")
        return status

    def reveal_grade(self, detail: str = "") -> None:
        """Record that this operator sees the held-out grade (as for mletui's own runs)."""
        self.actions.record("reveal-grade", self.status(), detail)

    def freeze(self) -> None:
        self._container_call("freeze")

    def thaw(self) -> None:
        self._container_call("thaw")

    def _container_call(self, action: str) -> None:
        from mletui.runtimes import RuntimeFailure

        if self.engine is None or self.container is None:
            raise ActionError(f"Cannot {action}: {NO_CONTAINER}.")
        status = self.check(action)
        try:
            if action == "freeze":
                self.engine.pause(self.container.id)
            else:
                self.engine.unpause(self.container.id)
        except RuntimeFailure as exc:
            raise ActionError(str(exc)) from exc
        self.actions.record(
            action, status, f"docker {'pause' if action == 'freeze' else 'unpause'}"
        )

    def kill(self, grace_s: float = KILL_GRACE_S) -> None:
        """Stop the agent's processes inside the container (SIGTERM, SIGKILL after ``grace_s``),
        so that MLE-bench still copies the outputs out; the container is left to MLE-bench."""
        from mletui.runtimes import RuntimeFailure

        if self.engine is None or self.container is None:
            raise ActionError(f"Cannot kill: {NO_CONTAINER}.")
        status = self.check("kill")
        try:
            count = self.engine.signal_user(self.container.id, AGENT_USER, "TERM")
            self.actions.record(
                "kill", status, f"SIGTERM to the agent's {counted(count, 'process', 'processes')}"
            )
            deadline = time.monotonic() + grace_s
            while count and time.monotonic() < deadline:
                time.sleep(0.2)
                count = self.engine.signal_user(self.container.id, AGENT_USER, "0")
            if count:
                self.engine.signal_user(self.container.id, AGENT_USER, "KILL")
        except RuntimeFailure as exc:
            raise ActionError(str(exc)) from exc

    def kill_container(self) -> None:
        """``docker kill`` of the whole container (grading server included): MLE-bench may then
        fail to copy the outputs out. The separate, second choice after :meth:`kill`."""
        from mletui.runtimes import RuntimeFailure

        if self.engine is None or self.container is None:
            raise ActionError(f"Cannot kill the container: {NO_CONTAINER}.")
        status = self.check("kill")
        self.actions.record("kill", status, "docker kill of the container", target="container")
        try:
            self.engine.kill(self.container.id)
        except RuntimeFailure as exc:
            raise ActionError(str(exc)) from exc


class MlebenchSession:
    """Watches one MLE-bench run; never writes into MLE-bench's folders. Nobody drives it: its
    actions go to the container through the Docker Engine."""

    capabilities = (
        Capability.FREEZE | Capability.KILL | Capability.KILL_CONTAINER | Capability.REVEAL_GRADES
    )
    logs = None  # run.log is followed, not spooled: the log pane keeps what it was given
    driver_token = None

    def __init__(
        self,
        run: MlebenchRun,
        cache: Path | None = None,
        *,
        live: bool = True,
        engine: AttachedEngine | None = None,
        grader: HostGrader | None = None,
        nvml: object | None = None,
        operator: str | None = None,
    ) -> None:
        """``live``: while the run lives, read its container through the Docker Engine
        (``engine``; default: the usual address). ``grader``: MLE-bench's grader on this machine
        (default: none found, validity from the grading server only). ``nvml``: an NVML stand-in
        (tests). ``operator``: who the journal says acted."""
        self.run = run
        self.folder = MlebenchFolder(run, cache)
        self.folder.snapshots.mkdir(parents=True, exist_ok=True)
        self.live_dir = self.folder.path / "live"
        self.tree = self.live_dir / "tree"  # the code timeline's folder (see LIVE_PATHS)
        self.tree.mkdir(parents=True, exist_ok=True)
        self.container_control = MlebenchControl(self.folder, operator)
        self.control = self.container_control
        opening = OPENING if run.state in ("queued", "running") else None
        self.notes = dataclasses.replace(NOTES, opening=opening)
        self.actions = JournalFollower(self.folder.journal_path)
        self.timeline = WorkspaceTimeline(self.tree, self.folder.snapshots)
        self.log = RunLogFollower(run.log_path)
        self.scores = AideScores(self._journal_source())
        self.steps = AideSteps(self._journal_source())
        self.submissions = SubmissionChecker(
            self.folder.journal_path,
            run.competition,
            grader or HostGrader(None),
            self._grading_server,
        )
        self.live = live
        self.engine = engine
        self.container: AttachedContainer | None = None
        self.container_state: str | None = None  # the Engine's word, from its events
        self.watch: ContainerWatch | None = None
        self._mirrors: list[PathMirror] = []
        self._server_ip: str | None = None
        self._remote_engine = False
        self.gpu = RunGpu(self.folder, nvml=nvml, processes=self._processes)
        self.gpu.start()
        self._status: StatusUpdate | None = None
        self._state_at = 0.0
        self._code_at = 0.0
        self._live_at = 0.0
        self._resources_at = 0.0
        self._torn_said = 0
        self._say = NoticeOnce()

    def poll(self) -> list[Event]:
        events: list[Event] = []
        lines = self.log.read_new()
        journal = self._journal_source()  # the container's (mirrored), then the host's
        if journal != self.scores.path:
            self.scores.path = journal
            self.scores.reset_stamp()
        scores, buggy = self.scores.poll()
        lines += [
            LogLine(n.ctime or time.time(), Stream.SYSTEM, describe_unscored(n), 0) for n in buggy
        ]
        lines += self._engine_events(events)
        if lines:
            events.append(LogBatch(tuple(lines)))
        events.extend(scores)
        if journal != self.steps.path:
            self.steps = AideSteps(journal)  # the host's copy: every node is sent again
        events.extend(self.steps.poll())
        entries, _skipped = self.actions.read_new()
        events.extend(e for e in map(event_from_entry, entries) if e is not None)
        if self.scores.torn_reads > self._torn_said and self.scores.torn_reads % 10 == 1:
            self._torn_said = self.scores.torn_reads
            text = "AIDE's journal.json was caught mid-write; read again at the next poll"
            events.append(Notice(time.time(), text, "information"))
        now = time.monotonic()
        if self.live and self.run.state == "running" and now - self._live_at >= LIVE_EVERY_S:
            self._live_at = now
            events.extend(self.read_container())
        if now - self._code_at >= CODE_EVERY_S:
            self._code_at = now
            snapshot = self.scan_code()
            if snapshot is not None:
                events.append(snapshot)
            self.submissions.check([(name, self.tree / name) for name in SUBMISSIONS])
        if now - self._resources_at >= RESOURCES_EVERY_S:
            self._resources_at = now
            sample = self._resources()
            if sample is not None:
                events.append(sample)
        if now - self._state_at >= STATE_EVERY_S:
            self._state_at = now
            self.run = read_run(self.run.path)
            status = status_of(self.run, container_state=self.container_state)
            if status != self._status:
                self._status = status
                events.append(status)
        return events

    def scan_code(self) -> Snapshot | None:
        """A snapshot of the code tree when it changed: the container's folders as mirrored while
        the run lives; MLE-bench's copies (``code/``, ``submission/``) once it has made them."""
        for name, inside in HOST_PATHS:
            host = self.run.path / name
            if host.is_dir():
                _copy_changed(host, self.tree / inside)
        return self.timeline.scan()

    def _journal_source(self) -> Path:
        host = self.run.logs_dir / JOURNAL
        return host if host.is_file() else self.live_dir / "logs" / JOURNAL

    def read_container(self) -> list[Event]:
        """Mirror what changed in the live container (its code, submissions, AIDE's workspace
        and journal); notices when the Engine or the container cannot be reached (once each)."""
        from mletui.runtimes import RuntimeFailure
        from mletui.runtimes.docker.attached import AttachedEngine, PathMirror

        notes: list[Event] = []
        try:
            if self.engine is None:
                self.engine = AttachedEngine()
            if self.container is None:
                if self.container_state == "removed":
                    return notes  # it was there, and is gone: the run is ending
                self.container = self.engine.find(
                    f"competition-{self.run.competition}-", self.run.started
                )
                if self.container is None:
                    return self._say(
                        "no MLE-bench container for this run on the Docker Engine: "
                        "code and scores appear when the run ends"
                    )
                notes = self._say(f"reading the container {self.container.name}")
                self.container_control.engine = self.engine
                self.container_control.container = self.container
                self._remote_engine = self.engine.is_remote
                self._server_ip = (
                    None if self._remote_engine else self.engine.ip_address(self.container.id)
                )
                self.watch = self.engine.watch(self.container.id)
                self.container_state = self.watch.state
                self._mirrors = [
                    PathMirror(self.engine, source, self.tree / inside)
                    for source, inside in LIVE_PATHS
                ]
                self._mirrors.append(
                    PathMirror(
                        self.engine, f"/home/logs/{JOURNAL}", self.live_dir / "logs" / JOURNAL
                    )
                )
            if self.container_state == "removed":  # the run is ending
                self._forget_container()
                return notes
            if self.container_state == "paused":
                return notes  # nothing changes inside while it is frozen
            for mirror in self._mirrors:
                mirror.sync(self.container.id)
        except RuntimeFailure as exc:
            self._live_at = time.monotonic() + ENGINE_RETRY_S - LIVE_EVERY_S
            self._forget_container()
            return notes + self._say(f"live code unavailable: {exc}")
        return notes

    def attach(self) -> None:
        """Find the live run's container now, so that its control can act (a one-shot command)."""
        if self.live and read_run(self.run.path).state == "running":
            self.read_container()

    def _forget_container(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        self.watch = None
        self.container = self.container_control.container = None
        self._server_ip = None

    def _engine_events(self, events: list[Event]) -> list[LogLine]:
        """The Engine's events about the container since the last poll: its state, a line each
        in the log (marked as the Engine's), a warning for an out-of-memory kill."""
        if self.watch is None:
            return []
        lines = []
        for event in self.watch.take_events():
            text = ENGINE_WORDS.get(event.action, event.action)
            if event.detail:
                text += f" ({event.detail})"
            lines.append(LogLine(event.ts, Stream.SYSTEM, f"[engine] {text}", 0))
            if event.action == "oom":
                events.append(Notice(event.ts, f"MLE-bench run: {text}", "warning"))
        if self.watch.state != self.container_state:
            self.container_state = self.watch.state
            self._state_at = 0.0  # the status says it at once
        return lines

    def _grading_server(self) -> str | None:
        """The grading server's address while it can answer (the container runs, unfrozen)."""
        if self.container is None or self.container_state != "running":
            return None
        return self._server_ip

    def _processes(self) -> RunProcesses | None:
        if self.container is None:
            return None
        if self._remote_engine:
            why = f"{REMOTE_PREFIX} the run's container is on a remote Docker Engine"
            return RunProcesses(self.run.id, remote=why)
        return RunProcesses(self.run.id, containers=(self.container.id,))

    def _resources(self) -> ResourceSample | None:
        """The container's CPU, memory and processes (the Engine's stats) with this machine's
        GPUs and the run's share of each; None while there is no container to measure."""
        if self.watch is None:
            return None
        sample = self.watch.sample()
        if sample is None:
            return None
        return self.gpu.attach(sample)

    def invalidate_status(self) -> None:
        self._state_at = 0.0
        self._live_at = 0.0
        self._status = None

    @property
    def record(self) -> RunRecord:
        return self.folder.read()

    def diff(self, snapshot: Snapshot) -> list[tuple[str, str, str]]:
        return self.timeline.diff(snapshot)

    def diff_between(self, old: Snapshot, new: Snapshot) -> list[tuple[str, str, str]]:
        return self.timeline.diff_between(old, new)

    def unavailable(self, capability: Capability, status: StatusUpdate | None) -> str | None:
        if capability in NOT_SPOKEN:
            return NOT_SPOKEN[capability]
        ended = status is not None and status.state.ended  # then the run's state says why
        container_needed = (Capability.FREEZE, Capability.KILL, Capability.KILL_CONTAINER)
        if capability in container_needed and self.container is None and not ended:
            what = "freeze" if capability is Capability.FREEZE else "kill"
            return f"{what} unavailable: {NO_CONTAINER}"
        return None if capability in self.capabilities else READ_ONLY

    def take_driver(self) -> str | None:
        return READ_ONLY

    def close(self) -> None:
        """Stop following the container and grading; nothing to give back (only watched)."""
        if self.watch is not None:
            self.watch.stop()
        self.submissions.close()
        self.gpu.stop()


def _copy_changed(source: Path, target: Path) -> None:
    """Copy the files of ``source`` into ``target`` that differ by size or time (MLE-bench's
    copies at the end, into the code tree); files gone from ``source`` are removed."""
    present = set()
    for path in source.rglob("*"):
        if not path.is_file():
            continue
        dest = target / path.relative_to(source)
        present.add(dest)
        try:
            st, mine = path.stat(), dest.stat()
            if st.st_size == mine.st_size and int(st.st_mtime) == int(mine.st_mtime):
                continue
        except OSError:
            pass
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    for path in list(target.rglob("*")) if target.is_dir() else []:
        if path.is_file() and path not in present:
            path.unlink(missing_ok=True)


def status_of(
    run: MlebenchRun, now: float | None = None, container_state: str | None = None
) -> StatusUpdate:
    now = time.time() if now is None else now
    state = _STATES[run.state]
    end_reason = _end_reason(run)
    if state is RunState.RUNNING and container_state == "paused":
        state = RunState.FROZEN
    elif state is RunState.RUNNING and container_state in ("exited", "dead", "removed"):
        # Its container is gone before the harness logged the end: the run is over.
        state = RunState.EXITED
        what = "was removed" if container_state == "removed" else "stopped"
        end_reason = f"its container {what}; MLE-bench has not logged the run's end yet"
    elif state is RunState.LOST and container_state == "running":
        end_reason = f"{end_reason}; its container is still running"
    start = run.started
    end = run.ended if run.ended is not None else now
    wall = 0.0 if start is None else max(0.0, end - start)
    if run.seconds is not None:
        wall = run.seconds
    return StatusUpdate(
        state=state,
        wall_s=round(wall),
        active_s=round(wall),
        time_left_s=None,
        exit_code=0 if run.state == "done" else None,
        end_reason=end_reason,
        observe_only=True,
        agent_name=run.agent,
    )


def _end_reason(run: MlebenchRun) -> str | None:
    if run.state == "done":
        return "completed" if run.seconds is None else f"completed in {run.seconds:.0f} s"
    if run.state == "failed":
        return "failed (see the log)"
    return run.why
