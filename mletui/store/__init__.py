"""A run on disk: its folder and run.json, the journal (keyed and anchored), the log spool,
snapshots, the driver lock, the operator's state, packs and audit.
"""
