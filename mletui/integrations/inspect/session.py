"""A watch session over one Inspect sample: its transcript as log lines, its state, its scores,
and Inspect's own pause, resume, cancel and limits as the operator's actions.

It reads through the eval process's control channel while the eval lives (the transcript through
the channel's exactly-once cursor), and from the eval's ``.eval`` log file once it has ended.
Every action is journaled first (flushed and fsynced) in mletui's own folder for the sample,
under mletui's data folder; Inspect's folders are never written. That folder is a run folder: what
the session shows (the transcript, the states, the scores) is recorded there as it is read
(:mod:`~mletui.integrations.inspect.record`), so replay, pack and export read it as any run."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mletui.core.events import (
    ActionRecord,
    AgentStep,
    Event,
    HintStatus,
    HintsUpdate,
    LogBatch,
    LogLine,
    Notice,
    RunState,
    Score,
    Snapshot,
    StatusUpdate,
    Stream,
)
from mletui.core.words import counted
from mletui.integrations.inspect.acp import (
    MAX_HINT_CHARS,
    AcpClient,
    AcpError,
    accepts_operator_messages,
    acp_socket,
)
from mletui.integrations.inspect.client import ControlClient, ControlError
from mletui.integrations.inspect.discovery import EvalProcess, pid_alive
from mletui.integrations.inspect.logfile import LogFileError, logged_events, rows_of
from mletui.integrations.inspect.record import SampleRecorder, run_record
from mletui.integrations.inspect.rows import (
    SampleRow,
    TaskInfo,
    parse_sample,
    parse_task,
    score_number,
)
from mletui.integrations.inspect.transcript import StepMaker, event_lines
from mletui.store.journal import Journal, JournalFollower, read_journal
from mletui.store.runs import RunFolder, RunRecord, mletui_home
from mletui.watch.control import ActionError, default_operator
from mletui.watch.notices import NoticeOnce
from mletui.watch.session import ActionNotes, Capability

STATUS_EVERY_S = 1.0
HINTS_PROBE_S = 5.0  # how often the ACP server is asked whether the agent takes operator messages
PAGES_PER_POLL = 5
RETRY_AFTER_S = 5.0
SCOPES = ("task", "model", "process")
CANCEL_ACTIONS = {"score": "scored on what it has", "error": "as an error", "cancel": "unscored"}
LIMITS = ("time_limit", "token_limit", "message_limit")
READ_ONLY = "an Inspect sample's record is mletui's journal; Inspect's own log is never written"
# What the watch screen offers on a sample: Inspect's pause (aimed at a scope), and its cancel,
# scored (the first kill choice) or as an error (the second).
CAPABILITIES = Capability.SOFT_PAUSE | Capability.KILL | Capability.KILL_CONTAINER
PAUSE_SCOPES = (
    ("t", "task", "this task"),
    ("m", "model", "this model"),
    ("e", "process", "the whole eval"),
)
NO_ACP = (
    "hints unavailable: this eval runs no ACP server (inspect eval --acp-server), the only way "
    "Inspect takes operator messages"
)
NOT_INTERACTIVE = (
    "hints unavailable: this sample's agent does not accept operator messages now (Inspect takes "
    "them into an agent with a turn loop, such as react(), while it runs)"
)
NO_FREEZE = (
    "freeze unavailable: mletui freezes an Inspect sample's sandbox only when it is a container, "
    "and this one's is not known to be (use hard pause: p, then T)"
)
ENDED = "the eval has ended (its process is gone)"
ENDED_HINTS = "hints unavailable: the sample has ended"
NOTES = ActionNotes(
    killed="Cancel sent: Inspect scores the sample on what it has.",
    container_killed="Cancel sent: the sample ends as an error.",
    kill_title="Cancel this Inspect sample?",
    kill_choices=(
        "a  score what it has: the sample ends now and Inspect's scorers score its transcript.\n"
        "c  as an error: the sample ends now, unscored, as an error (an eval that fails on "
        "errors may refuse).\n"
        "Neither can be undone; mletui's journal and Inspect's log both record it."
    ),
    kill_buttons=("Score what it has", "End it as an error"),
    opening=(
        "Inspect sample: p pauses (a scope, soft or hard), K cancels it (twice: the eval), "
        "L changes its limits, C cancels its running tool call, h sends a hint (an operator "
        "message, where the eval runs Inspect's ACP server)."
    ),
)
_STATES = {
    "queued": RunState.STARTING,
    "pending": RunState.STARTING,
    "running": RunState.RUNNING,
    "completed": RunState.EXITED,
    "error": RunState.EXITED,
    "cancelled": RunState.KILLED,
}


def records_root() -> Path:
    """Where mletui keeps its record of each Inspect sample, one folder each."""
    return mletui_home() / "inspect"


def cache_dir(row: SampleRow) -> Path:
    """mletui's own folder for one Inspect sample: a run folder (its record)."""
    return records_root() / row.id


class InspectFolder(RunFolder):
    """mletui's folder for an Inspect sample: ``read()`` describes the sample as a run record
    (as its recorder writes it to ``run.json``), from the row the session last read."""

    def __init__(self, row: SampleRow, path: Path | None = None) -> None:
        super().__init__(path or cache_dir(row))
        self.row = row
        self.live = False
        self.started = time.time() - (row.elapsed_s or 0.0)

    def read(self) -> RunRecord:
        return run_record(self.row, self.started, live=self.live)

    def write(self, record: RunRecord) -> None:
        raise ActionError(READ_ONLY)


class InspectSession:
    """Watches one sample of an Inspect eval; acts on it through Inspect's control channel."""

    def __init__(
        self,
        row: SampleRow,
        process: EvalProcess | None,
        *,
        cache: Path | None = None,
        operator: str | None = None,
        client: ControlClient | None = None,
    ) -> None:
        """``process``: the live eval serving ``row`` (None: it has ended; read its log)."""
        self.row = row
        self.process = process
        self.client = client or (ControlClient(process.socket_path) if process else None)
        self.operator = operator or default_operator()
        self.folder = InspectFolder(row, cache)
        self.folder.path.mkdir(parents=True, exist_ok=True)
        self.folder.live = self.client is not None
        self.journal = Journal(self.folder.journal_path)
        self.recorder = SampleRecorder(self.folder)
        if self.recorder.take() and self.recorder.started is not None:
            self.folder.started = self.recorder.started  # as the record began it
        self.recorder.started = self.folder.started
        self.actions = JournalFollower(self.folder.journal_path)
        self.task: TaskInfo | None = None
        self.cursor: str | None = None  # the channel's events cursor: each event read once
        self.transcript_done = False
        self._number = 0
        self._status: StatusUpdate | None = None
        self._status_at = 0.0
        self._retry_at = 0.0
        self._scores: set[tuple[str, str]] = set()
        self._say = NoticeOnce()
        self._done: set[str] = set()  # events shown since the cursor last moved (by uuid)
        self._started: set[str] = set()  # running tool calls whose call line was shown
        self._steps = StepMaker()  # the model and tool calls as the steps pane's steps
        self._new_steps: list[AgentStep] = []
        self._steps_from_log = False  # the live channel was lost: read the last steps from the log
        self._hints: dict[str, HintStatus] = {}
        # Why hints cannot be sent now (NO_ACP until the ACP server says otherwise).
        self._hints_unavailable: str | None = NO_ACP
        self._hints_probed_at = -HINTS_PROBE_S
        # A cancel of this sample was journaled (by any watcher): a kill now is asked twice.
        self._cancelled = any(
            e.get("kind") == "action" and e.get("action") == "kill"
            for e in read_journal(self.folder.journal_path).entries
        )

    # The Session protocol: this session is its own control.
    logs = None  # the transcript is read through a cursor, not spooled: the pane keeps it
    driver_token = None

    @property
    def control(self) -> InspectSession:
        return self

    @property
    def record(self) -> RunRecord:
        return self.folder.read()

    @property
    def live(self) -> bool:
        return self.client is not None

    @property
    def capabilities(self) -> Capability:
        """Hints only while the eval's ACP server says the sample's agent takes them."""
        hints = Capability.HINTS if self._hints_unavailable is None else Capability.NONE
        return CAPABILITIES | hints

    def status(self) -> StatusUpdate:
        return status_of(self.row, self.task, live=self.live)

    def diff(self, snapshot: Snapshot) -> list[tuple[str, str, str]]:
        return []  # no code timeline: the sandbox's files are not read

    def unavailable(self, capability: Capability, status: StatusUpdate | None) -> str | None:
        if capability is Capability.HINTS and self._hints_unavailable is not None:
            return self._hints_unavailable
        if capability is Capability.FREEZE:
            return NO_FREEZE
        ended = status is not None and status.state.ended  # then the state says why
        if capability in Capability.acting() and not self.live and not ended:
            return ENDED
        return None

    def take_driver(self) -> str | None:
        return None  # Inspect's channel has no lock: every watcher may act, each journaled

    def pause_scopes(self) -> tuple[tuple[str, str, str], ...]:
        return PAUSE_SCOPES

    def paused_scopes(self) -> tuple[str, ...]:
        """The latches holding the sample's task (Inspect's words: task, model, process)."""
        held = self.task.paused if self.task is not None else ()
        return tuple(scope for _, scope, _ in PAUSE_SCOPES if scope in held)

    @property
    def notes(self) -> ActionNotes:
        """The kill dialog's words: a cancel, or, asked twice, the eval's process."""
        if not self.process_killable():
            return NOTES
        pid = self.process.pid if self.process else 0
        return replace(
            NOTES,
            killed=f"SIGTERM sent to the eval's process {pid}.",
            kill_title="This sample was cancelled already: end the whole eval?",
            kill_choices=(
                f"a  SIGTERM the eval's process {pid}: every sample of it ends; Inspect writes "
                "its log as it stops.\n"
                "c  cancel the sample again, as an error (while it has not ended).\n"
                "mletui's journal records either."
            ),
            kill_buttons=("End the eval (SIGTERM)", "Cancel again as an error"),
        )

    def process_killable(self) -> bool:
        """Kill asked twice: the sample was cancelled (by anyone) or a cancel of it journaled,
        and the eval's process still runs."""
        if self.process is None or not pid_alive(self.process.pid):
            return False
        if self.row.state == "cancelled" or self.row.limit == "operator":
            return True
        journal = read_journal(self.folder.journal_path)
        return any(e.get("kind") == "action" and e.get("action") == "kill" for e in journal.entries)

    def kill(self, grace_s: float = 0.0) -> None:
        """Cancel the sample, scored on what it has (Inspect has no grace period); asked twice,
        SIGTERM the eval's process."""
        if self.process_killable():
            self.kill_process()
        else:
            self.cancel("score")

    def kill_container(self) -> None:
        """Cancel the sample as an error: the kill dialog's second choice."""
        self.cancel("error")

    def kill_process(self) -> None:
        """SIGTERM the eval's process (journaled first): Inspect stops and writes its log."""
        process = self.process
        if process is None or not pid_alive(process.pid):
            raise ActionError("Cannot end the eval: its process is gone.")
        self.journal.append(
            "action",
            {
                "action": "kill-process",
                "operator": self.operator,
                "run_wall_s": round(self.row.elapsed_s or 0.0, 3),
                "detail": f"SIGTERM the eval's process {process.pid}",
                "inspect_eval": self.row.eval_id,
                "pid": process.pid,
            },
            sync=True,
        )
        try:
            os.kill(process.pid, signal.SIGTERM)
        except OSError as exc:
            text = f"kill-process not applied: {exc.strerror or exc}"
            self.journal.append("notice", {"text": text}, sync=True)
            raise ActionError(
                f"Cannot end the eval's process {process.pid}: {exc.strerror}."
            ) from None
        self._status_at = 0.0

    def limit_names(self) -> tuple[str, ...]:
        return LIMITS

    def reveal_grade(self, detail: str = "") -> None:
        """Inspect's scores are no held-out grades; the entry is kept as for any source."""
        self.journal.append(
            "action",
            {"action": "reveal-grade", "operator": self.operator, "detail": detail},
            sync=True,
        )

    def poll(self) -> list[Event]:
        events: list[Event] = []
        now = time.monotonic()
        if now >= self._retry_at:
            lines = self._read_transcript(events)
            if lines:
                events.append(LogBatch(tuple(lines)))
            self.recorder.steps(self._new_steps)
            events.extend(self._new_steps)
            self._new_steps.clear()
        if now - self._status_at >= STATUS_EVERY_S:
            self._status_at = now
            self._refresh(events)
            if self.recorder.take():  # a watcher that recorded has quit: this one goes on
                self.recorder.status(self.row, live=self.live)
            status = status_of(self.row, self.task, live=self.live)
            if status != self._status:
                self._status = status
                events.append(status)
            for name, value in self.row.scores:
                if (name, value) in self._scores:
                    continue
                self._scores.add((name, value))
                number = score_number(value)
                if number is None:
                    text = f"Inspect's score {name}: {value}"
                    if not self.recorder.note_score(text):  # else the journal's notice says it
                        events.extend(self._say(text))
                else:
                    score = _score(name, number)
                    self.recorder.score(score)
                    events.append(score)
        if now - self._hints_probed_at >= HINTS_PROBE_S:
            self._hints_probed_at = now
            self._probe_hints()
        entries, skipped = self.actions.read_new()
        if skipped:
            malformed = counted(skipped, "malformed journal line")
            events.append(Notice(time.time(), f"skipped {malformed}"))
        hints = len(self._hints)
        for entry in entries:
            if entry.get("kind") == "action" and entry.get("action") == "kill":
                self._cancelled = True
            event = _event_from_entry(entry)
            if event is not None:
                events.append(event)
            if isinstance(event, ActionRecord) and event.action == "hint" and event.hint_id:
                self._hints[event.hint_id] = HintStatus(
                    event.hint_id, event.detail, event.ts, "sent", None
                )
        if len(self._hints) != hints:
            events.append(HintsUpdate(tuple(self._hints.values())))
        return events

    def _probe_hints(self) -> None:
        """Whether a hint can be sent now: the eval's ACP server, and the sample's agent bound
        to a turn loop (Inspect's ``interactive``)."""
        socket_path = acp_socket(self.process.pid) if self.process and self.live else None
        if socket_path is None or self.row.ended:
            self._hints_unavailable = NO_ACP if socket_path is None else ENDED_HINTS
            return
        try:
            listing = AcpClient(socket_path).session(
                self.row.task, self.row.sample_id, self.row.epoch
            )
        except AcpError as exc:
            self._hints_unavailable = f"hints unavailable: {exc}"
            return
        self._hints_unavailable = None if accepts_operator_messages(listing) else NOT_INTERACTIVE

    # Reading.
    def _read_transcript(self, events: list[Event]) -> list[LogLine]:
        if self.transcript_done:
            if self._steps_from_log:
                self._steps_from_log = False
                self._read_logged_steps(events)
            return []
        lines: list[LogLine] = []
        if self.client is not None:
            try:
                for _ in range(PAGES_PER_POLL):
                    if not self._read_page(self.client, lines):
                        break
            except ControlError as exc:
                self._lost(exc, events)
            self.recorder.lines(lines)
        elif self.row.log_path:
            self.transcript_done = True
            row = self.row
            try:
                logged = logged_events(Path(row.log_path or ""), row.sample_id, row.epoch)
                for index, event in enumerate(logged):
                    self._add_lines(lines, event_lines(event))
                    self._new_steps.extend(self._steps.take(event, _logged_uuid(event, index)))
            except LogFileError as exc:
                events.extend(self._say(str(exc)))
            if not self.recorder.line_count:  # else it holds the lines as they were shown live
                self.recorder.lines(lines)
        return lines

    def _read_logged_steps(self, events: list[Event]) -> None:
        """The steps the live channel had no time to show (the eval ended under it), from the
        log: the steps read live are known by their uuids, only the rest are new."""
        row = self.row
        self._refresh_from_log(events)
        if not row.log_path:
            return
        try:
            logged = logged_events(Path(row.log_path), row.sample_id, row.epoch)
        except LogFileError as exc:
            events.extend(self._say(str(exc)))
            return
        for index, event in enumerate(logged):
            self._new_steps.extend(self._steps.take(event, _logged_uuid(event, index)))

    def _read_page(self, client: ControlClient, lines: list[LogLine]) -> bool:
        """One page of events after the cursor; True when there may be more at once.

        Inspect appends an event when it begins (``pending``: a tool still running, a model call
        under way) and completes it in place. The cursor is moved on only past completed events:
        a page with a pending one is read again from the same cursor at the next poll, and the
        events already shown (by uuid) are skipped; a running tool call shows its call at once
        and its output when it ends."""
        row = self.row
        page = client.events(row.eval_id, row.sample_id, row.epoch, self.cursor)
        raw = page.get("events")
        raw = raw if isinstance(raw, list) else []
        for index, event in enumerate(raw):
            uuid = event.get("uuid") if isinstance(event, dict) else None
            if not isinstance(uuid, str):
                # No uuid (not Inspect's): known by its place on the page, read again from the
                # same cursor while a pending event holds the page.
                uuid = f"#{index}"
            if uuid in self._done:
                continue
            if not uuid.startswith("#"):  # an event known only by its place is no step
                self._new_steps.extend(self._steps.take(event, uuid))
            pending = bool(event.get("pending"))
            if pending:
                if uuid not in self._started and event.get("event") == "tool":
                    self._started.add(uuid)
                    self._add_lines(lines, event_lines(event))
                return False  # read again from the same cursor once it has ended
            self._add_lines(lines, event_lines(event, call_shown=uuid in self._started))
            self._started.discard(uuid)
            self._done.add(uuid)
        cursor = page.get("next")
        if isinstance(cursor, str) and cursor != self.cursor:
            self.cursor = cursor
            self._done.clear()  # the cursor is past them: they are never served again
        if page.get("done") is True:
            self.transcript_done = True
            return False
        return bool(raw)

    def _add_lines(self, lines: list[LogLine], new: list[tuple[float, Stream, str]]) -> None:
        for ts, stream, text in new:
            self._number += 1
            lines.append(LogLine(ts or time.time(), stream, text, self._number))

    def _refresh(self, events: list[Event]) -> None:
        """The sample's row and its task's pause latches, from the channel (or the log file)."""
        if self.client is None:
            self._refresh_from_log(events)
            return
        try:
            tasks = [t for t in map(parse_task, self.client.tasks()) if t is not None]
            task = next((t for t in tasks if t.eval_id == self.row.eval_id), None)
            if task is None:
                raise ControlError(f"the eval {self.row.eval_id} is no longer in this process")
            listing = self.client.samples(task.eval_id).get("samples")
            for item in listing if isinstance(listing, list) else []:
                row = parse_sample(item, task, self.row.pid)
                if row is not None and (row.sample_id, row.epoch) == (
                    self.row.sample_id,
                    self.row.epoch,
                ):
                    self.row = self.folder.row = row
                    break
            if self.task is not None and task.paused != self.task.paused:
                what = ", ".join(task.paused) or "nothing"
                text = f"Inspect's pause latches: {what}"
                events.append(Notice(time.time(), text, "information"))
            self.task = task
        except ControlError as exc:
            self._lost(exc, events)

    def _refresh_from_log(self, events: list[Event]) -> None:
        if not self.row.log_path or not Path(self.row.log_path).is_file():
            return
        try:
            rows = rows_of(Path(self.row.log_path))
        except LogFileError as exc:
            events.extend(self._say(str(exc)))
            return
        for row in rows:
            if (row.sample_id, row.epoch) == (self.row.sample_id, self.row.epoch):
                self.row = self.folder.row = row

    def _lost(self, exc: ControlError, events: list[Event]) -> None:
        """The channel stopped answering: the process ended (read its log from now on) or it is
        busy (try again later)."""
        if self.process is not None and not _alive(self.process):
            events.extend(self._say(f"the eval's process {self.process.pid} has ended"))
            self.client = None
            self.folder.live = False
            # The log would repeat what was read, in its own (whole, not truncated) lines.
            self.transcript_done = self.cursor is not None or self._number > 0
            self._steps_from_log = self.transcript_done  # its last steps, though, are read there
            self._status_at = 0.0
            return
        self._retry_at = time.monotonic() + RETRY_AFTER_S
        events.extend(self._say(f"Inspect's control channel: {exc}"))

    def invalidate_status(self) -> None:
        self._status_at = 0.0

    def close(self) -> None:
        """Watching never touches the eval: only the record's lock and spool are given back."""
        self.recorder.close()

    def sync_record(self, max_polls: int = 200) -> None:
        """Bring the sample's record up to what can be read now (before it is packed, exported
        or replayed): the transcript so far, the state, the scores."""
        for _ in range(max_polls):
            self._status_at = 0.0
            if not any(isinstance(e, LogBatch) for e in self.poll()):
                break

    # Acting: journal first, then Inspect.
    def pause(self, scope: str = "task", now: bool = False) -> None:
        """Inspect's pause at ``scope`` (task, model or process): soft stops new samples from
        starting; ``now`` (hard) also holds in-flight samples at their next model call."""
        self._scope(scope)
        detail = f"{'hard (now)' if now else 'soft'}, {scope} {self._target(scope)}"
        self._act("pause", detail, lambda c: self._pause_call(c, scope, now), scope=scope, now=now)

    def resume(self, scope: str = "task") -> None:
        self._scope(scope)
        detail = f"{scope} {self._target(scope)}"
        self._act("resume", detail, lambda c: self._resume_call(c, scope), scope=scope)

    def cancel(self, action: str = "score") -> None:
        """Cancel the sample: ``score`` (scored on what it has), ``error`` or ``cancel``."""
        if action not in CANCEL_ACTIONS:
            raise ActionError(f"A sample is cancelled {', '.join(CANCEL_ACTIONS)}, not {action!r}.")
        row = self.row
        self._act(
            "kill",
            f"cancel the sample, {CANCEL_ACTIONS[action]}",
            lambda c: c.cancel_sample(row.eval_id, row.sample_id, row.epoch, action),
            cancel=action,
        )
        self._cancelled = True  # sent: a kill asked again ends the process

    def cancel_tool_call(self) -> None:
        """Cancel the sample's running tool call; the model sees a timeout and goes on."""
        row = self.row
        answer = self._act(
            "cancel-tool-call",
            "the running tool call (the model sees a timeout)",
            lambda c: c.cancel_tool_call(row.eval_id, row.sample_id, row.epoch),
        )
        if answer.get("changed") is False:  # Inspect's word for nothing pending
            text = "cancel-tool-call not applied: no tool call was running"
            self.journal.append("notice", {"text": text}, sync=True)
            raise ActionError("No tool call was running: nothing was cancelled.")

    def hint(self, text: str) -> str:
        """Send ``text`` to the sample's agent as an operator message (journaled first); the
        hint's id. Inspect queues it for the agent's next turn."""
        text = text.strip()
        if not text:
            raise ActionError("A hint needs some text.")
        if len(text) > MAX_HINT_CHARS:
            raise ActionError(f"A hint is at most {MAX_HINT_CHARS} characters.")
        process = self.process
        socket_path = acp_socket(process.pid) if process is not None and self.live else None
        if socket_path is None:
            raise ActionError(NO_ACP[0].upper() + NO_ACP[1:] + ".")
        row = self.row
        hint_id = f"h-{int(time.time())}-{secrets.token_hex(2)}"
        self._act(
            "hint",
            text,
            lambda _: self._prompt(socket_path, row, text),
            hint_id=hint_id,
        )
        return hint_id

    @staticmethod
    def _prompt(socket_path: Path, row: SampleRow, text: str) -> dict[str, Any]:
        try:
            AcpClient(socket_path).prompt(row.task, row.sample_id, row.epoch, text)
        except AcpError as exc:
            raise ControlError(str(exc)) from None
        return {}

    def set_limits(self, **limits: int | str) -> dict[str, Any]:
        """Change the task's per-sample limits (``time_limit`` seconds, ``token_limit``,
        ``message_limit``; ``"clear"`` removes one); Inspect's resulting limits."""
        unknown = sorted(set(limits) - set(LIMITS))
        if unknown or not limits:
            raise ActionError(f"Limits that can be changed: {', '.join(LIMITS)}.")
        detail = ", ".join(f"{k} {v}" for k, v in limits.items())
        task_id = self._task().task_id
        answer = self._act("limits", detail, lambda c: c.set_limits(task_id, limits), **limits)
        result = answer.get("limits")
        return result if isinstance(result, dict) else {}

    def _act(
        self,
        action: str,
        detail: str,
        call: Callable[[ControlClient], dict[str, Any]],
        **extra: object,
    ) -> dict[str, Any]:
        client = self.client
        if client is None:
            raise ActionError(f"Cannot {action}: the eval has ended (its process is gone).")
        if self.row.ended and action not in ("pause", "resume", "limits"):
            raise ActionError(f"Cannot {action}: the sample has already ended ({self.row.state}).")
        self.journal.append(
            "action",
            {
                "action": action,
                "operator": self.operator,
                "run_wall_s": round(self.row.elapsed_s or 0.0, 3),
                "detail": detail,
                "inspect_eval": self.row.eval_id,
                **extra,
            },
            sync=True,  # an operator entry is on disk before it is acted upon
        )
        try:
            answer = call(client)
        except ControlError as exc:
            self.journal.append("notice", {"text": f"{action} not applied: {exc}"}, sync=True)
            raise ActionError(f"Cannot {action}: {exc}.") from exc
        self._status_at = 0.0
        return answer

    def _pause_call(self, client: ControlClient, scope: str, now: bool) -> dict[str, Any]:
        if scope == "task":
            return client.pause_task(self._task().task_id, now)
        if scope == "model":
            return client.pause_model(self.row.model, now)
        return client.pause_process(now)

    def _resume_call(self, client: ControlClient, scope: str) -> dict[str, Any]:
        if scope == "task":
            return client.resume_task(self._task().task_id)
        if scope == "model":
            return client.resume_model(self.row.model)
        return client.resume_process()

    def _task(self) -> TaskInfo:
        if self.task is None:
            self._refresh([])
        if self.task is None:
            raise ActionError("Inspect's task for this sample cannot be read now; try again.")
        return self.task

    def _target(self, scope: str) -> str:
        if scope == "task":
            return self.row.task
        if scope == "model":
            return self.row.model
        return f"pid {self.process.pid}" if self.process else ""

    @staticmethod
    def _scope(scope: str) -> None:
        if scope not in SCOPES:
            raise ActionError(f"Inspect pauses a {', a '.join(SCOPES)}; not {scope!r}.")


def status_of(row: SampleRow, task: TaskInfo | None, *, live: bool) -> StatusUpdate:
    """The sample's state: a hard pause of its task, model or process is a pause (requested
    until Inspect holds the in-flight samples); a soft pause leaves a started sample running."""
    state = _STATES.get(row.state, RunState.RUNNING)
    end_reason = None
    if state is RunState.RUNNING and task is not None and task.paused_now:
        held = task.held > 0 and task.held >= task.in_flight
        state = RunState.PAUSED if held else RunState.PAUSE_REQUESTED
    elif state.ended:
        end_reason = {"completed": "completed", "error": "error", "cancelled": "cancelled"}.get(
            row.state, row.state
        )
        if row.limit:
            end_reason += f" ({row.limit} limit)" if row.limit != "operator" else " (operator)"
    elif not live:
        state = RunState.LOST
        end_reason = "the eval's process is gone and its log does not have this sample"
    elapsed = row.elapsed_s or 0.0
    return StatusUpdate(
        state=state,
        wall_s=round(elapsed),
        active_s=round(elapsed),
        time_left_s=None,
        exit_code=None,
        end_reason=end_reason,
        observe_only=False,
        agent_name=row.model,
    )


def _score(name: str, value: float) -> Score:
    """An Inspect scorer's value (higher is better: Inspect's metrics are accuracies and means)."""
    return Score(time.time(), 0, name, value, "higher", kind="inspect", source="inspect")


def _event_from_entry(entry: dict[str, Any]) -> Event | None:
    ts = entry.get("ts", 0.0)
    ts = float(ts) if isinstance(ts, int | float) else 0.0
    if entry.get("kind") == "action":
        hint_id = entry.get("hint_id")
        return ActionRecord(
            ts,
            str(entry.get("action")),
            str(entry.get("operator")),
            str(entry.get("detail", "")),
            hint_id=hint_id if isinstance(hint_id, str) and hint_id else None,
        )
    if entry.get("kind") == "notice":
        return Notice(ts, str(entry.get("text", "")))
    return None


def _alive(process: EvalProcess) -> bool:
    return pid_alive(process.pid) and process.socket_path.exists()


def _logged_uuid(event: dict[str, Any], index: int) -> str:
    """A logged event's uuid (as the live channel gave it), else its place in the log."""
    uuid = event.get("uuid")
    return uuid if isinstance(uuid, str) else f"logged#{index}"
