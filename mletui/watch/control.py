"""Operator actions: journal first (flushed and fsynced), then apply.

Soft pause and hints go through the protocol files; freeze, thaw and kill through the runtime.
An action the run cannot take raises :class:`ActionError` with a sentence saying why.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mletui import protocol
from mletui.core.events import ActionRecord, RunState, StatusUpdate
from mletui.core.safefs import NotARegularFile, write_file
from mletui.runtimes import RuntimeFailure, get_runtime
from mletui.store import controlfiles
from mletui.store.driverlock import DriverLock, current_driver
from mletui.store.journal import Journal
from mletui.store.runs import RunFolder
from mletui.watch.livestate import read_status

ACTIONS = ("pause", "resume", "freeze", "thaw", "hint", "kill")
DEFAULT_GRACE_S = 10.0
MAX_HINT_BYTES = 8192  # a hint is a nudge, not a document: the agent reads each into its context


def hint_refusal(text: str) -> str | None:
    """Why ``text`` cannot be sent as a hint (blank, or over the limit), or None when it can."""
    if not text.strip():
        return "A hint needs some text."
    size = len(text.strip().encode("utf-8", "surrogatepass"))
    if size > MAX_HINT_BYTES:
        return (
            f"A hint is at most {MAX_HINT_BYTES // 1024} KB ({MAX_HINT_BYTES} bytes); "
            f"this one is {size} bytes: shorten it."
        )
    return None


class ActionError(Exception):
    """An action that cannot be done; the message says why, in one sentence."""


def default_operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def unavailable_reason(action: str, status: StatusUpdate, *, alive: bool = False) -> str | None:
    """Why ``action`` cannot be taken on a run in this state, or None when it can.

    ``alive``: the runtime still sees processes (or a container) of the run. A run has ended
    when they are gone, not when run.json says so: kill and freeze still act on them then."""
    state = status.state
    if alive and action in ("kill", "freeze") and (state.ended or state is RunState.LOST):
        return None
    if state.ended:
        return f"the run has already ended ({state.value})"
    if state is RunState.LOST and action != "kill":
        return "the run's supervisor is gone (lost); only kill and freeze can still act on it"
    if state is RunState.QUEUED and action != "kill":
        return "the run is still queued" + (f" ({status.waiting})" if status.waiting else "")
    if state is RunState.STARTING and action != "kill":
        return "the run is still starting"
    if action in ("pause", "resume", "hint") and status.observe_only:
        what = "soft pause" if action != "hint" else "hints"
        return f"{what} unavailable: the agent is observe-only (it wrote no hello.json)"
    if action == "pause" and state in (RunState.PAUSE_REQUESTED, RunState.PAUSED):
        return "a soft pause is already requested"
    if action == "resume" and state not in (RunState.PAUSE_REQUESTED, RunState.PAUSED):
        return "the run is not soft-paused"
    if action == "freeze" and state is RunState.FROZEN:
        return "the run is already frozen"
    if action == "thaw" and state is not RunState.FROZEN:
        return "the run is not frozen"
    return None


class ActionJournal:
    """Writes one operator's actions into a run's journal (chained, fsynced): shared by every
    source's control, which journals an action before it applies it."""

    def __init__(self, path: Path, operator: str | None = None) -> None:
        self.operator = operator or default_operator()
        self.journal = Journal(path)

    def record(
        self,
        action: str,
        status: StatusUpdate,
        detail: str = "",
        *,
        hint_id: str | None = None,
        target: str | None = None,
    ) -> None:
        self.journal.write_chained(
            ActionRecord(
                0.0,
                action,
                self.operator,
                detail,
                run_wall_s=round(status.wall_s, 3),
                run_active_s=round(status.active_s, 3),
                hint_id=hint_id,
                target=target,
            )
        )


class RunControl:
    """Acts on one of mletui's own runs on behalf of one operator."""

    def __init__(
        self, folder: RunFolder, operator: str | None = None, *, driver: bool = False
    ) -> None:
        self.folder = folder
        self.actions = ActionJournal(folder.journal_path, operator)
        self.operator = self.actions.operator
        # A watcher drives (holds the lock while it watches); a one-shot command only checks.
        self.driver = DriverLock(folder, self.operator) if driver else None

    def status(self) -> StatusUpdate:
        return read_status(self.folder)

    def check(self, action: str) -> StatusUpdate:
        status = self.status()
        alive = False
        if action in ("kill", "freeze") and (status.state.ended or status.state is RunState.LOST):
            alive = self._remnants()
        reason = unavailable_reason(action, status, alive=alive)
        if reason:
            raise ActionError(f"Cannot {action} run {self.folder.id}: {reason}.")
        lock = self.driver
        holder = lock.acquire() if lock is not None else current_driver(self.folder)
        if holder is not None:
            raise ActionError(
                f"Cannot {action} run {self.folder.id}: {holder.describe()} drives it; "
                "act from there, or wait until that watcher quits."
            )
        return status

    def _remnants(self) -> bool:
        runtime = get_runtime(self.folder.read().runtime)
        try:
            return bool(runtime.remnants(self.folder))
        except RuntimeFailure:
            return False

    def pause(self) -> None:
        status = self.check("pause")
        self.actions.record("pause", status)
        with refused_if_planted(protocol.PAUSE):
            _touch(self.folder.control / protocol.PAUSE)

    def resume(self) -> None:
        status = self.check("resume")
        self.actions.record("resume", status)
        (self.folder.control / protocol.PAUSE).unlink(missing_ok=True)

    def freeze(self) -> None:
        status = self.check("freeze")
        self.actions.record("freeze", status)
        self._runtime_call("freeze")

    def thaw(self) -> None:
        status = self.check("thaw")
        self.actions.record("thaw", status)
        self._runtime_call("thaw")

    def hint(self, text: str) -> str:
        refusal = hint_refusal(text)
        if refusal is not None:
            raise ActionError(refusal)
        text = text.strip()
        status = self.check("hint")
        hint_id = f"h-{int(time.time())}-{secrets.token_hex(2)}"
        self.actions.record("hint", status, text, hint_id=hint_id)
        with refused_if_planted(protocol.HINTS):
            controlfiles.append_jsonl(
                self.folder.control / protocol.HINTS,
                {"id": hint_id, "text": text, "ts": time.time()},
                sync=True,
            )
        return hint_id

    def kill(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Kill acts even when it cannot be journaled (a full disk): that is said on stderr, and
        the entry written after the kill if the disk has room again by then."""
        status = self.check("kill")
        detail = f"grace {grace_s:g} s"
        try:
            self.actions.record("kill", status, detail)
            unrecorded = False
        except OSError as exc:
            unrecorded = True
            print(
                f"mletui: could not journal the kill of run {self.folder.id} ({exc.strerror}); "
                "killing it anyway.",
                file=sys.stderr,
            )
        runtime = get_runtime(self.folder.read().runtime)
        try:
            runtime.stop(self.folder, grace_s, "operator")
        except RuntimeFailure as exc:
            raise ActionError(str(exc)) from exc
        finally:
            if unrecorded:
                with contextlib.suppress(OSError):
                    self.actions.record("kill", status, detail + ", journaled after the kill")

    def reveal_grade(self, detail: str = "") -> None:
        """Record that this operator sees the held-out grade (the leakage guard); no lock needed:
        it changes nothing in the run, but marks it as "grade seen by operator"."""
        self.actions.record("reveal-grade", self.status(), detail)

    def _runtime_call(self, name: str) -> None:
        runtime = get_runtime(self.folder.read().runtime)
        try:
            getattr(runtime, name)(self.folder)
        except RuntimeFailure as exc:
            raise ActionError(str(exc)) from exc


def _touch(path: Path) -> None:
    write_file(path, str(time.time()).encode())


@contextlib.contextmanager
def refused_if_planted(name: str) -> Iterator[None]:
    """A file of control/ that the agent replaced by a link, a fifo or a device is refused with
    a sentence: mletui may run as root, and writing through it would reach any file."""
    try:
        yield
    except NotARegularFile as exc:
        found = f"has {exc.what}" if exc.links > 1 else f"is {exc.what}, not a regular file"
        raise ActionError(
            f"control/{name} of the run {found}; nothing was written through it."
        ) from exc
