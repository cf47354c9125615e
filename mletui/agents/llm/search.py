"""The LLM agent's search, as AIDE's: draft a few solutions, debug the ones that failed, improve
the best; the operator's hints steer it, and every step is reported through the protocol."""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from mletui import protocol
from mletui.agents._common import (
    ENV_DATA_DIR,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNUSABLE,
    SOLUTION_FILE,
    SUBMISSION_FILE,
    check_submission,
    copy_atomic,
    run_agent,
    say,
    steps_text,
    write_atomic,
)
from mletui.agents.llm.config import ENV_API_KEY, LLMConfig, read_config
from mletui.agents.llm.execution import run_solution
from mletui.agents.llm.model import FatalModelError, ModelCallFailed, ModelClient, ModelReply
from mletui.agents.llm.prompts import (
    METRIC_LINE,
    build_messages,
    error_line,
    one_line,
    parse_metric,
    split_reply,
)
from mletui.agents.llm.task import ENV_PREDICTIONS, TaskSetup, check_predictions, read_setup
from mletui.agents.llm.tree import Guidance, Node, Usage

AGENT_NAME = "llm"
CANDIDATE_FILE = "llm_predictions.csv"

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


class Stopped(Exception):
    """The overseer said stop, or a limit was reached: finish cleanly."""


@dataclass
class LLMAgent:
    config: LLMConfig
    setup: TaskSetup
    client: Any = None  # an openai.OpenAI; built from the config when None
    model: ModelClient = field(init=False)
    nodes: list[Node] = field(default_factory=list)
    guidance: list[Guidance] = field(default_factory=list)
    best: Node | None = None
    stopped_by: str | None = None  # why the run stopped early, for the last line
    drafting_stopped: bool = False
    spent: Usage = field(default_factory=Usage)
    dearest_call: float = 0.0  # the most one call has cost: what the next may cost
    usage_unknown_said: bool = False
    consecutive_call_failures: int = 0
    current: Node | None = None  # the step under way

    def __post_init__(self) -> None:
        self.model = ModelClient(self.config, self.client)

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
        self.report(node, "running")

        def stream(text: str) -> None:
            protocol.report_model_output(node.step, text)

        try:
            reply = self.model.ask(
                lambda: self.messages(node, parent), node.step, self.checkpoint, stream
            )
            self.consecutive_call_failures = 0
        except ModelCallFailed as exc:
            self.consecutive_call_failures += 1
            self.record(node, f"model call failed: {exc}", "buggy", "model call")
            return
        except Stopped:  # a hint taken while waiting to retry
            self.record(node, "not run: the overseer said stop", "skipped")
            raise
        except FatalModelError as exc:
            self.record(node, f"model call failed: {exc}", "buggy", "model call")
            raise
        finally:
            protocol.report_model_output(node.step, "", done=True)
        self.count(node, reply)
        node.plan, node.code = split_reply(reply.text)
        if node.plan:
            say(f"step {node.step}: plan: {one_line(node.plan, 400)}")
        if node.code is None:
            self.record(node, "failed: no usable code in the reply", "skipped")
            return
        write_atomic(self.setup.workspace / SOLUTION_FILE, node.code)
        try:
            self.checkpoint()  # the operator may stop it before it runs
        except Stopped:
            self.record(node, "not run: the overseer said stop", "skipped")
            raise
        self.report(node, "running")  # now with its plan
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
        error = "no metric"
        if result.timed_out:
            problem, error = f"killed at its time-out of {config.step_timeout_s:g} s", "time-out"
        elif result.exit_code != 0:
            problem = f"exit code {result.exit_code}" + (
                f": {error_line(result.output)}" if error_line(result.output) else ""
            )
            error = error_type(result.output) or f"exit code {result.exit_code}"
        elif value is None:
            problem = f"it printed no '{METRIC_LINE}: <number>' line"
        else:
            problem, error = check_predictions(candidate, setup), "bad predictions"
        if problem is not None:
            self.record(node, f"failed: {problem}", "buggy", error)
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
        self.record(node, f"validation {setup.metric} {value:.4f} ({verdict})", "ok")

    def better(self, value: float, than: float | None) -> bool:
        if than is None:
            return True
        return value < than if self.setup.lower_is_better else value > than

    def record(self, node: Node, outcome: str, status: str, error: str | None = None) -> None:
        """Close a step: one log line and the step's summary in the journal."""
        node.outcome = outcome
        self.current = None
        usage, seconds = node.usage, node.seconds
        cost = "" if usage.cost is None else f", ≈ ${usage.cost:.4f}"
        say(
            f"step {node.step}: {outcome} · {seconds:.1f} s, tokens "
            f"{usage.tokens_in} in / {usage.tokens_out} out{cost}"
        )
        self.report(node, status, error, seconds=round(seconds, 2))

    def report(
        self, node: Node, status: str, error: str | None = None, seconds: float | None = None
    ) -> None:
        """The step as it stands, for the operator's steps pane (reported again as it changes)."""
        usage = node.usage
        protocol.report_step(
            node.step,
            stage=node.stage,
            parent=node.parent,
            plan=one_line(node.plan, 1000),
            outcome=node.outcome,
            metric=node.metric,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            cost=usage.cost,
            seconds=seconds,
            status=status,
            error=error,
            analysis=error_line(node.output) if status == "buggy" else "",
            hint_used=bool(self.guidance),
            started=node.started_at,
        )

    # the model

    def messages(self, node: Node, parent: Node | None) -> list[dict[str, str]]:
        """The prompt of ``node`` as it stands now; a hint is answered when it first goes out."""
        messages = build_messages(
            self.setup, self.config.step_timeout_s, self.nodes, self.guidance, node, parent
        )
        self.answer_guidance(node)
        return messages

    def count(self, node: Node, reply: ModelReply) -> None:
        cost = self.config.cost(reply.tokens_in, reply.tokens_out)
        if not reply.usage_known and not self.usage_unknown_said:
            # The estimate still counts against --max-cost: a guard off is worse than a rough one.
            self.usage_unknown_said = True
            message = "the model server counts no tokens: usage from here is an estimate"
            say(message)
            protocol.report_notice(message, severity="information")
        node.usage.add(reply.tokens_in, reply.tokens_out, cost)
        self.spent.add(reply.tokens_in, reply.tokens_out, cost)
        if cost is not None:
            self.dearest_call = max(self.dearest_call, cost)
        protocol.report_usage(reply.tokens_in, reply.tokens_out, cost=cost, model=self.config.model)

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
        worked = f"{sum(1 for n in self.nodes if not n.failed)} of {steps_text(len(self.nodes))}"
        if self.best is None or self.best.metric is None:
            say(f"{ending}; {worked} worked; no submission; {usage}")
            stopped_early = self.stopped_by is not None and self.stopped_by.startswith("hint")
            return EXIT_OK if stopped_early else EXIT_FAILED
        check_submission(self.setup.submission_dir / SUBMISSION_FILE)
        say(
            f"{ending}; {worked} worked; best: step "
            f"{self.best.step}, validation {self.setup.metric} {self.best.metric:.4f}; "
            f"submission at {self.setup.submission_dir / SUBMISSION_FILE}; {usage}"
        )
        return EXIT_OK


def error_type(output: str) -> str | None:
    """The exception's type at the end of a traceback (``NameError``), if there is one."""
    line = error_line(output)
    match = re.match(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit))\b", line)
    return match.group(1) if match else None


def main() -> int:
    return run_agent(
        "llm agent",
        lambda: (read_config(os.environ), read_setup(os.environ)),
        lambda settings: LLMAgent(*settings).run(),
    )
