"""Runs that other harnesses started (MLE-bench), read and steered through watch's sessions.

Importing this package registers each integration's source with the watch registry."""

from mletui.integrations.mlebench import source  # noqa: F401  (registers itself on import)
