"""``mletui pause``, ``resume``, ``freeze``, ``thaw``, ``hint`` and ``kill``: acting on a run,
each action journaled before it is applied. A run of another source (an MLE-bench run, an Inspect
sample) is acted on through its session's control; what its source cannot do is refused with the
session's own sentence."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from mletui.cli.command import GlobalOptions, UserError, command
from mletui.cli.lookup import Found, complete_run_id, find, kind, session
from mletui.core.events import state_text

if TYPE_CHECKING:
    from mletui.watch.session import Session

run_id_argument = click.argument("run_id", shell_complete=complete_run_id)


def _act(options: GlobalOptions, run_id: str, action: str, *params: Any) -> Any:
    from mletui.watch.control import RunControl

    found = find(run_id)
    if found.folder is None:
        return _act_elsewhere(options, found, action, *params)
    return _apply(RunControl(found.folder, options.operator), action, *params)


def _apply(control: Any, action: str, *params: Any) -> Any:
    """``action`` on ``control``, whose refusal is the user's sentence."""
    from mletui.watch.control import ActionError

    try:
        return getattr(control, action)(*params)
    except ActionError as exc:
        raise UserError(str(exc)) from exc


def _act_elsewhere(options: GlobalOptions, found: Found, action: str, *params: Any) -> Any:
    """``action`` on another source's run, through its session's control."""
    from mletui.watch.session import Attaching

    with session(found, options.operator) as opened:
        if isinstance(opened, Attaching):
            opened.attach()
        return _apply(_capable(opened, found, action), action, *params)


def _capable(opened: Session, found: Found, action: str) -> Any:
    """The session's control when it can take ``action`` now; else its sentence why not."""
    from mletui.watch.session import refusal

    assert found.source is not None
    reason = refusal(
        opened,
        action,
        cannot=f"{kind(found.source)} cannot be {_DONE[action]}",
        scoped="its pause is aimed at a scope: pause it in `mletui watch`, which asks which",
    )
    if reason is not None:
        what = action.replace("_", " the ")
        raise UserError(f"Cannot {what} {found.id}: {reason.rstrip('.')}.")
    return opened.control


_DONE = {
    "pause": "paused",
    "resume": "resumed",
    "hint": "sent hints",
    "freeze": "frozen",
    "thaw": "thawed",
    "kill": "killed",
    "kill_container": "killed by its container",
}


@command("pause", "ask the agent to pause at its next checkpoint (soft pause)")
@run_id_argument
@click.pass_obj
def pause(options: GlobalOptions, run_id: str) -> int:
    _act(options, run_id, "pause")
    print(f"Soft pause requested for {run_id}: the agent stops at its next checkpoint.")
    return 0


@command("resume", "lift a soft pause")
@run_id_argument
@click.pass_obj
def resume(options: GlobalOptions, run_id: str) -> int:
    _act(options, run_id, "resume")
    print(f"Soft pause lifted for {run_id}.")
    return 0


@command("freeze", "stop the run at once (SIGSTOP to its process group)")
@run_id_argument
@click.pass_obj
def freeze(options: GlobalOptions, run_id: str) -> int:
    found = find(run_id)
    _act(options, run_id, "freeze")
    docker = found.folder is None or found.folder.read().runtime == "docker"
    how = "docker pause" if docker else "SIGSTOP"
    print(f"Run {found.id} frozen ({how}). `mletui thaw {found.id}` continues it.")
    return 0


@command("thaw", "continue a frozen run")
@run_id_argument
@click.pass_obj
def thaw(options: GlobalOptions, run_id: str) -> int:
    _act(options, run_id, "thaw")
    print(f"Run {run_id} thawed.")
    return 0


@command("hint", "send the agent a hint: TEXT, - for stdin, or --file F")
@run_id_argument
@click.argument("text", required=False)
@click.option("--file", "path", metavar="F", help="read the hint from this file")
@click.pass_obj
def hint(options: GlobalOptions, run_id: str, text: str | None, path: str | None) -> int:
    from mletui.watch.control import hint_refusal

    text = _hint_text(text, path)
    refusal = hint_refusal(text)
    if refusal is not None:
        raise UserError(refusal)
    hint_id = _act(options, run_id, "hint", text)
    print(f"Hint {hint_id} sent; `mletui show {run_id}` says when the agent answers.")
    return 0


def _hint_text(text: str | None, path: str | None) -> str:
    """The hint from the command line, stdin (``-``) or a file, read no further than needed to
    know it is too long."""
    from mletui.watch.control import MAX_HINT_BYTES

    enough = MAX_HINT_BYTES * 4  # room for whitespace around a hint that is within the limit
    if (text is None) == (path is None):
        raise UserError("Give the hint as TEXT, as - to read it from stdin, or with --file F.")
    if text is not None and text != "-":
        return text
    try:
        if path is None:
            raw = sys.stdin.buffer.read(enough + 1)
        else:
            with open(path, "rb") as stream:
                raw = stream.read(enough + 1)
    except OSError as exc:
        raise UserError(f"Cannot read the hint from {path}: {exc.strerror}.") from exc
    if len(raw) > enough:
        raise UserError(
            f"A hint is at most {MAX_HINT_BYTES // 1024} KB ({MAX_HINT_BYTES} bytes); "
            f"this one is over {enough} bytes: shorten it."
        )
    return raw.decode("utf-8", "replace")


@command("kill", "stop a run: SIGTERM, then SIGKILL after the grace period")
@run_id_argument
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.option("--grace", type=float, default=10.0, help="seconds before SIGKILL (10)")
@click.option(
    "--agent-only",
    "target",
    flag_value="agent",
    help="an MLE-bench run: the agent's processes in its container (the default; MLE-bench still "
    "copies the outputs out)",
)
@click.option(
    "--container",
    "target",
    flag_value="container",
    help="an MLE-bench run: docker kill of its container (MLE-bench may lose the outputs)",
)
@click.pass_obj
def kill(options: GlobalOptions, run_id: str, yes: bool, grace: float, target: str | None) -> int:
    found = find(run_id)
    if found.folder is None:
        return _kill_elsewhere(options, found, yes, grace, target)
    if target is not None:
        raise UserError(
            f"--agent-only and --container choose how an MLE-bench run is killed; {found.id} is "
            "mletui's own run (kill stops its agent)."
        )
    folder = found.folder
    if not yes and not _confirm(
        f"Kill run {folder.id}? SIGTERM, then SIGKILL after {grace:g} s [y/N] "
    ):
        print("Not killed.")
        return 1
    _act(options, folder.id, "kill", grace)
    from mletui.watch.livestate import read_status

    deadline = time.monotonic() + grace + 5
    while time.monotonic() < deadline:
        status = read_status(folder)
        if status.state.ended:
            print(f"Run {folder.id} {state_text(status)}.")
            return 0
        time.sleep(0.2)
    print(f"Kill sent to run {folder.id}; it has not ended yet.")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UserError("Killing needs confirmation: add --yes when not at a terminal.")
    return input(question).strip().lower() in ("y", "yes")


def _kill_elsewhere(
    options: GlobalOptions, found: Found, yes: bool, grace: float, target: str | None
) -> int:
    """Kill another source's run: its agent (the default), or with --container its container
    (the source's second kind of kill); what was done is said in the source's words."""
    from mletui.watch.session import Attaching, Capability

    assert found.source is not None
    action = "kill_container" if target == "container" else "kill"
    with session(found, options.operator) as opened:
        if target is not None and Capability.KILL_CONTAINER not in opened.capabilities:
            raise UserError(
                f"--agent-only and --container choose how an MLE-bench run is killed; {found.id} "
                f"is {kind(found.source)}, killed one way."
            )
        if isinstance(opened, Attaching):
            opened.attach()
        control = _capable(opened, found, action)
        notes = opened.notes
        what = notes.kill_buttons[action == "kill_container"].lower()
        if not yes and not _confirm(f"{what} ({found.id})? [y/N] "):
            print("Not killed.")
            return 1
        _apply(control, action, *(() if action == "kill_container" else (grace,)))
        print(notes.container_killed if action == "kill_container" else notes.killed)
    return 0
