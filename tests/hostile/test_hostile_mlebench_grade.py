"""Hostile agents against `mletui grade` of an MLE-bench run: the submission MLE-bench copies out
of the container is whatever the agent left there. Each agent is a real shell script writing its
submission/ as MLE-bench would copy it; each test asserts what mletui did about it: nothing read
through a link, a fifo never opened, a huge file refused, nothing graded or journaled."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mletui import cli
from mletui.integrations.mlebench.runs import read_run
from mletui.integrations.mlebench.session import cache_dir
from tests.test_mlebench import DONE, START, make_run

AGENTS = {
    "symlink": 'mkdir submission && ln -s "$ANSWERS" submission/submission.csv',
    "folder-symlink": 'ln -s "$(dirname "$ANSWERS")" submission',
    "hardlink": 'mkdir submission && ln "$ANSWERS" submission/submission.csv',
    "fifo": "mkdir submission && mkfifo submission/submission.csv",
    "huge": "mkdir submission && head -c 3000000 /dev/zero > submission/submission.csv",
}
SAID = {
    "symlink": "symbolic link",
    "folder-symlink": "symbolic link",
    "hardlink": "2 hard links",
    "fifo": "fifo",
    "huge": "larger than 2097152 bytes",
}


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_a_hostile_submission_is_not_graded(
    agent: str,
    tmp_path: Path,
    mlebench_data: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLETUI_GRADE_MEMORY_MB", "2")
    answers = mlebench_data / "toy-comp" / "prepared" / "private" / "answers.csv"
    path = make_run(tmp_path / "runs", "toy-comp", START + DONE)
    subprocess.run(["sh", "-c", AGENTS[agent]], cwd=path, env={"ANSWERS": str(answers)}, check=True)
    run = read_run(path)
    status, out, err = (
        cli.main(
            [
                "grade",
                run.id,
                "--json",
                "--mlebench-runs",
                str(tmp_path / "runs"),
                "--mlebench-data",
                str(mlebench_data),
            ]
        ),
        *capsys.readouterr(),
    )
    assert (status, out) == (1, "") and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("mletui: ") and SAID[agent] in err, err
    assert answers.read_text().startswith("id,label")  # never written through either
    journal = cache_dir(run) / "journal.jsonl"
    kinds = (
        [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
        if journal.exists()
        else []
    )
    assert "grade" not in kinds
