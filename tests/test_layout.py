"""The watch screen at 80x24 and 40x10 (one pane at a time, under a tab bar), a terminal too small
for it, zoom of every pane, and the command palette's actions and screenshots, on a recorded run."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color
from textual.pilot import Pilot

from mletui.tui.app import MletuiApp
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.pane_tabs import PANES, PaneTabs
from mletui.tui.widgets.score_chart import ScoreChart
from tests.conftest import until
from tests.fixed_run import RUN_ID
from tests.test_snapshots import watch_ready

# What each pane of the recorded run shows first, at 80x24 and at 40x10.
SHOWS = {
    (80, 24): {
        "logs": "done: best cv_accuracy 0.973",
        "steps": "HistGradientBoostingClassifier",
        "code": "+model = HistGradientBoostingClassifier(max_iter=300)",
        "scores": "12:34  grade       accuracy     0.97778",
        "resources": "CPU   300% (3.0 cores)",
        "hints": "try gradient boosting on the numeric",
    },
    (40, 10): {
        "logs": "done: best cv_accuracy 0.973",
        "steps": "Steps · 3",
        "code": "Code · 3 snapshots",
        "scores": "Scores · accuracy",
        "resources": "CPU   300% (3.0 cores)",
        "hints": "12:05:00  sent › received › used",
    },
}


def screen_text(app: MletuiApp) -> str:
    """The screen as a person reads it, row by row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def ready(pilot: Pilot[None]) -> WatchScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, WatchScreen))
    screen = app.screen
    assert isinstance(screen, WatchScreen)
    await until(pilot, lambda: watch_ready(screen))
    await pilot.pause(0.3)
    return screen


async def shows(pilot: Pilot[None], text: str) -> None:
    assert isinstance(pilot.app, MletuiApp)
    app = pilot.app
    try:
        await until(pilot, lambda: text in screen_text(app), timeout=10)
    except AssertionError:
        raise AssertionError(f"{text!r} not on the screen:\n{screen_text(app)}") from None


@pytest.mark.usefixtures("fixed_run")
@pytest.mark.parametrize("size", [(80, 24), (40, 10)], ids=["80x24", "40x10"])
async def test_every_pane_by_its_number_key_shows_its_content(size: tuple[int, int]) -> None:
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=size) as pilot:
        screen = await ready(pilot)
        assert screen.layout_name == "tabbed"
        tabs = screen.query_one(PaneTabs)
        for number, name in enumerate(PANES, start=1):
            await pilot.press(str(number))
            await shows(pilot, SHOWS[size][name])
            assert screen.current_pane == name and tabs.current == name
            shown = [each for each in PANES if screen.pane(each).region.height > 0]
            assert shown == [name]  # one pane at a time, filling the body
            assert screen.pane(name).has_focus_within or screen.pane(name).has_focus
        await shows(pilot, "6 hints")  # the tab bar names the shown pane


@pytest.mark.usefixtures("fixed_run")
async def test_tab_and_shift_tab_go_round_the_panes() -> None:
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        seen = [screen.current_pane]
        for _ in PANES:
            await pilot.press("tab")
            await pilot.pause()
            seen.append(screen.current_pane)
        assert seen == [*PANES, "logs"]
        await pilot.press("shift+tab")
        await pilot.pause()
        assert screen.current_pane == "hints"
        await shows(pilot, SHOWS[(80, 24)]["hints"])


@pytest.mark.usefixtures("fixed_run")
@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["tabbed", "split"])
async def test_z_zooms_each_pane_and_again_gives_the_room_back(size: tuple[int, int]) -> None:
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=size) as pilot:
        screen = await ready(pilot)
        for number, name in enumerate(PANES, start=1):
            await pilot.press(str(number))
            await pilot.pause()
            await pilot.press("z")
            await pilot.pause()
            pane = screen.pane(name)
            assert screen.maximized is pane, name
            assert pane.region.width == size[0]  # the whole width: nothing beside it
            await shows(pilot, SHOWS[(80, 24)][name])
            await pilot.press("z")
            await pilot.pause()
            assert screen.maximized is None


@pytest.mark.usefixtures("fixed_run")
async def test_split_at_a_large_size_with_a_focus_ring_and_number_keys_focusing() -> None:
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await ready(pilot)
        assert screen.layout_name == "split"
        assert screen.query_one(PaneTabs).region.height == 0  # no tab bar
        assert all(screen.pane(name).region.height > 0 for name in PANES)
        await pilot.press("4")
        await pilot.pause()
        scores = screen.pane("scores")
        assert scores.has_focus_within
        accent = Color.parse(app.get_css_variables()["accent"])

        def near(color: Color) -> bool:  # the same colour, but for rounding
            return sum(abs(a - b) for a, b in zip(color.rgb, accent.rgb, strict=True)) <= 3

        assert near(scores.styles.border_top[1])  # the focus ring
        assert not near(screen.pane("code").styles.border_top[1])


@pytest.mark.usefixtures("fixed_run")
async def test_a_too_small_terminal_gets_a_sentence_and_recovers() -> None:
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await pilot.resize_terminal(30, 8)
        await shows(pilot, "mletui needs at least 40x10;")
        await shows(pilot, "this terminal is 30x8.")
        assert screen.layout_name == "too-small"
        assert "logs" not in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await shows(pilot, SHOWS[(80, 24)]["logs"])
        assert screen.layout_name == "tabbed"
        await pilot.resize_terminal(200, 50)
        await shows(pilot, SHOWS[(40, 10)]["code"])
        assert screen.layout_name == "split"


@pytest.mark.usefixtures("fixed_run")
async def test_the_chart_says_the_selected_points_value() -> None:
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await pilot.press("4")
        await pilot.pause()
        screen.query_one(ScoreChart).focus()
        await pilot.press("home")
        await shows(pilot, "• 0.912 ")


async def palette(pilot: Pilot[None], query: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause(0.3)
    for char in query:
        await pilot.press("space" if char == " " else char)
    await pilot.pause(0.8)  # the providers' hits come in
    await pilot.press("enter")
    await pilot.pause(0.3)


@pytest.mark.usefixtures("fixed_run")
async def test_the_palette_runs_a_screen_action_and_shows_a_pane() -> None:
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await palette(pilot, "Pane: scores")
        await until(pilot, lambda: screen.current_pane == "scores")
        await palette(pilot, "Zoom")
        await until(pilot, lambda: screen.maximized is screen.pane("scores"))
        await pilot.press("escape")
        await pilot.pause()
        # The run has ended: pausing it is greyed out, and the palette says why, as the key does.
        await palette(pilot, "Pause/Resume")
        await until(pilot, lambda: any("Not now" in n.message for n in app._notifications))


@pytest.mark.usefixtures("fixed_run")
async def test_the_palette_saves_a_screenshot_in_the_run_folder_or_a_given_path(
    tmp_path: Path,
) -> None:
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await palette(pilot, "Save screenshot")
        folder = screen.session.control.folder.screenshots
        await until(pilot, lambda: folder.is_dir() and any(folder.glob(f"{RUN_ID}-*.svg")))
        saved = next(folder.glob("*.svg"))
        assert saved.read_text().startswith("<svg")
        await until(pilot, lambda: any(str(saved) in n.message for n in app._notifications))

        given = tmp_path / "at 80x24.svg"
        await palette(pilot, f"screenshot {given}")
        await until(pilot, given.exists)
        assert "done: best cv_accuracy" in given.read_text().replace("&#160;", " ")
        await until(pilot, lambda: any(str(given) in n.message for n in app._notifications))

        await palette(pilot, "screenshot /proc/no-such-place/x.svg")
        await until(
            pilot, lambda: any("No screenshot saved" in n.message for n in app._notifications)
        )
