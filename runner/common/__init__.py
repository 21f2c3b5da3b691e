"""Helpers every stage uses, at the bottom of the stack: atomic file writes and provenance.

Nothing here imports any other part of cleanrun.
"""
