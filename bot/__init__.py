"""Priemnaya: residents write to their mayor or governor, officials answer from a staff chat."""
