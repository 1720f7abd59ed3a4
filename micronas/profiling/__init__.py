"""Profiling tools: a device's latency table from single-op models timed on it, and cycles per
instruction from a board's measured ops against QEMU's instruction counts.

Entry points: `python -m micronas.profiling.profile`, `python -m micronas.profiling.cpi`. Above `cost`,
`hardware` and `export`, whose tables, devices and converter they use.
"""
