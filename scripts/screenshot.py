"""Take the README's screenshot of the real app: a baseline run watched for a while.

python scripts/screenshot.py docs/watch.svg
python scripts/screenshot.py docs/watch-80x24.svg 80x24
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time


async def main(out: str, seconds: float, size: tuple[int, int] = (180, 50)) -> None:
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
    app = MletuiApp(run_id=folder.id, operator="alice")
    async with app.run_test(size=size) as pilot:
        started = time.monotonic()
        hinted = False
        while time.monotonic() - started < seconds:
            await pilot.pause(0.5)
            if not hinted and time.monotonic() - started > seconds / 3:
                RunControl(folder, "alice", driver=False).hint("try more trees")
                hinted = True
        app.save_screenshot(filename=os.path.basename(out), path=os.path.dirname(out) or ".")
    RunControl(folder).kill(grace_s=2)


if __name__ == "__main__":
    width, height = (sys.argv[2] if len(sys.argv) > 2 else "180x50").split("x")
    asyncio.run(
        main(
            sys.argv[1] if len(sys.argv) > 1 else "docs/watch.svg", 20.0, (int(width), int(height))
        )
    )
