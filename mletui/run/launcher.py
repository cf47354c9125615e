"""Starting runs: a task, an agent and a runtime become a run folder and a supervised process."""

from __future__ import annotations

import os
import sys
from typing import Any

from mletui.grading.tasks import Task
from mletui.runtimes import get_runtime
from mletui.runtimes.local import AgentIdentity, agent_identity, hand_over
from mletui.store import keys
from mletui.store.keys import KeyFileError
from mletui.store.runs import RunFolder, config_dir, create_run_folder, make_record, runs_root

AGENTS = {
    "baseline": [sys.executable, "-u", "-m", "mletui.agents.baseline"],
    "llm": [sys.executable, "-u", "-m", "mletui.agents.llm"],
}


class LaunchError(Exception):
    """A run that cannot be started; the message says why and what to do."""


def agent_command(agent: str | None, agent_cmd: str | None) -> tuple[str, list[str]]:
    if agent_cmd is not None:
        if not agent_cmd.strip():
            raise LaunchError(
                "--agent-cmd is blank: give the command that starts your agent, e.g. --agent-cmd "
                '"python my_agent.py", or leave it out for the baseline agent.'
            )
        return "cmd", ["/bin/sh", "-c", agent_cmd]
    name = agent or "baseline"
    if name not in AGENTS:
        raise LaunchError(
            f"Unknown agent '{name}'. Agents: {', '.join(AGENTS)}; "
            'or bring your own with --agent-cmd "COMMAND".'
        )
    return name, list(AGENTS[name])


def agent_env(task: Task, folder: RunFolder, time_limit_s: float | None) -> dict[str, str]:
    """The protocol's environment, with MLE-bench's names beside mletui's own."""
    env = {
        "MLETUI_CONTROL_DIR": str(folder.control),
        "MLETUI_DATA_DIR": str(task.public_dir),
        "MLETUI_WORKSPACE": str(folder.workspace),
        "MLETUI_SUBMISSION_DIR": str(folder.submission),
        "MLETUI_LOGS_DIR": str(folder.logs_dir),
        "MLETUI_TASK_ID": task.id,
        "MLETUI_TASK_METRIC": task.metric,
        "MLETUI_TASK_ID_COLUMN": task.id_column,
        "MLETUI_TASK_TARGETS": ",".join(task.target_columns),
        "MLETUI_TASK_LOWER_IS_BETTER": "1" if task.lower_is_better else "0",
        "MLETUI_TASK_DESCRIPTION": str(task.description_path),
        "COMPETITION_ID": task.id,
        "SUBMISSION_DIR": str(folder.submission),
        "CODE_DIR": str(folder.workspace),
        "LOGS_DIR": str(folder.logs_dir),
        "PYTHONUNBUFFERED": "1",
    }
    if time_limit_s is not None:
        env["TIME_LIMIT_SECS"] = str(int(time_limit_s))
    return env


def start_run(
    task: Task,
    *,
    agent: str | None = None,
    agent_cmd: str | None = None,
    runtime: str = "local",
    time_limit_s: float | None = None,
    extra_env: dict[str, str] | None = None,
    runtime_options: dict[str, Any] | None = None,
    agent_user: str | None = None,
) -> RunFolder:
    """``runtime_options``: the runtime's own (docker: docker_host, image, cpus, memory, gpus);
    checked, and the Engine asked, before the run folder exists. ``agent_user``: the local
    runtime runs the agent as that user, which can then write only its three folders."""
    name, command = agent_command(agent, agent_cmd)
    rt = get_runtime(runtime)
    identity = other_user(agent_user, runtime, task) if agent_user else None
    options = rt.preflight(dict(runtime_options or {}))
    try:
        keys.journal_key()  # every entry is sealed with it: a key that can't be used stops here
    except KeyFileError as exc:
        raise LaunchError(str(exc)) from None
    protect_umask()
    record = make_record(task.id, str(task.path), name, command, runtime, time_limit_s)
    record.agent_user = agent_user
    folder = create_run_folder(record)
    if identity is not None:
        hand_over(folder, identity)
    with folder.updating() as rec:
        rec.env = {**agent_env(task, folder, time_limit_s), **(extra_env or {})}
        rec.runtime_options = options
    rt.start(folder)
    return folder


def other_user(user: str, runtime: str, task: Task) -> AgentIdentity:
    """The agent's user, checked before a run folder exists: it can reach the runs folder and
    the task's data, and the operator's config folder (the journal's key) is closed to it."""
    if runtime != "local":
        raise LaunchError(f"--agent-user is for the local runtime, not --runtime {runtime}.")
    identity = agent_identity(user)
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    for what, path in (("the runs folder", root), ("the task's data", task.public_dir)):
        if not identity.can_enter(path):
            raise LaunchError(
                f"User {user} cannot reach {what}, {path}: a folder above it is closed to "
                "it. Set MLETUI_HOME to a folder it can reach (mletui keeps the rest closed)."
            )
    keys.private_dir(config_dir())  # where the journal's key lives: for the operator alone
    return identity


def protect_umask() -> None:
    """Nothing mletui creates (the run folder, run.json, the journal, the logs) is writable by
    anyone but the operator, whatever umask it was started with; the supervisor inherits it."""
    os.umask(os.umask(0) | 0o022)
