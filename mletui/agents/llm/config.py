"""The LLM agent's settings: the server, the model, the budget and the search's bounds, read from
the environment (the CLI's flags reach the agent as these variables)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mletui.agents._common import SetupError

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

CREDENTIALS_MISSING = (
    f"The LLM agent needs a model server: set {ENV_API_KEY} (for OpenAI) or {ENV_BASE_URL} "
    "(for any OpenAI-compatible server), or pass --base-url; to run without a model, use "
    "--agent baseline."
)

DEFAULT_MAX_STEPS = 20

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
