"""The write side of moralbank: units, volunteers, accounts, postings and tokens.

Imports nothing of ours (DESIGN.md); rules are pure functions in ``rules``.
"""
