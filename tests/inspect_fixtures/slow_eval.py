"""A real Inspect eval, offline: a scripted model that counts its own tokens, an agent looping
over model and bash calls in the local sandbox, slowly enough to be watched.

Run as ``python slow_eval.py LOG_DIR [--steps N] [--sleep S] [--samples K] [--epochs E]``.
Inspect's mock model counts tokens with a tiktoken encoding it downloads on first use; there is
no network here, so the provider below counts them itself (a word a token).
"""

from __future__ import annotations

import argparse
from typing import Any

from inspect_ai import Task, eval, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, ChatMessageTool, GenerateConfig, ModelOutput, modelapi
from inspect_ai.model._providers.mockllm import MockLLM
from inspect_ai.scorer import includes
from inspect_ai.solver import generate, use_tools
from inspect_ai.tool import ToolChoice, ToolInfo, bash

STEPS = 20
SLEEP_S = 0.5
# What the model "says" between calls: markup and a control sequence, which mletui must show
# as their characters and never act upon.
SAYS = "step {n}: [bold red]running[/] the next command \x1b[31mnow\x1b[0m"


def scripted(
    messages: list[ChatMessage], tools: list[ToolInfo], choice: ToolChoice, config: GenerateConfig
) -> ModelOutput:
    done = sum(isinstance(m, ChatMessageTool) for m in messages)
    if done >= STEPS:
        return ModelOutput.from_content("scripted", "All steps done. ANSWER: DONE")
    return ModelOutput.for_tool_call(
        "scripted",
        "bash",
        {"command": f"sleep {SLEEP_S}; echo step {done} output; echo to-stderr >&2"},
        content=SAYS.format(n=done),
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
def slow_loop(samples: int = 1) -> Task:
    return Task(
        dataset=[
            Sample(input=f"Run the steps, sample {i}.", target="DONE", id=f"s{i}")
            for i in range(1, samples + 1)
        ],
        solver=[use_tools(bash(timeout=60)), generate()],
        scorer=includes(),
        sandbox="local",
    )


def main() -> None:
    global STEPS, SLEEP_S
    parser = argparse.ArgumentParser()
    parser.add_argument("log_dir")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--sleep", type=float, default=SLEEP_S)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    # Inspect refuses to cancel a sample "as an error" when errors fail the eval.
    parser.add_argument("--tolerate-errors", action="store_true")
    args = parser.parse_args()
    STEPS, SLEEP_S = args.steps, args.sleep
    eval(
        slow_loop(samples=args.samples),
        model="scripted/model",
        log_dir=args.log_dir,
        epochs=args.epochs,
        display="plain",
        log_format="eval",
        fail_on_error=False if args.tolerate_errors else None,
    )


if __name__ == "__main__":
    main()
