"""MLE-bench runs as its harness lays them out, built by the tests: a run group
``<ts>_run-group_<agent>/`` holding runs ``<competition>_<uuid4>/``, each with a ``run.log`` in
MLE-bench's logger format (``[asctime] [file:line] message``)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

T0 = 1_726_683_702.0  # 2024-09-18 18:21:42 UTC
GMT_GROUP = "2024-09-18T18-21-42-GMT_run-group_aide"


def stamp(ts: float) -> str:
    """MLE-bench's asctime: local time, milliseconds after a comma."""
    ms = round((ts % 1) * 1000) % 1000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f",{ms:03d}"


def record(ts: float, message: str, where: str = "run.py:63") -> str:
    """One record of MLE-bench's logger: ``[asctime] [file:line] message``."""
    return f"[{stamp(ts)}] [{where}] {message}\n"


def chunk(ts: float, text: str) -> str:
    """One ``docker exec`` chunk as run.py logs it: stripped, several lines in one record."""
    return record(ts, f"[Container] {text.strip()}")


def make_run(
    root: Path, competition: str, log: str | None, group: str = GMT_GROUP, copied: bool = False
) -> Path:
    """A run folder in ``group`` under ``root``, with ``log`` as its run.log (None: not yet)."""
    path = root / group / f"{competition}_{uuid.uuid4()}"
    path.mkdir(parents=True)
    if log is not None:
        (path / "run.log").write_text(log, encoding="utf-8")
    if copied:  # what MLE-bench copies out of the container before it logs the end
        for name in ("submission", "logs", "code"):
            (path / name).mkdir()
    return path
