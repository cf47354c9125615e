"""The reading side of a run: sessions (live, replay) that turn the record into events for a
screen, operator control (journal first, then apply), live state, grades and exports.
"""
