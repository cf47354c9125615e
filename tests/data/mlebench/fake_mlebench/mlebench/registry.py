from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Competition:
    id: str
    answers: Path


class Registry:
    def __init__(self, data_dir: Path = Path("/nonexistent")) -> None:
        self.data_dir = data_dir

    def set_data_dir(self, new_data_dir: Path) -> "Registry":
        return Registry(new_data_dir)

    def get_competition(self, competition_id: str) -> Competition:
        answers = self.data_dir / competition_id / "prepared" / "private" / "answers.csv"
        return Competition(competition_id, answers)


registry = Registry()
