"""The container a run gets: its image, mounts, environment, limits and labels.

Paths follow MLE-bench's: the task's public data read-only at ``/home/data``, the workspace at
``/home/code``, the submission folder at ``/home/submission``, the agent's logs at ``/home/logs``
and mletui's control folder at ``/home/control``. Each is a bind mount of the run folder's own
(so the recorder and watchfiles on the host see every change as it happens); the task's private
answers are never mounted. The agent's environment names the container's paths, not the host's.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mletui.runtimes import RuntimeFailure
from mletui.store.runs import RunFolder, RunRecord

DATA = "/home/data"
CODE = "/home/code"
SUBMISSION = "/home/submission"
LOGS = "/home/logs"
CONTROL = "/home/control"
TASK = "/home/task"  # files of the task folder an agent's environment names (description.md)

AGENT_LOGS = "agent"  # the run folder's logs/agent/ is the container's /home/logs
# Secrets an agent may need, passed from the environment of the command that started the run
# (never written to run.json), as the local runtime passes its whole environment.
PASS_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
LABEL_PREFIX = "mletui."


@dataclass(frozen=True)
class Mount:
    source: str  # a path on the Engine's machine
    target: str  # the path in the container
    read_only: bool = False


def agent_logs_dir(folder: RunFolder) -> Path:
    """The host side of ``/home/logs``: beside the log spool, never the spool's own folder."""
    return Path(folder.logs_dir) / AGENT_LOGS


def mounts_for(folder: RunFolder, task_path: Path) -> list[Mount]:
    return [
        Mount(str(task_path / "public"), DATA, read_only=True),
        Mount(str(folder.workspace), CODE),
        Mount(str(folder.submission), SUBMISSION),
        Mount(str(agent_logs_dir(folder)), LOGS),
        Mount(str(folder.control), CONTROL),
    ]


def plan_container(folder: RunFolder, record: RunRecord) -> tuple[dict[str, str], list[Mount]]:
    """The agent's environment with the container's paths, and every mount the container gets."""
    task_path = Path(record.task_path)
    mounts = mounts_for(folder, task_path)
    # The run's logs/ (where the local runtime's agent writes) is logs/agent/ here: the spool
    # beside it stays out of the agent's reach.
    aliases = [Mount(str(folder.logs_dir), LOGS)]
    env, extra = container_env(record.env, [*mounts, *aliases], task_path)
    return env, [*mounts, *extra]


def container_env(
    env: dict[str, str], mounts: list[Mount], task_path: Path
) -> tuple[dict[str, str], list[Mount]]:
    """``env`` with every host path under a mount rewritten to its container path, and the extra
    read-only mounts needed for task files it names (never anything under ``private/``)."""
    out: dict[str, str] = {}
    extra: list[Mount] = []
    private = task_path / "private"
    # Longest source first: a folder mounted inside another one's host folder wins.
    mounts = sorted(mounts, key=lambda m: len(m.source), reverse=True)
    for key, value in env.items():
        mapped = _map_path(value, mounts)
        if mapped is None and os.path.isabs(value) and _under(Path(value), task_path):
            if _under(Path(value), private):
                raise RuntimeFailure(
                    f"The agent's environment names the task's private answers ({key}); "
                    "they are never given to an agent."
                )
            if os.path.exists(value):
                relative = Path(value).relative_to(task_path)
                target = str(PurePosixPath(TASK) / relative.as_posix())
                extra.append(Mount(value, target, read_only=True))
                mapped = target
        out[key] = value if mapped is None else mapped
    return out, extra


def _map_path(value: str, mounts: list[Mount]) -> str | None:
    if not os.path.isabs(value):
        return None
    for mount in mounts:
        if value == mount.source:
            return mount.target
        if value.startswith(mount.source.rstrip("/") + "/"):
            return mount.target + value[len(mount.source.rstrip("/")) :]
    return None


def _under(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def container_command(command: list[str]) -> list[str]:
    """The run's command as the image runs it: mletui's own Python becomes the image's."""
    if command and command[0] == sys.executable:
        return ["python", *command[1:]]
    return list(command)


def labels_for(record: RunRecord, folder: RunFolder) -> dict[str, str]:
    """Labels by which any mletui process finds a run's container again."""
    return {
        f"{LABEL_PREFIX}run_id": record.id,
        f"{LABEL_PREFIX}task": record.task,
        f"{LABEL_PREFIX}agent": record.agent,
        f"{LABEL_PREFIX}run_dir": str(folder.path),
    }


def container_name(record: RunRecord) -> str:
    task = re.sub(r"[^a-zA-Z0-9_.-]+", "-", record.task).strip("-.") or "task"
    return f"mletui-{task}-{record.id}"


# --- options -------------------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_memory(text: str) -> int:
    """``8g``, ``512m``, ``1.5GiB``, ``1073741824`` -> bytes (binary units, as docker's)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a memory size (examples: 512m, 8g)")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value < 6 * 1024**2:
        raise ValueError(f"--memory {text} is below the Engine's minimum of 6 MiB")
    return value


def parse_cpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--cpus takes a number of CPUs (e.g. 4 or 0.5), not '{text}'") from None
    if not 0 < value <= 4096:
        raise ValueError(f"--cpus must be more than 0, not {text}")
    return value


def parse_gpus(text: str) -> str:
    """``all``, ``none`` or a count; kept as text in run.json."""
    value = text.strip().lower()
    if value in ("all", "none"):
        return value
    if value.isdigit() and int(value) > 0:
        return value
    raise ValueError(f"--gpus takes all, none or a number of GPUs, not '{text}'")


def describe_limits(options: dict[str, Any]) -> str:
    """``cpus 2, memory 512 MiB, gpus all``; empty when there are none."""
    parts = []
    if options.get("cpus"):
        parts.append(f"cpus {options['cpus']:g}")
    if options.get("memory"):
        parts.append(f"memory {int(options['memory']) / 1024**2:.0f} MiB")
    if options.get("gpus") not in (None, "none"):
        parts.append(f"gpus {options['gpus']}")
    return ", ".join(parts)


def create_kwargs(record: RunRecord, folder: RunFolder) -> dict[str, Any]:
    """Keyword arguments of ``client.containers.create`` for the run in ``folder``."""
    from docker.types import DeviceRequest, LogConfig
    from docker.types import Mount as DockerMount

    options = record.runtime_options
    env = dict(record.env)  # container paths already (DockerRuntime.start)
    mounts = [Mount(**m) for m in options["mounts"]]
    for name in PASS_ENV:
        if name in os.environ and name not in env:
            env[name] = os.environ[name]
    kwargs: dict[str, Any] = {
        "image": options["image"],
        "command": container_command(record.command),
        "name": container_name(record),
        "labels": labels_for(record, folder),
        "environment": env,
        "working_dir": CODE,
        "mounts": [
            DockerMount(m.target, m.source, type="bind", read_only=m.read_only) for m in mounts
        ],
        "init": True,  # a real PID 1: signals reach the agent, zombies are reaped
        "detach": True,
        "tty": False,  # stdout and stderr apart, in frames
        "stdin_open": False,
        # json-file keeps every message with its time, and `docker logs` reads it back.
        "log_config": LogConfig(type="json-file", config={}),
    }
    if options.get("user"):
        kwargs["user"] = options["user"]
    if options.get("cpus"):
        kwargs["nano_cpus"] = int(float(options["cpus"]) * 1e9)
    if options.get("memory"):
        kwargs["mem_limit"] = int(options["memory"])
        kwargs["memswap_limit"] = int(options["memory"])  # no swap: the limit is the limit
    gpus = options.get("gpus", "none")
    if gpus != "none":
        count = -1 if gpus == "all" else int(gpus)
        kwargs["device_requests"] = [DeviceRequest(count=count, capabilities=[["gpu"]])]
    return kwargs
