"""The Textual app: its screens, widgets, dialogs and themes.

Textual redraws a screen at most ``TEXTUAL_FPS`` times a second (60 by default), and a change
waits for the next redraw slot. mletui asks for 120 unless the user chose a value: during a flood
of log lines a key's effect reaches the screen one slot sooner (benchmarks/bench_responsiveness.py,
key press to frame, p99 45.5 ms at 60 against 32 ms at 120 on two cores), and throughput does not
change measurably (bench_throughput.py). Set here, before Textual reads it at its first import.
"""

import os

os.environ.setdefault("TEXTUAL_FPS", "120")
