"""SVG snapshots of every screen (pytest-textual-snapshot), at two sizes, in both bundled themes.

Deterministic by construction: one recorded, ended run with fixed times (tests/fixed_run.py), and
recorded NVML readings with fixed times for the GPU screen. After a deliberate change of a screen,
look at the new pictures and accept them with ``pytest tests/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from mletui.gpu.nvml import GpuSampler, ReplayNvml
from mletui.tui.app import MletuiApp
from mletui.tui.screens.gpu import GpuScreen, GpuUpdate
from mletui.tui.screens.overview import OverviewScreen
from mletui.tui.screens.replay import ReplayScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.scores_pane import ScoresPane
from tests.conftest import until
from tests.fixed_run import RUN_ID, T0

DATA = Path(__file__).parent / "data"
SIZES = [pytest.param((200, 50), id="200x50"), pytest.param((80, 24), id="80x24")]
THEMES = ["mletui-dark", "mletui-light"]
AGENT_PID, OTHER_PID = 4242, 4343  # the recording's processes, as pids of the run's agent and not

Compare = Callable[..., bool]


async def settle(pilot: Pilot[None]) -> None:
    """Let the last posted messages land and the screen repaint."""
    await pilot.pause(0.3)
    # A table measures new rows and cells when idle: wait until its column widths are final,
    # then drop its cached lines (a header drawn before a column grew may be kept otherwise).
    tables = list(pilot.app.screen.query(DataTable))
    await until(
        pilot, lambda: not any(t._require_update_dimensions or t._updated_cells for t in tables)
    )
    for table in tables:
        table._clear_caches()
        # The cursor's row in view, as measured now (a first layout under load may lag it).
        table.move_cursor(row=table.cursor_row, scroll=True, animate=False)
        table.refresh()
    await pilot.pause(0.3)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def watch_ready(screen: WatchScreen) -> bool:
    status = screen.status
    return (
        status is not None
        and status.state.ended
        and screen.query_one(LogView).line_count == 11
        and len(screen.query_one(CodePane).snapshots) == 3
        and len(screen.query_one(ScoresPane).scores) == 3
        and screen.query_one(ScoresPane).query_one(DataTable).row_count == 4  # and the grade
    )


@pytest.mark.usefixtures("fixed_run")
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_overview(snap_compare: Compare, size: tuple[int, int], theme: str) -> None:
    app = MletuiApp(theme_name=theme)

    async def ready(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1 and table.get_cell(RUN_ID, "grade"))
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.usefixtures("fixed_run")
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_watch(snap_compare: Compare, size: tuple[int, int], theme: str) -> None:
    app = MletuiApp(run_id=RUN_ID, theme_name=theme)

    async def ready(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(app.screen, WatchScreen))
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        await until(pilot, lambda: watch_ready(screen))
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.usefixtures("fixed_run")
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_replay(snap_compare: Compare, size: tuple[int, int], theme: str) -> None:
    # Skipping idle stretches depends on when the polls fall: each skip adds a marker line and
    # a notice. Played straight through, at this speed, the replay always ends the same.
    app = MletuiApp(replay_id=RUN_ID, speed=1000, skip_idle=False, theme_name=theme)

    async def ready(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(app.screen, ReplayScreen))
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        await until(pilot, lambda: screen.replay.position >= screen.replay.duration)
        await until(pilot, lambda: watch_ready(screen))
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=ready)


def recorded_readings(count: int = 40) -> list[GpuUpdate]:
    """The H100 x2 recording sampled ``count`` times a second apart, its processes attributed (as
    the screen's sampler would for live processes: these pids are the recording's, not real)."""
    nvml = ReplayNvml.from_file(
        DATA / "nvml_h100x2.json", pids={"agent": AGENT_PID, "other": OTHER_PID}
    )
    sampler = GpuSampler(nvml)
    names = {AGENT_PID: ("python", RUN_ID), OTHER_PID: ("jupyter", None)}
    updates = []
    for n in range(count):
        reading = sampler.sample()
        processes = tuple(
            replace(p, name=names[p.pid][0], run_id=names[p.pid][1]) for p in reading.processes
        )
        updates.append(GpuUpdate(replace(reading, ts=T0 + n, processes=processes), []))
    sampler.close()
    return updates


@pytest.mark.usefixtures("fixed_run")
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_gpu(
    snap_compare: Compare, size: tuple[int, int], theme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The screen's own sampler thread would read NVML at its own pace: the test feeds it instead.
    monkeypatch.setattr(GpuScreen, "_sample", lambda self: None)
    app = MletuiApp(gpu_interval_s=1.0, theme_name=theme)
    updates = recorded_readings()

    async def ready(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(app.screen, GpuScreen))
        screen = app.screen
        assert isinstance(screen, GpuScreen)
        for update in updates:
            screen.on_gpu_update(update)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=ready)
