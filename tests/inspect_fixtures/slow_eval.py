"""A real Inspect eval, offline: a scripted model that counts its own tokens, an agent looping
over model and bash calls in the local sandbox, slowly enough to be watched.

Run as ``python slow_eval.py LOG_DIR [--steps N] [--sleep S] [--samples K] [--epochs E]
[--react] [--acp-server]``: ``--react`` runs the agent as Inspect's ``react()``, which takes
operator messages through the ACP server ``--acp-server`` starts; the model says the last operator
message it was given ("heard: ..."), so a test sees a hint reach the model's input.
Inspect's mock model counts tokens with a tiktoken encoding it downloads on first use; there is
no network here, so the provider below counts them itself (a word a token).
"""

from __future__ import annotations

import argparse
from typing import Any

from inspect_ai import Task, eval, task
from inspect_ai.agent import react
from inspect_ai.dataset import Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
    modelapi,
)
from inspect_ai.model._providers.mockllm import MockLLM
from inspect_ai.scorer import includes
from inspect_ai.solver import generate, use_tools
from inspect_ai.tool import ToolChoice, ToolInfo, bash

STEPS = 20
SLEEP_S = 0.5
REACT = False
# What the model "says" between calls: markup and a control sequence, which mletui must show
# as their characters and never act upon.
SAYS = "step {n}: [bold red]running[/] the next command \x1b[31mnow\x1b[0m"


def scripted(
    messages: list[ChatMessage], tools: list[ToolInfo], choice: ToolChoice, config: GenerateConfig
) -> ModelOutput:
    done = sum(isinstance(m, ChatMessageTool) for m in messages)
    heard = [m.text for m in messages if isinstance(m, ChatMessageUser) and m.source == "operator"]
    says = SAYS.format(n=done) + (f" heard: {heard[-1]}" if heard else "")
    if done >= STEPS:
        if REACT:
            return ModelOutput.for_tool_call("scripted", "submit", {"answer": "DONE"})
        return ModelOutput.from_content("scripted", "All steps done. ANSWER: DONE")
    return ModelOutput.for_tool_call(
        "scripted",
        "bash",
        {"command": f"sleep {SLEEP_S}; echo step {done} output; echo to-stderr >&2"},
        content=says,
    )


@modelapi(name="scripted")
class ScriptedModel(MockLLM):
    """The mock model with scripted tool calls, counting a word a token (no tiktoken)."""

    def __init__(self, model_name: str, **kwargs: Any) -> None:
        kwargs.pop("custom_outputs", None)
        super().__init__(model_name, custom_outputs=scripted, **kwargs)

    async def count_text_tokens(self, text: str) -> int:
        return len(text.split())


@task
def slow_loop(samples: int = 1, agent: str = "generate") -> Task:
    tools = [bash(timeout=60)]
    return Task(
        dataset=[
            Sample(input=f"Run the steps, sample {i}.", target="DONE", id=f"s{i}")
            for i in range(1, samples + 1)
        ],
        solver=react(tools=tools) if agent == "react" else [use_tools(tools), generate()],
        scorer=includes(),
        sandbox="local",
    )


def main() -> None:
    global STEPS, SLEEP_S, REACT
    parser = argparse.ArgumentParser()
    parser.add_argument("log_dir")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--sleep", type=float, default=SLEEP_S)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    # Inspect refuses to cancel a sample "as an error" when errors fail the eval.
    parser.add_argument("--tolerate-errors", action="store_true")
    parser.add_argument("--react", action="store_true")
    parser.add_argument("--acp-server", action="store_true")
    args = parser.parse_args()
    STEPS, SLEEP_S, REACT = args.steps, args.sleep, args.react
    eval(
        slow_loop(samples=args.samples, agent="react" if args.react else "generate"),
        model="scripted/model",
        log_dir=args.log_dir,
        epochs=args.epochs,
        display="plain",
        log_format="eval",
        fail_on_error=False if args.tolerate_errors else None,
        acp_server=True if args.acp_server else None,
    )


if __name__ == "__main__":
    main()
