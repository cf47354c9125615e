"""Runs that other harnesses started (MLE-bench), read and steered through watch's sessions."""
