"""Where an agent runs. One interface; ``local`` today, ``docker`` next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mletui.store import RunFolder


class RuntimeFailure(Exception):
    """A runtime could not do what was asked; the message is a sentence for the operator."""


@dataclass(frozen=True)
class Probe:
    """What the runtime sees of a run right now."""

    supervisor_alive: bool
    frozen: bool


class Runtime(Protocol):
    name: str

    def start(self, folder: RunFolder) -> None: ...

    def freeze(self, folder: RunFolder) -> None: ...

    def thaw(self, folder: RunFolder) -> None: ...

    def stop(self, folder: RunFolder, grace_s: float, reason: str) -> None: ...

    def probe(self, folder: RunFolder) -> Probe: ...


RUNTIMES = ("local",)


def get_runtime(name: str) -> Runtime:
    if name == "local":
        from mletui.runtimes.local import LocalRuntime

        return LocalRuntime()
    raise RuntimeFailure(f"Unknown runtime '{name}'. Runtimes: {', '.join(RUNTIMES)}.")
