"""``mletui demo``, ``run`` and ``tasks``: starting runs, and what they can work on."""

from __future__ import annotations

import os
from typing import Any

import click

from mletui.cli.command import GlobalOptions, UserError, command
from mletui.cli.lookup import task
from mletui.cli.runs import watch_run
from mletui.core.clock import parse_duration

DEMO_TASK = "digits"
DEMO_TIME_LIMIT = "15m"
DEMO_STEP_DELAY = "4"

_DOCKER_FLAGS = ("docker_host", "image", "cpus", "memory", "gpus")
_SLURM_FLAGS = ("partition", "sbatch_arg")
_SHARED_FLAGS = ("cpus", "memory", "gpus")  # the container's limits, or the Slurm job's
_LLM_FLAGS = ("model", "base_url", "max_cost", "max_steps")


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


@command("demo", "start the baseline agent on a bundled task and watch it")
@click.option("--task", "task_name", default=DEMO_TASK, help=f"bundled task (default {DEMO_TASK})")
@click.option("--time-limit", default=DEMO_TIME_LIMIT, help="default 15m")
@click.option("--step-delay", default=DEMO_STEP_DELAY, help="seconds between the agent's steps")
@click.option(
    "--hide-grades",
    is_flag=True,
    help="hide held-out grades until G, as `watch` does (the demo shows them openly)",
)
@click.pass_obj
def demo(
    options: GlobalOptions, task_name: str, time_limit: str, step_delay: str, hide_grades: bool
) -> int:
    bundled = task(task_name)
    try:
        delay = float(step_delay)
    except ValueError as exc:
        raise UserError("--step-delay takes a number of seconds.") from exc
    folder = _start(
        task=bundled,
        agent="baseline",
        time_limit_s=_duration(time_limit),
        # The demo goes on improving until its time limit: time to try every control.
        extra_env={"MLETUI_BASELINE_STEP_DELAY": str(delay), "MLETUI_BASELINE_KEEP_IMPROVING": "1"},
    )
    return watch_run(options, folder.id, drive=True, show_grades=not hide_grades)


@command(
    "run",
    "start a run; without --detach, watch it",
    sections={
        "the docker runtime (--runtime docker)": _DOCKER_FLAGS,
        "the slurm runtime (--runtime slurm; also --cpus, --memory, --gpus)": _SLURM_FLAGS,
        "the LLM agent (--agent llm)": _LLM_FLAGS,
    },
)
@click.argument(
    "task_name",
    metavar="TASK",
    help="a bundled task's name (see `mletui tasks`) or a task folder",
)
@click.option("--agent", help="a shipped agent (default: baseline)")
@click.option("--agent-cmd", help="bring your own agent: any command, run by /bin/sh")
@click.option("--runtime", default="local", help="where the agent runs (default: local)")
@click.option("--time-limit", help="active time before the run is stopped: 90s, 15m, 2h")
@click.option("--detach", is_flag=True, help="print the run id and return")
@click.option(
    "--agent-user",
    metavar="NAME",
    help="local runtime: run the agent as this user, which can write only workspace/, "
    "submission/ and control/ of its run (mletui must run as root)",
)
@click.option(
    "--docker-host",
    metavar="URL",
    help="the Docker Engine: unix://, tcp://, ssh:// (default: $DOCKER_HOST, the Docker "
    "context, or the local socket)",
)
@click.option("--image", help="the agent image (default: what `mletui image build` makes)")
@click.option("--cpus", help="CPUs the container may use, e.g. 4 or 0.5 (slurm: the job's)")
@click.option("--memory", help="the container's memory limit, e.g. 8g or 512m (no swap)")
@click.option("--gpus", help="all, none (default) or a number of GPUs")
@click.option("--partition", help="the Slurm partition (default: the cluster's default)")
@click.option(
    "--sbatch-arg",
    multiple=True,
    metavar="ARG",
    help="one more sbatch argument, e.g. --sbatch-arg=--account=ml (repeatable)",
)
@click.option("--model", help="the model, as the server names it")
@click.option(
    "--base-url", help="an OpenAI-compatible server (default: $OPENAI_BASE_URL, or OpenAI)"
)
@click.option(
    "--max-cost", type=float, help="stop before the estimated cost passes this many dollars"
)
@click.option("--max-steps", type=int, help="stop after this many steps (default 20)")
@click.pass_obj
def run(
    options: GlobalOptions,
    /,
    task_name: str,
    agent: str | None,
    agent_cmd: str | None,
    runtime: str,
    time_limit: str | None,
    detach: bool,
    agent_user: str | None,
    **flags: Any,
) -> int:
    if agent and agent_cmd:
        raise UserError("Give --agent or --agent-cmd, not both.")
    chosen = task(task_name)
    folder = _start(
        task=chosen,
        agent=agent,
        agent_cmd=agent_cmd,
        runtime=runtime,
        time_limit_s=_duration(time_limit),
        extra_env=_llm_env(agent, {k: flags[k] for k in _LLM_FLAGS}),
        runtime_options=_runtime_options(
            runtime, {k: flags[k] for k in (*_DOCKER_FLAGS, *_SLURM_FLAGS)}
        ),
        agent_user=agent_user,
    )
    if detach:
        print(folder.id)
        return 0
    return watch_run(options, folder.id, drive=True)


def _runtime_options(runtime: str, flags: dict[str, Any]) -> dict[str, Any]:
    options = {k: v for k, v in flags.items() if v is not None and v != ()}
    if runtime == "slurm":
        docker_only = [k for k in options if k not in (*_SLURM_FLAGS, *_SHARED_FLAGS)]
        if docker_only:
            named = ", ".join("--" + k.replace("_", "-") for k in docker_only)
            raise UserError(f"{named}: for --runtime docker only.")
        if "sbatch_arg" in options:
            options["sbatch_args"] = list(options.pop("sbatch_arg"))
        return options
    slurm_only = [k for k in options if k in _SLURM_FLAGS]
    if slurm_only:
        raise UserError("--partition, --sbatch-arg: for --runtime slurm only.")
    if options and runtime != "docker":
        named = ", ".join("--" + k.replace("_", "-") for k in options)
        raise UserError(f"{named}: for --runtime docker only.")
    return options


def _llm_env(agent: str | None, flags: dict[str, Any]) -> dict[str, str] | None:
    """The LLM agent's settings from its flags, checked before a run is made; the key stays in
    the environment the run inherits, never in run.json."""
    if agent != "llm":
        if any(value is not None for value in flags.values()):
            raise UserError("--model, --base-url, --max-cost and --max-steps are for --agent llm.")
        return None
    from mletui.agents import llm

    env = {
        name: str(value)
        for name, value in (
            (llm.ENV_MODEL, flags["model"]),
            (llm.ENV_BASE_URL, flags["base_url"]),
            (llm.ENV_MAX_COST, flags["max_cost"]),
            (llm.ENV_MAX_STEPS, flags["max_steps"]),
        )
        if value is not None
    }
    try:
        llm.read_config({**os.environ, **env})
    except llm.SetupError as exc:
        raise UserError(str(exc)) from exc
    return env


@command("tasks", "list the bundled tasks")
def tasks() -> int:
    from mletui.grading.tasks import bundled_tasks

    rows = [("TASK", "METRIC", "BETTER", "NAME")] + [
        (b.id, b.metric, "lower" if b.lower_is_better else "higher", b.name)
        for b in bundled_tasks()
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for *cells, name in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(cells, widths, strict=True)), name]))
    return 0
