"""Where an agent runs: ``local`` (a process group on this machine), ``docker`` (a container) or
``slurm`` (a batch job on a cluster).

Two sides, one interface each:

- :class:`Runtime` is what any mletui process uses on a run: check the options before the run
  folder exists, start the run's supervisor, freeze, thaw, stop, probe.
- :class:`AgentSide` is what the run's supervisor (``mletui.run.supervisor``, one detached process
  per run, for every runtime) drives: launch the agent, pump its output into the log spool, tell
  when it is frozen or has ended, stop it, sample its resources.

The Docker SDK is imported only under runtimes/docker/ (an import contract in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mletui.core.events import ResourceSample, Stream
from mletui.store.runs import RunFolder, RunRecord


class ResourceSampler(Protocol):
    """What the recorder samples: a process group here, a container's Engine stats there."""

    def sample(self) -> ResourceSample: ...


class RuntimeFailure(Exception):
    """A runtime could not do what was asked; the message is a sentence for the operator."""


@dataclass(frozen=True)
class Probe:
    """What the runtime sees of a run right now. Cheap: never a call to a remote service, but
    for a queued slurm run one ``squeue`` that every run shares for a moment."""

    supervisor_alive: bool
    frozen: bool
    waiting: str | None = None  # slurm: why a queued run has not started ("Resources, job 12")


LineSink = Callable[[Stream, Sequence[bytes], float], None]
"""Where an agent side hands its output: (stream, lines as raw bytes without ``\\n``, epoch ts
they share)."""

LiveSink = Callable[[Stream, bytes, float], None]
"""Where an agent side hands the line it is still writing (a progress bar rewritten with ``\r``):
(stream, its raw bytes so far, epoch ts); ``b""`` once it has ended or gone to ``emit``."""


@dataclass(frozen=True)
class AgentExit:
    """How an agent ended, as its runtime saw it."""

    code: int | None  # None: unknown (the container was removed before it could be read)
    oom_killed: bool = False
    lost: str | None = None  # set when the agent vanished outside mletui's control: why


class AgentSide(Protocol):
    """The agent as the supervisor drives it. Methods are called from the supervisor's thread."""

    def launch(self, emit: LineSink, live: LiveSink | None = None) -> str:
        """Start the agent and its output pumps; return what was started ("pid 12", "container
        1a2b3c4d5e6f"). ``live``, where the side can, is told the unfinished line. Raises
        :class:`RuntimeFailure` with a sentence when it cannot start."""
        ...

    def ended(self) -> bool:
        """True once the agent has ended (non-blocking)."""
        ...

    def frozen(self) -> bool:
        """True while the runtime holds the agent stopped (SIGSTOP, ``docker pause``)."""
        ...

    def terminate(self, grace_s: float) -> bool:
        """Graceful stop, forced after ``grace_s``; True when it had to be forced."""
        ...

    def sampler(self) -> ResourceSampler:
        """What the recorder samples for the resources pane."""
        ...

    def update_record(self, record: RunRecord) -> None:
        """Put the agent side's live view (container state, engine link) into ``run.json``;
        called under the run.json lock at every supervisor tick."""
        ...

    def finish(self) -> AgentExit:
        """After :meth:`ended`: wait for the last output, close every stream, say how it ended."""
        ...


class Runtime(Protocol):
    name: str

    def preflight(self, options: dict[str, Any]) -> dict[str, Any]:
        """Check and complete the runtime options before a run folder exists; the result is
        kept in ``run.json`` (``runtime_options``). Raises :class:`RuntimeFailure`."""
        ...

    def start(self, folder: RunFolder) -> None: ...

    def freeze(self, folder: RunFolder) -> None: ...

    def thaw(self, folder: RunFolder) -> None: ...

    def stop(self, folder: RunFolder, grace_s: float, reason: str) -> None: ...

    def probe(self, folder: RunFolder) -> Probe: ...

    def remnants(self, folder: RunFolder) -> bool:
        """True while a process (or the container) of the run lives, whatever run.json says.
        May ask an Engine: for kill and freeze, not for every refresh."""
        ...

    def agent_side(self, folder: RunFolder) -> AgentSide:
        """The supervisor's handle on the agent of this run."""
        ...


RUNTIMES = ("local", "docker", "slurm")


def get_runtime(name: str) -> Runtime:
    if name == "local":
        from mletui.runtimes.local import LocalRuntime

        return LocalRuntime()
    if name == "docker":
        from mletui.runtimes.docker.runtime import DockerRuntime

        return DockerRuntime()
    if name == "slurm":
        from mletui.runtimes.slurm.runtime import SlurmRuntime

        return SlurmRuntime()
    raise RuntimeFailure(f"Unknown runtime '{name}'. Runtimes: {', '.join(RUNTIMES)}.")
