"""mletui's baseline agent: real machine learning from a fixed plan, no LLM.

Run as ``python -m mletui.agents.baseline``. It works through a plan of solutions, simple first:
a linear model, the same on standardized features, a random forest, a bigger one, gradient
boosting, and a small hyper-parameter search. For each step it writes a complete, standalone
``solution.py`` into its workspace and runs it; the script trains, logs its progress, scores a
held-out fifth of train.csv with the task's metric and predicts test.csv. The agent reports the
validation score through the control protocol and keeps the best step's predictions as
``submission.csv``.

It checks in (:func:`mletui.protocol.checkpoint`) between steps and every second inside one, so
that a soft pause holds it, and its running solution (stopped with SIGSTOP, continued on resume),
within a second or so, and follows the operator's hints it understands: a model family
("linear", "forest", "boosting"), "more trees", "scale", "stop"; a hint changes the steps after
the running one. It answers every hint, including those it cannot follow.

Environment, set by mletui's runtime:

- ``MLETUI_CONTROL_DIR``     the control-protocol folder (hello, pause, hints, acks, metrics)
- ``MLETUI_DATA_DIR``        the task's public/ folder: train.csv, test.csv, sample_submission.csv
- ``MLETUI_WORKSPACE``       where it writes its code and runs it (default: the current directory)
- ``MLETUI_SUBMISSION_DIR``  where the best submission.csv goes (default: workspace/submission)
- ``MLETUI_TASK_METRIC``     the task's metric: accuracy, macro_f1, quadratic_weighted_kappa,
  roc_auc, log_loss, rmse, mse, mae or r2
- ``MLETUI_TASK_ID_COLUMN``  the id column (default: sample_submission.csv's first column)
- ``MLETUI_TASK_TARGETS``    the target column, comma-separated if several (default: the rest of
  sample_submission.csv's columns); the baseline handles one
- ``MLETUI_TASK_ID``         the task's id, for messages
- ``MLETUI_BASELINE_STEP_DELAY``  optional: seconds to wait between steps (default 0; the demo
  sets it to be watchable)
- ``MLETUI_BASELINE_MAX_STEPS``   optional: stop after this many steps (default: the whole plan)
- ``MLETUI_BASELINE_KEEP_IMPROVING``  optional: 1 to go on past the plan with bigger models and
  new seeds until the run's time limit stops it (the demo sets it)

Each step leaves ``solution.py`` (the code) in the workspace and, in ``MLETUI_LOGS_DIR`` (the
workspace when unset), ``score.json`` (its validation score) and ``submission_candidate.csv`` (its
predictions, copied to the submission folder when best).

Exit status: 0 when the plan is done or a hint said stop, 1 when no step succeeded, 2 when
the environment does not describe a task it can work on (a sentence on stderr says why).

The agent itself uses only the standard library and :mod:`mletui.protocol`; the solutions it
writes use numpy, pandas and scikit-learn.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from string import Template

from mletui import protocol
from mletui.agents._common import (
    ENV_DATA_DIR,
    ENV_TASK_ID,
    ENV_TASK_METRIC,
    EXIT_FAILED,
    EXIT_OK,
    SOLUTION_FILE,
    SUBMISSION_FILE,
    SetupError,
    check_submission,
    copy_atomic,
    csv_header,
    read_folders,
    run_agent,
    say,
    steps_text,
    task_columns,
    write_atomic,
)

# The runtime's names for the task, re-exported beside the baseline's own settings.
from mletui.agents._common import ENV_SUBMISSION_DIR as ENV_SUBMISSION_DIR
from mletui.agents._common import ENV_TASK_ID_COLUMN as ENV_TASK_ID_COLUMN
from mletui.agents._common import ENV_TASK_TARGETS as ENV_TASK_TARGETS
from mletui.agents._common import ENV_WORKSPACE as ENV_WORKSPACE

AGENT_NAME = "baseline"

ENV_CONTROL_DIR = protocol.ENV_CONTROL_DIR  # "MLETUI_CONTROL_DIR"
ENV_OUTPUT_DIR = "BASELINE_OUTPUT_DIR"  # set by the agent for each solution it runs
ENV_STEP_DELAY = "MLETUI_BASELINE_STEP_DELAY"
ENV_MAX_STEPS = "MLETUI_BASELINE_MAX_STEPS"
ENV_KEEP_IMPROVING = "MLETUI_BASELINE_KEEP_IMPROVING"
CHECK_IN_S = 1.0  # how often a running step checks in: a soft pause acts within about this

SCORE_FILE = "score.json"  # written by each solution: {"metric", "value", "higher_is_better"}
CANDIDATE_FILE = "submission_candidate.csv"  # a solution's predictions; kept only if best

MAX_TREES = 2000  # "more trees" doubles; the cap keeps a step within seconds on small data
MAX_ITERATIONS = 800  # a multiple of the solutions' stage of 20 iterations
SEARCH_GRID = (
    {"learning_rate": 0.1, "max_leaf_nodes": 15},
    {"learning_rate": 0.1, "max_leaf_nodes": 31},
    {"learning_rate": 0.2, "max_leaf_nodes": 15},
    {"learning_rate": 0.2, "max_leaf_nodes": 31},
)

# --- metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRecipe:
    """How a solution scores itself with one of mletui's named metrics."""

    kind: str  # "labels", "probability" (of the positive class) or "regression"
    higher_is_better: bool
    function: str  # a function of sklearn.metrics
    arguments: str = ""  # extra keyword arguments, as source

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"


METRIC_RECIPES: dict[str, MetricRecipe] = {
    "accuracy": MetricRecipe("labels", True, "accuracy_score"),
    "macro_f1": MetricRecipe("labels", True, "f1_score", 'average="macro"'),
    "quadratic_weighted_kappa": MetricRecipe(
        "labels", True, "cohen_kappa_score", 'weights="quadratic"'
    ),
    "roc_auc": MetricRecipe("probability", True, "roc_auc_score"),
    "log_loss": MetricRecipe("probability", False, "log_loss"),
    "rmse": MetricRecipe("regression", False, "root_mean_squared_error"),
    "mse": MetricRecipe("regression", False, "mean_squared_error"),
    "mae": MetricRecipe("regression", False, "mean_absolute_error"),
    "r2": MetricRecipe("regression", True, "r2_score"),
}


# --- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One solution to try. ``size`` is the number of trees (forest) or boosting iterations."""

    family: str  # "linear", "forest", "boosting" or "search" (boosting, tuned)
    size: int = 0
    scale: bool = False
    seed: int = 0  # past the plan, a new seed makes a new model of the same kind

    def describe(self, recipe: MetricRecipe) -> str:
        if self.family == "linear":
            text = "ridge regression" if recipe.kind == "regression" else "logistic regression"
        elif self.family == "forest":
            text = f"random forest ({self.size} trees)"
        elif self.family == "boosting":
            text = f"gradient boosting (HistGradientBoosting, up to {self.size} iterations)"
        else:
            text = (
                f"gradient boosting, hyper-parameter search ({len(SEARCH_GRID)} configurations, "
                f"up to {self.size} iterations)"
            )
        text += " on standardized features" if self.scale else ""
        return text + (f", seed {self.seed}" if self.seed else "")


PLAN = (
    Step("linear"),
    Step("linear", scale=True),
    Step("forest", 100),
    Step("forest", 300),
    Step("boosting", 100),
    Step("search", 100),
)


def more_steps(round_number: int) -> list[Step]:
    """Past the plan (keep improving): bigger forests and longer boosting, each round a new seed."""
    grow = 2**round_number
    return [
        Step("forest", min(300 * grow, MAX_TREES), seed=round_number),
        Step("boosting", min(100 * grow, MAX_ITERATIONS), seed=round_number),
        Step(
            "search",
            min(100 * grow, MAX_ITERATIONS),
            scale=round_number % 2 == 1,
            seed=round_number,
        ),
    ]


# --- the task as the agent sees it --------------------------------------------------------------


@dataclass(frozen=True)
class TaskSetup:
    task_id: str
    metric: str
    recipe: MetricRecipe
    id_column: str
    target: str
    data_dir: Path
    workspace: Path
    output_dir: Path  # where each solution leaves its score and predictions
    submission_dir: Path
    step_delay: float
    max_steps: int | None  # None: until the plan is done
    keep_improving: bool = False  # past the plan, until the time limit stops the run


def read_setup(environ: dict[str, str] | os._Environ[str]) -> TaskSetup:
    """The task and settings from the environment; ``SetupError`` with a sentence if unusable."""
    folders = read_folders(environ)
    data_dir = folders.data_dir

    metric = environ.get(ENV_TASK_METRIC, "")
    if metric not in METRIC_RECIPES:
        known = ", ".join(METRIC_RECIPES)
        raise SetupError(
            f"The baseline does not know the metric {metric!r} ({ENV_TASK_METRIC}); "
            f"it knows: {known}."
        )
    recipe = METRIC_RECIPES[metric]

    id_column, targets = task_columns(environ, csv_header(data_dir / "sample_submission.csv"))
    if len(targets) != 1:
        raise SetupError(
            f"The baseline predicts one target column, and this task has {len(targets)} "
            f"({', '.join(targets) or 'none found'})."
        )
    target = targets[0]
    train_header = csv_header(data_dir / "train.csv")
    for column in (id_column, target):
        if column not in train_header:
            raise SetupError(f"train.csv has no column {column!r}.")
    if recipe.kind == "probability":
        classes = _distinct_values(data_dir / "train.csv", target)
        if len(classes) != 2:
            raise SetupError(
                f"{metric} with one target column needs two classes, and {target!r} has "
                f"{len(classes)}."
            )

    try:
        step_delay = float(environ.get(ENV_STEP_DELAY) or 0)
        max_value = environ.get(ENV_MAX_STEPS)
        max_steps = max(int(max_value), 0) if max_value else None
    except ValueError:
        raise SetupError(f"{ENV_STEP_DELAY} and {ENV_MAX_STEPS} must be numbers.") from None
    return TaskSetup(
        task_id=environ.get(ENV_TASK_ID) or data_dir.parent.name,
        metric=metric,
        recipe=recipe,
        id_column=id_column,
        target=target,
        data_dir=data_dir,
        workspace=folders.workspace,
        output_dir=folders.output_dir,
        submission_dir=folders.submission_dir,
        step_delay=max(step_delay, 0.0),
        max_steps=max_steps,
        keep_improving=environ.get(ENV_KEEP_IMPROVING, "") == "1",
    )


def _distinct_values(path: Path, column: str) -> set[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return {row[column] for row in csv.DictReader(f)}


# --- hints --------------------------------------------------------------------------------------

UNDERSTOOD = "linear, forest, boosting, more trees, scale, stop"

_NEGATION = re.compile(r"\b(don'?t|do not|never|avoid|without|no longer|stop using)\b")
_STOP = re.compile(r"\b(stop|finish|halt|enough)\b")
_MORE_TREES = re.compile(r"\bmore\s+trees\b")
_SCALE = re.compile(r"\b(scal(e|ed|ing)|standardi[sz]\w*|normali[sz]\w*)\b")
_FAMILY_PATTERNS = (
    ("boosting", re.compile(r"boost|\bgbm\b|lightgbm|\bgbdt\b")),
    ("forest", re.compile(r"\b(random\s+)?forests?\b")),
    ("linear", re.compile(r"\b(linear|logistic|ridge)\b")),
)


@dataclass(frozen=True)
class HintIntent:
    """What a hint asks for, as far as the baseline understands it."""

    stop: bool = False
    family: str | None = None
    more_trees: bool = False
    scale: bool = False

    @property
    def understood(self) -> bool:
        return self.stop or self.family is not None or self.more_trees or self.scale


def read_hint(text: str) -> HintIntent:
    """Parse a hint's text; an intent that is not ``understood`` is answered as ignored."""
    lowered = " ".join(text.lower().split())
    if _NEGATION.search(lowered):
        return HintIntent()  # "don't use boosting" must not be read as "use boosting"
    family = next((name for name, rx in _FAMILY_PATTERNS if rx.search(lowered)), None)
    return HintIntent(
        stop=bool(_STOP.search(lowered)),
        family=family,
        more_trees=bool(_MORE_TREES.search(lowered)),
        scale=bool(_SCALE.search(lowered)),
    )


# --- the agent ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepResult:
    number: int
    description: str
    value: float


class BaselineAgent:
    def __init__(self, setup: TaskSetup) -> None:
        self.setup = setup
        self.recipe = setup.recipe
        self.plan: deque[Step] = deque(PLAN)
        self.steps_run = 0
        self.scale_from_now = False  # set by a "scale" hint; applies to every later step
        self.best: StepResult | None = None
        self.succeeded = 0
        self.stopped = False
        self.hint_taken = False  # a hint changed the plan since the last step began
        self.rounds = 0  # rounds of steps past the plan (keep improving)

    def run(self) -> int:
        setup = self.setup
        protocol.hello(AGENT_NAME)
        say(
            f"baseline agent: task {setup.task_id}, metric {setup.metric} "
            f"({self.recipe.direction} is better), target {setup.target!r}, "
            f"{steps_text(len(self.plan))} planned"
            + (f", at most {setup.max_steps} to run" if setup.max_steps is not None else "")
        )
        setup.workspace.mkdir(parents=True, exist_ok=True)
        setup.submission_dir.mkdir(parents=True, exist_ok=True)
        while not self._out_of_steps():
            if self.steps_run and setup.step_delay:
                self.wait(setup.step_delay)
            self.take_hints(protocol.checkpoint())
            if self.stopped:
                break
            if not self.plan and setup.keep_improving:
                self.rounds += 1
                self.plan.extend(more_steps(self.rounds))
                say(f"the plan is done; round {self.rounds} of bigger models and new seeds")
            if not self.plan:
                break
            step = self.plan.popleft()
            if self.scale_from_now:
                step = replace(step, scale=True)
            self.steps_run += 1
            self.run_step(self.steps_run, step)
        if not self.stopped:
            self.answer_late_hints(protocol.checkpoint())
        return self.finish()

    def wait(self, seconds: float, child: subprocess.Popen[bytes] | None = None) -> int | None:
        """Wait ``seconds`` (or for ``child`` to end: its exit code), checking in every second."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if child is None and left <= 0:
                return None
            try:
                if child is not None:
                    return child.wait(timeout=CHECK_IN_S)
                time.sleep(min(CHECK_IN_S, left))
            except subprocess.TimeoutExpired:
                pass
            self.check_in(child)

    def check_in(self, child: subprocess.Popen[bytes] | None) -> None:
        """A soft pause holds the agent here and stops its running solution until resumed;
        hints are taken now and change the steps after this one."""
        held = child if child is not None and protocol.pause_requested() else None
        if held is not None:
            held.send_signal(signal.SIGSTOP)
        try:
            hints = protocol.checkpoint()
        finally:
            if held is not None:
                held.send_signal(signal.SIGCONT)
        self.take_hints(hints)

    def _out_of_steps(self) -> bool:
        return self.setup.max_steps is not None and self.steps_run >= self.setup.max_steps

    # hints

    def take_hints(self, hints: list[protocol.Hint]) -> None:
        intents = [(hint, read_hint(hint.text)) for hint in hints]
        # A stop anywhere in the batch wins: the other hints would change steps that never run.
        stop = next((hint for hint, intent in intents if intent.stop), None)
        for hint, intent in intents:
            if stop is not None and hint is not stop:
                decline(hint, f"the run is stopping, as hint {stop.id} asked")
            elif not intent.understood:
                text = _quote(hint.text)
                decline(hint, f"I don't know what to do with {text}; I understand: {UNDERSTOOD}.")
            else:
                message = self.apply(intent)
                protocol.answer(hint, message)
                say(f"hint {hint.id}: {_quote(hint.text)} -> {message}")

    def apply(self, intent: HintIntent) -> str:
        if intent.stop:
            self.stopped = True
            if self.best is None:
                return "stopping before any step finished; there is no submission"
            return (
                f"stopping; keeping the best submission (step {self.best.number}, "
                f"{self.setup.metric} {self.best.value:.4f})"
            )
        self.hint_taken = True
        done = []
        if intent.scale and not self.scale_from_now:
            self.scale_from_now = True
            done.append(f"standardizing features from step {self.steps_run + 1} on")
        if intent.family is not None:
            self.bring_forward(intent.family)
        if intent.more_trees:
            self.grow_next()
        if intent.family is not None or intent.more_trees:
            step = self.plan[0]
            if self.scale_from_now:
                step = replace(step, scale=True)
            done.append(f"step {self.steps_run + 1} is now {step.describe(self.recipe)}")
        return "; ".join(done) or "features are already being standardized"

    def bring_forward(self, family: str) -> None:
        """Move the plan's next step of ``family`` to the front, or add one there."""
        wanted = ("boosting", "search") if family == "boosting" else (family,)
        for kind in wanted:
            for step in self.plan:
                if step.family == kind:
                    self.plan.remove(step)
                    self.plan.appendleft(step)
                    return
        default = {"linear": Step("linear"), "forest": Step("forest", 300)}
        self.plan.appendleft(default.get(family, Step("boosting", 100)))

    def grow_next(self) -> None:
        """Double the trees of the next step; a linear next step becomes a bigger forest."""
        step = self.plan[0] if self.plan else Step("linear")
        if step.family == "linear":
            self.plan.appendleft(Step("forest", 600))
        elif step.family == "forest":
            self.plan[0] = replace(step, size=min(step.size * 2, MAX_TREES))
        else:
            self.plan[0] = replace(step, size=min(step.size * 2, MAX_ITERATIONS))

    def answer_late_hints(self, hints: list[protocol.Hint]) -> None:
        for hint in hints:
            decline(
                hint, f"the plan is done after {steps_text(self.steps_run)}; the run is finishing"
            )

    # steps

    def run_step(self, number: int, step: Step) -> None:
        setup = self.setup
        description = step.describe(self.recipe)
        say(f"step {number}: {description} ...")
        workspace, out = setup.workspace, setup.output_dir
        out.mkdir(parents=True, exist_ok=True)
        for stale in (SCORE_FILE, CANDIDATE_FILE):
            (out / stale).unlink(missing_ok=True)
        write_atomic(workspace / SOLUTION_FILE, render_solution(setup, step, number))
        # A straight line of steps: each builds on the one before.
        report = functools.partial(
            protocol.report_step,
            number,
            plan=description,
            stage=step.family,
            parent=number - 1 if number > 1 else None,
            hint_used=self.hint_taken,
            started=time.time(),
        )
        self.hint_taken = False
        report(outcome="", status="running")
        started = time.monotonic()
        env = dict(os.environ, PYTHONUNBUFFERED="1", **{ENV_OUTPUT_DIR: str(out)})
        child = subprocess.Popen([sys.executable, SOLUTION_FILE], cwd=workspace, env=env)
        try:
            code = self.wait(math.inf, child)
        finally:
            if child.poll() is None:  # the agent was stopped meanwhile: its solution goes too
                child.kill()
                child.wait()
        assert code is not None
        elapsed = time.monotonic() - started
        value = _read_score(out / SCORE_FILE) if code == 0 else None
        if value is None or not (out / CANDIDATE_FILE).is_file():
            reason = f"exit code {code}" if code else f"it wrote no {SCORE_FILE} or predictions"
            say(f"step {number}: {description} failed ({reason}); moving on")
            error = f"exit code {code}" if code else "no score"
            report(outcome=f"failed: {reason}", status="buggy", error=error, seconds=elapsed)
            return
        self.succeeded += 1
        protocol.report_metric(setup.metric, value, step=number, direction=self.recipe.direction)
        result = StepResult(number, description, value)
        if self.best is None or self._better(value, self.best.value):
            self.best = result
            copy_atomic(out / CANDIDATE_FILE, setup.submission_dir / SUBMISSION_FILE)
            verdict = f"best so far; {SUBMISSION_FILE} updated"
        else:
            verdict = f"best is still step {self.best.number}, {self.best.value:.4f}"
        say(
            f"step {number}: {description}: validation {setup.metric} {value:.4f} "
            f"in {elapsed:.1f}s ({verdict})"
        )
        outcome = f"validation {setup.metric} {value:.4f} ({verdict})"
        report(outcome=outcome, status="ok", metric=value, seconds=round(elapsed, 2))

    def _better(self, value: float, than: float) -> bool:
        return value > than if self.recipe.higher_is_better else value < than

    def finish(self) -> int:
        ending = "stopped by a hint" if self.stopped else "done"
        if self.best is None:
            say(f"{ending} after {steps_text(self.steps_run)}; no step produced a submission")
            return EXIT_OK if self.stopped else EXIT_FAILED
        check_submission(self.setup.submission_dir / SUBMISSION_FILE)
        say(
            f"{ending}: {self.succeeded} of {steps_text(self.steps_run)} succeeded; best: step "
            f"{self.best.number}, {self.best.description}, validation {self.setup.metric} "
            f"{self.best.value:.4f}; submission at "
            f"{self.setup.submission_dir / SUBMISSION_FILE}"
        )
        return EXIT_OK


def decline(hint: protocol.Hint, reason: str) -> None:
    """Answer a hint the agent does not follow, and say so in the log."""
    protocol.answer(hint, reason, used=False)
    say(f"hint {hint.id}: {_quote(hint.text)} -> not used: {reason}")


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _read_score(path: Path) -> float | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["value"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(value, int | float) or value != value:  # NaN is no score
        return None
    return float(value)


# --- the generated solution ---------------------------------------------------------------------
# Templates use string.Template ($name), so the braces of the generated f-strings stay as they are.

_HEAD = '''\
    """Step $number: $description.

    Written by mletui's baseline agent for the task $task_id. Standalone: run
    `python $solution_file`. It trains on train.csv, scores a held-out fifth of it with
    $metric ($direction is better), writes the score to $score_file and its
    predictions for test.csv to $candidate_file.
    """

    from __future__ import annotations

    $stdlib

    $imports
    $quiet
    # The task's public/ folder when this was written; $$$data_env overrides it.
    WRITTEN_FOR = $data_dir
    DATA_DIR = Path(os.environ.get("$data_env") or WRITTEN_FOR)
    HERE = Path(__file__).resolve().parent
    OUT = Path(os.environ.get("$output_env") or HERE)  # where the agent reads the results
    ID_COLUMN = $id_column
    TARGET = $target
    METRIC = $metric_repr
    HIGHER_IS_BETTER = $higher_is_better
    SEED = $seed


    def log(message: str) -> None:
        print(message, flush=True)


    def score(y_true: pd.Series, prediction: np.ndarray) -> float:
        return float($metric_call)


    def better(value: float, than: float) -> bool:
        return value > than if HIGHER_IS_BETTER else value < than


    def predict(model: Pipeline, X: pd.DataFrame) -> np.ndarray:
        $predict_body


    def make_features(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Numbers as they are; text columns with few values one-hot; gaps get the median."""
        features = [c for c in test.columns if c != ID_COLUMN]
        both = pd.concat([train[features], test[features]], keys=["train", "test"])
        text = [c for c in features if not pd.api.types.is_numeric_dtype(both[c])]
        few_values = [c for c in text if both[c].nunique() <= 50]
        both = both.drop(columns=[c for c in text if c not in few_values])
        both = pd.get_dummies(both, columns=few_values, dtype=float)
        both = both.fillna(both.loc["train"].median())
        return both.loc["train"], both.loc["test"]

    '''

_LINEAR = '''\

    def make_model() -> Pipeline:
        return Pipeline([$scale("model", $estimator($arguments))])


    def fit(
        X_train: pd.DataFrame, y_train: pd.Series, X_valid: pd.DataFrame, y_valid: pd.Series
    ) -> tuple[Pipeline, float]:
        """5-fold cross-validation on the training part, then one fit on all of it."""
        folds = $folds(n_splits=5, shuffle=True, random_state=SEED)
        scores = []
        for fold, (inside, outside) in enumerate(folds.split(X_train, y_train), start=1):
            model = make_model().fit(X_train.iloc[inside], y_train.iloc[inside])
            prediction = predict(model, X_train.iloc[outside])
            scores.append(score(y_train.iloc[outside], prediction))
            log(f"  fold {fold}/5: {METRIC} {scores[-1]:.4f}")
        log(f"  cross-validation: {METRIC} {np.mean(scores):.4f} +/- {np.std(scores):.4f}")
        model = make_model().fit(X_train, y_train)
        return model, score(y_valid, predict(model, X_valid))
    '''

_FOREST = """\

    TREES = $stages  # grown in stages, to watch the held-out score as the forest grows


    def make_model() -> Pipeline:
        forest = $estimator(n_estimators=$size, n_jobs=-1, random_state=SEED)
        return Pipeline([$scale("model", forest)])


    def fit(
        X_train: pd.DataFrame, y_train: pd.Series, X_valid: pd.DataFrame, y_valid: pd.Series
    ) -> tuple[Pipeline, float]:
        model = make_model().set_params(model__warm_start=True)
        for trees in TREES:
            model.set_params(model__n_estimators=trees)
            model.fit(X_train, y_train)
            value = score(y_valid, predict(model, X_valid))
            log(f"  {trees:4d} trees: validation {METRIC} {value:.4f}")
        return model, value
    """

_BOOSTING = '''\

    MAX_ITERATIONS = $size
    STAGE = 20  # iterations added between looks at the held-out score
    PATIENCE = 2  # stages without a gain before stopping


    def make_model(iterations: int = MAX_ITERATIONS) -> Pipeline:
        boosting = $estimator(
            learning_rate=0.1, max_iter=iterations, early_stopping=False, random_state=SEED
        )
        return Pipeline([$scale("model", boosting)])


    def fit(
        X_train: pd.DataFrame, y_train: pd.Series, X_valid: pd.DataFrame, y_valid: pd.Series
    ) -> tuple[Pipeline, float]:
        """Boost STAGE iterations at a time; keep the best count, stop when gains stop."""
        model = make_model().set_params(model__warm_start=True)
        best_value, best_iterations, stale = None, STAGE, 0
        for iterations in range(STAGE, MAX_ITERATIONS + 1, STAGE):
            model.set_params(model__max_iter=iterations)
            model.fit(X_train, y_train)
            value = score(y_valid, predict(model, X_valid))
            log(f"  {iterations:4d} iterations: validation {METRIC} {value:.4f}")
            if best_value is None or better(value, best_value):
                best_value, best_iterations, stale = value, iterations, 0
            else:
                stale += 1
                if stale == PATIENCE:
                    log(f"  no gain for {PATIENCE} stages; keeping {best_iterations} iterations")
                    break
        return make_model(best_iterations), best_value
    '''

_SEARCH = '''\

    GRID = [
        $grid,
    ]


    def make_model(**params: float) -> Pipeline:
        boosting = $estimator(
            max_iter=$size,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=10,
            random_state=SEED,
            **params,
        )
        return Pipeline([$scale("model", boosting)])


    def fit(
        X_train: pd.DataFrame, y_train: pd.Series, X_valid: pd.DataFrame, y_valid: pd.Series
    ) -> tuple[Pipeline, float]:
        """Try each configuration in GRID on the held-out part; keep the best."""
        best_model, best_value, best_params = None, None, None
        for number, params in enumerate(GRID, start=1):
            model = make_model(**params).fit(X_train, y_train)
            value = score(y_valid, predict(model, X_valid))
            iterations = model[-1].n_iter_
            log(f"  config {number}/{len(GRID)} {params}, {iterations} iterations: {value:.4f}")
            if best_value is None or better(value, best_value):
                best_model, best_value, best_params = model, value, params
        log(f"  best configuration: {best_params}")
        return best_model, best_value
    '''

_TAIL = """\


    def main() -> None:
        train = pd.read_csv(DATA_DIR / "train.csv")
        test = pd.read_csv(DATA_DIR / "test.csv")
        X, X_test = make_features(train, test)
        y = train[TARGET]
        X_train, X_valid, y_train, y_valid = train_test_split(
            X, y, test_size=0.2, random_state=SEED, stratify=$stratify
        )
        log(
            f"data: {len(X_train)} rows to train on, {len(X_valid)} held out, "
            f"{len(X_test)} to predict, {X.shape[1]} features"
        )
        model, value = fit(X_train, y_train, X_valid, y_valid)
        log(f"validation {METRIC}: {value:.4f}")

        log("refitting on all of train.csv for the submission")
        final = clone(model).fit(X, y)
        predictions = pd.DataFrame({ID_COLUMN: test[ID_COLUMN], TARGET: predict(final, X_test)})
        predictions.to_csv(OUT / "$candidate_file", index=False)
        result = {"metric": METRIC, "value": value, "higher_is_better": HIGHER_IS_BETTER}
        (OUT / "$score_file").write_text(json.dumps(result) + "\\n")


    if __name__ == "__main__":
        main()
    """

_ESTIMATORS = {
    "linear": ("sklearn.linear_model", "LogisticRegression", "Ridge"),
    "forest": ("sklearn.ensemble", "RandomForestClassifier", "RandomForestRegressor"),
    "boosting": (
        "sklearn.ensemble",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
    ),
}
_ESTIMATORS["search"] = _ESTIMATORS["boosting"]


def render_solution(setup: TaskSetup, step: Step, number: int) -> str:
    """The complete source of ``solution.py`` for one step."""
    recipe = setup.recipe
    classify = recipe.kind != "regression"
    module, classifier, regressor = _ESTIMATORS[step.family]
    estimator = classifier if classify else regressor
    folds = "StratifiedKFold" if classify else "KFold"
    # On unscaled features lbfgs may stop at max_iter and warn at every fit (sklearn resets the
    # warning registry, so even "once" repeats); the scores tell the same story in one line each.
    quiet = step.family == "linear" and classify and not step.scale
    stdlib = ["import json", "import os", *(["import warnings"] if quiet else [])]
    splitters = f"{folds}, train_test_split" if step.family == "linear" else "train_test_split"
    sklearn_imports = [
        "from sklearn.base import clone",
        f"from {module} import {estimator}",
        f"from sklearn.metrics import {recipe.function}",
        f"from sklearn.model_selection import {splitters}",
        "from sklearn.pipeline import Pipeline",
    ]
    if quiet:
        sklearn_imports.append("from sklearn.exceptions import ConvergenceWarning")
    if step.scale:
        sklearn_imports.append("from sklearn.preprocessing import StandardScaler")
    imports = ["import numpy as np", "import pandas as pd", *sorted(sklearn_imports)]
    values = {
        "number": number,
        "description": step.describe(recipe),
        "task_id": _py(setup.task_id),
        "solution_file": SOLUTION_FILE,
        "score_file": SCORE_FILE,
        "candidate_file": CANDIDATE_FILE,
        "output_env": ENV_OUTPUT_DIR,
        "metric": setup.metric,
        "metric_repr": _py(setup.metric),
        "direction": recipe.direction,
        "imports": "\n".join(imports),
        "data_env": ENV_DATA_DIR,
        "data_dir": _py(str(setup.data_dir)),
        "id_column": _py(setup.id_column),
        "target": _py(setup.target),
        "higher_is_better": recipe.higher_is_better,
        "metric_call": f"{recipe.function}("
        + ", ".join(filter(None, ["y_true", "prediction", recipe.arguments]))
        + ")",
        "predict_body": "return model.predict_proba(X)[:, 1]  # probability of the positive class"
        if recipe.kind == "probability"
        else "return model.predict(X)",
        "stratify": "y" if classify else "None",
        "scale": '("scale", StandardScaler()), ' if step.scale else "",
        "estimator": estimator,
        "arguments": "max_iter=1000" if classify else "alpha=1.0",
        "folds": folds,
        "stdlib": "\n".join([*stdlib, "from pathlib import Path"]),
        "quiet": "\n# Unscaled features may stop lbfgs at max_iter; the scores show the cost.\n"
        'warnings.simplefilter("ignore", ConvergenceWarning)\n'
        if quiet
        else "",
        "size": step.size,
        "seed": step.seed,
        "stages": repr(tuple(round(step.size * k / 4) for k in range(1, 5))),
        "grid": ",\n    ".join(json.dumps(params) for params in SEARCH_GRID),
    }
    body = {"linear": _LINEAR, "forest": _FOREST, "boosting": _BOOSTING, "search": _SEARCH}
    parts = (_HEAD, body[step.family], _TAIL)
    return "".join(Template(textwrap.dedent(part)).substitute(values) for part in parts)


def _py(text: str) -> str:
    """A Python string literal, double-quoted like the rest of the generated code."""
    return json.dumps(text, ensure_ascii=False)


def main() -> int:
    return run_agent(
        "baseline agent", lambda: read_setup(os.environ), lambda setup: BaselineAgent(setup).run()
    )


if __name__ == "__main__":
    sys.exit(main())
