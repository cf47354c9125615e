"""Generate mletui's bundled tasks from scikit-learn's bundled datasets (no download).

Run from the repository root: ``python scripts/make_bundled_tasks.py``. The output is
deterministic (fixed seed, 75/25 split), so running it again changes nothing in git.
Each task is written to ``mletui/grading/bundled/<id>/`` in MLE-bench's shape, with an honest
``leaderboard.csv``: the real scores of reference models (see ``make_leaderboards.py``).
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from make_leaderboards import write_leaderboard  # scripts/ is on sys.path when run as a script
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.model_selection import train_test_split

from mletui.grading import load_task

OUT_DIR = Path(__file__).resolve().parent.parent / "mletui" / "grading" / "bundled"
SEED = 20240
TEST_SIZE = 0.25
ID_COLUMN = "id"


@dataclass(frozen=True)
class TaskSpec:
    id: str
    name: str
    metric: str
    target: str
    lower_is_better: bool
    classification: bool
    load: Callable[[], pd.DataFrame]  # features and the target column, one row per sample
    constant: Callable[[pd.Series], object]  # the sample submission's prediction, from train
    description: str


def digits_frame() -> pd.DataFrame:
    bunch = load_digits(as_frame=True)
    frame = bunch.data.astype(int)
    frame["label"] = bunch.target.astype(int)
    return frame


def breast_cancer_frame() -> pd.DataFrame:
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.rename(columns=lambda c: c.replace(" ", "_"))
    # sklearn codes benign as 1; the task's positive class is the finding a doctor looks for.
    frame["target"] = (bunch.target == 0).astype(int)
    return frame


def diabetes_frame() -> pd.DataFrame:
    bunch = load_diabetes(as_frame=True, scaled=False)
    frame = bunch.data.copy()
    frame["target"] = bunch.target
    return frame


SUBMISSION_NOTE = "Rows may come in any order; every test id must appear exactly once."

SPECS = [
    TaskSpec(
        id="digits",
        name="Handwritten digits",
        metric="accuracy",
        target="label",
        lower_is_better=False,
        classification=True,
        load=digits_frame,
        constant=lambda y: int(y.mode().iloc[0]),
        description="""\
            # Handwritten digits

            Recognise the digit (0-9) in small images of handwriting.

            ## Data
            Each row is an 8x8 image of a handwritten digit. The 64 columns `pixel_R_C` hold the
            ink in the pixel at row R, column C, from 0 (blank) to 16 (full). The images come from
            the UCI "Optical Recognition of Handwritten Digits" dataset (E. Alpaydin, C. Kaynak,
            1998): 32x32 bitmaps written by 43 people, reduced to 8x8 by counting the ink in 4x4
            blocks. This task uses scikit-learn's bundled copy (`sklearn.datasets.load_digits`,
            1797 images), split 75/25 into train and test.

            - `public/train.csv`: `id`, the 64 pixel columns, and `label` (the digit).
            - `public/test.csv`: `id` and the 64 pixel columns.
            - `public/sample_submission.csv`: a valid submission that predicts one digit for all.

            ## Metric
            Accuracy: the fraction of test images whose digit is predicted exactly. Higher is
            better; 1.0 is perfect.

            ## Submission
            A CSV with a header and the columns `id,label`: one row per test id, `label` an
            integer from 0 to 9.
            """,
    ),
    TaskSpec(
        id="breast-cancer",
        name="Breast cancer diagnosis",
        metric="roc_auc",
        target="target",
        lower_is_better=False,
        classification=True,
        load=breast_cancer_frame,
        constant=lambda y: round(float(y.mean()), 2),
        description="""\
            # Breast cancer diagnosis

            Tell malignant from benign breast tumours, from measurements of cell nuclei.

            ## Data
            Each row is one breast mass, sampled by fine needle aspirate and imaged. The 30
            feature columns describe the cell nuclei in the image: for each of ten properties
            (radius, texture, perimeter, area, smoothness, compactness, concavity, concave points,
            symmetry, fractal dimension) the mean (`mean_*`), the standard error (`*_error`) and
            the mean of the three largest values (`worst_*`). The data is the Breast Cancer
            Wisconsin (Diagnostic) dataset (W. N. Street, W. H. Wolberg, O. L. Mangasarian, 1995;
            UCI Machine Learning Repository), in scikit-learn's bundled copy
            (`sklearn.datasets.load_breast_cancer`, 569 masses), split 75/25 into train and test.

            - `public/train.csv`: `id`, the 30 features, and `target`: 1 if the mass is
              malignant, 0 if it is benign. (scikit-learn's copy codes benign as 1; here the
              positive class is malignant.)
            - `public/test.csv`: `id` and the 30 features.
            - `public/sample_submission.csv`: a valid submission that gives every mass the same
              probability.

            ## Metric
            Area under the ROC curve (ROC AUC) of the predicted probabilities. Higher is better;
            1.0 is perfect, 0.5 is chance.

            ## Submission
            A CSV with a header and the columns `id,target`: one row per test id, `target` the
            predicted probability (from 0 to 1) that the mass is malignant.
            """,
    ),
    TaskSpec(
        id="diabetes",
        name="Diabetes progression",
        metric="rmse",
        target="target",
        lower_is_better=True,
        classification=False,
        load=diabetes_frame,
        constant=lambda y: round(float(y.mean()), 1),
        description="""\
            # Diabetes progression

            Predict how far diabetes has progressed one year after a baseline examination.

            ## Data
            Each row is one of 442 diabetes patients, measured at baseline: `age` (years), `sex`
            (coded 1 or 2), `bmi` (body mass index), `bp` (average blood pressure) and six blood
            serum measurements: `s1` total cholesterol (tc), `s2` low-density lipoproteins (ldl),
            `s3` high-density lipoproteins (hdl), `s4` total cholesterol / HDL (tch), `s5` log of
            the serum triglycerides level (ltg), `s6` blood sugar level (glu). The data comes from
            B. Efron, T. Hastie, I. Johnstone and R. Tibshirani, "Least Angle Regression" (Annals
            of Statistics, 2004), in scikit-learn's bundled copy
            (`sklearn.datasets.load_diabetes`, unscaled), split 75/25 into train and test.

            - `public/train.csv`: `id`, the 10 features, and `target`: a quantitative measure of
              disease progression one year after baseline (from 25 to 346).
            - `public/test.csv`: `id` and the 10 features.
            - `public/sample_submission.csv`: a valid submission that predicts the mean of train.

            ## Metric
            Root mean squared error (RMSE) between predicted and true `target`. Lower is better;
            0 is perfect.

            ## Submission
            A CSV with a header and the columns `id,target`: one row per test id, `target` a
            number.
            """,
    ),
]


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Integral float columns become integers, so the CSV says ``59``, not ``59.0``."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "f" and (values == values.round()).all():
            frame[column] = values.astype(int)
    return frame


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")


def task_toml(spec: TaskSpec) -> str:
    return (
        f'id = "{spec.id}"\n'
        f'name = "{spec.name}"\n'
        f'metric = "{spec.metric}"\n'
        f'id_column = "{ID_COLUMN}"\n'
        f'target_columns = ["{spec.target}"]\n'
        f"lower_is_better = {str(spec.lower_is_better).lower()}\n"
    )


def make_task(spec: TaskSpec) -> Path:
    folder = OUT_DIR / spec.id
    if folder.exists():
        shutil.rmtree(folder)
    frame = tidy(spec.load())
    frame.insert(0, ID_COLUMN, range(len(frame)))
    stratify = frame[spec.target] if spec.classification else None
    train, test = train_test_split(frame, test_size=TEST_SIZE, random_state=SEED, stratify=stratify)
    train = train.sort_values(ID_COLUMN)
    test = test.sort_values(ID_COLUMN)
    features = [c for c in frame.columns if c != spec.target]

    write_csv(train, folder / "public" / "train.csv")
    write_csv(test[features], folder / "public" / "test.csv")
    sample = pd.DataFrame(
        {ID_COLUMN: test[ID_COLUMN], spec.target: spec.constant(train[spec.target])}
    )
    write_csv(sample, folder / "public" / "sample_submission.csv")
    write_csv(test[[ID_COLUMN, spec.target]], folder / "private" / "answers.csv")
    (folder / "task.toml").write_text(task_toml(spec), encoding="utf-8")
    (folder / "description.md").write_text(textwrap.dedent(spec.description), encoding="utf-8")
    write_leaderboard(load_task(folder))
    return folder


def main() -> None:
    for spec in SPECS:
        folder = make_task(spec)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"{spec.id}: {folder} ({size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
