"""Live scores, of two kinds that are never mixed.

- **validation**: what the agent says about itself: the protocol's ``metrics.jsonl`` (read by
  the recorder) and metric lines in its log, matched by patterns the user configures per agent
  (:func:`load_patterns`, ``$MLETUI_CONFIG_DIR/patterns.toml``). Journal kind ``score``.
- **grade**: what mletui computes on the task's held-out answers. :class:`LiveScores` grades
  every new or changed ``submission.csv`` once it has settled, in a thread of the supervisor (so
  a run is graded whether or not anyone watches), and writes a ``grade`` entry that names the
  workspace snapshot current when the submission appeared. Journal kind ``grade``; the grading
  set-up (metric, direction, medal lines) is one ``grading`` entry at the start.

Also here: the journal entries back into typed events, and a run's grades summed up for ``ls``.
No UI code; pandas and scikit-learn load only when the first submission is graded.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mletui.core.events import ActionRecord, Grade, GradingInfo, Score, Snapshot, Stream
from mletui.core.records import (
    BadEntry,
    GradeRecord,
    GradingRecord,
    JournalNotice,
    Record,
    decode,
)
from mletui.store import controlfiles
from mletui.store.journal import Entry, Journal, read_journal
from mletui.store.runs import RunFolder, config_dir
from mletui.store.spool import LogFollower

GRADE_KIND = "grade"
GRADING_KIND = "grading"
SCORELESS = ("the container's grading server",)  # checks validity, gives no score
REVEAL_ACTION = "reveal-grade"
SUBMISSION_FILE = "submission.csv"
PATTERNS_FILE = "patterns.toml"

POLL_S = 0.25
SETTLE_S = 0.75  # a submission unchanged this long is complete (agents may write it in pieces)
MAX_MATCH_CHARS = 4_000  # a log line is matched on its start only: a 10 MB line costs nothing

_DIRECTIONS = {"higher": "higher", "max": "higher", "lower": "lower", "min": "lower"}


# --- patterns: validation scores in the log ------------------------------------------------------


def patterns_path() -> Path:
    return config_dir() / PATTERNS_FILE


@dataclass(frozen=True)
class LogPattern:
    """A regular expression that finds a validation score in one agent's log lines.

    The expression has a ``value`` group, and may have ``name`` and ``step`` groups; ``name``
    and ``direction`` here are used when it has not.
    """

    agent: str  # the run's agent ("cmd", "baseline", ...), the name in hello.json, or "*"
    regex: re.Pattern[str]
    name: str
    direction: str | None  # None: the task's direction

    def applies_to(self, agents: Iterable[str]) -> bool:
        return self.agent == "*" or self.agent in agents


def load_patterns(path: Path | None = None) -> tuple[list[LogPattern], list[str]]:
    """The patterns in ``patterns.toml``, and one sentence for each entry that is unusable.

    The file holds ``[[pattern]]`` tables: ``agent``, ``regex``, optional ``name`` and
    ``direction`` ("higher" or "lower"). No file: no patterns, no warnings.
    """
    path = path or patterns_path()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return [], []
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [], [f"{path} cannot be read ({exc}); no log patterns are used."]
    tables = data.get("pattern", [])
    if not isinstance(tables, list):
        return [], [f"{path}: write each pattern as a [[pattern]] table."]
    patterns: list[LogPattern] = []
    warnings: list[str] = []
    for number, table in enumerate(tables, start=1):
        where = f"{path}, pattern {number}"
        if not isinstance(table, dict):
            warnings.append(f"{where} is not a table; it is skipped.")
            continue
        agent, regex = table.get("agent", "*"), table.get("regex")
        if not isinstance(agent, str) or not agent or not isinstance(regex, str):
            warnings.append(f"{where} needs 'agent' and 'regex' strings; it is skipped.")
            continue
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            warnings.append(f"{where}: the regex does not compile ({exc}); it is skipped.")
            continue
        if "value" not in compiled.groupindex:
            warnings.append(f"{where}: the regex has no (?P<value>...) group; it is skipped.")
            continue
        direction = table.get("direction")
        if direction is not None and _DIRECTIONS.get(str(direction).lower()) is None:
            warnings.append(f"{where}: direction must be 'higher' or 'lower'; it is skipped.")
            continue
        patterns.append(
            LogPattern(
                agent=agent,
                regex=compiled,
                name=str(table.get("name") or "score")[:100],
                direction=None if direction is None else _DIRECTIONS[str(direction).lower()],
            )
        )
    return patterns, warnings


class LogScoreMatcher:
    """Turns log lines into validation score entries with the patterns of the run's agent."""

    def __init__(self, patterns: Sequence[LogPattern], default_direction: str) -> None:
        self.patterns = list(patterns)
        self.default_direction = default_direction
        self._steps: dict[str, int] = {}

    def match(self, text: str, agents: Iterable[str]) -> list[Score]:
        """Scores for the patterns that match ``text`` (their time, line and snapshot unset)."""
        agents = set(agents)
        head = text[:MAX_MATCH_CHARS]
        found: list[Score] = []
        for pattern in self.patterns:
            if not pattern.applies_to(agents):
                continue
            m = pattern.regex.search(head)
            if m is None:
                continue
            try:
                value = float(m.group("value"))
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                continue
            groups = m.groupdict()
            name = str(groups.get("name") or pattern.name)[:100]
            step = self._steps.get(name, 0) + 1
            if groups.get("step"):
                with contextlib.suppress(ValueError, OverflowError):
                    step = int(float(groups["step"]))
            self._steps[name] = max(step, self._steps.get(name, 0))
            direction = pattern.direction or self.default_direction
            found.append(Score(0.0, step, name, value, direction, source="log"))
        return found


# --- which snapshot a score came from ------------------------------------------------------------

SAME_MOMENT_S = 0.05  # file times are coarse (a kernel tick): closer than this is "after"


class SnapshotClock:
    """When each workspace snapshot's code was written, to find the code behind a score.

    A score made at time T came from the last snapshot whose changes were written before T: an
    agent that reports a score and at once writes its next solution must not have the score
    pinned to the new code. Change times are the files' mtimes (what was written, not when the
    watcher noticed). Thread-safe.
    """

    def __init__(self) -> None:
        self._times: list[tuple[float, int]] = []  # (written, seq), in seq order
        self._lock = threading.Lock()

    def add(self, snapshot: Snapshot, written_at: Mapping[str, float]) -> None:
        """``written_at``: each file's mtime as the snapshot read it (never the workspace's
        file again, which the agent may have swapped for a link since)."""
        written = [
            written_at[change.path]
            for change in snapshot.changes
            # a deletion has no time of its own: the scan's time stands
            if change.new is not None and change.path in written_at
        ]
        self.add_time(snapshot.seq, max(written) if written else snapshot.ts)

    def add_time(self, seq: int, written: float) -> None:
        with self._lock:
            self._times.append((written, seq))

    def at(self, ts: float) -> int | None:
        """The snapshot current at ``ts``: the last one written before it, or None."""
        with self._lock:
            found = None
            for written, seq in self._times:
                if written < ts - SAME_MOMENT_S:
                    found = seq if found is None else max(found, seq)
            return found


def reported_at(record: dict[str, Any]) -> float:
    """When an agent says it reported something (its ``ts``), never later than now."""
    now = time.time()
    value = record.get("ts")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return min(float(value), now)
    return now


# --- the supervisor's side: grading and log matching ---------------------------------------------


@dataclass
class _SubmissionState:
    seen: tuple[int, int] | None = None  # (mtime_ns, size) as last observed
    changed_at: float = 0.0  # monotonic time of the last change observed
    graded: tuple[int, int] | None = None  # the signature last graded (or found unchanged)
    graded_sha: str | None = None
    pending_snapshot: int | None = None  # the snapshot current when the file was last written
    count: int = 0  # submissions graded so far


class LiveScores:
    """Grades each settled ``submission.csv`` and matches metric lines in the log, in a thread.

    Runs in the supervisor, beside the recorder. ``snapshot_at(ts)`` returns the workspace
    snapshot current at ``ts`` (the recorder scans first, so code not yet noticed counts).
    """

    def __init__(
        self,
        folder: RunFolder,
        journal: Journal,
        snapshot_at: Callable[[float], int | None],
        *,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.folder = folder
        self.journal = journal
        self.snapshot_at = snapshot_at
        self.settle_s = settle_s
        self.path = folder.submission / SUBMISSION_FILE
        self._state = _SubmissionState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._task: Any = None  # mletui.grading.Task, or None when grading is unavailable
        self._thresholds: Any = None
        self._log = LogFollower(folder.log_path)
        self._skip_lines = 0
        self._matcher = LogScoreMatcher([], "higher")
        self._agents: set[str] = set()

    # lifecycle

    def start(self) -> None:
        self._restore()
        self._set_up()
        self._thread = threading.Thread(target=self._run, name="recorder-scores", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then read the rest of the log and grade the final submission."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with self._lock:
            self._read_log()
            self._check_submission(final=True)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                with self._lock:
                    self._read_log()
                    self._check_submission(final=False)
            except Exception as exc:  # scoring must never stop the recording of a run
                self.journal.write(JournalNotice(0.0, f"live scoring failed: {exc}"))
                self._stop.wait(5.0)

    def _restore(self) -> None:
        """Continue after a restart: skip what the journal already has."""
        for record in map(decode, read_journal(self.folder.journal_path).entries):
            if isinstance(record, GradeRecord):
                self._state.count = max(self._state.count, record.submission)
                self._state.graded_sha = record.sha256
            elif isinstance(record, Score) and record.source == "log":
                self._skip_lines = max(self._skip_lines, record.line or 0)

    def _set_up(self) -> None:
        """Load the task, its medal lines and the log patterns; journal the grading set-up."""
        from mletui.grading.report import task_thresholds
        from mletui.grading.tasks import TaskError, load_task, resolve_task

        record = self.folder.read()
        self._agents = {record.agent}
        info = GradingRecord(0.0, "", "higher", False, "")
        try:
            try:
                task = load_task(record.task_path)
            except TaskError:
                task = resolve_task(record.task)
        except TaskError as exc:
            info = replace(info, note=f"submissions are not graded: {exc}")
        else:
            info = replace(info, metric=task.metric, direction=task.direction)
            if task.answers_path.is_file():
                self._task = task
                note = f"submission.csv is graded on {task.id}'s held-out answers"
                info = replace(info, available=True, note=note)
            else:
                note = f"submissions are not graded: task {task.id} has no private answers"
                info = replace(info, note=note)
            board, error = task_thresholds(task)
            self._thresholds = (board, error)
            if board is not None:
                info = replace(
                    info,
                    thresholds={name: value for name, value in board.lines()},
                    teams=board.teams,
                    leaderboard_lower_is_better=board.lower_is_better,
                )
            if error:
                info = replace(info, leaderboard_error=error)
        self.journal.write(info)
        patterns, warnings = load_patterns()
        for warning in warnings:
            self.journal.write(JournalNotice(0.0, warning))
        self._matcher = LogScoreMatcher(patterns, info.direction)

    # log lines

    def _read_log(self) -> None:
        if not self._matcher.patterns:
            return
        hello = _hello_agent(self.folder.control)
        agents = self._agents | ({hello} if hello else set())
        while lines := self._log.read_new(max_lines=5_000):
            for line in lines:
                if line.stream is Stream.SYSTEM or line.number <= self._skip_lines:
                    continue
                matches = self._matcher.match(line.text, agents)
                if not matches:
                    continue
                seq = self.snapshot_at(line.ts)
                for score in matches:
                    self.journal.write(replace(score, line=line.number, snapshot_seq=seq))

    # submissions

    def _check_submission(self, *, final: bool) -> None:
        state = self._state
        try:
            st = self.path.lstat()  # a link is seen (and refused) as itself
            signature: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            signature = None
        now = time.monotonic()
        if signature != state.seen:
            state.seen = signature
            state.changed_at = now
            if signature is not None:  # the code current when it was last written
                state.pending_snapshot = self.snapshot_at(signature[0] / 1e9)
            if not final:
                return
        if signature is None or signature == state.graded:
            return
        if not final and now - state.changed_at < self.settle_s:
            return
        self._grade(signature)

    def _grade(self, signature: tuple[int, int]) -> None:
        from mletui.grading.sandbox import grade_safely

        state = self._state
        snapshot = state.pending_snapshot
        path = f"{self.path.parent.name}/{self.path.name}"
        if self._task is None:
            if not self.path.exists():
                return
            state.graded = signature
            state.pending_snapshot = None
            self._journal_grade(
                signature,
                path,
                snapshot,
                size=signature[1],
                sha256=None,
                valid=False,
                score=None,
                reason="this run's task cannot be graded",
                metric="",
                direction="higher",
            )
            return
        # Opened from the run folder down, without following any link, copied and hashed in
        # one read (the bytes hashed are the bytes graded), and graded in a child process
        # under memory and time limits: see mletui.grading.sandbox.
        result = grade_safely(
            self._task,
            self.folder.path,
            path,
            thresholds=self._thresholds,
            reported_path=self.path,
        )
        report = result.report
        if not report.submission_exists and report.invalid_reason == (
            f"No submission file at {self.path}."
        ):
            return  # gone between stat and read: the next change is graded
        state.graded = signature
        state.pending_snapshot = None
        if result.sha256 is not None and result.sha256 == state.graded_sha:
            return  # rewritten with the same content: nothing new to grade
        state.graded_sha = result.sha256
        self._journal_grade(
            signature,
            path,
            snapshot,
            size=signature[1] if result.size is None else result.size,
            sha256=result.sha256,
            valid=report.valid_submission,
            score=report.score,
            reason=report.invalid_reason,
            metric=report.metric,
            direction=self._task.direction,
            medal=report.medal,
            above_median=report.ranking.above_median,
            report=report.to_dict(nan=False),  # the journal is strict JSON
        )

    def _journal_grade(
        self,
        signature: tuple[int, int],
        path: str,
        snapshot: int | None,
        *,
        size: int | None,
        sha256: str | None,
        valid: bool,
        score: float | None,
        reason: str | None,
        metric: str,
        direction: str,
        medal: str | None = None,
        above_median: bool = False,
        report: dict[str, Any] | None = None,
    ) -> None:
        """Journal a verdict on the submission seen at ``signature`` (its mtime and size) as the
        run's next numbered submission."""
        self._state.count += 1
        self.journal.write(
            GradeRecord(
                0.0,
                submission=self._state.count,
                path=path,
                submission_ts=signature[0] / 1e9,
                size=size,
                sha256=sha256,
                snapshot_seq=snapshot,
                valid=valid,
                score=score,
                reason=reason,
                metric=metric,
                direction=direction,
                medal=medal,
                above_median=above_median,
                report=report,
            )
        )


def _hello_agent(control: Path) -> str | None:
    hello = controlfiles.read_hello(control) or {}
    agent = hello.get("agent")
    return str(agent) if agent else None


# --- the reading side: journal entries as events, and summaries -----------------------------------


def grade_event(record: GradeRecord) -> Grade:
    """The grade the UI shows for a ``grade`` record."""
    return Grade(
        ts=record.ts,
        submission=record.submission,
        # Only a grading server (it says valid or not, never a score) calls a scoreless one valid.
        valid=record.valid and (record.score is not None or record.checked_by in SCORELESS),
        score=record.score,
        reason=record.reason,
        metric=record.metric,
        direction=record.direction,
        medal=record.medal,
        above_median=record.above_median,
        snapshot_seq=record.snapshot_seq,
        submission_ts=record.submission_ts,
        checked_by=record.checked_by,
    )


def grading_info(record: GradingRecord) -> GradingInfo:
    """The grading set-up the UI shows for a ``grading`` record (medal lines that are numbers)."""
    lines = tuple(
        (name, float(value))
        for name, value in (record.thresholds or {}).items()
        if value is not None and math.isfinite(value)
    )
    return GradingInfo(
        ts=record.ts,
        metric=record.metric,
        direction=record.direction,
        available=record.available,
        note=record.note,
        thresholds=lines,
        teams=record.teams or 0,
        grader=record.grader or "mletui",
    )


def grade_from_entry(entry: Entry) -> Grade:
    """The grade of a ``grade`` journal entry (ValueError saying why when it is not one)."""
    record = decode(entry)
    if not isinstance(record, GradeRecord):
        raise ValueError(record.problem if isinstance(record, BadEntry) else "not a grade")
    return grade_event(record)


def grading_info_from_entry(entry: Entry) -> GradingInfo:
    """The grading set-up of a ``grading`` journal entry (ValueError when it is not one)."""
    record = decode(entry)
    if not isinstance(record, GradingRecord):
        raise ValueError(record.problem if isinstance(record, BadEntry) else "not a grading")
    return grading_info(record)


@dataclass(frozen=True)
class GradeSummary:
    """A run's grades as ``ls``, ``show`` and the overview tell them."""

    graded: int  # submissions graded
    latest: Grade | None  # the grade of the current submission.csv (what MLE-bench would score)
    best: Grade | None  # the best valid grade of any submission
    seen_by: tuple[str, ...]  # operators who revealed a grade while the run lived

    @property
    def seen(self) -> bool:
        return bool(self.seen_by)


def summarize_grades(records: Iterable[Record | BadEntry]) -> GradeSummary:
    """Sum up the grades and the reveals of a journal."""
    latest: Grade | None = None
    best: Grade | None = None
    graded = 0
    seen: dict[str, None] = {}
    for record in records:
        match record:
            case GradeRecord():
                grade = grade_event(record)
                graded += 1
                latest = grade
                if grade.valid and (best is None or _better(grade, best)):
                    best = grade
            case ActionRecord(action=action, operator=operator) if action == REVEAL_ACTION:
                seen[operator] = None
    return GradeSummary(graded, latest, best, tuple(seen))


def merged_grades(before: GradeSummary, after: GradeSummary) -> GradeSummary:
    """What :func:`summarize_grades` says of a journal read in two parts, from each part's."""
    best = before.best
    if after.best is not None and (best is None or _better(after.best, best)):
        best = after.best
    seen = dict.fromkeys((*before.seen_by, *after.seen_by))
    latest = after.latest if after.graded else before.latest
    return GradeSummary(before.graded + after.graded, latest, best, tuple(seen))


def _better(grade: Grade, than: Grade) -> bool:
    assert grade.score is not None and than.score is not None
    return grade.score < than.score if grade.direction == "lower" else grade.score > than.score


def grade_text(grade: Grade | None, *, digits: int = 5) -> str:
    """A grade in a few words: ``0.97333 bronze``, ``invalid``, ``-``."""
    if grade is None:
        return "-"
    if not grade.valid or grade.score is None:
        return "invalid"
    text = f"{grade.score:.{digits}g}"
    return f"{text} {grade.medal}" if grade.medal else text
