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

The modules, one reason to change each: ``config`` (settings and budget), ``task`` (the task as
the agent sees it), ``prompts`` (the text for the model, and reading its replies), ``model`` (calls
and their retries), ``execution`` (running a solution), ``tree`` and ``search`` (the search).
"""

from mletui.agents._common import (
    ENV_DATA_DIR,
    ENV_LOGS_DIR,
    ENV_SUBMISSION_DIR,
    ENV_TASK_ID,
    ENV_TASK_METRIC,
    ENV_WORKSPACE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNUSABLE,
    SetupError,
)
from mletui.agents.llm.config import (
    DEFAULT_MAX_STEPS,
    ENV_API_KEY,
    ENV_BACKOFF,
    ENV_BASE_URL,
    ENV_DEBUG_DEPTH,
    ENV_DRAFTS,
    ENV_MAX_COST,
    ENV_MAX_STEPS,
    ENV_MODEL,
    ENV_PRICE_IN,
    ENV_PRICE_OUT,
    ENV_REQUEST_TIMEOUT,
    ENV_RETRIES,
    ENV_STEP_TIMEOUT,
    PRICES,
    LLMConfig,
    credentials_problem,
    price_of,
    read_config,
)
from mletui.agents.llm.prompts import parse_metric, split_reply
from mletui.agents.llm.search import LLMAgent, is_stop, main
from mletui.agents.llm.task import (
    ENV_PREDICTIONS,
    ENV_TASK_DESCRIPTION,
    ENV_TASK_LOWER_IS_BETTER,
    TaskSetup,
    read_setup,
)

__all__ = [
    "DEFAULT_MAX_STEPS",
    "ENV_API_KEY",
    "ENV_BACKOFF",
    "ENV_BASE_URL",
    "ENV_DATA_DIR",
    "ENV_DEBUG_DEPTH",
    "ENV_DRAFTS",
    "ENV_LOGS_DIR",
    "ENV_MAX_COST",
    "ENV_MAX_STEPS",
    "ENV_MODEL",
    "ENV_PREDICTIONS",
    "ENV_PRICE_IN",
    "ENV_PRICE_OUT",
    "ENV_REQUEST_TIMEOUT",
    "ENV_RETRIES",
    "ENV_STEP_TIMEOUT",
    "ENV_SUBMISSION_DIR",
    "ENV_TASK_DESCRIPTION",
    "ENV_TASK_ID",
    "ENV_TASK_LOWER_IS_BETTER",
    "ENV_TASK_METRIC",
    "ENV_WORKSPACE",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNUSABLE",
    "PRICES",
    "LLMAgent",
    "LLMConfig",
    "SetupError",
    "TaskSetup",
    "credentials_problem",
    "is_stop",
    "main",
    "parse_metric",
    "price_of",
    "read_config",
    "read_setup",
    "split_reply",
]
