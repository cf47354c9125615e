"""Live Inspect evals: each ``inspect eval`` process writes ``<pid>.json`` into Inspect's data
folder (``control/``), naming its control socket and the control API version it serves."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from mletui.core import settings
from mletui.core.safefs import NotARegularFile, read_regular
from mletui.core.sanitize import clean_text

ENV_CONTROL_DIR = settings.INSPECT_CONTROL_DIR
# Version 3 made mutations strict (an unknown parameter is refused, never half applied);
# 8 is the newest this module was written against. Between them no change needs a client to
# adapt (Inspect bumps the version only for such a change).
MIN_API_VERSION = 3
MAX_API_VERSION = 8
MAX_DISCOVERY_BYTES = 64 * 1024  # a discovery file is a few hundred bytes


def control_dir() -> Path:
    """Inspect's discovery folder: ``$MLETUI_INSPECT_CONTROL_DIR``, else Inspect's own place
    (its user data folder, ``inspect_ai/control``)."""
    return (
        settings.inspect_control_dir() or Path(platformdirs.user_data_dir("inspect_ai")) / "control"
    )


@dataclass(frozen=True)
class EvalProcess:
    """One live Inspect process with a control channel (one ``eval()`` or one eval set)."""

    pid: int
    socket_path: Path
    started_at: float
    api_version: int
    run_id: str | None = None
    eval_set_id: str | None = None

    @property
    def unsupported(self) -> str | None:
        """Why mletui cannot speak to this process, in a sentence; None when it can."""
        return version_problem(self.api_version, self.pid)


def version_problem(version: int, pid: int) -> str | None:
    if MIN_API_VERSION <= version <= MAX_API_VERSION:
        return None
    known = f"{MIN_API_VERSION} to {MAX_API_VERSION}"
    if version > MAX_API_VERSION:
        return (
            f"Inspect process {pid} serves control API version {version}, newer than the "
            f"versions this mletui knows ({known}); upgrade mletui to act on it."
        )
    return (
        f"Inspect process {pid} serves control API version {version}, older than the "
        f"versions this mletui knows ({known}); upgrade Inspect (pip install -U inspect-ai) "
        "in the eval's environment."
    )


@dataclass(frozen=True)
class Discovery:
    processes: tuple[EvalProcess, ...]
    problems: tuple[str, ...]  # a sentence per discovery file that could not be used


def discover(folder: Path | None = None) -> Discovery:
    """The live processes in ``folder`` (default :func:`control_dir`), newest first. A file whose
    pid is gone is stale (a crashed eval) and skipped silently; an unreadable one is a problem."""
    folder = control_dir() if folder is None else folder
    processes: list[EvalProcess] = []
    problems: list[str] = []
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return Discovery((), ())
    except OSError as exc:
        return Discovery((), (f"Inspect's control folder {folder} cannot be read: {exc.strerror}",))
    for name in names:
        stem, dot, ext = name.partition(".")
        if ext != "json" or not dot or not stem.isdigit():
            continue
        pid = int(stem)
        if not pid_alive(pid):
            continue
        path = folder / name
        try:
            process = parse_discovery(read_regular(path, MAX_DISCOVERY_BYTES), pid)
        except (OSError, NotARegularFile) as exc:
            problems.append(f"{path} cannot be read: {exc}")
            continue
        except ValueError as exc:
            problems.append(f"{path} is not an Inspect discovery file: {exc}")
            continue
        processes.append(process)
    processes.sort(key=lambda p: p.started_at, reverse=True)
    return Discovery(tuple(processes), tuple(problems))


def parse_discovery(data: bytes, pid: int) -> EvalProcess:
    """One discovery file; ValueError with a reason when it is not one."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    socket_path = value.get("socket_path")
    if not isinstance(socket_path, str) or not socket_path:
        raise ValueError("no socket_path")
    if value.get("pid", pid) != pid:
        raise ValueError(f"it names pid {clean_text(str(value.get('pid')), 40)}, not {pid}")
    version = value.get("api_version", 0)  # a server older than version reporting says nothing
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError("api_version is not a number")
    started = value.get("started_at", 0.0)
    return EvalProcess(
        pid=pid,
        socket_path=Path(socket_path),
        started_at=float(started) if isinstance(started, int | float) else 0.0,
        api_version=version,
        run_id=_text(value.get("run_id")),
        eval_set_id=_text(value.get("eval_set_id")),
    )


def _text(value: object) -> str | None:
    return clean_text(value, 200) if isinstance(value, str) and value else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive, if not ours to reach
    except OSError:
        return False
    return True
