"""Grade one submission with MLE-bench's own grader; run by mletui as a child process.

This file runs under the Python that has MLE-bench installed (``$MLEBENCH_PYTHON``), which need
not have mletui: it imports only the standard library and ``mlebench``. It prints one line,
``MLETUI-REPORT {json}``: ``{"report": CompetitionReport.to_dict()}``, or ``{"error": sentence}``.

    python grade_child.py SUBMISSION.csv COMPETITION_ID DATA_DIR

mletui starts it in a working folder of its own (importing MLE-bench makes a ``cache/`` folder in
the working folder), so both paths are absolute.
"""

import json
import sys
from pathlib import Path

MARK = "MLETUI-REPORT "


def main() -> int:
    submission, competition_id, data_dir = sys.argv[1:4]
    try:
        from mlebench.grade import grade_csv  # type: ignore[import-not-found]
        from mlebench.registry import registry  # type: ignore[import-not-found]
    except ImportError as exc:
        error = f"MLE-bench is not installed in {sys.executable} ({exc})"
        print(MARK + json.dumps({"error": error}))
        return 3
    try:
        competition = registry.set_data_dir(Path(data_dir)).get_competition(competition_id)
        report = grade_csv(Path(submission), competition)
    except Exception as exc:  # MLE-bench's own words, in one line
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(MARK + json.dumps({"error": text[:500]}))
        return 2
    print(MARK + json.dumps({"report": report.to_dict()}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
