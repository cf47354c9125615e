"""Counts and sizes in words, for every layer that prints them: "1 step", "3 steps", "840 KB"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``counted(1, "step")`` -> ``"1 step"``; ``counted(3, "step")`` -> ``"3 steps"``."""
    return f"{count} {noun_for(count, noun, plural)}"


def noun_for(count: int, noun: str, plural: str | None = None) -> str:
    """The noun alone, for ``count`` of them: ``noun_for(2, "column")`` -> ``"columns"``; a verb
    too, given both forms: ``noun_for(1, "differs", "differ")``."""
    return noun if count == 1 else plural or noun + "s"


def file_size(size: int) -> str:
    """A file's size in decimal units: ``"512 bytes"``, ``"840 KB"`` below 1 MB, ``"12.3 MB"``."""
    if size < 1000:
        return counted(size, "byte")
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB"
    if size < 1_000_000_000:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.2f} GB"
