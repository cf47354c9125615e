"""Grading a submission the agent wrote, without trusting the file or the grader's appetite.

The file is opened through :mod:`mletui.core.safefs` (no link followed anywhere under the run
folder, a regular file with one link, checked on the descriptor) and copied, hashed on the way,
into an anonymous temporary file: the bytes hashed are the bytes graded, whatever the agent does
to its file meanwhile. A child process (``python -m mletui.grading.sandbox``) reads that copy on
its standard input, never a path, under a memory limit (``RLIMIT_AS``) and a time limit, and
answers with the score or the sentence that says why there is none. A submission too big for the
grader's memory is refused before it is copied.

The limits: ``MLETUI_GRADE_MEMORY_MB`` (default 2048) and ``MLETUI_GRADE_TIMEOUT_S`` (default
120).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING

from mletui.core import settings
from mletui.core.safefs import NotARegularFile, open_regular
from mletui.grading.submission import SUBMISSION_SUFFIX, SubmissionError

if TYPE_CHECKING:
    from mletui.grading.medals import MedalThresholds
    from mletui.grading.report import GradeReport
    from mletui.grading.tasks import Task

MEMORY_ENV = settings.GRADE_MEMORY_MB
TIMEOUT_ENV = settings.GRADE_TIMEOUT_S
DEFAULT_MEMORY_MB = 2048
DEFAULT_TIMEOUT_S = 120.0
_OUT_OF_MEMORY = 3  # the child's exit status when it ran out of memory
_CHUNK = 1 << 20
# One thread each for the numeric libraries: their per-thread arenas would count against the
# address-space limit, not the submission.
_THREADS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class GradeLimits:
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls) -> GradeLimits:
        """The limits the environment sets; a value that is not a positive number is ignored."""
        return cls(
            settings.grade_memory_mb(DEFAULT_MEMORY_MB), settings.grade_timeout_s(DEFAULT_TIMEOUT_S)
        )

    def timeout_text(self) -> str:
        return f"{self.timeout_s:g} s"


@dataclass(frozen=True)
class SafeGrade:
    """A graded (or refused) submission: the report, and the bytes' hash and size when read."""

    report: GradeReport
    sha256: str | None
    size: int | None


def refusal(exc: NotARegularFile, name: str) -> str:
    """The sentence for a submission that is not a regular file with one link."""
    where = "only a regular file inside submission/ is graded"
    if not exc.is_file:
        return f"The submission folder {exc.part}/ is {exc.what}; {where}."
    if exc.links > 1:
        return (
            f"The submission {name} has {exc.what}; only a file with one link is graded "
            "(a hard link can reach any file on the same filesystem, the private answers too)."
        )
    return f"The submission {name} is {exc.what}, not a regular file; {where}."


def open_submission(root: Path, relative: str | PurePath, shown: str | Path) -> int:
    """A descriptor of the submission ``root/relative`` (see
    :func:`mletui.core.safefs.open_regular`); :class:`SubmissionError` with one sentence when it is
    not a gradable file. ``shown``: the path a "no file" sentence names."""
    name = PurePath(relative).name
    try:
        return open_regular(root, relative)
    except NotARegularFile as exc:
        raise SubmissionError(refusal(exc, name)) from None
    except FileNotFoundError:
        raise SubmissionError(f"No submission file at {shown}.") from None
    except OSError as exc:
        raise SubmissionError(f"The submission {name} cannot be read ({exc.strerror}).") from None


def copy_submission(fd: int, name: str, limits: GradeLimits) -> tuple[IO[bytes], str, int]:
    """Copy the open submission into an anonymous temporary file, hashing it on the way.

    Returns the copy (at offset 0), the SHA-256 and the size of the bytes copied. A file larger
    than the grader's memory limit is refused before anything is copied.
    """
    limit = limits.memory_mb << 20
    size = os.fstat(fd).st_size
    if size > limit:
        raise SubmissionError(_too_big(name, size, limits))
    copy = tempfile.TemporaryFile(prefix="mletui-grade-")  # noqa: SIM115 (the caller closes it)
    try:
        digest = hashlib.sha256()
        copied = 0
        while block := os.read(fd, _CHUNK):
            copied += len(block)
            if copied > limit:  # it grew while being copied
                raise SubmissionError(_too_big(name, copied, limits))
            digest.update(block)
            copy.write(block)
        copy.flush()
        copy.seek(0)
    except BaseException:
        copy.close()
        raise
    return copy, digest.hexdigest(), copied


def _too_big(name: str, size: int, limits: GradeLimits) -> str:
    return (
        f"The submission {name} is {size / (1 << 20):,.0f} MiB, more than the grader's memory "
        f"limit ({limits.memory_mb} MiB), so it is not graded; {MEMORY_ENV} sets the limit."
    )


def score_in_child(
    task: Task, copy: IO[bytes], name: str, limits: GradeLimits, *, check_only: bool = False
) -> float:
    """Score the copy in a child process under ``limits``; SubmissionError says why not.
    ``check_only``: only the submission checks, no metric (the answer is then 0.0)."""
    env = {**os.environ, **dict.fromkeys(_THREADS_ENV, "1")}
    request = json.dumps(
        {"task": str(task.path), "name": name, "memory_mb": limits.memory_mb, "check": check_only}
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mletui.grading.sandbox", request],
            stdin=copy,
            capture_output=True,
            timeout=limits.timeout_s,
            cwd="/",  # nothing of the agent's on the child's import path
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:  # the child is killed by then
        raise SubmissionError(
            f"The grader ran out of time (limit {limits.timeout_text()}) on {name}, so it is "
            f"not graded; {TIMEOUT_ENV} sets the limit."
        ) from None
    if done.returncode == _OUT_OF_MEMORY:
        raise SubmissionError(
            f"The grader ran out of memory (limit {limits.memory_mb} MiB) on {name}, so it is "
            f"not graded; {MEMORY_ENV} sets the limit."
        )
    try:
        answer = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
        if done.returncode != 0 or not isinstance(answer, dict):
            raise ValueError
    except (ValueError, IndexError):
        raise SubmissionError(
            f"The grader failed on {name} (exit status {done.returncode}), so it is not graded."
        ) from None
    if answer.get("score") is None:
        raise SubmissionError(str(answer.get("reason") or f"The submission {name} is not valid."))
    return float(answer["score"])


def grade_safely(
    task: Task,
    root: Path,
    relative: str | PurePath,
    *,
    thresholds: tuple[MedalThresholds | None, str | None] | None = None,
    reported_path: str | Path | None = None,
    limits: GradeLimits | None = None,
) -> SafeGrade:
    """Grade the submission ``root/relative`` (``root`` is mletui's own, trusted path).

    Never raises for anything the submission is or does: a refusal, a limit, a bad file are
    each an invalid report with one sentence.
    """
    from mletui.grading.report import SCORE_DECIMALS, build_report, task_thresholds

    limits = limits or GradeLimits.from_env()
    shown = reported_path or root / relative
    name = PurePath(relative).name
    board = thresholds if thresholds is not None else task_thresholds(task)
    exists = False
    sha256: str | None = None
    size: int | None = None
    score: float | None = None
    reason: str | None = None
    try:
        fd = open_submission(root, relative, shown)
        exists = name.lower().endswith(SUBMISSION_SUFFIX)
        try:
            copy, sha256, size = copy_submission(fd, name, limits)
        finally:
            os.close(fd)
        with copy:
            score = round(score_in_child(task, copy, name, limits), SCORE_DECIMALS)
    except SubmissionError as exc:
        reason = str(exc)
    except OSError as exc:
        reason = f"The submission {name} cannot be graded ({exc.strerror or exc})."
    report = build_report(task, score, reason, board, exists=exists, path=shown)
    return SafeGrade(report, sha256, size)


def check_safely(
    task: Task, root: Path, relative: str | PurePath, *, limits: GradeLimits | None = None
) -> str | None:
    """The task's submission checks on ``root/relative``, as :func:`grade_safely` reads and
    limits it: None when the file is valid, else the sentence of the first problem. Never a
    score: the child computes none."""
    limits = limits or GradeLimits.from_env()
    name = PurePath(relative).name
    try:
        fd = open_submission(root, relative, str(relative))
        try:
            copy, _sha256, _size = copy_submission(fd, name, limits)
        finally:
            os.close(fd)
        with copy:
            score_in_child(task, copy, name, limits, check_only=True)
    except SubmissionError as exc:
        return str(exc)
    except OSError as exc:
        return f"The submission {name} cannot be checked ({exc.strerror or exc})."
    return None


# --- the child -----------------------------------------------------------------------------------


def _child(request: dict[str, object]) -> int:
    import resource

    memory = int(str(request["memory_mb"])) << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        from mletui.grading.submission import check_submission, score_submission
        from mletui.grading.tasks import load_task

        task = load_task(str(request["task"]))
        data = sys.stdin.buffer.read()
        check_only = bool(request.get("check"))
        try:
            if check_only:  # the checks alone: no metric, so nothing of a score comes back
                check_submission(task, str(request["name"]), data)
                score: float | None = 0.0
            else:
                score = score_submission(task, str(request["name"]), data)
            reason = None
        except MemoryError:
            raise
        except ValueError as exc:  # SubmissionError: the sentence of a bad file
            score, reason = None, str(exc)
            if "out of memory" in reason:  # the CSV parser's own words for a MemoryError
                raise MemoryError from None
        except Exception as exc:  # a bad submission must never take the grader down
            score = None
            # A check's answer goes back to the agent: the kind of failure only, no detail.
            detail = "" if check_only else f": {exc}"
            reason = f"The submission could not be graded ({type(exc).__name__}{detail})."
    except MemoryError:
        return _OUT_OF_MEMORY
    sys.stdout.write(json.dumps({"score": score, "reason": reason}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child(json.loads(sys.argv[1])))
