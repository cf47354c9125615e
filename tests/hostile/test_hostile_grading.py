"""Hostile agents against grading and the workspace record: a submission that is a link to the
private answers, a hard link, a fifo, a huge file. Each agent is a real
shell script run by mletui; each test asserts what mletui did about it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest

from mletui.cli import main
from mletui.grading.tasks import Task, load_task, resolve_task
from mletui.run.launcher import start_run
from mletui.run.scores import GRADE_KIND
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.watch.control import RunControl
from tests.conftest import wait_ended, wait_for

SYMLINK_SENTENCE = (
    "The submission submission.csv is a symbolic link, not a regular file; only a regular file "
    "inside submission/ is graded."
)
HARDLINK_SENTENCE = (
    "The submission submission.csv has 2 hard links; only a file with one link is graded "
    "(a hard link can reach any file on the same filesystem, the private answers too)."
)
FIFO_SENTENCE = (
    "The submission submission.csv is a named pipe (fifo), not a regular file; only a regular "
    "file inside submission/ is graded."
)


def task_copy(tmp_path: Path) -> Task:
    """The digits task, copied beside the run folders: same filesystem, so a hard link works."""
    target = tmp_path / "home" / "tasks" / "digits"
    shutil.copytree(resolve_task("digits").path, target)
    return load_task(target)


def grades(folder: RunFolder) -> list[dict[str, object]]:
    return [e for e in read_journal(folder.journal_path).entries if e["kind"] == GRADE_KIND]


def graded_once(folder: RunFolder, timeout: float = 60) -> dict[str, object]:
    wait_for(lambda: grades(folder), timeout, f"run {folder.id}'s grade")
    return grades(folder)[0]


def assert_refused(folder: RunFolder, sentence: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The supervisor's grade and `mletui grade RUN` both refuse the submission with
    ``sentence`` and give no score; returns what `mletui grade` printed."""
    grade = graded_once(folder)  # the supervisor did not block opening it, either
    assert grade["valid"] is False and grade["score"] is None
    assert grade["reason"] == sentence
    assert main(["grade", folder.id]) == 1
    out = capsys.readouterr().out
    assert f"valid       no: {sentence}" in out and "score" not in out
    return out


def kill(folder: RunFolder) -> None:
    RunControl(folder, "test").kill()
    wait_ended(folder)


# --- the submission ------------------------------------------------------------------------------

# The attack of the issue on the local runtime: the agent knows where the data is (its
# environment says so), so it knows where the private answers are.
SYMLINK_AGENT = r"""
ln -s "$MLETUI_DATA_DIR/../private/answers.csv" "$MLETUI_SUBMISSION_DIR/submission.csv"
sleep 60
"""


def test_a_symlink_to_the_answers_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    folder = start_run(resolve_task("digits"), agent_cmd=SYMLINK_AGENT, time_limit_s=120)
    assert_refused(folder, SYMLINK_SENTENCE, capsys)
    # Refusing reveals nothing: no operator action was journaled.
    assert not [e for e in read_journal(folder.journal_path).entries if e["kind"] == "action"]
    # So does grading the file by its path.
    link = folder.submission / "submission.csv"
    assert main(["grade", "--task", "digits", str(link)]) == 1
    assert SYMLINK_SENTENCE in capsys.readouterr().out
    kill(folder)


LINKED_FOLDER_AGENT = r"""
mkdir "$MLETUI_WORKSPACE/real"
cp "$MLETUI_DATA_DIR/sample_submission.csv" "$MLETUI_WORKSPACE/real/submission.csv"
rm -rf "$MLETUI_SUBMISSION_DIR"
ln -s "$MLETUI_WORKSPACE/real" "$MLETUI_SUBMISSION_DIR"
sleep 60
"""


def test_a_submission_folder_that_is_a_link_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = start_run(resolve_task("digits"), agent_cmd=LINKED_FOLDER_AGENT, time_limit_s=120)
    wait_for(lambda: folder.submission.is_symlink(), 30, "the agent's link")
    assert main(["grade", folder.id]) == 1
    out = capsys.readouterr().out
    assert (
        "no: The submission folder submission/ is a symbolic link; only a regular file inside "
        "submission/ is graded." in out
    )
    kill(folder)


HARDLINK_AGENT = r"""
ln "$MLETUI_DATA_DIR/../private/answers.csv" "$MLETUI_SUBMISSION_DIR/submission.csv" || exit 3
sleep 60
"""


def test_a_hard_link_to_the_answers_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = start_run(task_copy(tmp_path), agent_cmd=HARDLINK_AGENT, time_limit_s=120)
    assert_refused(folder, HARDLINK_SENTENCE, capsys)
    assert os.stat(folder.submission / "submission.csv").st_nlink == 2  # the link was made
    kill(folder)


FIFO_AGENT = r"""
mkfifo "$MLETUI_SUBMISSION_DIR/submission.csv"
sleep 60
"""


def test_a_fifo_is_refused_without_hanging(capsys: pytest.CaptureFixture[str]) -> None:
    folder = start_run(resolve_task("digits"), agent_cmd=FIFO_AGENT, time_limit_s=120)
    assert_refused(folder, FIFO_SENTENCE, capsys)
    kill(folder)


# Ten million rows: id,label. Pandas alone needs gigabytes for it.
HUGE_AGENT = r"""
awk 'BEGIN { print "id,label"; for (i = 0; i < 10000000; i++) print i "," i % 10 }' \
    > "$MLETUI_SUBMISSION_DIR/.part"
mv "$MLETUI_SUBMISSION_DIR/.part" "$MLETUI_SUBMISSION_DIR/submission.csv"
echo written
sleep 60
"""


def test_a_huge_submission_meets_the_grader_s_limits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLETUI_GRADE_MEMORY_MB", "600")
    folder = start_run(resolve_task("digits"), agent_cmd=HUGE_AGENT, time_limit_s=120)
    grade = graded_once(folder, timeout=120)
    memory = (
        "The grader ran out of memory (limit 600 MiB) on submission.csv, so it is not graded; "
        "MLETUI_GRADE_MEMORY_MB sets the limit."
    )
    assert grade["valid"] is False and grade["reason"] == memory
    # The watcher grades in a child process too: its own memory stays where it was.
    me = psutil.Process()
    before = me.memory_info().rss
    assert main(["grade", folder.id]) == 1
    after = me.memory_info().rss
    assert f"no: {memory}" in capsys.readouterr().out
    assert after - before < 64 << 20, (before, after)
    # Over the time limit: the same, with its own sentence.
    monkeypatch.setenv("MLETUI_GRADE_MEMORY_MB", "4096")
    monkeypatch.setenv("MLETUI_GRADE_TIMEOUT_S", "0.5")
    assert main(["grade", folder.id]) == 1
    assert (
        "no: The grader ran out of time (limit 0.5 s) on submission.csv, so it is not graded; "
        "MLETUI_GRADE_TIMEOUT_S sets the limit." in capsys.readouterr().out
    )
    kill(folder)


def test_a_plain_submission_is_still_graded() -> None:
    """The dummy agent of MLE-bench, through the same safe path: graded as before."""
    command = (
        'cp "$MLETUI_DATA_DIR/sample_submission.csv" "$MLETUI_SUBMISSION_DIR/submission.csv"; '
        "sleep 60"
    )
    folder = start_run(resolve_task("digits"), agent_cmd=command, time_limit_s=120)
    grade = graded_once(folder)
    assert grade["valid"] is True and grade["score"] == pytest.approx(0.10222)
    kill(folder)


# --- in a container --------------------------------------------------------------------------

# The attack of the issue on the docker runtime: the container's mount table names the host
# path of its data mount, so the agent knows where the private answers lie on the host, and
# links its submission there, either by the answers' host path or by a path relative to where
# its submission folder lies on the host. The grader, on the host, must not follow either.
MOUNTINFO_AGENT = r"""
host_of() { awk -v at="$1" '$5 == at { print $4 }' /proc/self/mountinfo; }
answers="$(host_of "$MLETUI_DATA_DIR")/../private/answers.csv"
case "$LINK" in
  absolute) target="$answers" ;;
  relative) target=$(python3 -c 'import os, sys; print(os.path.relpath(*sys.argv[1:]))' \
                     "$answers" "$(host_of "$MLETUI_SUBMISSION_DIR")") ;;
esac
ln -s "$target" "$MLETUI_SUBMISSION_DIR/submission.csv"
echo "linked to $target"
sleep 60
"""


@pytest.mark.usefixtures("docker_cleanup")
@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_a_container_s_link_to_the_host_answers_is_refused(
    link: str, test_base_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    task = resolve_task("digits")
    folder = start_run(
        task,
        agent_cmd=MOUNTINFO_AGENT,
        runtime="docker",
        runtime_options={"image": test_base_image},
        extra_env={"LINK": link},
        time_limit_s=120,
    )
    submission = folder.submission / "submission.csv"
    wait_for(lambda: submission.is_symlink(), 60, "the agent's link")
    # The attack is real: on the host, the link leads to the task's private answers.
    assert Path(os.path.realpath(submission)) == task.path / "private" / "answers.csv"
    assert os.path.isabs(os.readlink(submission)) == (link == "absolute")
    assert_refused(folder, SYMLINK_SENTENCE, capsys)
    assert [e for e in grades(folder) if e["score"] is not None] == []
    kill(folder)
