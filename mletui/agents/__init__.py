"""Agents shipped with mletui: the scripted baseline (``python -m mletui.agents.baseline``)."""
