import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

LEADERBOARD = [1.0, 0.75, 0.5, 0.25]  # best first: higher is better


@dataclass(frozen=True)
class CompetitionReport:
    competition_id: str
    score: float | None
    valid_submission: bool
    submission_exists: bool = True
    submission_path: str = ""

    def to_dict(self) -> dict:
        score = self.score
        gold, silver, bronze, median = 1.0, 1.0, 0.75, 0.625
        return {
            "competition_id": self.competition_id,
            "score": score,
            "gold_threshold": gold,
            "silver_threshold": silver,
            "bronze_threshold": bronze,
            "median_threshold": median,
            "any_medal": score is not None and score >= bronze,
            "gold_medal": score is not None and score >= gold,
            "silver_medal": False,
            "bronze_medal": score is not None and bronze <= score < gold,
            "above_median": score is not None and score > median,
            "submission_exists": self.submission_exists,
            "valid_submission": self.valid_submission,
            "is_lower_better": False,
            "created_at": datetime.now().isoformat(),
            "submission_path": self.submission_path,
        }


def _rows(path: Path) -> dict[str, str]:
    with path.open(newline="") as f:
        return {row["id"]: row["label"] for row in csv.DictReader(f)}


def grade_csv(path_to_submission: Path, competition) -> CompetitionReport:
    if not competition.answers.is_file():
        raise ValueError(f"Dataset for competition `{competition.id}` is not prepared!")
    answers = _rows(competition.answers)
    # As MLE-bench's: a missing (or not .csv) file is reported, not refused.
    if not (path_to_submission.is_file() and path_to_submission.suffix.lower() == ".csv"):
        return CompetitionReport(competition.id, None, False, False, str(path_to_submission))
    try:
        submitted = _rows(path_to_submission)
    except (KeyError, csv.Error):
        return CompetitionReport(competition.id, None, False)
    if set(submitted) != set(answers):
        return CompetitionReport(competition.id, None, False)
    right = sum(submitted[k] == v for k, v in answers.items())
    return CompetitionReport(competition.id, round(right / len(answers), 5), True)
