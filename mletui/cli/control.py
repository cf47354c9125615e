"""``mletui pause``, ``resume``, ``freeze``, ``thaw``, ``hint`` and ``kill``: acting on a run,
each action journaled before it is applied."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from mletui.cli.command import GlobalOptions, UserError, command
from mletui.cli.lookup import complete_run_id, resolve
from mletui.core.events import state_text

run_id_argument = click.argument("run_id", shell_complete=complete_run_id)


def _act(options: GlobalOptions, run_id: str, action: str, *params: Any) -> Any:
    from mletui.watch.control import ActionError, RunControl

    control = RunControl(resolve(run_id), options.operator)
    try:
        return getattr(control, action)(*params)
    except ActionError as exc:
        raise UserError(str(exc)) from exc


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
    _act(options, run_id, "freeze")
    how = "docker pause" if resolve(run_id).read().runtime == "docker" else "SIGSTOP"
    print(f"Run {run_id} frozen ({how}). `mletui thaw {run_id}` continues it.")
    return 0


@command("thaw", "continue a frozen run")
@run_id_argument
@click.pass_obj
def thaw(options: GlobalOptions, run_id: str) -> int:
    _act(options, run_id, "thaw")
    print(f"Run {run_id} thawed.")
    return 0


@command("hint", "send the agent a hint")
@run_id_argument
@click.argument("text")
@click.pass_obj
def hint(options: GlobalOptions, run_id: str, text: str) -> int:
    hint_id = _act(options, run_id, "hint", text)
    print(f"Hint {hint_id} sent; `mletui show {run_id}` says when the agent answers.")
    return 0


@command("kill", "stop a run: SIGTERM, then SIGKILL after the grace period")
@run_id_argument
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.option("--grace", type=float, default=10.0, help="seconds before SIGKILL (10)")
@click.pass_obj
def kill(options: GlobalOptions, run_id: str, yes: bool, grace: float) -> int:
    folder = resolve(run_id)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("Killing needs confirmation: add --yes when not at a terminal.")
        answer = input(f"Kill run {folder.id}? SIGTERM, then SIGKILL after {grace:g} s [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
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
