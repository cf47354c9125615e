"""MLE-bench's runs as a source of the watch registry: found under a runs folder, opened as an
:class:`~mletui.integrations.mlebench.session.MlebenchSession`."""

from __future__ import annotations

from pathlib import Path

from mletui.integrations.mlebench.runs import (
    MlebenchLookupError,
    NoMlebenchRun,
    list_mlebench_runs,
    resolve_mlebench_run,
    runs_folder,
)
from mletui.watch.session import Session
from mletui.watch.sources import (
    Listings,
    NoSuchRun,
    OpenRequest,
    RunListing,
    SourceError,
    register,
)

NAME = "mle-bench"


class MlebenchSource:
    """The runs under ``root`` (default: ``$MLEBENCH_RUNS``, else ``./runs`` when it holds a run
    group; none when neither does)."""

    name = NAME

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else runs_folder()

    def find(self, run_id: str) -> str:
        if self.root is None:  # none given nor found: nothing to say about MLE-bench
            raise NoSuchRun("No MLE-bench runs folder (--mlebench-runs, or $MLEBENCH_RUNS).")
        try:
            return resolve_mlebench_run(self.root, run_id).id
        except NoMlebenchRun as exc:
            raise NoSuchRun(str(exc), exc.closest) from exc
        except MlebenchLookupError as exc:
            raise SourceError(str(exc)) from exc

    def listings(self) -> Listings:
        if self.root is None:
            return Listings()
        return Listings(
            [
                RunListing(NAME, r.id, r.competition, r.agent, "mle-bench", r.state, r.elapsed_s)
                for r in list_mlebench_runs(self.root)
            ]
        )

    def open(self, run_id: str, request: OpenRequest) -> Session:
        from mletui.integrations.mlebench.grading import HostGrader, data_folder
        from mletui.integrations.mlebench.session import MlebenchSession

        if request.replay is not None:
            raise SourceError(f"{run_id} is an MLE-bench run: only mletui's own runs replay.")
        if self.root is None:
            raise SourceError("No MLE-bench runs folder (--mlebench-runs, or $MLEBENCH_RUNS).")
        try:
            run = resolve_mlebench_run(self.root, run_id)
        except MlebenchLookupError as exc:
            raise SourceError(str(exc)) from exc
        return MlebenchSession(run, grader=HostGrader(data_folder()), operator=request.operator)


register(MlebenchSource)
