"""Attach to runs started by MLE-bench's own harness (``run_agent.py``).

``runs``: run groups and run ids under a runs folder, and each run's state from its ``run.log``.
``runlog``: a ``tail -F`` follower that unwraps MLE-bench's log format into the agent's lines.
``aide``: AIDE's ``journal.json`` as validation scores.
``aide_steps``: the same file as the agent's steps (its tree of nodes).
``session``: a watch session over one MLE-bench run, for the same watch screen; its container is
reached through :mod:`mletui.runtimes.docker.attached` (the Docker SDK stays under runtimes).
``listing``: ``mletui ls`` for these runs.
``source``: these runs as a source of the watch registry (registered when it is imported).
"""
