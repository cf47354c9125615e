"""mletui: a control room in the terminal for machine-learning-engineering agents."""

__version__ = "0.1.0"
