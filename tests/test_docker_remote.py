"""A run on another Docker Engine, reached over TCP with TLS (a second dockerd on a loopback port
stands in for a remote one): started, watched and killed through ``--docker-host``, each from a
new process, as a user in a new shell would; the run remembers its engine and certificates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from mletui.core.events import RunState, Stream
from mletui.store.runs import RunFolder, resolve_run
from mletui.tui.app import MletuiApp
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.log_view import LogView
from mletui.watch.livestate import read_status
from tests.conftest import wait_for
from tests.docker_fixtures import SecondEngine
from tests.test_docker_runtime import spool

pytestmark = pytest.mark.usefixtures("docker_cleanup")

TICKER = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"
NEW_SHELL = {"DOCKER_HOST": "", "DOCKER_TLS_VERIFY": "", "DOCKER_CERT_PATH": ""}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mletui", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def inspect(engine: SecondEngine, folder: RunFolder) -> dict[str, Any]:
    assert engine.client is not None
    state: dict[str, Any] = engine.client.api.inspect_container(folder.read().container_id)["State"]
    return state


async def test_run_watch_and_kill_through_docker_host(second_engine: SecondEngine) -> None:
    started = cli(
        "run",
        "digits",
        "--runtime",
        "docker",
        "--docker-host",
        second_engine.url,
        "--image",
        "mletui-test-base",
        "--agent-cmd",
        TICKER,
        "--memory",
        "256m",
        "--detach",
        env=second_engine.env,
    )
    assert started.returncode == 0, started.stderr
    folder = resolve_run(started.stdout.strip())
    record = folder.read()
    assert record.docker_host == second_engine.url and record.runtime == "docker"
    assert second_engine.client is not None
    assert second_engine.client.containers.get(record.container_id).labels["mletui.run_id"] == (
        folder.id
    )

    # From a new shell, with no DOCKER_HOST: the run knows its engine.
    shown = json.loads(cli("show", folder.id, "--json", env=NEW_SHELL).stdout)
    assert shown["docker_host"] == second_engine.url and shown["state"] == "running"

    # Watched: the logs arrive in the TUI.
    app = MletuiApp(run_id=folder.id, operator="pilot")
    async with app.run_test(size=(160, 48)) as pilot:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = app.screen
            if isinstance(screen, WatchScreen) and screen.query_one(LogView).line_count > 3:
                break
            await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        assert screen.query_one(LogView).line_count > 3
        await pilot.press("q")

    assert cli("freeze", folder.id, env=NEW_SHELL).returncode == 0
    assert inspect(second_engine, folder)["Paused"] is True
    wait_for(lambda: read_status(folder).state is RunState.FROZEN, 10, "frozen")
    killed = cli("kill", folder.id, "--yes", "--grace", "2", env=NEW_SHELL)
    assert killed.returncode == 0 and "killed" in killed.stdout, killed.stdout + killed.stderr
    state = inspect(second_engine, folder)
    assert not state["Running"] and folder.read().exit_code == state["ExitCode"]
    ticks = [raw for _, raw in spool(folder, Stream.STDOUT)]
    assert ticks and ticks[0] == b"tick 1"


def test_an_engine_that_does_not_answer_is_named(second_engine: SecondEngine) -> None:
    result = cli("run", "digits", "--runtime", "docker", "--docker-host", "tcp://127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr.startswith("mletui: No Docker Engine answers at tcp://127.0.0.1:9")
    assert "Traceback" not in result.stderr
    plain = cli("run", "digits", "--runtime", "docker", "--docker-host", second_engine.url)
    assert plain.returncode == 1 and "wants TLS: set DOCKER_TLS_VERIFY=1" in plain.stderr
