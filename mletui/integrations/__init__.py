"""Runs that other harnesses started (MLE-bench, Inspect AI), read and steered through watch's
sessions.

Importing this package registers each integration's source with the watch registry."""

from mletui.integrations.inspect import source as inspect_source  # noqa: F401  (registers itself)
from mletui.integrations.mlebench import source  # noqa: F401  (registers itself on import)
