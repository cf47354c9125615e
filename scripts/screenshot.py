"""Take the README's screenshot of the real app: a baseline run watched for a while.

python scripts/screenshot.py docs/watch.svg
python scripts/screenshot.py docs/watch-80x24.svg 80x24
python scripts/screenshot.py docs/overview.svg 160x24 overview    # four runs, two selected
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time


async def main(
    out: str, seconds: float, size: tuple[int, int] = (180, 50), overview: bool = False
) -> None:
    os.environ["MLETUI_HOME"] = tempfile.mkdtemp(prefix="mletui-shot-")
    from mletui.grading.tasks import resolve_task
    from mletui.run.launcher import start_run
    from mletui.tui.app import MletuiApp
    from mletui.watch.control import RunControl

    folder = start_run(
        resolve_task("digits"),
        agent="baseline",
        time_limit_s=900,
        extra_env={"MLETUI_BASELINE_STEP_DELAY": "1"},
    )
    others = (
        [start_run(resolve_task("digits"), agent="baseline", time_limit_s=900) for _ in range(3)]
        if overview
        else []
    )
    if others:
        RunControl(others[0], "alice", driver=False).pause()
    app = MletuiApp(run_id=None if overview else folder.id, operator="alice")
    async with app.run_test(size=size) as pilot:
        started = time.monotonic()
        hinted = False
        while time.monotonic() - started < seconds:
            await pilot.pause(0.5)
            if not hinted and time.monotonic() - started > seconds / 3:
                RunControl(folder, "alice", driver=False).hint("try more trees")
                hinted = True
        if overview:  # two runs selected, the cursor on the second
            await pilot.press("space", "down", "space")
            await pilot.pause(1.0)
        app.save_screenshot(filename=os.path.basename(out), path=os.path.dirname(out) or ".")
    for run in [folder, *others]:
        RunControl(run).kill(grace_s=2)


if __name__ == "__main__":
    width, height = (sys.argv[2] if len(sys.argv) > 2 else "180x50").split("x")
    asyncio.run(
        main(
            sys.argv[1] if len(sys.argv) > 1 else "docs/watch.svg",
            20.0,
            (int(width), int(height)),
            overview=sys.argv[3:4] == ["overview"],
        )
    )
