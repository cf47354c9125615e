"""``mletui <command>``: the command line. Every error a user can cause is one sentence, exit 1."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mletui import __version__
from mletui.core.clock import duration, parse_duration, wall_time
from mletui.store.keys import KeyFileError

DEMO_TASK = "digits"
DEMO_TIME_LIMIT = "15m"
DEMO_STEP_DELAY = "4"


MLEBENCH_RUNS_HELP = (
    "an MLE-bench runs folder (its run groups); default: $MLEBENCH_RUNS, else ./runs if it holds"
    " run groups"
)


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
    demo.add_argument(
        "--hide-grades",
        action="store_true",
        help="hide held-out grades until G, as `watch` does (the demo shows them openly)",
    )

    run = sub.add_parser("run", help="start a run; without --detach, watch it")
    run.add_argument("task", help="a bundled task's name (see `mletui tasks`) or a task folder")
    run.add_argument("--agent", help="a shipped agent (default: baseline)")
    run.add_argument("--agent-cmd", help="bring your own agent: any command, run by /bin/sh")
    run.add_argument("--runtime", default="local", help="where the agent runs (default: local)")
    run.add_argument("--time-limit", help="active time before the run is stopped: 90s, 15m, 2h")
    run.add_argument("--detach", action="store_true", help="print the run id and return")
    run.add_argument(
        "--agent-user",
        metavar="NAME",
        help="local runtime: run the agent as this user, which can write only workspace/, "
        "submission/ and control/ of its run (mletui must run as root)",
    )
    dock = run.add_argument_group("the docker runtime (--runtime docker)")
    dock.add_argument(
        "--docker-host",
        metavar="URL",
        help="the Docker Engine: unix://, tcp://, ssh:// (default: $DOCKER_HOST, the Docker "
        "context, or the local socket)",
    )
    dock.add_argument("--image", help="the agent image (default: what `mletui image build` makes)")
    dock.add_argument("--cpus", help="CPUs the container may use, e.g. 4 or 0.5 (slurm: the job's)")
    dock.add_argument("--memory", help="the container's memory limit, e.g. 8g or 512m (no swap)")
    dock.add_argument("--gpus", help="all, none (default) or a number of GPUs")
    slurm = run.add_argument_group(
        "the slurm runtime (--runtime slurm; also --cpus, --memory, --gpus)"
    )
    slurm.add_argument("--partition", help="the Slurm partition (default: the cluster's default)")
    slurm.add_argument(
        "--sbatch-arg",
        action="append",
        metavar="ARG",
        help="one more sbatch argument, e.g. --sbatch-arg=--account=ml (repeatable)",
    )
    llm = run.add_argument_group("the LLM agent (--agent llm)")
    llm.add_argument("--model", help="the model, as the server names it")
    llm.add_argument(
        "--base-url", help="an OpenAI-compatible server (default: $OPENAI_BASE_URL, or OpenAI)"
    )
    llm.add_argument(
        "--max-cost", type=float, help="stop before the estimated cost passes this many dollars"
    )
    llm.add_argument("--max-steps", type=int, help="stop after this many steps (default 20)")

    watch = sub.add_parser("watch", help="watch a run; without an id, the runs overview")
    watch.add_argument("run_id", nargs="?", help="a run id or any unique prefix of one")
    watch.add_argument(
        "--drive",
        action="store_true",
        help="take the driver lock at once (else at your first action)",
    )
    watch.add_argument("--mlebench-runs", metavar="PATH", help=MLEBENCH_RUNS_HELP)
    watch.add_argument(
        "--mlebench-data",
        metavar="PATH",
        help="MLE-bench's data folder, to score an MLE-bench run's submissions with its private "
        "answers and MLE-bench's grader; default: $MLEBENCH_DATA, else ~/.cache/mle-bench/data",
    )

    ls = sub.add_parser("ls", help="list runs")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--mlebench-runs", metavar="PATH", help=MLEBENCH_RUNS_HELP)

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

    bench = sub.add_parser("bench", help="run the log benchmarks (from a checkout of mletui)")
    bench.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    bench.add_argument("--only", help="some of: throughput,responsiveness,memory,attach,search")
    bench.add_argument("--reps-scale", default="1", help="more (2) or fewer (0.5) repetitions")

    image = sub.add_parser("image", help="the docker runtime's agent image")
    image_sub = image.add_subparsers(dest="image_command", metavar="COMMAND", required=True)
    build = image_sub.add_parser(
        "build",
        help="build the agent image; the Python packages are gathered here, so the build itself "
        "needs no network",
    )
    build.add_argument("--base", help="the base image: any with python3 >= 3.11 and venv")
    build.add_argument("--tag", help="the image's name (default: the one runs use)")
    build.add_argument("--docker-host", metavar="URL", help="the Docker Engine to build on")

    gpu = sub.add_parser("gpu", help="every GPU and every run's share of it, live")
    gpu.add_argument(
        "--interval",
        type=float,
        help="seconds between GPU samples (default: 1, or $MLETUI_GPU_INTERVAL)",
    )

    grade = sub.add_parser(
        "grade",
        help="grade a run's submission.csv (or a file) on held-out answers, with medals",
        description="Grade a run's submission.csv, or FILE.csv with --task, against the task's "
        "private answers; medals as MLE-bench awards them. Grading a live run records that "
        "you have seen its grade (the leakage guard). Exit status 1 when a submission is invalid.",
    )
    grade.add_argument("targets", nargs="+", metavar="RUN_ID|FILE", help="run ids, or one CSV")
    grade.add_argument("--task", help="grade FILE.csv against this task (a name or a folder)")
    grade.add_argument("--json", action="store_true", help="print MLE-bench's report as JSON")
    grade.add_argument("--out", metavar="PATH", help="also write the JSON report to PATH")

    replay = sub.add_parser("replay", help="play a recorded run back through the watch screen")
    replay.add_argument("run", help="a run id (or prefix), or a pack file made by `mletui pack`")
    replay.add_argument("--speed", type=float, default=10.0, help="times real time (10)")
    replay.add_argument(
        "--no-skip-idle", dest="skip_idle", action="store_false", help="play idle stretches too"
    )

    serve = sub.add_parser("serve", help="the control room in a browser, behind a token")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (8000)")
    serve.add_argument("--token", help="the token to require (default: $MLETUI_SERVE_TOKEN or new)")

    export = sub.add_parser("export", help="runs, scores, actions and resources as tables")
    export.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to export")
    export.add_argument("--all", action="store_true", help="every run")
    export.add_argument("--format", choices=("parquet", "csv", "json"), default="parquet")
    export.add_argument("--out", required=True, help="the folder to write the tables into")

    pack = sub.add_parser("pack", help="write a run as one file, to replay on another machine")
    pack.add_argument("run_id")
    pack.add_argument("--out", help="the file to write (default: mletui-run-ID.tar.gz)")

    audit = sub.add_parser("audit", help="verify a run's keyed record, list its operator entries")
    audit.add_argument("run_id")
    audit.add_argument("--json", action="store_true", help="print JSON")
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
    except (UserError, KeyFileError) as exc:  # KeyFileError: the journal key, from any command
        print(f"mletui: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# --- helpers -----------------------------------------------------------------------------------


_SKIPS_SAID: set[str] = set()  # the broken run folders this command has named already


def _scan() -> Any:
    """The runs folder, each broken entry in it named once on stderr (in one line)."""
    from mletui.store.runs import scan_runs

    scan = scan_runs()
    for skip in scan.skipped:
        line = skip.line()
        if line not in _SKIPS_SAID:
            _SKIPS_SAID.add(line)
            print(f"mletui: {line}", file=sys.stderr)
    return scan


def _resolve(run_id: str) -> Any:
    from mletui.store.runs import RunLookupError, resolve_run

    try:
        return resolve_run(run_id, _scan())
    except RunLookupError as exc:
        raise UserError(str(exc)) from exc


def _task(name: str) -> Any:
    from mletui.grading.tasks import TaskError, resolve_task

    try:
        return resolve_task(name)
    except TaskError as exc:
        raise UserError(str(exc)) from exc


def _duration(text: str | None) -> float | None:
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
    from mletui.run.launcher import LaunchError, start_run
    from mletui.runtimes import RuntimeFailure

    try:
        return start_run(**kwargs)
    except (LaunchError, RuntimeFailure) as exc:
        raise UserError(str(exc)) from exc


def _watch(
    args: argparse.Namespace, run_id: str | None, drive: bool = False, show_grades: bool = False
) -> int:
    from mletui.tui.app import MletuiApp

    app = MletuiApp(
        run_id=run_id,
        theme_name=args.theme,
        operator=args.operator,
        drive=drive,
        show_grades=show_grades,
    )
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
    return _watch(args, folder.id, drive=True, show_grades=not args.hide_grades)


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
        extra_env=_llm_env(args),
        runtime_options=_runtime_options(args),
        agent_user=args.agent_user,
    )
    if args.detach:
        print(folder.id)
        return 0
    return _watch(args, folder.id, drive=True)


_DOCKER_FLAGS = ("docker_host", "image", "cpus", "memory", "gpus")


_SLURM_FLAGS = ("partition", "cpus", "memory", "gpus", "sbatch_args")


def _runtime_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.runtime == "slurm":
        args.sbatch_args = args.sbatch_arg
        options = {k: getattr(args, k) for k in _SLURM_FLAGS if getattr(args, k) is not None}
        docker_only = [f for f in ("docker_host", "image") if getattr(args, f) is not None]
        if docker_only:
            named = ", ".join("--" + f.replace("_", "-") for f in docker_only)
            raise UserError(f"{named}: for --runtime docker only.")
        return options
    if args.partition is not None or args.sbatch_arg is not None:
        raise UserError("--partition, --sbatch-arg: for --runtime slurm only.")
    options = {k: getattr(args, k) for k in _DOCKER_FLAGS if getattr(args, k) is not None}
    if options and args.runtime != "docker":
        flags = ", ".join("--" + k.replace("_", "-") for k in options)
        raise UserError(f"{flags}: for --runtime docker only.")
    return options


def _llm_env(args: argparse.Namespace) -> dict[str, str] | None:
    """The LLM agent's settings from its flags, checked before a run is made; the key stays in
    the environment the run inherits, never in run.json."""
    flags = (args.model, args.base_url, args.max_cost, args.max_steps)
    if args.agent != "llm":
        if any(flag is not None for flag in flags):
            raise UserError("--model, --base-url, --max-cost and --max-steps are for --agent llm.")
        return None
    import os

    from mletui.agents import llm

    env = {
        name: str(value)
        for name, value in (
            (llm.ENV_MODEL, args.model),
            (llm.ENV_BASE_URL, args.base_url),
            (llm.ENV_MAX_COST, args.max_cost),
            (llm.ENV_MAX_STEPS, args.max_steps),
        )
        if value is not None
    }
    try:
        llm.read_config({**os.environ, **env})
    except llm.SetupError as exc:
        raise UserError(str(exc)) from exc
    return env


def cmd_watch(args: argparse.Namespace) -> int:
    from mletui.integrations.mlebench.grading import ENV_DATA
    from mletui.integrations.mlebench.runs import runs_folder

    if args.mlebench_data:  # read by every MLE-bench run this watcher opens
        os.environ[ENV_DATA] = str(Path(args.mlebench_data).expanduser().resolve())
    mlebench = runs_folder(args.mlebench_runs) if args.run_id else None
    if mlebench is not None:
        run = _mlebench_run(args, mlebench)
        if run is not None:
            from mletui.tui.app import MletuiApp

            sources = _mlebench_sources(mlebench)
            MletuiApp(
                theme_name=args.theme, operator=args.operator, run_id=run.id, sources=sources
            ).run()
            return 0
    run_id = _resolve(args.run_id).id if args.run_id else None
    if run_id is None:  # the runs overview: MLE-bench's runs too, when a runs folder is found
        from mletui.tui.app import MletuiApp

        sources = _mlebench_sources(runs_folder(args.mlebench_runs))
        MletuiApp(theme_name=args.theme, operator=args.operator, sources=sources).run()
        return 0
    return _watch(args, run_id, drive=args.drive)


def _mlebench_sources(root: Path | None) -> Any:
    """The app's sources, MLE-bench's runs read under ``root``."""
    from mletui.integrations.mlebench.source import MlebenchSource
    from mletui.watch.sources import registry

    return registry().add(MlebenchSource(root))


def _mlebench_run(args: argparse.Namespace, root: Any) -> Any:
    """The MLE-bench run ``args.run_id`` names; None to look among mletui's own runs instead
    (no --mlebench-runs given and an own run matches)."""
    from mletui.integrations.mlebench.runs import MlebenchLookupError, resolve_mlebench_run
    from mletui.store.runs import RunLookupError, resolve_run

    own: RunLookupError | None = None
    if not args.mlebench_runs:
        try:
            resolve_run(args.run_id)
            return None
        except RunLookupError as exc:
            own = exc
    try:
        return resolve_mlebench_run(root, args.run_id)
    except MlebenchLookupError as exc:
        raise UserError(str(exc) if own is None else f"{own} {exc}") from exc


def _summary_json(summary: Any) -> dict[str, Any]:
    from mletui.watch.grades import grade_json

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
        "assisted": summary.assisted,
        "gpu": summary.gpu,
        "stalls": [{"flag": f.flag, "text": f.text, "since": f.since} for f in summary.stalls],
        **grade_json(summary),
    }


def cmd_ls(args: argparse.Namespace) -> int:
    from mletui.integrations.mlebench.runs import runs_folder

    summaries = _summaries(_scan().folders)
    mlebench = runs_folder(args.mlebench_runs)
    if args.json:
        rows = [_summary_json(s) for s in summaries]
        if mlebench is not None:
            from mletui.integrations.mlebench.listing import run_json
            from mletui.integrations.mlebench.runs import list_mlebench_runs

            rows += [run_json(r) for r in list_mlebench_runs(mlebench)]
        print(json.dumps(rows, indent=2))
        return 0
    if mlebench is not None:
        from mletui.integrations.mlebench.listing import print_runs

        print_runs(mlebench)
        if not summaries:
            return 0
    if not summaries:
        print("No runs yet. Start one: mletui demo")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    from mletui.core.sanitize import plain_cells
    from mletui.watch.grades import grade_cell

    columns = ("ID", "TASK", "AGENT", "RUNTIME", "STATE", "ELAPSED", "BEST", "GRADE", "HINTS")
    for col in (*columns, "ASSISTED"):
        table.add_column(col)
    for s in summaries:
        best = "-" if s.best is None else f"{s.best:.4g}"
        cells = (
            s.record.id,
            s.record.task,
            s.record.agent,
            s.record.runtime,
            _state_text(s.status),
            duration(s.status.wall_s),
            best,
            grade_cell(s),
            str(s.hints_sent),
            "yes" if s.assisted else "-",
        )
        table.add_row(*plain_cells(cells))
    Console(highlight=False).print(table)
    if any(grade_cell(s).endswith("*") for s in summaries):
        print("* grade seen by an operator while the run was live (`mletui audit` says who)")
    return 0


def _summaries(folders: list[Any]) -> list[Any]:
    """Each run's summary; a run whose record cannot be read is named on stderr and left out."""
    from mletui.core.sanitize import clean_text
    from mletui.watch.livestate import summarize

    summaries = []
    for folder in folders:
        try:
            summaries.append(summarize(folder))
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            reason = clean_text(str(exc) or type(exc).__name__)
            print(f"mletui: skipped {clean_text(str(folder.path))}: {reason}.", file=sys.stderr)
    return summaries


def _state_text(status: Any) -> str:
    from mletui.core.events import state_text

    return state_text(status)


def cmd_show(args: argparse.Namespace) -> int:
    from mletui.core.sanitize import clean_text
    from mletui.watch.grades import grade_rows
    from mletui.watch.livestate import summarize

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
        ("created", wall_time(r.created)),
        ("wall time", duration(summary.status.wall_s)),
        ("active time", duration(summary.status.active_s)),
        (
            "time left",
            "-" if summary.status.state.ended else duration(summary.status.time_left_s),
        ),
        (
            "best validation",
            "-"
            if summary.best is None
            else f"{summary.best:.6g} {summary.best_name} ({summary.direction} is better, "
            f"{summary.steps} steps)",
        ),
        *grade_rows(summary),
        ("operator actions", ", ".join(f"{k} {v}" for k, v in summary.actions.items()) or "none"),
        ("assisted", "yes: an operator intervened" if summary.assisted else "no"),
        ("hints", f"{summary.hints_sent} sent, {summary.hints_unacknowledged} unacknowledged"),
        *_docker_rows(r),
        *_rights_rows(r),
        ("folder", str(_resolve(r.id).path)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:  # values hold what the agent named (a metric, the command)
        print(f"{key:<{width}}  {clean_text(value)}")
    return 0


def _act(args: argparse.Namespace, action: str, *params: Any) -> Any:
    from mletui.watch.control import ActionError, RunControl

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
    how = "docker pause" if _resolve(args.run_id).read().runtime == "docker" else "SIGSTOP"
    print(f"Run {args.run_id} frozen ({how}). `mletui thaw {args.run_id}` continues it.")
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
    from mletui.watch.livestate import read_status

    deadline = time.monotonic() + args.grace + 5
    while time.monotonic() < deadline:
        status = read_status(folder)
        if status.state.ended:
            print(f"Run {folder.id} {_state_text(status)}.")
            return 0
        time.sleep(0.2)
    print(f"Kill sent to run {folder.id}; it has not ended yet.")
    return 0


def cmd_gpu(args: argparse.Namespace) -> int:
    from mletui.gpu.nvml import interval_from_env
    from mletui.tui.app import MletuiApp

    interval = interval_from_env() if args.interval is None else args.interval
    if not interval > 0:
        raise UserError("--interval takes a number of seconds above zero.")
    MletuiApp(theme_name=args.theme, operator=args.operator, gpu_interval_s=interval).run()
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from mletui.grading.tasks import bundled_tasks

    for task in bundled_tasks():
        direction = "lower" if task.lower_is_better else "higher"
        print(f"{task.id:<16} {task.metric:<10} ({direction} is better)  {task.name}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "run_all.py"
    if not script.is_file():
        raise UserError(
            "The benchmarks come with a checkout of mletui: run `mletui bench` (or "
            "`python benchmarks/run_all.py`) in one, with mletui installed from it."
        )
    options = ["--reps-scale", args.reps_scale] + (["--quick"] if args.quick else [])
    options += ["--only", args.only] if args.only else []
    return subprocess.run([sys.executable, str(script), *options]).returncode


def cmd_replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mletui.store.pack import PackError, unpack_run
    from mletui.tui.app import MletuiApp

    if args.speed <= 0:
        raise UserError("--speed must be more than zero.")
    if Path(args.run).is_file():
        try:
            folder = unpack_run(Path(args.run))
        except PackError as exc:
            raise UserError(str(exc)) from exc
    else:
        folder = _resolve(args.run)
    app = MletuiApp(
        replay_id=folder.id,
        speed=args.speed,
        skip_idle=args.skip_idle,
        theme_name=args.theme,
        operator=args.operator,
    )
    app.run()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from mletui.tui.serve import serve

    token = args.token or os.environ.get("MLETUI_SERVE_TOKEN")
    if token is not None and len(token) < 16:
        raise UserError("A token needs at least 16 characters; leave it out to get a random one.")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"mletui serve: {args.host} is reachable from other machines; the token is the guard."
        )
    try:
        serve(args.host, args.port, token, args.theme, args.operator)
    except OSError as exc:
        raise UserError(f"Cannot serve on {args.host}:{args.port}: {exc.strerror or exc}.") from exc
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mletui.watch.export import tables, write_tables

    if args.all and args.run_ids:
        raise UserError("Give run ids or --all, not both.")
    if not args.all and not args.run_ids:
        raise UserError("Name the runs to export, or --all.")
    folders = _scan().folders if args.all else [_resolve(r) for r in args.run_ids]
    try:
        written = write_tables(tables(folders), Path(args.out), args.format)
    except (OSError, ImportError) as exc:
        raise UserError(f"Cannot write the export: {exc}.") from exc
    print(f"Exported {len(folders)} run(s) to {args.out}: " + ", ".join(p.name for p in written))
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mletui.store.pack import pack_run

    folder = _resolve(args.run_id)
    try:
        out = pack_run(folder, Path(args.out) if args.out else None)
    except OSError as exc:
        raise UserError(f"Cannot write the pack: {exc}.") from exc
    size = out.stat().st_size
    print(f"Run {folder.id} packed into {out} ({size / 1e6:.1f} MB). Replay it anywhere:")
    print(f"  mletui replay {out}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from mletui.core.sanitize import clean_text
    from mletui.store.audit import (
        INTERVENTIONS,
        NOT_CHAINED,
        audit_journal,
        operator_rights_warning,
    )

    folder = _resolve(args.run_id)
    report = audit_journal(folder.journal_path)  # a KeyFileError is main's sentence
    warning = operator_rights_warning(folder.read())
    if args.json:
        data = {
            "run_id": folder.id,
            "intact": report.intact,
            "chained": report.chained,
            "entries": report.entries,
            "breaks": [vars(b) for b in report.breaks],
            "operator_entries": [
                {"line": line, **{k: v for k, v in e.items() if k not in ("prev", "mac")}}
                for line, e in report.actions
            ],
            "assisted": bool(report.interventions),
            "operator_rights": warning,
        }
        print(json.dumps(data, indent=2))
        return 0 if report.intact else 1
    if report.intact:
        print(f"Run {folder.id}: the record of {report.entries} entries is intact.")
    elif not report.chained and not report.breaks:
        print(f"Run {folder.id}: not chained. {NOT_CHAINED}")
    else:
        print(f"Run {folder.id}: the record is BROKEN:")
        for b in report.breaks:
            print(f"  {clean_text(b.problem)}")
    if warning:
        print(warning)
    for _line, e in report.actions:
        when = wall_time(_number(e.get("ts")))
        mark = "*" if e.get("action") in INTERVENTIONS else " "
        clock = duration(e.get("run_wall_s")) if "run_wall_s" in e else "      -"
        action, who = clean_text(str(e.get("action", "?"))), clean_text(str(e.get("operator", "?")))
        detail = clean_text(str(e.get("detail", "")))
        print(f" {mark} {when}  run {clock}  {action:<15} {who}  {detail}")
    verdict = "assisted (* marks interventions)" if report.interventions else "not assisted"
    print(f"Run {folder.id} is {verdict}.")
    return 0 if report.intact else 1


def _number(value: Any) -> float:
    """A number read from the journal, which anyone may have edited; 0 when it is none."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0


def cmd_grade(args: argparse.Namespace) -> int:
    from mletui.watch import grades as gc

    try:
        if args.task:
            if len(args.targets) != 1:
                raise UserError("With --task, give one file: mletui grade --task TASK FILE.csv")
            graded = [gc.grade_file(args.task, args.targets[0])]
        else:
            folders = [_resolve(run_id) for run_id in args.targets]
            graded = [gc.grade_run(folder, args.operator) for folder in folders]
        written = gc.write_report(graded, args.out) if args.out else None
    except gc.GradeCommandError as exc:
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps(gc.report_json(graded), indent=2))
    else:
        for item in graded:
            print("\n".join(gc.format_graded(item)))
        if len(graded) > 1:
            print(gc.totals_line(graded))
        if written is not None:
            print(f"Report written to {written}")
    return 0 if all(g.report.valid_submission for g in graded) else 1


def _rights_rows(record: Any) -> list[tuple[str, str]]:
    from mletui.store.audit import operator_rights_warning

    warning = operator_rights_warning(record)
    return [("agent rights", warning)] if warning else []


def _docker_rows(record: Any) -> list[tuple[str, str]]:
    """`show`'s lines about a run's container, for the docker runtime."""
    if record.runtime != "docker":
        return []
    from mletui.runtimes.docker.container import describe_limits

    options = record.runtime_options
    limits = describe_limits(options)
    rows = [
        ("engine", record.docker_host or "-"),
        ("engine link", record.engine_status or "answering"),
        ("image", str(options.get("image", "-"))),
        ("container", f"{(record.container_id or '-')[:12]} ({record.container_state or '-'})"),
        ("limits", limits or "none"),
    ]
    if record.oom_killed:
        rows.append(("out of memory", "yes: the kernel's OOM killer ended the agent"))
    return rows


def cmd_image(args: argparse.Namespace) -> int:
    from mletui.runtimes import RuntimeFailure
    from mletui.runtimes.docker.engine import resolve_engine
    from mletui.runtimes.docker.image import DEFAULT_BASE, build_image
    from mletui.runtimes.docker.runtime import DEFAULT_IMAGE

    try:
        result = build_image(
            resolve_engine(args.docker_host),
            base=args.base or DEFAULT_BASE,
            tag=args.tag or DEFAULT_IMAGE,
            log=lambda line: print(line, flush=True),
        )
    except RuntimeFailure as exc:
        raise UserError(str(exc)) from exc
    print(f"Built {result.tag} from {result.base} in {result.seconds:.0f} s.")
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
    "bench": cmd_bench,
    "image": cmd_image,
    "gpu": cmd_gpu,
    "grade": cmd_grade,
    "audit": cmd_audit,
    "replay": cmd_replay,
    "pack": cmd_pack,
    "export": cmd_export,
    "serve": cmd_serve,
}
