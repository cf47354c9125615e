"""Alerts: what the journal says needs a person, raised once for every watcher.

A rule reads a run's journal (folded as it grows, :class:`RunFacts`) and its live state, and names
each event by a key ("crashed", "budget:time:80", "ask:<id>"). A key already in the journal as an
``alert`` entry is never raised again: whichever watcher (the overview, a watch screen, another
operator's) sees it first journals it, under a lock outside every run folder, and the others read
it there. Agent text in an alert (a question, a hint's answer, a metric name) is cleaned before it
is kept. Rules and thresholds come from ``alerts.toml`` in the config folder
(:func:`load_settings`).
"""

from __future__ import annotations

import enum
import fcntl
import os
import time
import tomllib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mletui.core.events import (
    ActionRecord,
    AgentStep,
    BudgetLimits,
    RunState,
    Score,
    StallFlag,
    StatusUpdate,
    TokenUsage,
)
from mletui.core.records import (
    Ack,
    AgentQuestion,
    AlertRecord,
    BadEntry,
    GradeRecord,
    GradingRecord,
    Record,
    decode,
)
from mletui.core.sanitize import clean_text
from mletui.run.stalls import track_stall
from mletui.store.journal import Journal, JournalFollower
from mletui.store.runs import RunFolder, RunRecord, config_dir, scan_runs

SETTINGS_FILE = "alerts.toml"
DESKTOP_KINDS = ("auto", "osc9", "osc777", "off")
LOCK_FILE = "alerts.lock"
MAX_TEXT = 300  # an alert is a line on a phone: the agent's text is cut there


class AlertKind(enum.StrEnum):
    CRASHED = "crashed"
    LOST = "lost"
    STALLED = "stalled"
    NO_SCORE = "no-score"
    BUDGET = "budget"
    BEST = "best"
    MEDAL = "medal"
    HINT_ANSWERED = "hint-answered"
    ASK = "ask"


@dataclass(frozen=True)
class Alert:
    """One alert: its run, when what it tells happened, its kind and a clean line of text."""

    run_id: str
    ts: float
    kind: AlertKind
    key: str
    text: str
    upto: float | None = None  # questions: the newest one this alert covers

    def line(self) -> str:
        return f"{self.run_id}: {self.text}"


@dataclass(frozen=True)
class AlertSettings:
    """The rules: which alerts, their thresholds, and where they go besides the screen."""

    kinds: frozenset[AlertKind] = frozenset(AlertKind)
    budget_warn: float = 0.8  # a budget's first alert, as a fraction of it (the second at 1.0)
    no_score_s: float = 3600.0  # a live run without a new score this long: an alert (0: off)
    recent_s: float = 3600.0  # older events, found when a watcher starts, are not alerted
    ask_limit: int = 3  # questions alerted one by one per run and window; more are folded
    ask_window_s: float = 600.0
    bell: bool = True
    desktop: str = "auto"  # a desktop notification through the terminal: one of DESKTOP_KINDS
    desktop_tmux: bool = False  # under tmux, wrapped in its passthrough (allow-passthrough on)
    notify: tuple[str, ...] = ()  # Apprise URLs
    poll_s: float = 5.0


_NUMBERS = {  # key in alerts.toml -> (field, scale)
    "budget_warn_percent": ("budget_warn", 0.01),
    "no_score_minutes": ("no_score_s", 60.0),
    "recent_minutes": ("recent_s", 60.0),
    "ask_window_minutes": ("ask_window_s", 60.0),
    "poll_seconds": ("poll_s", 1.0),
}


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> tuple[AlertSettings, str | None]:
    """The settings in ``alerts.toml`` (``[alerts]``), and a warning line when the file cannot be
    used (then every default holds). No file: the defaults, no warning."""
    path = path or settings_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return _settings(data.get("alerts", {})), None
    except FileNotFoundError:
        return AlertSettings(), None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as exc:
        reason = clean_text(str(exc) or type(exc).__name__, 200)
        return AlertSettings(), f"{clean_text(str(path))} not used ({reason}): default alerts."


def _settings(table: Any) -> AlertSettings:
    if not isinstance(table, dict):
        raise ValueError("[alerts] is not a table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _NUMBERS:
            name, scale = _NUMBERS[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} is not a number of at least 0")
            values[name] = float(value) * scale
        elif key == "ask_limit":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError("ask_limit is not a whole number of at least 1")
            values["ask_limit"] = value
        elif key in ("bell", "desktop_tmux"):
            if not isinstance(value, bool):
                raise ValueError(f"{key} is not true or false")
            values[key] = value
        elif key == "desktop":
            if value not in DESKTOP_KINDS:
                raise ValueError(f"desktop is not one of {', '.join(DESKTOP_KINDS)}")
            values["desktop"] = value
        elif key == "notify":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("notify is not a list of URLs")
            values["notify"] = tuple(value)
        elif key == "off":
            if not isinstance(value, list):
                raise ValueError("off is not a list of alert kinds")
            try:
                off = {AlertKind(v) for v in value}
            except ValueError as exc:
                known = ", ".join(k.value for k in AlertKind)
                raise ValueError(f"off names an unknown kind (known: {known})") from exc
            values["kinds"] = frozenset(AlertKind) - off
        else:
            raise ValueError(f"unknown setting {key!r}")
    return AlertSettings(**values)


def _agent_text(text: str) -> str:
    """The agent's words as an alert carries them: one line, no control or format character."""
    return clean_text(text, MAX_TEXT)


@dataclass
class RunFacts:
    """What the rules need from one run's journal, folded entry by entry as it grows."""

    alerted: set[str] = field(default_factory=set)
    asked_upto: float = 0.0  # the newest question already covered by an alert
    ask_alert_times: list[float] = field(default_factory=list)
    best: Score | None = None
    last_score_ts: float | None = None
    stalls: dict[str, StallFlag] = field(default_factory=dict)
    questions: list[AgentQuestion] = field(default_factory=list)  # those not yet covered
    answers: list[Ack] = field(default_factory=list)
    cost: float = 0.0
    steps: int = 0
    max_cost: float | None = None
    max_steps: int | None = None
    thresholds: dict[str, float | None] = field(default_factory=dict)
    lower_is_better: bool = False
    medal_grade: GradeRecord | None = None
    revealed: bool = False

    def add(self, item: Record | BadEntry) -> None:
        match item:
            case AlertRecord():
                self.alerted.add(item.key)
                if item.alert == AlertKind.ASK:
                    self.ask_alert_times.append(item.ts)
                    if item.upto is not None and item.upto > self.asked_upto:
                        self.asked_upto = item.upto
                        self.questions = [q for q in self.questions if q.ts > item.upto]
            case Score(kind="validation"):
                self.last_score_ts = item.ts
                best = self.best
                higher = item.direction == "higher"
                if best is None or (item.value > best.value if higher else item.value < best.value):
                    self.best = item
            case StallFlag():
                track_stall(self.stalls, item)
            case AgentQuestion():
                if item.ts > self.asked_upto:
                    self.questions.append(item)
            case Ack(ack_kind="hint", status="used" | "ignored"):
                self.answers.append(item)
            case TokenUsage(cost=cost) if cost is not None:
                self.cost += cost
            case AgentStep():
                self.steps += 1
            case BudgetLimits():
                self.max_cost, self.max_steps = item.max_cost, item.max_steps
            case GradingRecord(thresholds=thresholds) if thresholds:
                self.thresholds = dict(thresholds)
                self.lower_is_better = item.direction == "lower"
            case GradeRecord(medal=medal) if medal and item.valid:
                self.medal_grade = item
            case ActionRecord(action="reveal-grade"):
                self.revealed = True


MEDAL_ORDER = ("gold", "silver", "bronze")


def evaluate(
    run_id: str,
    record: RunRecord,
    status: StatusUpdate,
    facts: RunFacts,
    settings: AlertSettings,
    now: float,
) -> list[Alert]:
    """The alerts a run's state and journal call for now, those already journaled left out."""
    found: list[Alert] = []

    def add(kind: AlertKind, ts: float, key: str, text: str, upto: float | None = None) -> None:
        if kind in settings.kinds and key not in facts.alerted and ts >= now - settings.recent_s:
            found.append(Alert(run_id, ts, kind, key, text, upto))

    state = status.state
    ended_at = record.ended or now
    if state is RunState.EXITED and (status.exit_code or 0) != 0:
        oom = " (out of memory)" if record.oom_killed else ""
        add(AlertKind.CRASHED, ended_at, "crashed", f"crashed: exit code {status.exit_code}{oom}")
    elif state.ended and status.end_reason == "supervisor error":
        add(AlertKind.CRASHED, ended_at, "crashed", "crashed: the supervisor failed")
    if state is RunState.LOST:
        add(AlertKind.LOST, now, "lost", "lost: its supervisor is gone")
    live = not state.ended and state is not RunState.LOST
    if live:
        for flag in facts.stalls.values():
            key = f"stalled:{flag.flag}:{flag.since:.0f}"
            add(AlertKind.STALLED, flag.ts, key, f"stalled: {flag.text}")
        last = facts.last_score_ts or record.started
        silent = settings.no_score_s > 0 and last is not None and now - last >= settings.no_score_s
        if silent and state is RunState.RUNNING:
            minutes = f"{settings.no_score_s / 60:.0f} min"
            add(AlertKind.NO_SCORE, now, f"no-score:{last:.0f}", f"no new score for {minutes}")
    _budgets(add, record, status, facts, settings, now)
    best = facts.best
    if best is not None:
        name = _agent_text(best.name)
        text = f"new best {name} {best.value:.6g} (step {best.step})"
        add(AlertKind.BEST, best.ts, f"best:{best.ts:.3f}", text)
        medal = _validation_medal(best.value, facts)
        if medal:
            text = f"validation {name} {best.value:.6g} crossed the {medal} line"
            add(AlertKind.MEDAL, best.ts, f"medal:validation:{medal}", text)
    grade = facts.medal_grade
    if grade is not None and grade.medal and (facts.revealed or state.ended):
        text = f"graded a {grade.medal} medal (submission {grade.submission}, {grade.score:.6g})"
        add(AlertKind.MEDAL, grade.ts, f"medal:grade:{grade.medal}", text)
    for ack in facts.answers:
        message = _agent_text(ack.message)
        text = f"the agent {ack.status} hint {_agent_text(ack.id)}: {message}"
        add(AlertKind.HINT_ANSWERED, ack.ts, f"hint:{_agent_text(ack.id)}", text)
    _questions(add, facts, settings, now)
    return found


def _budgets(
    add: Any,
    record: RunRecord,
    status: StatusUpdate,
    facts: RunFacts,
    settings: AlertSettings,
    now: float,
) -> None:
    uses: list[tuple[str, float, float]] = []  # name, used, limit
    if record.time_limit_s:
        used = record.time_limit_s if status.end_reason == "time limit" else status.active_s
        uses.append(("time", used, record.time_limit_s))
    if facts.max_cost:
        uses.append(("cost", facts.cost, facts.max_cost))
    if facts.max_steps:
        uses.append(("steps", float(facts.steps), float(facts.max_steps)))
    ts = record.ended or now
    for name, used, limit in uses:
        for level in (1.0, settings.budget_warn):
            if used >= limit * level:
                percent = f"{level * 100:.0f}"
                text = f"{percent} % of its {name} budget used"
                add(AlertKind.BUDGET, ts, f"budget:{name}:{percent}", text)
                break  # past 100 %, the 80 % alert has nothing left to say


def _validation_medal(value: float, facts: RunFacts) -> str | None:
    for medal in MEDAL_ORDER:
        line = facts.thresholds.get(medal)
        if line is None:
            continue
        if (value <= line) if facts.lower_is_better else (value >= line):
            return medal
    return None


def _questions(add: Any, facts: RunFacts, settings: AlertSettings, now: float) -> None:
    """Each question its own alert, at most ``ask_limit`` a window per run; past that, what is
    waiting is folded into one alert when the window lets one more through."""
    pending = [q for q in facts.questions if q.ts >= now - settings.recent_s]
    if not pending:
        return
    recent = sum(1 for t in facts.ask_alert_times if t >= now - settings.ask_window_s)
    room = settings.ask_limit - recent
    if room <= 0:
        return
    if len(pending) <= room:
        for q in pending:
            add(AlertKind.ASK, q.ts, f"ask:{_agent_text(q.id)}:{q.ts:.3f}", _asked(q), q.ts)
        return
    for q in pending[: room - 1]:
        add(AlertKind.ASK, q.ts, f"ask:{_agent_text(q.id)}:{q.ts:.3f}", _asked(q), q.ts)
    rest = pending[room - 1 :]
    last = rest[-1]
    text = f"asks for help {len(rest)} more times (rate-limited); the latest: " + _agent_text(
        last.text
    )
    add(AlertKind.ASK, last.ts, f"ask-many:{last.ts:.3f}", text, last.ts)


def _asked(question: AgentQuestion) -> str:
    return f"asks for help: {_agent_text(question.text)} (answer with a hint)"


@contextmanager
def _alerts_lock() -> Iterator[None]:
    """One watcher at a time checks and journals alerts; the lock is in the operator's config
    folder, where no agent can hold it."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass
class _Followed:
    follower: JournalFollower
    facts: RunFacts


class AlertWatcher:
    """Checks every run of the store for alerts, reading each journal only as it grows; a run
    that ended before the alert horizon is not read at all."""

    def __init__(self, settings: AlertSettings | None = None) -> None:
        self.settings = settings or AlertSettings()
        self._runs: dict[str, _Followed] = {}

    def check(self, now: float | None = None) -> list[Alert]:
        """The alerts raised by this call (journaled here; none that another watcher raised)."""
        from mletui.watch.livestate import read_status

        now = time.time() if now is None else now
        raised: list[Alert] = []
        for folder in scan_runs().folders:
            try:
                record = folder.read()
                if record.ended is not None and record.ended < now - self.settings.recent_s:
                    self._runs.pop(folder.id, None)
                    continue
                followed = self._follow(folder)
                status = read_status(folder, record)
                if evaluate(folder.id, record, status, followed.facts, self.settings, now):
                    raised += self._raise(folder, followed, record, now)
            except (OSError, ValueError):  # a run folder changing under us: next time
                continue
        return raised

    def _follow(self, folder: RunFolder) -> _Followed:
        followed = self._runs.get(folder.id)
        if followed is None:
            followed = _Followed(JournalFollower(folder.journal_path), RunFacts())
            self._runs[folder.id] = followed
        _read(followed)
        return followed

    def _raise(
        self,
        folder: RunFolder,
        followed: _Followed,
        record: RunRecord,
        now: float,
    ) -> list[Alert]:
        from mletui.watch.livestate import read_status

        with _alerts_lock():
            _read(followed)  # another watcher may have raised them while we looked
            fresh = evaluate(
                folder.id, record, read_status(folder, record), followed.facts, self.settings, now
            )
            journal = Journal(folder.journal_path)
            for alert in fresh:
                journal.write(AlertRecord(0.0, alert.kind.value, alert.key, alert.text, alert.upto))
            _read(followed)
        return fresh


def _read(followed: _Followed) -> None:
    while True:
        entries, _ = followed.follower.read_new()
        for entry in entries:
            followed.facts.add(decode(entry))
        if not followed.follower.more:
            return


def alerts_in(records: Iterable[Record | BadEntry], run_id: str) -> list[Alert]:
    """The alerts a journal holds, oldest first (the alerts list, `mletui show`)."""
    out = []
    for item in records:
        if isinstance(item, AlertRecord):
            try:
                kind = AlertKind(item.alert)
            except ValueError:
                continue
            out.append(Alert(run_id, item.ts, kind, item.key, clean_text(item.text), item.upto))
    return out
