"""Medals, exactly as MLE-bench awards them (its ``Grader.rank_score``).

A leaderboard is a CSV with a ``score`` column, one row per team, best first. From it:

- lower is better when the first row's score is below the last row's;
- the gold, silver and bronze thresholds are the scores at positions that depend on the number
  of teams N (Kaggle's progression rules):

  ========== =================== ==================== ===================
  N          gold                silver               bronze
  ========== =================== ==================== ===================
  1-99       max(1, int(0.1 N))  max(1, int(0.2 N))   max(1, int(0.4 N))
  100-249    10                  max(1, int(0.2 N))   max(1, int(0.4 N))
  250-999    10 + int(0.002 N)   50                   100
  1000+      10 + int(0.002 N)   max(1, int(0.05 N))  max(1, int(0.1 N))
  ========== =================== ==================== ===================

- the median threshold is the median of all scores;
- a score at or past a threshold wins that medal (only the best one); above the median is strict.

Standard library only: the UI draws these lines without loading pandas.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MEDALS = ("gold", "silver", "bronze")


class LeaderboardError(ValueError):
    """A leaderboard file that cannot be used; the message is one sentence."""


@dataclass(frozen=True)
class Ranking:
    """Where one score lands against a leaderboard."""

    gold_medal: bool
    silver_medal: bool
    bronze_medal: bool
    above_median: bool

    @property
    def any_medal(self) -> bool:
        return self.gold_medal or self.silver_medal or self.bronze_medal

    @property
    def medal(self) -> str | None:
        """``"gold"``, ``"silver"``, ``"bronze"`` or None."""
        if self.gold_medal:
            return "gold"
        if self.silver_medal:
            return "silver"
        if self.bronze_medal:
            return "bronze"
        return None


NO_RANKING = Ranking(False, False, False, False)


@dataclass(frozen=True)
class MedalThresholds:
    """The medal and median thresholds of one leaderboard."""

    gold: float
    silver: float
    bronze: float
    median: float
    teams: int
    lower_is_better: bool

    def rank(self, score: float | None) -> Ranking:
        """Medals and above-median for ``score``, as MLE-bench's ``rank_score``; None: none."""
        if score is None:
            return NO_RANKING
        if self.lower_is_better:
            gold = score <= self.gold
            silver = not gold and score <= self.silver
            bronze = not gold and not silver and score <= self.bronze
            above = score < self.median
        else:
            gold = score >= self.gold
            silver = not gold and score >= self.silver
            bronze = not gold and not silver and score >= self.bronze
            above = score > self.median
        return Ranking(gold, silver, bronze, above)

    def lines(self) -> list[tuple[str, float]]:
        """``(label, value)`` for each threshold, gold first, then the median."""
        return [
            ("gold", self.gold),
            ("silver", self.silver),
            ("bronze", self.bronze),
            ("median", self.median),
        ]


def medal_positions(teams: int) -> tuple[int, int, int]:
    """1-based leaderboard positions of the gold, silver and bronze thresholds for ``teams``."""
    if teams < 1:
        raise LeaderboardError("A leaderboard needs at least one team.")
    if teams < 100:
        return max(1, int(teams * 0.1)), max(1, int(teams * 0.2)), max(1, int(teams * 0.4))
    if teams < 250:
        return 10, max(1, int(teams * 0.2)), max(1, int(teams * 0.4))
    if teams < 1000:
        return 10 + int(teams * 0.002), 50, 100
    return 10 + int(teams * 0.002), max(1, int(teams * 0.05)), max(1, int(teams * 0.1))


def thresholds_from_scores(scores: Sequence[float]) -> MedalThresholds:
    """Thresholds from a leaderboard's scores in its order (best first)."""
    teams = len(scores)
    gold, silver, bronze = medal_positions(teams)
    known = [s for s in scores if not math.isnan(s)]  # pandas' median skips missing scores
    return MedalThresholds(
        gold=float(scores[gold - 1]),
        silver=float(scores[silver - 1]),
        bronze=float(scores[bronze - 1]),
        median=float(statistics.median(known)) if known else math.nan,
        teams=teams,
        lower_is_better=bool(scores[0] < scores[-1]),
    )


# What pandas' read_csv takes for a missing value (its default na_values), as MLE-bench reads a
# leaderboard: such a score is missing, not an error.
PANDAS_MISSING = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


def read_leaderboard_scores(path: Path) -> list[float]:
    """The ``score`` column of a leaderboard CSV, in file order; missing scores are NaN."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise LeaderboardError(f"No leaderboard at {path}.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LeaderboardError(f"The leaderboard {path} cannot be read ({exc}).") from None
    if not rows or "score" not in rows[0]:
        raise LeaderboardError(f"The leaderboard {path} needs a 'score' column and some rows.")
    scores: list[float] = []
    for number, row in enumerate(rows, start=2):
        text = (row.get("score") or "").strip()
        try:
            scores.append(math.nan if text in PANDAS_MISSING else float(text))
        except ValueError:
            raise LeaderboardError(
                f"The leaderboard {path} has a score that is not a number on line {number}: "
                f"{text[:40]!r}."
            ) from None
    return scores


def load_thresholds(path: Path, lower_is_better: bool | None = None) -> MedalThresholds:
    """The thresholds of the leaderboard at ``path``.

    ``lower_is_better``: the task's own direction; a leaderboard whose order says otherwise is
    an error (it is sorted the wrong way), since MLE-bench reads the direction from the order.
    """
    scores = read_leaderboard_scores(path)
    thresholds = thresholds_from_scores(scores)
    if (
        lower_is_better is not None
        and scores[0] != scores[-1]  # a flat board says nothing about the direction
        and thresholds.lower_is_better != lower_is_better
    ):
        says = "lower" if thresholds.lower_is_better else "higher"
        task = "lower" if lower_is_better else "higher"
        raise LeaderboardError(
            f"The leaderboard {path} is ordered as if {says} were better, but the task says "
            f"{task} is better; sort it best first."
        )
    return thresholds
