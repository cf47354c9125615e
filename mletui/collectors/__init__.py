"""Collectors: read what a run produces and hand the session typed events (``mletui.events``).

They run off the UI thread, batch what they read, and hold no UI code: nothing here imports
Textual. Each module collects one thing (``logs``: the log spool, its follower and its index).
"""
