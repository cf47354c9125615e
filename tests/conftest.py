"""Shared fixtures: every test gets its own MLETUI_HOME, and no run outlives its test."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from mletui.store.runs import RunFolder, list_runs
from mletui.watch.livestate import read_status

if TYPE_CHECKING:
    from textual.pilot import Pilot

# The docker runtime's fixtures (a real Engine, offline-built images, a second engine).
pytest_plugins = ["tests.docker_fixtures"]


def unavailable(what: str, reason: str) -> None:
    """Under CI every test must run: what it lacks fails it there; elsewhere, a skip that says
    what was missing."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def inspect_ai_installed() -> None:
    """The Inspect tests run real evals: Inspect AI comes with the dev extra."""
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        unavailable("Inspect AI", "inspect_ai is not installed (pip install -e '.[dev]')")


def require_root(what: str) -> None:
    """Tests that switch users or mount a file system need root (CI runs as root)."""
    if os.geteuid() != 0:
        unavailable(what, "it needs root")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("MLETUI_HOME", str(home))
    monkeypatch.setenv("MLETUI_CONFIG_DIR", str(tmp_path / "config"))
    # Inspect's live evals and logs: none but a test's own (never the operator's).
    monkeypatch.setenv("MLETUI_INSPECT_CONTROL_DIR", str(tmp_path / "inspect-control"))
    monkeypatch.setenv("INSPECT_LOG_DIR", str(tmp_path / "inspect-logs"))
    yield home
    for folder in list_runs():
        record = folder.read()
        for pid in (record.agent_pid, record.supervisor_pid):
            if pid is None:
                continue
            try:
                if pid == record.agent_pid:
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def wait_for(
    predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_ended(folder: RunFolder, timeout: float = 60.0) -> None:
    wait_for(lambda: read_status(folder).state.ended, timeout, f"run {folder.id} to end")


async def until(pilot: Pilot[None], predicate: Callable[[], object], timeout: float = 60) -> None:
    """``wait_for`` inside a running app: the app goes on while it waits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out")


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie has ended: it only waits to be reaped)."""
    out = set()
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.add(pid)
    return out


def free_port() -> int:
    """A TCP port nobody listens on now (on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MLEBENCH_DATA = Path(__file__).parent / "data" / "mlebench"


@pytest.fixture
def mlebench_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MLE-bench's data folder with one competition's private answers, and MLE-bench's package
    importable by the grader's Python."""
    data = tmp_path / "data"
    private = data / "toy-comp" / "prepared" / "private"
    private.mkdir(parents=True)
    # VALID (tests/test_mlebench_grading.py) gets 3 of these 4 right: 0.75, a bronze medal.
    (private / "answers.csv").write_text("id,label\n1,a\n2,b\n3,b\n4,a\n")
    monkeypatch.setenv("PYTHONPATH", str(MLEBENCH_DATA / "fake_mlebench"))
    monkeypatch.setenv("MLEBENCH_PYTHON", sys.executable)
    return data


@pytest.fixture
def fixed_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The recorded, ended run of tests/fixed_run.py in this test's MLETUI_HOME, its wall times
    shown in UTC (the snapshots and the layout tests read them)."""
    from tests.fixed_run import write_fixed_run

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    write_fixed_run(monkeypatch)
    yield
    monkeypatch.undo()
    time.tzset()
