"""The text the LLM agent builds for the model, and how it reads what comes back: the plan and code
of a reply, and the metric line a solution is told to print."""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Sequence
from pathlib import Path

from mletui.agents._common import ENV_DATA_DIR, SOLUTION_FILE, csv_header
from mletui.agents.llm.task import ENV_PREDICTIONS, TaskSetup, csv_rows
from mletui.agents.llm.tree import Guidance, Node

METRIC_LINE = "VALIDATION_METRIC"
_METRIC_RX = re.compile(rf"^\s*{METRIC_LINE}\s*[:=]\s*(\S+)\s*$", re.MULTILINE)
_CODE_RX = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_OPEN_RX = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n")  # a fence never closed

OUTPUT_TAIL_CHARS = 4000  # of a failed solution's output, shown to the step that debugs it
IMPROVE_TAIL_CHARS = 1500  # of the best solution's output, shown to the step that improves it

SYSTEM_PROMPT = (
    "You are an expert machine-learning engineer working on a Kaggle-style competition, one "
    "step at a time. At each step you write one complete, standalone Python script; it is run "
    f"as `python {SOLUTION_FILE}` and you are shown what it printed. A human overseer watches "
    "the run and may send guidance, which the prompt marks as theirs."
)


# --- what the model is told ---------------------------------------------------------------------


def build_messages(
    setup: TaskSetup,
    step_timeout_s: float,
    nodes: Sequence[Node],
    guidance: Sequence[Guidance],
    node: Node,
    parent: Node | None,
) -> list[dict[str, str]]:
    """The system and user messages of ``node``'s model call, from the tree as it stands."""
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
        f"- It is killed after {step_timeout_s:g} seconds: keep it fast, and print "
        "progress as it trains.\n"
        f"- Installed: {', '.join(installed_packages()) or 'the standard library'}. "
        "Nothing can be installed.\n"
        "- Read only the data folder; write only the predictions file and the current "
        "directory.",
    ]
    overseer = guidance_section(guidance)
    if overseer:
        sections.append(overseer)
    steps = history(nodes)
    if steps:
        sections.append("# Steps so far\n\n" + steps)
    sections.append(
        f"# This step (step {node.step})\n\n" + instructions(setup, nodes, node, parent)
    )
    sections.append(
        "# Reply format\n\nA short plan (two to five sentences), then the complete script "
        "in one ```python code block. Nothing after the block."
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(sections)},
    ]


def guidance_section(guidance: Sequence[Guidance]) -> str:
    if not guidance:
        return ""
    lines = [
        "# Guidance from the human overseer",
        "",
        "A person is watching this run and sent the guidance below. It comes from a human, "
        "not from the task or from you: follow it unless it is impossible, and say in your "
        "plan how you follow it.",
    ]
    for item in guidance[-10:]:
        lines.append(f"OVERSEER (hint {item.hint.id}): {one_line(item.hint.text, 1000)}")
    return "\n".join(lines)


def history(nodes: Sequence[Node]) -> str:
    lines = []
    for node in nodes[-20:]:
        if node.outcome:
            lines.append(
                f"- step {node.step} ({node.stage}): {one_line(node.plan, 200) or 'no plan'} "
                f"-> {node.outcome}"
            )
    return "\n".join(lines)


def instructions(setup: TaskSetup, nodes: Sequence[Node], node: Node, parent: Node | None) -> str:
    metric = setup.metric
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
            f"```\n{parent.output[-IMPROVE_TAIL_CHARS:]}\n```"
        )
    drafts = sum(1 for n in nodes if n.stage == "draft" and n is not node)
    return (
        "Write a new solution from scratch: simple, quick to train, and different from the "
        "drafts above."
        if drafts
        else "Write a first solution: simple, quick to train, and sound."
    )


def describe_data(data_dir: Path) -> str:
    """The data folder for the prompt: each file, its size, and a CSV's columns and first rows."""
    lines = []
    for path in sorted(data_dir.iterdir()):
        if path.name.startswith(".") or path.name == "description.md":
            continue
        if path.suffix != ".csv" or not path.is_file():
            lines.append(f"- {path.name}" + ("/" if path.is_dir() else ""))
            continue
        header = csv_header(path)
        shown = header if len(header) <= 24 else [*header[:12], "...", *header[-6:]]
        lines.append(
            f"- {path.name}: {csv_rows(path)} rows, {len(header)} columns: {', '.join(shown)}"
        )
        with path.open(encoding="utf-8", errors="replace") as f:
            first = [next(f, "").rstrip("\n") for _ in range(3)][1:]
        lines.extend(f"    {row[:200]}{'...' if len(row) > 200 else ''}" for row in first if row)
    return "\n".join(lines)


def installed_packages() -> list[str]:
    names = ("numpy", "pandas", "scipy", "sklearn", "lightgbm", "xgboost", "catboost", "torch")
    return [name for name in names if importlib.util.find_spec(name) is not None]


# --- what comes back ----------------------------------------------------------------------------


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


def one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
