"""The ``MLETUI_*`` settings the environment gives mletui itself: the one module that reads them.

Each is read when asked (a test or a launcher may set it at any time), and a value that does not
parse keeps the default, so that a typo in the environment never ends in a traceback. What a run
hands its agent (``MLETUI_CONTROL_DIR``, ``MLETUI_WORKSPACE`` ...) is the protocol's, not a setting
here: the agents read it themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

HOME = "MLETUI_HOME"  # where runs live; must be storage the Slurm nodes share for a Slurm run
CONFIG_DIR = "MLETUI_CONFIG_DIR"  # the operator's keys, anchors and themes, away from the default
THEME = "MLETUI_THEME"  # the colour theme when --theme is not given
CONTAINMENT = "MLETUI_CONTAINMENT"  # how a local run's processes are found: auto, cgroup or scan
GPU_INTERVAL = "MLETUI_GPU_INTERVAL"  # seconds between two GPU samples, for slow or busy NVML
NVML_REPLAY = "MLETUI_NVML_REPLAY"  # recorded GPU readings for demos and tests without a GPU
GRADE_MEMORY_MB = "MLETUI_GRADE_MEMORY_MB"  # the grader's memory limit, for large answer files
GRADE_TIMEOUT_S = "MLETUI_GRADE_TIMEOUT_S"  # the grader's time limit, for slow metrics
STALL_GPU_IDLE_MIN = "MLETUI_STALL_GPU_IDLE_MIN"  # minutes of idle GPU before a stall flag
STALL_LOG_SILENT_MIN = "MLETUI_STALL_LOG_SILENT_MIN"  # minutes of no output before a stall flag
STALL_GPU_IDLE_PERCENT = "MLETUI_STALL_GPU_IDLE_PERCENT"  # GPU use below this counts as idle
PACK_MAX_BYTES = "MLETUI_PACK_MAX_BYTES"  # the unpacked size a pack may reach, against zip bombs
DRIVER_STALE_S = "MLETUI_DRIVER_STALE_S"  # seconds before a silent driver's lock is taken over
SERVE_TOKEN = "MLETUI_SERVE_TOKEN"  # the token `mletui serve` asks for, kept out of shell history
INSPECT_CONTROL_DIR = "MLETUI_INSPECT_CONTROL_DIR"  # Inspect's control folder, if not its default

DEFAULT_GPU_INTERVAL_S = 1.0
DEFAULT_PACK_MAX_BYTES = 8 << 30
DEFAULT_DRIVER_STALE_S = 15.0


def text(name: str, env: Mapping[str, str] | None = None) -> str:
    """The setting ``name`` as given, without surrounding blanks; "" when unset."""
    return (os.environ if env is None else env).get(name, "").strip()


def path(name: str) -> Path | None:
    """A folder or file setting, ``~`` expanded; None when unset."""
    value = text(name)
    if not value:
        return None
    if value.startswith("~"):  # depends on the user's home too: not kept
        return Path(value).expanduser()
    known = _PATHS.get(value)
    if known is None:
        known = _PATHS[value] = Path(value)
    return known


_PATHS: dict[str, Path] = {}  # each setting's path, as parsed: ls asks for them thousands of times


def number(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """A numeric setting; ``default`` when unset, not a number, or NaN."""
    try:
        value = float(text(name, env) or default)
    except ValueError:
        return default
    return value if value == value else default


def home() -> Path | None:
    """``MLETUI_HOME``; None for the platform's data folder."""
    return path(HOME)


def config_dir() -> Path | None:
    """``MLETUI_CONFIG_DIR``; None for the platform's config folder."""
    return path(CONFIG_DIR)


def theme() -> str | None:
    return text(THEME) or None


def containment() -> str:
    """``auto`` (a cgroup where one can be made, else a scan), ``cgroup`` or ``scan``."""
    choice = text(CONTAINMENT).lower() or "auto"
    return choice if choice in ("auto", "cgroup", "scan") else "auto"


def gpu_interval_s(env: Mapping[str, str] | None = None) -> float:
    """Seconds between two GPU samples, at least 0.1; 1 by default."""
    return max(0.1, number(GPU_INTERVAL, DEFAULT_GPU_INTERVAL_S, env))


def nvml_replay() -> str:
    """The recorded readings to replay instead of the real NVML; "" for the real one."""
    return text(NVML_REPLAY)


def grade_memory_mb(default: int) -> int:
    """The grader's memory limit in MiB, at least 1."""
    try:
        return max(1, int(text(GRADE_MEMORY_MB) or default))
    except ValueError:
        return default


def grade_timeout_s(default: float) -> float:
    """The grader's time limit in seconds; a value that is not positive keeps ``default``."""
    value = number(GRADE_TIMEOUT_S, default)
    return value if value > 0 else default


def pack_max_bytes() -> int:
    """The unpacked size limit of a pack: a whole number of bytes, else 8 GiB."""
    value = text(PACK_MAX_BYTES)
    return int(value) if value.isdigit() else DEFAULT_PACK_MAX_BYTES


def driver_stale_s() -> float:
    return number(DRIVER_STALE_S, DEFAULT_DRIVER_STALE_S)


def serve_token() -> str | None:
    return text(SERVE_TOKEN) or None


def inspect_control_dir() -> Path | None:
    return path(INSPECT_CONTROL_DIR)
