"""``mletui <command>``: the command line. Every error a user can cause is one sentence, exit 1."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from mletui import __version__

DEMO_TASK = "digits"
DEMO_TIME_LIMIT = "15m"
DEMO_STEP_DELAY = "4"


class UserError(Exception):
    """A mistake the user can fix; printed as one line, never a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mletui",
        description="A control room in the terminal for machine-learning-engineering agents.",
    )
    parser.add_argument("--version", action="version", version=f"mletui {__version__}")
    parser.add_argument("--theme", help="colour theme (default: $MLETUI_THEME or mletui-dark)")
    parser.add_argument("--operator", help="your name in the journal (default: user@host)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="start the baseline agent on a bundled task and watch it")
    demo.add_argument("--task", default=DEMO_TASK, help=f"bundled task (default {DEMO_TASK})")
    demo.add_argument("--time-limit", default=DEMO_TIME_LIMIT, help="default 15m")
    demo.add_argument(
        "--step-delay", default=DEMO_STEP_DELAY, help="seconds between the agent's steps"
    )

    run = sub.add_parser("run", help="start a run; without --detach, watch it")
    run.add_argument("task", help="a bundled task's name (see `mletui tasks`) or a task folder")
    run.add_argument("--agent", help="a shipped agent (default: baseline)")
    run.add_argument("--agent-cmd", help="bring your own agent: any command, run by /bin/sh")
    run.add_argument("--runtime", default="local", help="where the agent runs (default: local)")
    run.add_argument("--time-limit", help="active time before the run is stopped: 90s, 15m, 2h")
    run.add_argument("--detach", action="store_true", help="print the run id and return")

    watch = sub.add_parser("watch", help="watch a run; without an id, the runs overview")
    watch.add_argument("run_id", nargs="?", help="a run id or any unique prefix of one")

    ls = sub.add_parser("ls", help="list runs")
    ls.add_argument("--json", action="store_true", help="print JSON")

    show = sub.add_parser("show", help="one run in detail")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true", help="print JSON")

    for name, text in (
        ("pause", "ask the agent to pause at its next checkpoint (soft pause)"),
        ("resume", "lift a soft pause"),
        ("freeze", "stop the run at once (SIGSTOP to its process group)"),
        ("thaw", "continue a frozen run"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("run_id")

    hint = sub.add_parser("hint", help="send the agent a hint")
    hint.add_argument("run_id")
    hint.add_argument("text")

    kill = sub.add_parser("kill", help="stop a run: SIGTERM, then SIGKILL after the grace period")
    kill.add_argument("run_id")
    kill.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    kill.add_argument("--grace", type=float, default=10.0, help="seconds before SIGKILL (10)")

    sub.add_parser("tasks", help="list the bundled tasks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    handler: Callable[[argparse.Namespace], int] = COMMANDS[args.command]
    try:
        return handler(args)
    except UserError as exc:
        print(f"mletui: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# --- helpers -----------------------------------------------------------------------------------


def _resolve(run_id: str) -> Any:
    from mletui.store import RunLookupError, resolve_run

    try:
        return resolve_run(run_id)
    except RunLookupError as exc:
        raise UserError(str(exc)) from exc


def _task(name: str) -> Any:
    from mletui.grading.tasks import TaskError, resolve_task

    try:
        return resolve_task(name)
    except TaskError as exc:
        raise UserError(str(exc)) from exc


def _duration(text: str | None) -> float | None:
    from mletui.launcher import parse_duration

    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if value <= 0:
        raise UserError("A time limit must be longer than zero.")
    return value


def _start(**kwargs: Any) -> Any:
    from mletui.launcher import LaunchError, start_run
    from mletui.runtimes import RuntimeFailure

    try:
        return start_run(**kwargs)
    except (LaunchError, RuntimeFailure) as exc:
        raise UserError(str(exc)) from exc


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _watch(args: argparse.Namespace, run_id: str | None) -> int:
    from mletui.tui.app import MletuiApp

    app = MletuiApp(run_id=run_id, theme_name=args.theme, operator=args.operator)
    app.run()
    for line in app.farewell():
        print(line)
    return 0


# --- commands ----------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    task = _task(args.task)
    try:
        delay = float(args.step_delay)
    except ValueError as exc:
        raise UserError("--step-delay takes a number of seconds.") from exc
    folder = _start(
        task=task,
        agent="baseline",
        time_limit_s=_duration(args.time_limit),
        extra_env={"MLETUI_BASELINE_STEP_DELAY": str(delay)},
    )
    return _watch(args, folder.id)


def cmd_run(args: argparse.Namespace) -> int:
    if args.agent and args.agent_cmd:
        raise UserError("Give --agent or --agent-cmd, not both.")
    task = _task(args.task)
    folder = _start(
        task=task,
        agent=args.agent,
        agent_cmd=args.agent_cmd,
        runtime=args.runtime,
        time_limit_s=_duration(args.time_limit),
    )
    if args.detach:
        print(folder.id)
        return 0
    return _watch(args, folder.id)


def cmd_watch(args: argparse.Namespace) -> int:
    run_id = _resolve(args.run_id).id if args.run_id else None
    return _watch(args, run_id)


def _summary_json(summary: Any) -> dict[str, Any]:
    status = summary.status
    return {
        **summary.record.to_json(),
        "live_state": status.state.value,
        "wall_s": round(status.wall_s, 1),
        "active_s": round(status.active_s, 1),
        "time_left_s": None if status.time_left_s is None else round(status.time_left_s, 1),
        "observe_only": status.observe_only,
        "best_validation": summary.best,
        "metric": summary.best_name,
        "direction": summary.direction,
        "steps": summary.steps,
        "actions": summary.actions,
        "hints_sent": summary.hints_sent,
        "hints_unacknowledged": summary.hints_unacknowledged,
    }


def cmd_ls(args: argparse.Namespace) -> int:
    from mletui.livestate import summarize
    from mletui.store import list_runs

    summaries = [summarize(f) for f in list_runs()]
    if args.json:
        print(json.dumps([_summary_json(s) for s in summaries], indent=2))
        return 0
    if not summaries:
        print("No runs yet. Start one: mletui demo")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("ID", "TASK", "AGENT", "RUNTIME", "STATE", "ELAPSED", "BEST", "HINTS"):
        table.add_column(col)
    for s in summaries:
        best = "-" if s.best is None else f"{s.best:.4g}"
        table.add_row(
            s.record.id,
            s.record.task,
            s.record.agent,
            s.record.runtime,
            _state_text(s.status),
            _fmt_duration(s.status.wall_s),
            best,
            str(s.hints_sent),
        )
    Console(highlight=False).print(table)
    return 0


def _state_text(status: Any) -> str:
    if status.state.value == "exited" and status.exit_code is not None:
        return f"exited ({status.exit_code})"
    if status.state.value == "killed" and status.end_reason:
        return f"killed ({status.end_reason})"
    return str(status.state.value)


def cmd_show(args: argparse.Namespace) -> int:
    from mletui.livestate import summarize

    summary = summarize(_resolve(args.run_id))
    data = _summary_json(summary)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    r = summary.record
    rows = [
        ("id", r.id),
        ("task", f"{r.task} ({r.task_path})"),
        ("agent", r.agent + ("" if r.agent != "cmd" else f": {r.command[-1]}")),
        ("runtime", r.runtime),
        ("state", _state_text(summary.status)),
        ("observe-only", "yes (no hello.json)" if summary.status.observe_only else "no"),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created))),
        ("wall time", _fmt_duration(summary.status.wall_s)),
        ("active time", _fmt_duration(summary.status.active_s)),
        ("time left", _fmt_duration(summary.status.time_left_s)),
        (
            "best validation",
            "-"
            if summary.best is None
            else f"{summary.best:.6g} {summary.best_name} ({summary.direction} is better, "
            f"{summary.steps} steps)",
        ),
        ("operator actions", ", ".join(f"{k} {v}" for k, v in summary.actions.items()) or "none"),
        ("hints", f"{summary.hints_sent} sent, {summary.hints_unacknowledged} unacknowledged"),
        ("folder", str(_resolve(r.id).path)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _act(args: argparse.Namespace, action: str, *params: Any) -> Any:
    from mletui.control import ActionError, RunControl

    control = RunControl(_resolve(args.run_id), args.operator)
    try:
        return getattr(control, action)(*params)
    except ActionError as exc:
        raise UserError(str(exc)) from exc


def cmd_pause(args: argparse.Namespace) -> int:
    _act(args, "pause")
    print(f"Soft pause requested for {args.run_id}: the agent stops at its next checkpoint.")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    _act(args, "resume")
    print(f"Soft pause lifted for {args.run_id}.")
    return 0


def cmd_freeze(args: argparse.Namespace) -> int:
    _act(args, "freeze")
    print(f"Run {args.run_id} frozen (SIGSTOP). `mletui thaw {args.run_id}` continues it.")
    return 0


def cmd_thaw(args: argparse.Namespace) -> int:
    _act(args, "thaw")
    print(f"Run {args.run_id} thawed.")
    return 0


def cmd_hint(args: argparse.Namespace) -> int:
    hint_id = _act(args, "hint", args.text)
    print(f"Hint {hint_id} sent; `mletui show {args.run_id}` says when the agent answers.")
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    folder = _resolve(args.run_id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError("Killing needs confirmation: add --yes when not at a terminal.")
        answer = input(f"Kill run {folder.id}? SIGTERM, then SIGKILL after {args.grace:g} s [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Not killed.")
            return 1
    args.run_id = folder.id
    _act(args, "kill", args.grace)
    from mletui.livestate import read_status

    deadline = time.monotonic() + args.grace + 5
    while time.monotonic() < deadline:
        status = read_status(folder)
        if status.state.ended:
            print(f"Run {folder.id} {_state_text(status)}.")
            return 0
        time.sleep(0.2)
    print(f"Kill sent to run {folder.id}; it has not ended yet.")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from mletui.grading.tasks import bundled_tasks

    for task in bundled_tasks():
        direction = "lower" if task.lower_is_better else "higher"
        print(f"{task.id:<16} {task.metric:<10} ({direction} is better)  {task.name}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "run": cmd_run,
    "watch": cmd_watch,
    "ls": cmd_ls,
    "show": cmd_show,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "freeze": cmd_freeze,
    "thaw": cmd_thaw,
    "hint": cmd_hint,
    "kill": cmd_kill,
    "tasks": cmd_tasks,
}
