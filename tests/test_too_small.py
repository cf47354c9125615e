"""The overview and the GPU screen on a terminal under 40x10: the watch screen's sentence, nothing
else, and the screen back when the terminal grows."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.pilot import Pilot

from mletui.gpu.nvml import ReplayNvml
from mletui.tui.app import MletuiApp
from mletui.tui.screens.gpu import GpuScreen
from mletui.tui.screens.overview import OverviewScreen
from tests.conftest import until
from tests.fixed_run import RUN_ID
from tests.test_gpu_tui import DATA, GpuHost

SENTENCE = "mletui needs at least 40x10; this terminal is 30x8."


def words(app: App[None]) -> str:
    """The screen's words, one space apart: a sentence that wraps reads as it is."""
    strips = app.screen._compositor.render_strips()
    return " ".join("".join(segment.text for segment in strip) for strip in strips).strip()


def squeezed(text: str) -> str:
    return " ".join(text.split())


async def shows(pilot: Pilot[None], text: str) -> str:
    try:
        await until(pilot, lambda: text in words(pilot.app), timeout=10)
    except AssertionError:
        raise AssertionError(f"{text!r} not on the screen: {words(pilot.app)}") from None
    return words(pilot.app)


async def only_the_sentence(pilot: Pilot[None]) -> None:
    await pilot.resize_terminal(30, 8)
    await until(pilot, lambda: SENTENCE in squeezed(words(pilot.app)), timeout=10)
    shown = squeezed(words(pilot.app))
    assert shown == SENTENCE, shown  # nothing else: no table, no footer, no title


@pytest.mark.usefixtures("fixed_run")
async def test_the_overview_says_it_needs_40x10_and_recovers() -> None:
    app = MletuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await shows(pilot, RUN_ID)
        await only_the_sentence(pilot)
        await pilot.resize_terminal(80, 24)
        text = await shows(pilot, RUN_ID)
        assert "needs at least" not in text and "mletui · runs" in text


async def test_the_gpu_screen_says_it_needs_40x10_and_recovers() -> None:
    screen = GpuScreen(nvml=ReplayNvml.from_file(DATA / "nvml_no_driver.json"), interval_s=0.05)
    async with GpuHost(screen).run_test(size=(80, 24)) as pilot:
        await shows(pilot, "no NVIDIA GPU")
        await only_the_sentence(pilot)
        await pilot.resize_terminal(80, 24)
        text = await shows(pilot, "no NVIDIA GPU")
        assert "needs at least" not in text and "mletui · GPUs" in text


@pytest.mark.usefixtures("fixed_run")
async def test_a_terminal_too_small_from_the_start_gets_the_sentence() -> None:
    app = MletuiApp()
    async with app.run_test(size=(30, 8)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await until(pilot, lambda: SENTENCE in squeezed(words(app)), timeout=10)
