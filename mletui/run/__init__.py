"""The writing side of one of our runs: the launcher, the supervisor that drives the runtime,
the recorder, live scores and stall flags.
"""
