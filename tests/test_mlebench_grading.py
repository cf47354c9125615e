"""MLE-bench submissions: the grading server's word (valid or not) and MLE-bench's grader on the
host, run against a server answering like MLE-bench's and a stand-in of MLE-bench's package in
its public shape (tests/data/mlebench)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mletui.integrations.mlebench.grading import (
    ENV_PYTHON,
    GRADER,
    SERVER,
    HostGrader,
    SubmissionChecker,
    ask_grading_server,
    data_folder,
)
from mletui.run.scores import grade_from_entry, grading_info_from_entry
from mletui.store.journal import JournalFollower
from tests.conftest import MLEBENCH_DATA as DATA
from tests.conftest import free_port

VALID = b"id,label\n1,a\n2,b\n3,a\n4,a\n"
WRONG_IDS = b"id,label\n1,a\n"


@pytest.fixture
def server() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(DATA / "grading_server.py"), str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait()


def test_the_grading_server_says_valid_or_invalid(server: int) -> None:
    ok = ask_grading_server("127.0.0.1", VALID, port=server)
    assert ok.valid is True and ok.text == "Submission is valid."
    bad = ask_grading_server("127.0.0.1", WRONG_IDS, port=server)
    assert bad.valid is False and bad.text.startswith("Submission invalid!")
    assert "expected ids 1 to 4" in bad.text and "\n" not in bad.text  # one line


def test_a_grading_server_that_does_not_answer_is_said_so() -> None:
    verdict = ask_grading_server("127.0.0.1", VALID, port=free_port(), timeout=2)
    assert verdict.valid is None and "did not answer" in verdict.text


def test_data_folder_from_flag_environment_or_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MLEBENCH_DATA", raising=False)
    assert data_folder() is None
    default = tmp_path / ".cache" / "mle-bench" / "data"
    default.mkdir(parents=True)
    assert data_folder() == default
    monkeypatch.setenv("MLEBENCH_DATA", str(tmp_path / "env"))
    assert data_folder() == tmp_path / "env"
    assert data_folder(tmp_path / "flag") == tmp_path / "flag"


def test_host_grading_with_mlebench_s_grader(tmp_path: Path, mlebench_data: Path) -> None:
    grader = HostGrader(mlebench_data)
    available, note = grader.availability("toy-comp")
    assert available and "MLE-bench's grader" in note
    submission = tmp_path / "submission.csv"
    submission.write_bytes(VALID)
    report = grader.grade("toy-comp", submission)
    assert report["score"] == 0.75 and report["bronze_medal"] and report["valid_submission"]

    missing, why = grader.availability("other-comp")
    assert not missing and "no private answers" in why
    unprepared = HostGrader(tmp_path / "nowhere")
    assert "no private answers" in unprepared.availability("toy-comp")[1]
    assert "no MLE-bench data folder" in HostGrader(None).availability("toy-comp")[1]


def test_host_grading_without_mlebench_installed(
    tmp_path: Path, mlebench_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # no mlebench there
    available, note = HostGrader(mlebench_data).availability("toy-comp")
    assert not available and "cannot be imported" in note and ENV_PYTHON in note


def wait_grades(journal: Path, count: int, timeout: float = 60) -> list[dict[str, object]]:
    follower = JournalFollower(journal)
    entries: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries += follower.read_new()[0]
        if sum(e.get("kind") == "grade" for e in entries) >= count:
            return entries
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} grades in {entries}")


def grade_count(journal: Path) -> int:
    if not journal.exists():
        return 0
    return sum(json.loads(ln)["kind"] == "grade" for ln in journal.read_text().splitlines())


def check_until(
    checker: SubmissionChecker, files: list[tuple[str, Path]], journal: Path, count: int = 1
) -> None:
    """Call ``check`` as a session's poll does, until ``count`` grades are journaled."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and grade_count(journal) < count:
        checker.check(files)
        time.sleep(0.2)


def test_each_new_submission_is_checked_once_and_scored(
    tmp_path: Path, mlebench_data: Path, server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mletui.integrations.mlebench import grading

    monkeypatch.setattr(grading, "GRADING_PORT", server)
    monkeypatch.setattr(grading, "SETTLE_S", 0.1)
    journal = tmp_path / "journal.jsonl"
    checker = SubmissionChecker(journal, "toy-comp", HostGrader(mlebench_data), lambda: "127.0.0.1")
    submission = tmp_path / "tree" / "submission" / "submission.csv"
    submission.parent.mkdir(parents=True)
    files = [("submission/submission.csv", submission)]
    try:
        submission.write_bytes(VALID)
        check_until(checker, files, journal)
        entries = wait_grades(journal, 1)
        first = next(e for e in entries if e["kind"] == "grade")
        grade = grade_from_entry(first)
        assert grade.valid and grade.score == 0.75 and grade.medal == "bronze"
        assert grade.checked_by == GRADER and first["server"] == {
            "valid": True,
            "text": "Submission is valid.",
        }
        infos = [grading_info_from_entry(e) for e in entries if e["kind"] == "grading"]
        assert infos[-1].available and infos[-1].grader == GRADER
        assert ("bronze", 0.75) in infos[-1].thresholds

        # The same bytes again (rewritten): not checked twice. New bytes: checked.
        submission.write_bytes(VALID)
        for _ in range(5):
            checker.check(files)
            time.sleep(0.05)
        submission.write_bytes(WRONG_IDS)
        check_until(checker, files, journal, 2)
        entries = wait_grades(journal, 2)
        grades = [grade_from_entry(e) for e in entries if e["kind"] == "grade"]
        assert [g.submission for g in grades] == [1, 2]
        assert not grades[1].valid and grades[1].reason is not None
        assert grades[1].reason.startswith("Submission invalid!")
    finally:
        checker.close()

    # A second watcher of the same run does not check the same submissions again.
    again = SubmissionChecker(journal, "toy-comp", HostGrader(mlebench_data), lambda: None)
    try:
        for _ in range(5):
            again.check(files)
            time.sleep(0.2)
        assert grade_count(journal) == 2
    finally:
        again.close()


def test_without_answers_the_grading_server_says_valid_without_a_score(
    tmp_path: Path, server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mletui.integrations.mlebench import grading

    monkeypatch.setattr(grading, "GRADING_PORT", server)
    monkeypatch.setattr(grading, "SETTLE_S", 0.1)
    journal = tmp_path / "journal.jsonl"
    checker = SubmissionChecker(journal, "toy-comp", HostGrader(None), lambda: "127.0.0.1")
    submission = tmp_path / "submission.csv"
    submission.write_bytes(VALID)
    try:
        check_until(checker, [("submission/submission.csv", submission)], journal)
        entries = wait_grades(journal, 1)
    finally:
        checker.close()
    grade = grade_from_entry(next(e for e in entries if e["kind"] == "grade"))
    assert grade.valid and grade.score is None and grade.checked_by == SERVER
    info = grading_info_from_entry(next(e for e in entries if e["kind"] == "grading"))
    assert not info.available and "validity only" in info.note


def test_a_submission_nothing_could_check_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mletui.integrations.mlebench import grading

    monkeypatch.setattr(grading, "GRADING_PORT", free_port())  # nobody listens there
    monkeypatch.setattr(grading, "SETTLE_S", 0.0)
    journal = tmp_path / "journal.jsonl"
    checker = SubmissionChecker(journal, "toy-comp", HostGrader(None), lambda: "127.0.0.1")
    submission = tmp_path / "submission.csv"
    try:
        for content in (VALID, WRONG_IDS):
            submission.write_bytes(content)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and b"notice" not in _bytes(journal):
                checker.check([("submission/submission.csv", submission)])
                time.sleep(0.1)
        time.sleep(0.5)
    finally:
        checker.close()
    entries = [json.loads(ln) for ln in journal.read_text().splitlines()]
    notices = [e["text"] for e in entries if e["kind"] == "notice"]
    assert len(notices) == 1 and "did not answer" in notices[0]
    assert notices[0].startswith("submission/submission.csv not checked")
    assert not [e for e in entries if e["kind"] == "grade"]  # no row claims a verdict


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def test_a_submission_the_agent_made_a_link_is_not_read(
    tmp_path: Path, mlebench_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent's submission.csv that links to a host file: the file is never read, sent or
    graded, and one notice says why."""
    from mletui.integrations.mlebench import grading

    monkeypatch.setattr(grading, "SETTLE_S", 0.0)
    secret = tmp_path / "host-secret.csv"
    secret.write_bytes(VALID)
    journal = tmp_path / "journal.jsonl"
    checker = SubmissionChecker(journal, "toy-comp", HostGrader(mlebench_data), lambda: None)
    submission = tmp_path / "tree" / "submission" / "submission.csv"
    submission.parent.mkdir(parents=True)
    submission.symlink_to(secret)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"notice" not in _bytes(journal):
            checker.check([("submission/submission.csv", submission)])
            time.sleep(0.1)
        for _ in range(5):
            checker.check([("submission/submission.csv", submission)])
    finally:
        checker.close()
    entries = [json.loads(ln) for ln in journal.read_text().splitlines()]
    notices = [e["text"] for e in entries if e["kind"] == "notice"]
    assert notices == ["submission/submission.csv not checked: submission.csv is a symbolic link"]
    assert not [e for e in entries if e["kind"] == "grade"]
