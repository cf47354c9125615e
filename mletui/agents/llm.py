"""mletui's LLM agent: a tree search over solutions in the spirit of AIDE, steerable by a person.

Run as ``python -m mletui.agents.llm`` (``mletui run TASK --agent llm --model NAME``). It talks
to any server that speaks OpenAI's Chat Completions (OpenAI itself, vLLM, Ollama, llama.cpp's
server, a gateway) through the ``openai`` client.

The search: draft a few solutions, run each, read the validation metric it prints, debug the
ones that failed (a bounded number of times in a row), then improve the best one, step after
step. Every step writes ``solution.py`` into the workspace and runs it with a time-out (its output
streams to the run's log), reports the metric through the control protocol, keeps the best
step's predictions as ``submission.csv``, and sends a summary of the step (plan, outcome, metric,
tokens, estimated cost) to the run's journal through the protocol's ``events.jsonl``.

It calls :func:`mletui.protocol.checkpoint` before every model call and before running any code,
so a soft pause holds it within one call. Hints from the operator go into the next prompts as
guidance from the human overseer, marked as such; three are commands: ``stop``, ``stop
drafting``, ``revert to best``. Every hint is answered, saying how it was used.

Environment (beside the protocol's, see the baseline agent):

- ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``  the server; one of the two is needed (a local server
  needs no key)
- ``MLETUI_LLM_MODEL``        the model's name (required)
- ``MLETUI_LLM_MAX_STEPS``    stop after this many steps (default 20)
- ``MLETUI_LLM_MAX_COST``     stop before a model call that would take the estimated cost past
  this many US dollars
- ``MLETUI_LLM_PRICE_IN``, ``MLETUI_LLM_PRICE_OUT``  US dollars per million tokens in and out,
  for the cost estimate (default: a small table of OpenAI list prices by model name)
- ``MLETUI_LLM_DRAFTS``       how many solutions to draft before improving (default 3)
- ``MLETUI_LLM_DEBUG_DEPTH``  how many fixes in a row to try on a failing line (default 3)
- ``MLETUI_LLM_STEP_TIMEOUT`` seconds a solution may run before it is killed (default 600)
- ``MLETUI_LLM_REQUEST_TIMEOUT``  seconds one model call may take (default 300)
- ``MLETUI_LLM_RETRIES``      retries of a model call on rate limits, time-outs and server errors
  (default 5), each after a back-off that doubles from ``MLETUI_LLM_BACKOFF`` seconds (default 2)

A solution is told to read the data from ``MLETUI_DATA_DIR``, print ``VALIDATION_METRIC: <value>``
and write its predictions to ``MLETUI_PREDICTIONS_PATH`` (a file in ``MLETUI_LOGS_DIR``, so the
workspace holds only code). On the local runtime nothing stops it from reading or writing
elsewhere on the machine: use the docker runtime to isolate it.

Exit status: 0 when the steps are done, a limit is reached or a hint said stop; 1 when no step
succeeded; 2 when the environment or the server does not let it work (a sentence says why).
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import openai

from mletui import protocol
from mletui.agents._common import (
    ENV_DATA_DIR,
    ENV_TASK_ID,
    ENV_TASK_METRIC,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNUSABLE,
    SOLUTION_FILE,
    SUBMISSION_FILE,
    check_submission,
    copy_atomic,
    read_folders,
    run_agent,
    say,
    task_columns,
    write_atomic,
)

# The runtime's names for the task's folders and the setup error, re-exported for the agent's
# callers (the CLI checks the settings with read_config before it starts a run).
from mletui.agents._common import ENV_LOGS_DIR as ENV_LOGS_DIR
from mletui.agents._common import ENV_SUBMISSION_DIR as ENV_SUBMISSION_DIR
from mletui.agents._common import ENV_WORKSPACE as ENV_WORKSPACE
from mletui.agents._common import SetupError as SetupError

AGENT_NAME = "llm"

ENV_API_KEY = "OPENAI_API_KEY"
ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_MODEL = "MLETUI_LLM_MODEL"
ENV_MAX_STEPS = "MLETUI_LLM_MAX_STEPS"
ENV_MAX_COST = "MLETUI_LLM_MAX_COST"
ENV_PRICE_IN = "MLETUI_LLM_PRICE_IN"
ENV_PRICE_OUT = "MLETUI_LLM_PRICE_OUT"
ENV_DRAFTS = "MLETUI_LLM_DRAFTS"
ENV_DEBUG_DEPTH = "MLETUI_LLM_DEBUG_DEPTH"
ENV_STEP_TIMEOUT = "MLETUI_LLM_STEP_TIMEOUT"
ENV_REQUEST_TIMEOUT = "MLETUI_LLM_REQUEST_TIMEOUT"
ENV_RETRIES = "MLETUI_LLM_RETRIES"
ENV_BACKOFF = "MLETUI_LLM_BACKOFF"
ENV_PREDICTIONS = "MLETUI_PREDICTIONS_PATH"  # set for each solution it runs

ENV_TASK_LOWER_IS_BETTER = "MLETUI_TASK_LOWER_IS_BETTER"
ENV_TASK_DESCRIPTION = "MLETUI_TASK_DESCRIPTION"  # description.md; else looked for by the data

CREDENTIALS_MISSING = (
    f"The LLM agent needs a model server: set {ENV_API_KEY} (for OpenAI) or {ENV_BASE_URL} "
    "(for any OpenAI-compatible server), or pass --base-url; to run without a model, use "
    "--agent baseline."
)

CANDIDATE_FILE = "llm_predictions.csv"
METRIC_LINE = "VALIDATION_METRIC"
_METRIC_RX = re.compile(rf"^\s*{METRIC_LINE}\s*[:=]\s*(\S+)\s*$", re.MULTILINE)
_CODE_RX = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_OPEN_RX = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n")  # a fence never closed

DEFAULT_MAX_STEPS = 20
OUTPUT_TAIL_CHARS = 4000  # of a solution's output, kept for the next prompt
DESCRIPTION_CHARS = 8000
FROZEN_GAP_S = 1.0  # a longer pause between two looks at a running solution: the run was frozen

# Lower is better for these, when the runtime does not say (MLETUI_TASK_LOWER_IS_BETTER).
LOWER_IS_BETTER = frozenset({"rmse", "mse", "mae", "log_loss", "rmsle", "mape"})

# US dollars per million tokens (in, out): OpenAI's list prices when this was written. An
# estimate only; MLETUI_LLM_PRICE_IN and MLETUI_LLM_PRICE_OUT give yours. Longest prefix wins.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}

# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LLMConfig:
    model: str
    api_key: str | None
    base_url: str | None
    max_steps: int
    max_cost: float | None
    price: tuple[float, float] | None  # dollars per million tokens in, out; None: unknown
    drafts: int = 3
    debug_depth: int = 3
    step_timeout_s: float = 600.0
    request_timeout_s: float = 300.0
    retries: int = 5
    backoff_s: float = 2.0

    def cost(self, tokens_in: int, tokens_out: int) -> float | None:
        if self.price is None:
            return None
        return (tokens_in * self.price[0] + tokens_out * self.price[1]) / 1e6


def price_of(model: str) -> tuple[float, float] | None:
    """The list price of ``model`` (``openai/gpt-4o-mini-2024-07-18`` finds ``gpt-4o-mini``)."""
    name = model.lower().rsplit("/", 1)[-1]
    matches = [key for key in PRICES if name == key or name.startswith(key + "-")]
    return PRICES[max(matches, key=len)] if matches else None


def credentials_problem(environ: Mapping[str, str]) -> str | None:
    """The sentence to refuse with when there is neither a key nor a base URL, else None."""
    if environ.get(ENV_API_KEY) or environ.get(ENV_BASE_URL):
        return None
    return CREDENTIALS_MISSING


def read_config(environ: Mapping[str, str]) -> LLMConfig:
    """The agent's settings from the environment; ``SetupError`` with a sentence if unusable."""
    problem = credentials_problem(environ)
    if problem:
        raise SetupError(problem)
    model = environ.get(ENV_MODEL, "").strip()
    if not model:
        raise SetupError(f"Name the model: --model NAME (or {ENV_MODEL}).")
    price_in, price_out = environ.get(ENV_PRICE_IN), environ.get(ENV_PRICE_OUT)
    price: tuple[float, float] | None
    if price_in or price_out:
        price = (_number(environ, ENV_PRICE_IN, 0.0), _number(environ, ENV_PRICE_OUT, 0.0))
    else:
        price = price_of(model)
    max_cost = _number(environ, ENV_MAX_COST, None)
    if max_cost is not None and max_cost <= 0:
        raise SetupError("--max-cost must be more than zero dollars.")
    if max_cost is not None and price is None:
        raise SetupError(
            f"--max-cost needs the price of {model!r} to estimate costs: set {ENV_PRICE_IN} "
            f"and {ENV_PRICE_OUT} (US dollars per million tokens)."
        )
    max_steps = int(_number(environ, ENV_MAX_STEPS, DEFAULT_MAX_STEPS))
    if max_steps < 1:
        raise SetupError("--max-steps must be at least 1.")
    return LLMConfig(
        model=model,
        api_key=environ.get(ENV_API_KEY) or None,
        base_url=environ.get(ENV_BASE_URL) or None,
        max_steps=max_steps,
        max_cost=max_cost,
        price=price,
        drafts=max(1, int(_number(environ, ENV_DRAFTS, 3))),
        debug_depth=max(0, int(_number(environ, ENV_DEBUG_DEPTH, 3))),
        step_timeout_s=_number(environ, ENV_STEP_TIMEOUT, 600.0),
        request_timeout_s=_number(environ, ENV_REQUEST_TIMEOUT, 300.0),
        retries=max(0, int(_number(environ, ENV_RETRIES, 5))),
        backoff_s=_number(environ, ENV_BACKOFF, 2.0),
    )


def _number(environ: Mapping[str, str], name: str, default: Any) -> Any:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SetupError(f"{name} must be a number, not {text!r}.") from None
    if not math.isfinite(value) or value < 0:
        raise SetupError(f"{name} must be a positive number, not {text!r}.")
    return value


# --- the task as the agent sees it --------------------------------------------------------------


@dataclass(frozen=True)
class TaskSetup:
    task_id: str
    metric: str
    lower_is_better: bool
    id_column: str
    targets: tuple[str, ...]
    data_dir: Path
    workspace: Path
    output_dir: Path  # scratch: each solution's predictions
    submission_dir: Path
    description: str

    @property
    def direction(self) -> str:
        return "lower" if self.lower_is_better else "higher"


def read_setup(environ: Mapping[str, str]) -> TaskSetup:
    folders = read_folders(environ)
    data_dir = folders.data_dir
    metric = environ.get(ENV_TASK_METRIC, "").strip() or "score"
    lower_value = environ.get(ENV_TASK_LOWER_IS_BETTER)
    lower = lower_value == "1" if lower_value else metric in LOWER_IS_BETTER
    id_column, targets = task_columns(environ, _csv_header(data_dir / "sample_submission.csv"))
    description = ""
    named = environ.get(ENV_TASK_DESCRIPTION)
    candidates = [Path(named)] if named else []
    candidates += [data_dir / "description.md", data_dir.parent / "description.md"]
    for candidate in candidates:
        if candidate.is_file():
            description = candidate.read_text(encoding="utf-8", errors="replace")
            break
    return TaskSetup(
        task_id=environ.get(ENV_TASK_ID) or data_dir.parent.name,
        metric=metric,
        lower_is_better=lower,
        id_column=id_column,
        targets=tuple(targets),
        data_dir=data_dir,
        workspace=folders.workspace,
        output_dir=folders.output_dir,
        submission_dir=folders.submission_dir,
        description=description[:DESCRIPTION_CHARS],
    )


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            return next(csv.reader(f), [])
    except OSError:
        return []


def _csv_rows(path: Path) -> int:
    with path.open("rb") as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)


def describe_data(data_dir: Path) -> str:
    """The data folder for the prompt: each file, its size, and a CSV's columns and first rows."""
    lines = []
    for path in sorted(data_dir.iterdir()):
        if path.name.startswith(".") or path.name == "description.md":
            continue
        if path.suffix != ".csv" or not path.is_file():
            lines.append(f"- {path.name}" + ("/" if path.is_dir() else ""))
            continue
        header = _csv_header(path)
        shown = header if len(header) <= 24 else [*header[:12], "...", *header[-6:]]
        lines.append(
            f"- {path.name}: {_csv_rows(path)} rows, {len(header)} columns: {', '.join(shown)}"
        )
        with path.open(encoding="utf-8", errors="replace") as f:
            first = [next(f, "").rstrip("\n") for _ in range(3)][1:]
        lines.extend(f"    {row[:200]}{'...' if len(row) > 200 else ''}" for row in first if row)
    return "\n".join(lines)


def installed_packages() -> list[str]:
    names = ("numpy", "pandas", "scipy", "sklearn", "lightgbm", "xgboost", "catboost", "torch")
    return [name for name in names if importlib.util.find_spec(name) is not None]


# --- the search tree ----------------------------------------------------------------------------


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = 0.0

    def add(self, tokens_in: int, tokens_out: int, cost: float | None) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost = None if cost is None or self.cost is None else self.cost + cost


@dataclass
class Node:
    """One step: the code a model call produced and what running it gave."""

    step: int
    stage: str  # "draft", "debug" or "improve"
    parent: int | None
    plan: str = ""
    code: str | None = None
    output: str = ""  # the end of the solution's output
    metric: float | None = None
    outcome: str = ""
    failed: bool = True
    depth: int = 0  # fixes in a row on this line (a draft or an improvement is 0)
    debugged: bool = False
    abandoned: bool = False  # "revert to best": not worth debugging any more
    started: float = field(default_factory=time.monotonic)
    paused_s: float = 0.0  # held by a soft pause: not the step's own time
    usage: Usage = field(default_factory=lambda: Usage())

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started - self.paused_s

    @property
    def debuggable(self) -> bool:
        return self.failed and self.code is not None and not self.debugged and not self.abandoned


@dataclass(frozen=True)
class Execution:
    exit_code: int | None
    output: str
    seconds: float
    timed_out: bool


@dataclass
class Guidance:
    hint: protocol.Hint
    answered: bool = False


class Stopped(Exception):
    """The overseer said stop, or a limit was reached: finish cleanly."""


class FatalModelError(Exception):
    """The server refuses to work with us (a bad key, an unknown model); the run cannot go on."""


class ModelCallFailed(Exception):
    """One step's model call failed for good (retries used up, a refused prompt, a bad reply)."""


@dataclass
class LLMAgent:
    config: LLMConfig
    setup: TaskSetup
    client: Any = None  # an openai.OpenAI; built from the config when None
    nodes: list[Node] = field(default_factory=list)
    guidance: list[Guidance] = field(default_factory=list)
    best: Node | None = None
    stopped_by: str | None = None  # why the run stopped early, for the last line
    drafting_stopped: bool = False
    spent: Usage = field(default_factory=Usage)
    dearest_call: float = 0.0  # the most one call has cost: what the next may cost
    consecutive_call_failures: int = 0
    current: Node | None = None  # the step under way

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = openai.OpenAI(
                # A local server needs no key, and the client insists on one.
                api_key=self.config.api_key or "no-key",
                base_url=self.config.base_url,
                timeout=self.config.request_timeout_s,
                max_retries=0,  # retried here, so that each retry is shown
            )

    # the loop

    def run(self) -> int:
        setup, config = self.setup, self.config
        protocol.hello(AGENT_NAME)
        protocol.report_budget(
            max_cost=config.max_cost, max_steps=config.max_steps, model=config.model
        )
        say(
            f"llm agent: task {setup.task_id}, metric {setup.metric} ({setup.direction} is "
            f"better), model {config.model}"
            + (f" at {config.base_url}" if config.base_url else "")
            + f"; {config.drafts} drafts, then debug and improve; at most {config.max_steps} "
            "steps" + (f", ${config.max_cost:g}" if config.max_cost is not None else "")
        )
        setup.workspace.mkdir(parents=True, exist_ok=True)
        setup.submission_dir.mkdir(parents=True, exist_ok=True)
        setup.output_dir.mkdir(parents=True, exist_ok=True)
        try:
            while True:
                self.checkpoint()
                self.check_limits()
                self.run_step()
        except Stopped as reason:
            self.stopped_by = str(reason)
        except FatalModelError as exc:
            say(f"llm agent: {exc}")
            protocol.report_notice(str(exc), severity="error")
            self.answer_late_hints("the run stopped: the model server refused to work")
            return EXIT_UNUSABLE
        self.answer_late_hints("the run ended before another model call")
        return self.finish()

    def checkpoint(self) -> None:
        """Hold while a soft pause is requested, then act on the hints that came."""
        began = time.monotonic()
        hints = protocol.checkpoint()
        if self.current is not None:
            self.current.paused_s += time.monotonic() - began
        self.take_hints(hints)

    def check_limits(self) -> None:
        config = self.config
        if len(self.nodes) >= config.max_steps:
            raise Stopped(f"reached the step limit ({config.max_steps})")
        spent = self.spent.cost
        limit = config.max_cost
        if limit is not None and spent is not None and spent + self.dearest_call > limit:
            raise Stopped(
                f"the next model call could take the estimated cost (${spent:.4f}) past the "
                f"limit of ${limit:g}"
            )
        if self.consecutive_call_failures >= 3:
            raise Stopped("three model calls in a row failed")

    def choose(self) -> tuple[str, Node | None]:
        """The next step, as AIDE chooses: drafts first, then fix what failed, then improve."""
        drafts = sum(1 for n in self.nodes if n.stage == "draft")
        if not self.drafting_stopped and drafts < self.config.drafts:
            return "draft", None
        for node in reversed(self.nodes):
            if node.debuggable and node.depth < self.config.debug_depth:
                return "debug", node
        if self.best is not None:
            return "improve", self.best
        return "draft", None

    def run_step(self) -> None:
        stage, parent = self.choose()
        node = Node(
            step=len(self.nodes) + 1,
            stage=stage,
            parent=parent.step if parent else None,
            depth=parent.depth + 1 if stage == "debug" and parent else 0,
        )
        if parent is not None and stage == "debug":
            parent.debugged = True
        self.nodes.append(node)
        what = f"{stage} of step {parent.step}" if parent else stage
        say(f"step {node.step} ({what}): asking {self.config.model}")
        self.current = node
        try:
            reply = self.ask(lambda: self.messages(node, parent), node)
            self.consecutive_call_failures = 0
        except ModelCallFailed as exc:
            self.consecutive_call_failures += 1
            self.record(node, f"model call failed: {exc}")
            return
        except Stopped:  # a hint taken while waiting to retry
            self.record(node, "not run: the overseer said stop")
            raise
        except FatalModelError as exc:
            self.record(node, f"model call failed: {exc}")
            raise
        node.plan, node.code = split_reply(reply)
        if node.plan:
            say(f"step {node.step}: plan: {one_line(node.plan, 400)}")
        if node.code is None:
            self.record(node, "failed: no usable code in the reply")
            return
        write_atomic(self.setup.workspace / SOLUTION_FILE, node.code)
        try:
            self.checkpoint()  # the operator may stop it before it runs
        except Stopped:
            self.record(node, "not run: the overseer said stop")
            raise
        self.execute(node)

    def execute(self, node: Node) -> None:
        setup, config = self.setup, self.config
        candidate = setup.output_dir / CANDIDATE_FILE
        candidate.unlink(missing_ok=True)
        say(f"step {node.step}: running {SOLUTION_FILE} (time-out {config.step_timeout_s:g} s)")
        env = {
            # The model's code never gets the key to the model's server.
            **{k: v for k, v in os.environ.items() if k != ENV_API_KEY},
            ENV_DATA_DIR: str(setup.data_dir),
            ENV_PREDICTIONS: str(candidate),
            "PYTHONUNBUFFERED": "1",
        }
        result = run_solution(
            [sys.executable, SOLUTION_FILE], setup.workspace, env, config.step_timeout_s
        )
        node.output = result.output
        value = parse_metric(result.output)
        problem = None
        if result.timed_out:
            problem = f"killed at its time-out of {config.step_timeout_s:g} s"
        elif result.exit_code != 0:
            problem = f"exit code {result.exit_code}" + (
                f": {error_line(result.output)}" if error_line(result.output) else ""
            )
        elif value is None:
            problem = f"it printed no '{METRIC_LINE}: <number>' line"
        else:
            problem = check_predictions(candidate, setup)
        if problem is not None:
            self.record(node, f"failed: {problem}")
            return
        assert value is not None
        node.failed, node.metric = False, value
        protocol.report_metric(setup.metric, value, step=node.step, direction=setup.direction)
        if self.best is None or self.better(value, self.best.metric):
            self.best = node
            copy_atomic(candidate, setup.submission_dir / SUBMISSION_FILE)
            verdict = f"best so far; {SUBMISSION_FILE} updated"
        else:
            assert self.best.metric is not None
            verdict = f"best is still step {self.best.step}, {self.best.metric:.4f}"
        self.record(node, f"validation {setup.metric} {value:.4f} ({verdict})")

    def better(self, value: float, than: float | None) -> bool:
        if than is None:
            return True
        return value < than if self.setup.lower_is_better else value > than

    def record(self, node: Node, outcome: str) -> None:
        """Close a step: one log line and the step's summary in the journal."""
        node.outcome = outcome
        self.current = None
        usage, seconds = node.usage, node.seconds
        cost = "" if usage.cost is None else f", ≈ ${usage.cost:.4f}"
        say(
            f"step {node.step}: {outcome} · {seconds:.1f} s, tokens "
            f"{usage.tokens_in} in / {usage.tokens_out} out{cost}"
        )
        protocol.report_step(
            node.step,
            stage=node.stage,
            parent=node.parent,
            plan=one_line(node.plan, 1000),
            outcome=outcome,
            metric=node.metric,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            cost=usage.cost,
            seconds=round(seconds, 2),
        )

    # the model

    def ask(self, build: Callable[[], list[dict[str, str]]], node: Node) -> str:
        """One model call for ``node``, retried with back-off; its reply's text.

        ``build`` makes the messages afresh for each attempt, so that a hint taken at the
        checkpoint before a retry is in the prompt that goes out.
        """
        config = self.config
        attempt = 0
        while True:
            messages = build()
            self.answer_guidance(node)
            try:
                response = self.client.chat.completions.create(
                    model=config.model, messages=messages
                )
                text = reply_text(response)
                self.count(node, response, messages, text)
                return text
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status in (401, 403, 404):
                    raise FatalModelError(refusal(status, exc, config)) from exc
                if not (status in (408, 409, 429) or status >= 500):
                    raise ModelCallFailed(f"the server refused the prompt ({status})") from exc
                problem = "rate limited (429)" if status == 429 else f"server error ({status})"
                delay = retry_after(exc)
            except openai.APITimeoutError:
                problem, delay = f"no reply within {config.request_timeout_s:g} s", None
            except openai.APIConnectionError as exc:
                problem, delay = f"cannot reach the server ({exc.__cause__ or exc})", None
            except (openai.APIResponseValidationError, ValueError, TypeError, LookupError) as e:
                raise ModelCallFailed(f"malformed reply from the server ({e})") from e
            attempt += 1
            if attempt > config.retries:
                raise ModelCallFailed(f"{problem}; gave up after {config.retries} retries")
            wait = delay if delay is not None else config.backoff_s * 2 ** (attempt - 1)
            wait = min(wait, 120.0)
            message = (
                f"model call for step {node.step}: {problem}; retry {attempt} of "
                f"{config.retries} in {wait:.1f} s"
            )
            say(message)
            protocol.report_notice(message)
            time.sleep(wait)
            self.checkpoint()  # a retry is a model call too

    def count(self, node: Node, response: Any, messages: list[dict[str, str]], text: str) -> None:
        usage = getattr(response, "usage", None)
        tokens_in = getattr(usage, "prompt_tokens", None)
        tokens_out = getattr(usage, "completion_tokens", None)
        if not isinstance(tokens_in, int) or not isinstance(tokens_out, int):
            # No usage in the reply (some local servers): about four characters a token.
            tokens_in = sum(len(m["content"]) for m in messages) // 4
            tokens_out = len(text) // 4
        cost = self.config.cost(tokens_in, tokens_out)
        node.usage.add(tokens_in, tokens_out, cost)
        self.spent.add(tokens_in, tokens_out, cost)
        if cost is not None:
            self.dearest_call = max(self.dearest_call, cost)
        protocol.report_usage(tokens_in, tokens_out, cost=cost, model=self.config.model)

    # prompts

    def messages(self, node: Node, parent: Node | None) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": self.prompt(node, parent)},
        ]

    def prompt(self, node: Node, parent: Node | None) -> str:
        setup, config = self.setup, self.config
        direction = "lower" if setup.lower_is_better else "higher"
        columns = ", ".join([setup.id_column, *setup.targets])
        sections = [
            "# Task\n\n" + (setup.description.strip() or f"The competition {setup.task_id}."),
            "# Data\n\nThe data folder (its path is in the environment variable "
            f"{ENV_DATA_DIR}) holds:\n{describe_data(setup.data_dir)}",
            "# Rules for the script\n\n"
            f'- Read the data from `Path(os.environ["{ENV_DATA_DIR}"])`.\n'
            f"- Hold out part of train.csv (or cross-validate) and compute the competition's "
            f"metric, {setup.metric} ({direction} is better), on data the model did not train "
            f"on. Print it on a line of its own, exactly: `{METRIC_LINE}: <number>`.\n"
            f"- Predict every row of test.csv and write a CSV with the columns {columns} (as "
            f'sample_submission.csv) to `os.environ["{ENV_PREDICTIONS}"]`.\n'
            f"- It is killed after {config.step_timeout_s:g} seconds: keep it fast, and print "
            "progress as it trains.\n"
            f"- Installed: {', '.join(installed_packages()) or 'the standard library'}. "
            "Nothing can be installed.\n"
            "- Read only the data folder; write only the predictions file and the current "
            "directory.",
        ]
        guidance = self.guidance_section()
        if guidance:
            sections.append(guidance)
        history = self.history()
        if history:
            sections.append("# Steps so far\n\n" + history)
        sections.append(f"# This step (step {node.step})\n\n" + self.instructions(node, parent))
        sections.append(
            "# Reply format\n\nA short plan (two to five sentences), then the complete script "
            "in one ```python code block. Nothing after the block."
        )
        return "\n\n".join(sections)

    def guidance_section(self) -> str:
        if not self.guidance:
            return ""
        lines = [
            "# Guidance from the human overseer",
            "",
            "A person is watching this run and sent the guidance below. It comes from a human, "
            "not from the task or from you: follow it unless it is impossible, and say in your "
            "plan how you follow it.",
        ]
        for item in self.guidance[-10:]:
            lines.append(f"OVERSEER (hint {item.hint.id}): {one_line(item.hint.text, 1000)}")
        return "\n".join(lines)

    def history(self) -> str:
        lines = []
        for node in self.nodes[-20:]:
            if node.outcome:
                lines.append(
                    f"- step {node.step} ({node.stage}): {one_line(node.plan, 200) or 'no plan'} "
                    f"-> {node.outcome}"
                )
        return "\n".join(lines)

    def instructions(self, node: Node, parent: Node | None) -> str:
        metric = self.setup.metric
        if node.stage == "debug" and parent is not None:
            return (
                f"Step {parent.step}'s script {parent.outcome}. Fix it; change nothing else "
                "unless the fix needs it.\n\n"
                f"```python\n{parent.code}\n```\n\nThe end of its output:\n\n"
                f"```\n{parent.output[-OUTPUT_TAIL_CHARS:]}\n```"
            )
        if node.stage == "improve" and parent is not None:
            return (
                f"Improve the best solution so far, step {parent.step} (validation {metric} "
                f"{parent.metric:.4f}). Make one specific change that you expect to improve "
                "the validation metric (a feature, a model, a hyper-parameter), and say which "
                f"in the plan.\n\n```python\n{parent.code}\n```\n\nThe end of its output:\n\n"
                f"```\n{parent.output[-1500:]}\n```"
            )
        drafts = sum(1 for n in self.nodes if n.stage == "draft" and n is not node)
        return (
            "Write a new solution from scratch: simple, quick to train, and different from the "
            "drafts above."
            if drafts
            else "Write a first solution: simple, quick to train, and sound."
        )

    # hints

    def take_hints(self, hints: list[protocol.Hint]) -> None:
        """Apply the overseer's commands at once; keep the rest as guidance for the prompts."""
        step = len(self.nodes) + 1
        stop = next((h for h in hints if is_stop(h.text)), None)
        for hint in hints:
            text = one_line(hint.text, 80)
            if stop is not None:
                if hint is stop:
                    message = "stopping" + (
                        f"; keeping the best submission (step {self.best.step}, "
                        f"{self.setup.metric} {self.best.metric:.4f})"
                        if self.best is not None and self.best.metric is not None
                        else "; no step has produced a submission"
                    )
                    protocol.answer(hint, message)
                else:
                    message = f"not used: hint {stop.id} stopped the run"
                    protocol.answer(hint, message, used=hint is stop)
                say(f"hint {hint.id}: {text!r} -> {message}")
                continue
            commands = []
            if STOP_DRAFTING.search(hint.text):
                commands.append(self.stop_drafting())
            if REVERT.search(hint.text):
                commands.append(self.revert())
            # "revert to best" is a command; "revert to best and try boosting" is guidance too.
            guidance = not commands or len(hint.text.split()) > COMMAND_WORDS
            if guidance:
                self.guidance.append(Guidance(hint, answered=bool(commands)))
            if commands:
                message = "; ".join(commands) + (
                    f"; its words also go into the prompts from step {step} on" if guidance else ""
                )
                protocol.answer(hint, message)
                say(f"hint {hint.id}: {text!r} -> {message}")
            else:
                say(f"hint {hint.id}: {text!r} -> guidance for the prompt of step {step}")
        if stop is not None:
            raise Stopped(f"hint {stop.id} said stop")

    def stop_drafting(self) -> str:
        self.drafting_stopped = True
        drafts = sum(1 for n in self.nodes if n.stage == "draft")
        if self.best is None:
            return (
                f"no more drafts after {drafts}; no step has worked yet, so the next steps fix "
                "the failed ones (or draft once more if none can be fixed)"
            )
        return f"no more drafts after {drafts}; the next steps debug and improve"

    def revert(self) -> str:
        if self.best is None:
            return "cannot revert yet: no step has worked so far"
        for node in self.nodes:
            if node.failed:
                node.abandoned = True
        assert self.best.metric is not None
        best = f"step {self.best.step}, {self.setup.metric} {self.best.metric:.4f}"
        if self.current is not None:
            return (
                f"reverting: failed lines are dropped, and after step {self.current.step} the "
                f"next step improves the best solution ({best} so far)"
            )
        return f"reverted: failed lines are dropped; the next step improves {best}"

    def answer_guidance(self, node: Node) -> None:
        """Answer each hint the first time a prompt carrying it goes out."""
        for item in self.guidance:
            if not item.answered:
                item.answered = True
                protocol.answer(
                    item.hint,
                    f"in the prompt of step {node.step} ({node.stage}) as guidance from the "
                    "human overseer, and in every prompt after it",
                )

    def answer_late_hints(self, reason: str) -> None:
        try:
            hints = protocol.checkpoint()
        except Exception:  # the end of the run must not fail on a hint
            hints = []
        for item in self.guidance:
            if not item.answered:
                protocol.answer(item.hint, f"not used: {reason}", used=False)
        for hint in hints:
            protocol.answer(hint, f"not used: {reason}", used=False)

    def finish(self) -> int:
        ending = f"stopped: {self.stopped_by}" if self.stopped_by else "done"
        spent = self.spent
        cost = "unknown cost" if spent.cost is None else f"≈ ${spent.cost:.4f}"
        usage = f"tokens {spent.tokens_in} in / {spent.tokens_out} out, {cost}"
        worked = sum(1 for n in self.nodes if not n.failed)
        if self.best is None or self.best.metric is None:
            say(f"{ending}; {worked} of {len(self.nodes)} steps worked; no submission; {usage}")
            stopped_early = self.stopped_by is not None and self.stopped_by.startswith("hint")
            return EXIT_OK if stopped_early else EXIT_FAILED
        check_submission(self.setup.submission_dir / SUBMISSION_FILE)
        say(
            f"{ending}; {worked} of {len(self.nodes)} steps worked; best: step "
            f"{self.best.step}, validation {self.setup.metric} {self.best.metric:.4f}; "
            f"submission at {self.setup.submission_dir / SUBMISSION_FILE}; {usage}"
        )
        return EXIT_OK


SYSTEM_PROMPT = (
    "You are an expert machine-learning engineer working on a Kaggle-style competition, one "
    "step at a time. At each step you write one complete, standalone Python script; it is run "
    f"as `python {SOLUTION_FILE}` and you are shown what it printed. A human overseer watches "
    "the run and may send guidance, which the prompt marks as theirs."
)

STOP = re.compile(
    r"^\W*(please\s+)?(stop|halt|quit|finish|end)(\s+(now|here|it|the\s+run|running|everything))?"
    r"\W*$",
    re.IGNORECASE,
)
STOP_DRAFTING = re.compile(
    r"\b(stop|no\s+more|enough|quit)\s+(new\s+)?(drafting|drafts)\b", re.IGNORECASE
)
COMMAND_WORDS = 4  # a hint longer than this says more than its command
REVERT = re.compile(r"\b(revert|roll\s*back|go\s+back)\b", re.IGNORECASE)


def is_stop(text: str) -> bool:
    """Only a hint that is nothing but "stop" stops the run: "stop using forests" is guidance."""
    return bool(STOP.match(text.strip()))


# --- replies ------------------------------------------------------------------------------------


def reply_text(response: Any) -> str:
    """The assistant's text; a reply without one raises ``LookupError`` (a malformed reply)."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise LookupError("no choices in the reply")
    content = getattr(choices[0].message, "content", None)
    if not isinstance(content, str):
        raise LookupError("no text in the reply")
    return content


def split_reply(text: str) -> tuple[str, str | None]:
    """The plan (the text before the code) and the longest Python code block, or None.

    Code that does not compile is still code: running it shows the model its error. A reply cut
    off before its closing fence keeps what it has; a reply that is nothing but a script is one.
    """
    blocks = [
        (m.start(), m.group(2))
        for m in _CODE_RX.finditer(text)
        if m.group(1).lower() in ("", "python", "py", "python3")
    ]
    if not blocks:
        opened = _OPEN_RX.search(text)
        if opened is not None:
            blocks = [(opened.start(), text[opened.end() :])]
        elif _is_script(text):
            return "", text.strip("\n") + "\n"
        else:
            return one_line(text, 2000), None
    start, code = max(blocks, key=lambda b: len(b[1]))
    code = code.strip("\n")
    plan = text[:start].strip() or text[text.find("```", start + 3) + 3 :].strip()
    return plan, (code + "\n") if code.strip() else None


def _is_script(text: str) -> bool:
    if "import " not in text:
        return False
    try:
        compile(text, SOLUTION_FILE, "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def refusal(status: int, exc: openai.APIStatusError, config: LLMConfig) -> str:
    where = config.base_url or "OpenAI"
    if status == 404:
        return (
            f"{where} does not know the model {config.model!r} or the URL is wrong (404); "
            "check --model and --base-url."
        )
    return f"{where} refused the credentials ({status}); check {ENV_API_KEY}."


def retry_after(exc: openai.APIStatusError) -> float | None:
    """The server's own back-off (``retry-after-ms`` or ``retry-after`` seconds), if any."""
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name, "")) * scale)
        except ValueError:
            continue
    return None


def parse_metric(output: str) -> float | None:
    """The last ``VALIDATION_METRIC: <number>`` in the output, if it is a finite number."""
    found = _METRIC_RX.findall(output)
    if not found:
        return None
    try:
        value = float(found[-1].strip("'\"`,;"))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def error_line(output: str) -> str:
    """The exception at the end of a traceback (``NameError: ...``), or the last line."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", line):
            return one_line(line, 300)
    return one_line(lines[-1], 300) if lines else ""


def check_predictions(path: Path, setup: TaskSetup) -> str | None:
    """What is wrong with a solution's predictions file, or None when it looks right."""
    if not path.is_file():
        return f"it wrote no predictions to {ENV_PREDICTIONS}"
    header = _csv_header(path)
    expected = _csv_header(setup.data_dir / "sample_submission.csv")
    if expected and sorted(header) != sorted(expected):
        return f"its predictions have the columns {header}, not {expected}"
    rows, wanted = _csv_rows(path), _csv_rows(setup.data_dir / "test.csv")
    if rows != wanted:
        return f"its predictions have {rows} rows; test.csv has {wanted}"
    return None


def one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- running a solution -------------------------------------------------------------------------


def run_solution(
    command: list[str], cwd: Path, env: Mapping[str, str], timeout_s: float
) -> Execution:
    """Run a solution, streaming its output to ours; kill it and its children at the time-out.

    It stays in the agent's process group, so freezing or killing the run reaches it. Time
    while the run is frozen does not count against the time-out.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    tail: deque[str] = deque()
    size = [0]
    lock = threading.Lock()

    def relay(pipe: IO[bytes], out: IO[bytes]) -> None:
        for line in iter(pipe.readline, b""):
            out.write(line)
            out.flush()
            text = line.decode("utf-8", errors="replace")
            with lock:
                tail.append(text)
                size[0] += len(text)
                while size[0] > OUTPUT_TAIL_CHARS * 2 and len(tail) > 1:
                    size[0] -= len(tail.popleft())
        pipe.close()

    assert proc.stdout is not None and proc.stderr is not None
    relays = [
        threading.Thread(target=relay, args=(proc.stdout, sys.stdout.buffer), daemon=True),
        threading.Thread(target=relay, args=(proc.stderr, sys.stderr.buffer), daemon=True),
    ]
    for thread in relays:
        thread.start()
    used, last, timed_out = 0.0, time.monotonic(), False
    while proc.poll() is None:
        time.sleep(0.1)
        now = time.monotonic()
        gap, last = now - last, now
        if gap < FROZEN_GAP_S:
            used += gap
        if used >= timeout_s:
            timed_out = True
            kill_tree(proc.pid)
            break
    exit_code = proc.wait()
    for thread in relays:
        thread.join(timeout=5)
    with lock:
        output = "".join(tail)
    if timed_out:
        output += f"\n[killed by the agent: the script ran past its time-out of {timeout_s:g} s]\n"
    return Execution(
        None if timed_out else exit_code,
        output[-OUTPUT_TAIL_CHARS * 2 :],
        time.monotonic() - started,
        timed_out,
    )


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started (read from /proc; Linux)."""
    victims = [pid, *descendants(pid)]
    for victim in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(victim, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def main() -> int:
    return run_agent(
        "llm agent",
        lambda: (read_config(os.environ), read_setup(os.environ)),
        lambda settings: LLMAgent(*settings).run(),
    )


if __name__ == "__main__":
    sys.exit(main())
