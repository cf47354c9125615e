"""The LLM agent's calls to the model server: one streamed Chat Completions call a step, retried
(with tenacity) when the server is busy or out of reach, each retry shown to the operator. The
reply's text is handed on as it arrives; its tokens come from the stream's final usage chunk.
A server that refuses ``stream_options`` (a 400 naming it) is asked again without it, and from
then on: its usage is read from the stream if it sends one anyway, else marked unknown."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import tenacity

from mletui import protocol
from mletui.agents._common import say
from mletui.agents.llm.config import ENV_API_KEY, LLMConfig

MAX_WAIT_S = 120.0  # the longest wait before a retry, the server's own back-off included

Messages = list[dict[str, str]]
TextSink = Callable[[str], None]


def _ignore(text: str) -> None:
    pass


class FatalModelError(Exception):
    """The server refuses to work with us (a bad key, an unknown model); the run cannot go on."""


class ModelCallFailed(Exception):
    """One step's model call failed for good (retries used up, a refused prompt, a bad reply)."""


class TransientModelError(Exception):
    """A failure worth another try: a rate limit, a time-out, a server error, no connection."""

    def __init__(self, problem: str, delay: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.delay = delay  # the server's own back-off, if it gave one


@dataclass(frozen=True)
class ModelReply:
    text: str
    tokens_in: int
    tokens_out: int
    usage_known: bool = True  # False: the server counted nothing; the tokens are an estimate


class ModelClient:
    """Asks the model; ``ask`` retries a transient failure after a back-off, ``config.retries``
    times at most."""

    def __init__(self, config: LLMConfig, client: Any = None) -> None:
        self.config = config
        # Anything with openai.OpenAI's chat.completions.create will do.
        self.client: Any = client or openai.OpenAI(
            # A local server needs no key, and the client insists on one.
            api_key=config.api_key or "no-key",
            base_url=config.base_url,
            timeout=config.request_timeout_s,
            max_retries=0,  # retried by ask, so that each retry is shown and a pause heard
        )
        self._backoff = tenacity.wait_exponential(multiplier=config.backoff_s, max=MAX_WAIT_S)
        self.stream_options = True  # False once the server has refused them

    def ask(
        self,
        build: Callable[[], Messages],
        step: int,
        between: Callable[[], None],
        on_text: TextSink = _ignore,
    ) -> ModelReply:
        """One model call for ``step``, retried with back-off; its reply.

        ``build`` makes the messages afresh for each attempt and ``between`` runs before each
        retry (the agent's checkpoint), so that a hint taken there is in the prompt that goes out.
        ``on_text`` gets the reply's text piece by piece as it streams in.
        """

        def sleep(seconds: float) -> None:
            time.sleep(seconds)
            between()  # a retry is a model call too
            on_text("\n[the call is retried: the reply starts again]\n")

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientModelError),
            stop=tenacity.stop_after_attempt(self.config.retries + 1),
            wait=self._wait,
            before_sleep=lambda state: self._announce(step, state),
            sleep=sleep,
            reraise=True,
        )
        try:
            return retrying(self._call, build, on_text)
        except TransientModelError as exc:
            raise ModelCallFailed(
                f"{exc.problem}; gave up after {self.config.retries} retries"
            ) from exc

    def _call(self, build: Callable[[], Messages], on_text: TextSink) -> ModelReply:
        config = self.config
        messages = build()
        try:
            text, usage = self._stream(messages, on_text)
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in (401, 403, 404):
                raise FatalModelError(refusal(status, config)) from exc
            if not (status in (408, 409, 429) or status >= 500):
                raise ModelCallFailed(f"the server refused the prompt ({status})") from exc
            problem = "rate limited (429)" if status == 429 else f"server error ({status})"
            raise TransientModelError(problem, retry_after(exc)) from exc
        except (openai.APITimeoutError, httpx.TimeoutException) as exc:
            raise TransientModelError(f"no reply within {config.request_timeout_s:g} s") from exc
        except (openai.APIConnectionError, httpx.TransportError) as exc:
            raise TransientModelError(f"cannot reach the server ({exc.__cause__ or exc})") from exc
        except (openai.APIError, ValueError, TypeError, LookupError, AttributeError) as e:
            raise ModelCallFailed(f"malformed reply from the server ({e})") from e
        tokens_in, tokens_out = reply_tokens(usage, messages, text)
        return ModelReply(text, tokens_in, tokens_out, usage_known=counted(usage))

    def _stream(self, messages: Messages, on_text: TextSink) -> tuple[str, Any]:
        if self.stream_options:
            try:
                stream = self.client.chat.completions.create(
                    model=self.config.model,
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},  # the last chunk counts the tokens
                )
                return read_stream(stream, on_text)
            except openai.BadRequestError as exc:
                if not names_stream_options(exc):
                    raise
                self.stream_options = False
                message = "the model server refuses stream_options: asked again without them"
                say(message)
                protocol.report_notice(message, severity="information")
        stream = self.client.chat.completions.create(
            model=self.config.model, messages=messages, stream=True
        )
        return read_stream(stream, on_text)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        delay = failure.delay if isinstance(failure, TransientModelError) else None
        return min(delay, MAX_WAIT_S) if delay is not None else self._backoff(state)

    def _announce(self, step: int, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        problem = failure.problem if isinstance(failure, TransientModelError) else str(failure)
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        message = (
            f"model call for step {step}: {problem}; retry {state.attempt_number} of "
            f"{self.config.retries} in {wait:.1f} s"
        )
        say(message)
        protocol.report_notice(message)


def read_stream(stream: Any, on_text: TextSink) -> tuple[str, Any]:
    """The whole text of a streamed reply (each piece handed to ``on_text`` as it comes) and the
    usage of its final chunk (None if the server sent none); a reply without text raises
    ``LookupError`` (a malformed reply)."""
    parts: list[str] = []
    usage = None
    for chunk in stream:
        usage = getattr(chunk, "usage", None) or usage
        for choice in getattr(chunk, "choices", None) or ():
            delta = getattr(choice, "delta", None)
            piece = getattr(delta, "content", None)
            if isinstance(piece, str) and piece:
                parts.append(piece)
                on_text(piece)
    if not parts:
        raise LookupError("no text in the reply")
    return "".join(parts), usage


def names_stream_options(exc: openai.BadRequestError) -> bool:
    """Whether a 400 is about ``stream_options`` (servers that do not take it say so by name)."""
    return "stream_options" in f"{exc.message} {exc.body}"


def counted(usage: Any) -> bool:
    """Whether the server counted the reply's tokens itself."""
    return isinstance(getattr(usage, "prompt_tokens", None), int) and isinstance(
        getattr(usage, "completion_tokens", None), int
    )


def reply_tokens(usage: Any, messages: Messages, text: str) -> tuple[int, int]:
    """The tokens in and out that the server counted, or an estimate where it did not."""
    if counted(usage):
        return usage.prompt_tokens, usage.completion_tokens
    # No usage in the reply (some local servers): about four characters a token.
    return sum(len(m["content"]) for m in messages) // 4, len(text) // 4


def refusal(status: int, config: LLMConfig) -> str:
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
