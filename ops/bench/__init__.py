"""``moralbank bench …``: speed measured beside its references in the same run.

Each benchmark module registers a command on ``bench_app`` and reports through
``ops.bench.report.emit`` (a table on the terminal, the same rows as JSON).
"""
