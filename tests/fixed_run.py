"""A recorded, ended run with fixed times, written by the project's own writers: the agent's side
through the protocol, the operator's through RunControl, the rest through the recorder, the log
spool and the journal, as a real run writes them; only the clock is set by hand."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mletui import protocol
from mletui.core.events import Stream
from mletui.gpu.resources import ProcessGroupSampler
from mletui.grading.tasks import resolve_task
from mletui.run.recorder import Recorder
from mletui.store.journal import Journal
from mletui.store.runs import RunFolder, create_run_folder, make_record
from mletui.store.spool import LogSpool
from mletui.watch.control import RunControl

RUN_ID = "c0ffee42"
T0 = 1_767_268_800.0  # 2026-01-01 12:00:00 UTC: the run starts
DURATION_S = 754.0
GiB = 2**30

SOLUTIONS = [
    "from sklearn.linear_model import LogisticRegression\n\nmodel = LogisticRegression()\n",
    "from sklearn.ensemble import RandomForestClassifier\n\n"
    "model = RandomForestClassifier(n_estimators=200)\n",
    "from sklearn.ensemble import HistGradientBoostingClassifier\n\n"
    "model = HistGradientBoostingClassifier(max_iter=300)\n",
]
SCORES = [0.912, 0.951, 0.973]


class Clock:
    """``time.time`` while the run is written: set by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@contextmanager
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock()
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", clock)
        patch.setattr(secrets, "token_hex", lambda nbytes=None: "5eed")  # hint ids, lock tokens
        yield clock


def write_fixed_run(monkeypatch: pytest.MonkeyPatch) -> RunFolder:
    """The run ``c0ffee42``: a baseline on digits, three steps, a hint, a stall flag raised and
    cleared, its submission graded; it exited after 12 min 34 s."""
    with fixed_clock(monkeypatch) as clock:
        task = resolve_task("digits")
        record = make_record(task.id, str(task.path), "baseline", ["baseline"], "local", 3600.0)
        record.id = RUN_ID
        record.created = T0 - 2
        record.host = "lab-01"  # another machine's run: alive while its heartbeat is fresh
        folder = create_run_folder(record)
        with folder.updating() as rec:
            rec.state, rec.started = "running", T0
        journal = Journal(folder.journal_path)
        journal.append("state", {"state": "running", "agent": "baseline"})
        recorder = Recorder(folder, journal, ProcessGroupSampler(0))
        agent = protocol.Control(folder.control)
        spool = LogSpool(folder.log_path)
        operator = RunControl(folder, "ana")

        def log(at: float, text: str, stream: Stream = Stream.STDOUT) -> None:
            clock.now = T0 + at
            spool.write(stream, text.encode(), clock.now)

        def resources(at: float, cpu: float, util: float, memory: float) -> None:
            clock.now = T0 + at
            device = {"i": 0, "name": "L4", "util": util, "run_util": util, "run_mem": memory}
            journal.append(
                "resources",
                {"cpu": cpu, "rss": int(1.5 * GiB), "procs": 3, "gpu": "", "gpus": [device]},
            )

        clock.now = T0 + 1
        agent.hello("baseline")
        agent.report_budget(max_cost=2.0, max_steps=3, model="gpt-4.1-mini")
        recorder.poll_control()
        log(1, "baseline agent on task digits (accuracy, higher is better)")
        log(2, "loading train.csv: 1437 rows, 64 features")
        for step, (solution, score) in enumerate(zip(SOLUTIONS, SCORES, strict=True), start=1):
            start = step * 200.0
            clock.now = T0 + start
            (folder.workspace / "solution.py").write_text(solution)
            os.utime(folder.workspace / "solution.py", (clock.now, clock.now))
            recorder.scan_workspace()
            log(start + 1, f"step {step}: training {solution.split()[3]}")
            resources(start + 10, 180.0 + step * 40, 35.0 + step * 15, (2 + step) * GiB)
            log(start + 30, f"step {step}: 5-fold CV accuracy {score:.3f}")
            if step == 2:
                log(start + 31, "warning: 3 features are constant and were dropped", Stream.STDERR)
            clock.now = T0 + start + 32
            agent.report_metric("cv_accuracy", score, step=step)
            agent.report_usage(1800 + 200 * step, 600, cost=0.004 * step, model="gpt-4.1-mini")
            agent.report_step(
                step,
                plan=f"try {solution.split()[3]}",
                outcome="ok",
                metric=score,
                tokens_in=1800 + 200 * step,
                tokens_out=600,
                cost=0.004 * step,
            )
            recorder.poll_control()
            if step == 1:
                clock.now = T0 + 260
                journal.append(
                    "stall",
                    {"flag": "gpu-idle", "state": "start", "text": "GPU idle", "since": T0 + 140},
                )
                clock.now = T0 + 300
                with folder.updating() as rec:
                    rec.heartbeat = clock.now
                operator.hint("try gradient boosting on the numeric columns")
                clock.now = T0 + 305
                (hint,) = agent.checkpoint()
                clock.now = T0 + 320
                agent.answer(hint, "switching to HistGradientBoosting next")
                recorder.poll_control()
                clock.now = T0 + 330
                journal.append(
                    "stall",
                    {"flag": "gpu-idle", "state": "end", "text": "GPU idle", "since": T0 + 140},
                )
        clock.now = T0 + 700
        answers = task.answers_path.read_text().splitlines()
        # A few wrong labels: a good submission, not a perfect one.
        wrong = [
            f"{line.split(',')[0]},0" if n % 40 == 1 else line for n, line in enumerate(answers)
        ]
        (folder.submission / "submission.csv").write_text("\n".join(wrong) + "\n")
        os.utime(folder.submission / "submission.csv", (clock.now, clock.now))
        log(700, "wrote submission/submission.csv")
        log(750, "done: best cv_accuracy 0.973")
        clock.now = T0 + DURATION_S
        recorder.scores.start()
        recorder.scores.stop()  # grades the final submission.csv, as at a run's end
        spool.close()
        journal.append("state", {"state": "exited", "exit_code": 0})
        with folder.updating() as rec:
            rec.state, rec.ended, rec.exit_code = "exited", T0 + DURATION_S, 0
            rec.end_reason, rec.active_s, rec.heartbeat = "exited", DURATION_S, clock.now
    return folder
