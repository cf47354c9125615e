"""What a watch screen needs from a run, whatever its source: the Session and Control protocols.

A session says what it can do as :class:`Capability` flags; a key whose capability is missing is
explained with the session's own sentence, never by an action that raises. Actions beyond the
journal's are small protocols of their own (:class:`SoftPausing`, :class:`Freezing`, ...), which a
session's control implements only when its capabilities say so.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mletui.core.events import Event, Snapshot, StatusUpdate
from mletui.store.runs import RunFolder, RunRecord
from mletui.store.spool import LogHistory


class Capability(enum.Flag):
    """What a session can do; the watch screen shows and explains its keys from these."""

    NONE = 0
    SOFT_PAUSE = enum.auto()  # ask the agent to stop at its next checkpoint
    HINTS = enum.auto()
    FREEZE = enum.auto()  # stop the run at once, through its runtime
    KILL = enum.auto()
    KILL_CONTAINER = enum.auto()  # a second kind of kill: the container itself
    REVEAL_GRADES = enum.auto()  # journal that the operator saw the held-out grade
    DRIVE = enum.auto()  # hold the driver lock while watching
    PLAYBACK = enum.auto()  # a recorded run: play, seek, bookmarks

    @classmethod
    def acting(cls) -> Capability:
        """The capabilities that act on the run itself."""
        return cls.SOFT_PAUSE | cls.HINTS | cls.FREEZE | cls.KILL | cls.KILL_CONTAINER


@dataclass(frozen=True)
class ReplayReset:
    """The panes must be emptied: what follows replays the run from its start."""


@dataclass(frozen=True)
class ReplayClock:
    """Where playback is, for the timeline bar."""

    position_s: float
    duration_s: float
    speed: float
    playing: bool
    bookmarks: tuple[tuple[float, str], ...]
    finished: bool


PlaybackEvent = ReplayReset | ReplayClock
SessionEvent = Event | PlaybackEvent


@dataclass(frozen=True)
class ActionNotes:
    """What the watch screen says after an action; a source whose actions differ says its own."""

    frozen: str = "Frozen: the run is stopped until thawed."
    thawed: str = "Thawed."
    killed: str = "Kill sent: SIGTERM now, SIGKILL after 10 s."
    container_killed: str = "Container killed."
    kill_title: str = "Kill this run?"  # the kill choice (agent or container), when there is one
    kill_choices: str = ""
    kill_buttons: tuple[str, str] = ("Kill the agent", "Kill the container")  # a, c
    opening: str | None = None  # said once when the screen opens


@runtime_checkable
class Control(Protocol):
    """Acts on one run for one operator; every session's control can journal a grade reveal."""

    @property
    def folder(self) -> RunFolder: ...

    def status(self) -> StatusUpdate: ...

    def reveal_grade(self, detail: str = "") -> None: ...


@runtime_checkable
class PairDiffing(Protocol):
    """A session whose code can be diffed between any two snapshots (not only neighbours)."""

    def diff_between(self, old: Snapshot, new: Snapshot) -> list[tuple[str, str, str]]: ...


@runtime_checkable
class SoftPausing(Protocol):
    def pause(self) -> None: ...

    def resume(self) -> None: ...


@runtime_checkable
class ScopedPausing(Protocol):
    """A pause the operator aims at a scope the source offers (an Inspect eval: the sample's task,
    its model, the whole process), soft or hard (``now``); the screen asks which."""

    def pause_scopes(self) -> Sequence[tuple[str, str, str]]:
        """(key, scope, what it names) for each scope, in the order the dialog lists them."""
        ...

    def paused_scopes(self) -> Sequence[str]:
        """The scopes that hold the run now (a resume lifts each)."""
        ...

    def pause(self, scope: str, now: bool = False) -> None: ...

    def resume(self, scope: str) -> None: ...


@runtime_checkable
class LimitSetting(Protocol):
    """Limits the operator can change while the run goes on (an Inspect task's per-sample time,
    token and message limits); the screen asks for ``name=value`` pairs."""

    def limit_names(self) -> Sequence[str]: ...

    def set_limits(self, **limits: int | str) -> object: ...


@runtime_checkable
class ToolCallCancelling(Protocol):
    """Cancel the tool call the agent is waiting on; the agent goes on (it sees a timeout)."""

    def cancel_tool_call(self) -> None: ...


@runtime_checkable
class ProcessKilling(Protocol):
    """Kill asked twice: the process that runs the whole run (an Inspect eval's, by SIGTERM)."""

    def process_killable(self) -> bool:
        """True when a kill now ends the process (the run was killed once already)."""
        ...


@runtime_checkable
class Hinting(Protocol):
    def hint(self, text: str) -> str: ...


@runtime_checkable
class Freezing(Protocol):
    def freeze(self) -> None: ...

    def thaw(self) -> None: ...


@runtime_checkable
class Killing(Protocol):
    def kill(self, grace_s: float = ...) -> None: ...


@runtime_checkable
class ContainerKilling(Protocol):
    def kill_container(self) -> None: ...


@runtime_checkable
class Attaching(Protocol):
    """A session whose means of acting (a container) are found on its first polls; a one-shot
    command, which does not poll, asks for them at once."""

    def attach(self) -> None: ...


@runtime_checkable
class Session(Protocol):
    """One watched run as a stream of events, with what its source lets the operator do.

    ``poll()`` does file I/O and is called from a worker thread, never from the UI thread."""

    @property
    def capabilities(self) -> Capability: ...

    @property
    def control(self) -> Control: ...

    @property
    def notes(self) -> ActionNotes: ...

    @property
    def record(self) -> RunRecord: ...

    @property
    def logs(self) -> LogHistory | None:
        """The live log's whole history (the log pane reads back from it), when there is one."""
        ...

    @property
    def driver_token(self) -> str | None: ...

    def poll(self) -> Sequence[SessionEvent]: ...

    def diff(self, snapshot: Snapshot) -> list[tuple[str, str, str]]: ...

    def unavailable(self, capability: Capability, status: StatusUpdate | None) -> str | None:
        """Why this session cannot do ``capability`` (beyond the run's state), or None."""
        ...

    def take_driver(self) -> str | None:
        """Ask for the driver lock; None when granted, else who drives or why not."""
        ...

    def invalidate_status(self) -> None:
        """Read the state again at the next poll (after an action changed it)."""
        ...

    def close(self) -> None:
        """Stop reading; the run itself is never touched."""
        ...


# The actions on a run a session's control may offer, and the capability each needs.
ACTION_NEEDS = {
    "pause": Capability.SOFT_PAUSE,
    "resume": Capability.SOFT_PAUSE,
    "hint": Capability.HINTS,
    "freeze": Capability.FREEZE,
    "thaw": Capability.FREEZE,
    "kill": Capability.KILL,
    "kill_container": Capability.KILL_CONTAINER,
}


def refusal(opened: Session, action: str, cannot: str, scoped: str) -> str | None:
    """Why ``opened`` cannot take ``action`` now, or None: the session's own reason; else
    ``cannot`` when its control lacks the action; else ``scoped`` for a pause aimed at a scope,
    which only a watcher can ask about."""
    reason = opened.unavailable(ACTION_NEEDS[action], opened.control.status())
    if reason is None and (
        ACTION_NEEDS[action] not in opened.capabilities or not hasattr(opened.control, action)
    ):
        reason = cannot
    scoped_pause = action in ("pause", "resume") and isinstance(opened.control, ScopedPausing)
    if reason is None and scoped_pause:
        reason = scoped
    return reason
