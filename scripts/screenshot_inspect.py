"""Take the README's Inspect screenshot of the real app: a real Inspect eval (the tests' offline
one: a scripted mock model, bash in the local sandbox) watched for a while, its task soft-paused.

python scripts/screenshot_inspect.py docs/inspect.svg
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVAL = Path(__file__).resolve().parent.parent / "tests" / "inspect_fixtures" / "slow_eval.py"


async def main(out: str, seconds: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mletui-shot-"))
    os.environ["MLETUI_HOME"] = str(tmp / "home")
    os.environ["MLETUI_INSPECT_CONTROL_DIR"] = str(tmp / "data" / "inspect_ai" / "control")
    os.environ["INSPECT_LOG_DIR"] = str(tmp / "logs")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data"), "HOME": str(tmp)}
    args = [sys.executable, str(EVAL), str(tmp / "logs"), "--steps", "400", "--sleep", "1"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        from mletui.integrations.inspect.source import InspectSource
        from mletui.tui.app import MletuiApp

        deadline = time.monotonic() + 60
        while not (found := InspectSource().samples().found) and time.monotonic() < deadline:
            time.sleep(0.5)
        app = MletuiApp(run_id=found[0].row.id, operator="alice")
        async with app.run_test(size=(180, 50)) as pilot:
            await pilot.pause(seconds / 2)
            await pilot.press("p")
            await pilot.pause(0.5)
            await pilot.press("t")  # a soft pause of the task: the header and the notice say so
            await pilot.pause(seconds / 2)
            app.save_screenshot(filename=os.path.basename(out), path=os.path.dirname(out) or ".")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "docs/inspect.svg", 12.0))
