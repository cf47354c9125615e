"""mletui's record of one Inspect sample, in the shape of its own runs: ``run.json``, the keyed
journal (states, scores, the sample's steps, the operator's actions) and the log spool (the
transcript's lines with their times), so that replay, pack and export read it as any run.

One watcher records at a time (the first to take the folder's recorder lock); the others only
show. A watcher that takes over later reads the transcript from its start, as every watcher does,
and writes only the lines past those the spool already holds: the lines of a transcript come in
one order whoever reads it. Its steps are numbered in that order too, so a step is journaled again
only when it went further (running, then ended, then its duration known)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable
from pathlib import Path

from mletui.core.events import AgentStep, LogLine, RunState, Score, StepStatus
from mletui.core.records import JournalNotice, StateChange, decode
from mletui.integrations.inspect.rows import SampleRow
from mletui.store.journal import Journal, read_journal
from mletui.store.runs import RunFolder, RunRecord, read_run_json
from mletui.store.spool import LogSpool

LOCK = ".recorder.lock"
RUNTIME = "inspect"
_ENDED = {"completed": RunState.EXITED, "error": RunState.EXITED, "cancelled": RunState.KILLED}
MAX_STEPS_KNOWN = 10_000  # steps whose progress is remembered; older ones are never written again
MAX_STEPS_HELD = 1_000  # newest steps kept while another watcher records, for a takeover


def step_progress(step: AgentStep) -> int:
    """How far a step's report went: running, ended, ended with its duration; 3 more once its
    tokens in and out are known (read from the log after it was seen live)."""
    if step.status is StepStatus.RUNNING:
        return 0
    tokens = 3 if step.tokens_in or step.tokens_out else 0
    return tokens + (1 if step.seconds is None else 2)


def run_record(row: SampleRow, started: float, *, live: bool) -> RunRecord:
    """The sample as a run record. No host: no runtime of mletui's probes it; while the eval
    lives the heartbeat is now, so a record left by a watcher that quit reads as lost."""
    state = _ENDED.get(row.state)
    if state is None:
        state = RunState.RUNNING if row.state == "running" else RunState.CREATED
    elapsed = row.elapsed_s or 0.0
    reason = None
    if state.ended:
        reason = row.state + (f" ({row.limit} limit)" if row.limit else "")
    return RunRecord(
        id=row.id,
        task=row.task,
        task_path=row.log_path or "",
        agent=row.model,
        command=[],
        runtime=RUNTIME,
        created=started,
        host="",
        state=state,
        started=started,
        ended=started + elapsed if state.ended else None,
        end_reason=reason,
        active_s=elapsed,
        heartbeat=time.time() if live else None,
        runtime_options={"eval_id": row.eval_id, "sample_id": row.sample_id, "epoch": row.epoch},
    )


class SampleRecorder:
    """Writes what a session shows of a sample into its folder, while it holds the lock."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.journal = Journal(folder.journal_path)
        self._lock_fd: int | None = None
        self._spool: LogSpool | None = None
        self._states: set[RunState] = set()
        self._scores: set[tuple[str, str]] = set()
        self._steps: dict[int, int] = {}  # step number -> the progress journaled
        self._steps_forgotten = 0  # steps up to this number are past remembering
        # The newest reports seen while another watcher records: written on taking over, as
        # that watcher may have quit before it wrote them.
        self._held: dict[int, AgentStep] = {}
        self.started: float | None = None

    @property
    def recording(self) -> bool:
        return self._spool is not None

    def take(self) -> bool:
        """Become the sample's recorder if no other watcher is; True when this one is."""
        if self._spool is not None:
            return True
        try:
            fd = os.open(self.folder.path / LOCK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        self._learn()
        self._spool = LogSpool(self.folder.log_path)
        held, self._held = list(self._held.values()), {}
        self.steps(held)
        return True

    def _learn(self) -> None:
        """What an earlier recorder wrote: the states and scores already journaled, the start."""
        for entry in read_journal(self.folder.journal_path).entries:
            match decode(entry):
                case StateChange(state=state):
                    self._states.add(state)
                case Score(name=name, value=value):
                    self._scores.add((name, repr(float(value))))
                case AgentStep() as step:
                    self._journaled(step)
                case JournalNotice(text=text) if text.startswith("Inspect's score "):
                    self._scores.add((text, ""))
        with contextlib.suppress(OSError, ValueError):
            self.started = read_run_json(self.folder.run_json).started

    @property
    def line_count(self) -> int:
        """The transcript's lines in the spool (none while this watcher does not record)."""
        return self._spool.line_count if self._spool is not None else 0

    def lines(self, lines: Iterable[LogLine]) -> None:
        """The transcript's lines numbered past those the spool holds (an earlier recorder's)."""
        spool = self._spool
        if spool is None:
            return
        for line in lines:
            if line.number > spool.line_count:
                spool.write(line.stream, line.text.replace("\n", " ").encode(), line.ts)

    def steps(self, steps: Iterable[AgentStep]) -> None:
        """The sample's steps as it reports them, each journaled when it went further than the
        journal has it (an earlier recorder's reports included)."""
        for step in steps:
            if self._spool is None:
                self._held.pop(step.step, None)
                self._held[step.step] = step
                while len(self._held) > MAX_STEPS_HELD:
                    del self._held[next(iter(self._held))]
            elif self._journaled(step):
                self.journal.write(step)

    def _journaled(self, step: AgentStep) -> bool:
        """Note ``step`` as journaled; False when the journal already has it as far."""
        if step.step <= self._steps_forgotten:
            return False
        progress = step_progress(step)
        if self._steps.get(step.step, -1) >= progress:
            return False
        self._steps[step.step] = progress
        while len(self._steps) > MAX_STEPS_KNOWN:
            oldest = next(iter(self._steps))  # steps begin in number order: the first known
            del self._steps[oldest]
            self._steps_forgotten = max(self._steps_forgotten, oldest)
        return True

    def status(self, row: SampleRow, *, live: bool) -> None:
        """``run.json`` as the row says, and a state entry when the sample starts or ends."""
        if self._spool is None:
            return
        if self.started is None:
            self.started = time.time() - (row.elapsed_s or 0.0)
        record = run_record(row, self.started, live=live)
        states = [RunState.RUNNING] if record.state is RunState.RUNNING else []
        if record.state.ended:
            states = [RunState.RUNNING, record.state]
        for state in states:
            if state not in self._states:
                self._states.add(state)
                ended = state.ended
                ts = (record.ended or time.time()) if ended else self.started
                reason = record.end_reason if ended else None
                self.journal.write(StateChange(ts, state, row.model, reason), sync=ended)
        RunFolder.write(self.folder, record)

    def score(self, score: Score) -> None:
        key = (score.name, repr(float(score.value)))
        if self._spool is None or key in self._scores:
            return
        self._scores.add(key)
        self.journal.write(score)

    def note_score(self, text: str) -> bool:
        """A score that is no number, journaled as a notice; False when not recorded here."""
        if self._spool is None:
            return False
        if (text, "") not in self._scores:
            self._scores.add((text, ""))
            self.journal.write(JournalNotice(time.time(), text))
        return True

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the lock goes with it
            self._lock_fd = None


def recorded(root: Path, run_id: str) -> list[RunFolder]:
    """The recorded samples under ``root`` whose id is ``run_id`` or starts with it."""
    try:
        names = [e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    exact = [n for n in names if n == run_id]
    chosen = exact or [n for n in names if n.startswith(run_id)]
    return [RunFolder(root / n) for n in sorted(chosen) if (root / n / "run.json").is_file()]
