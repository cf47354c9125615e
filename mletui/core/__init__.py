"""The ground floor: typed event records, enums, sanitizing agent text, and opening agent
files safely. Imports nothing of mletui but the protocol.
"""
