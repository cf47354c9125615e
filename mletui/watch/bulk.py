"""One operator action on several runs at once (the overview's selection): each run through the
same control as from its watch screen or the CLI, journaled there before it is applied; the runs
that cannot take it are named with the reason each gave."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mletui.store.runs import RunFolder, runs_root
from mletui.watch.control import ActionError, RunControl
from mletui.watch.session import ACTION_NEEDS, Attaching, refusal
from mletui.watch.sources import OWN, OpenRequest, Registry, SourceError

NEEDS = {action: needs for action, needs in ACTION_NEEDS.items() if action != "kill_container"}


@dataclass(frozen=True)
class Target:
    """A run of the selection: its source's name and its id there."""

    source: str
    run_id: str


@dataclass
class BulkOutcome:
    action: str
    done: list[str] = field(default_factory=list)  # the ids that took it
    refused: list[tuple[str, str]] = field(default_factory=list)  # (id, why not)

    def refusal(self) -> str | None:
        """One sentence naming every run that could not take the action, with its reason."""
        if not self.refused:
            return None
        reasons = "; ".join(f"{run_id}: {why.rstrip('.')}" for run_id, why in self.refused)
        return f"{len(self.refused)} of {len(self.refused) + len(self.done)} not done ({reasons})."


def act_on(
    registry: Registry,
    targets: Sequence[Target],
    action: str,
    *params: Any,
    operator: str | None = None,
) -> BulkOutcome:
    """``action`` (one of :data:`NEEDS`) on each target in turn; one refusal stops no other."""
    if action not in NEEDS:
        raise ValueError(f"not an action on runs: {action!r}")
    outcome = BulkOutcome(action)
    for target in targets:
        try:
            if target.source == OWN:
                control = RunControl(RunFolder(runs_root() / target.run_id), operator)
                getattr(control, action)(*params)
            else:
                _act_elsewhere(registry, target, action, params, operator)
        except (ActionError, SourceError) as exc:
            outcome.refused.append((target.run_id, _without_id(str(exc), target.run_id)))
        except OSError as exc:
            outcome.refused.append((target.run_id, exc.strerror or type(exc).__name__))
        else:
            outcome.done.append(target.run_id)
    return outcome


def _act_elsewhere(
    registry: Registry, target: Target, action: str, params: tuple[Any, ...], operator: str | None
) -> None:
    """Another source's run, through its session's control, as ``mletui pause ID`` does."""
    source = registry.get(target.source)
    if source is None:
        raise SourceError(f"its source ({target.source}) is not read here")
    opened = source.open(target.run_id, OpenRequest(operator))
    try:
        if isinstance(opened, Attaching):
            opened.attach()
        reason = refusal(
            opened,
            action,
            cannot=f"its source ({target.source}) cannot {action} it",
            scoped="its pause is aimed at a scope: pause it from its watch screen",
        )
        if reason is not None:
            raise ActionError(reason)
        getattr(opened.control, action)(*params)
    finally:
        opened.close()


def _without_id(text: str, run_id: str) -> str:
    """ "Cannot pause run X: the run has ended." -> "the run has ended": the id is said once."""
    prefix, sep, rest = text.partition(f"{run_id}: ")
    return rest if sep and prefix.startswith("Cannot ") else text
