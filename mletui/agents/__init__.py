"""Agents shipped with mletui: the scripted baseline (``python -m mletui.agents.baseline``) and
the LLM agent (``python -m mletui.agents.llm``)."""
