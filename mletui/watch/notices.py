"""Notices a session says once: a source that fails the same way on every poll would otherwise
fill the log pane with one sentence."""

from __future__ import annotations

import time

from mletui.core.events import Event, Notice


class NoticeOnce:
    """Called with a sentence: a Notice the first time, nothing after."""

    def __init__(self) -> None:
        self._said: set[str] = set()

    def __call__(self, text: str) -> list[Event]:
        if text in self._said:
            return []
        self._said.add(text)
        return [Notice(time.time(), text, "information")]
