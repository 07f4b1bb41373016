"""``moralbank bench …``: speed measured beside its references in the same run.

Each benchmark module exposes its command, which ``ops.bench.cli`` adds to ``bench_app`` by
name, and reports through ``ops.bench.report.emit`` (a table on the terminal, the same rows as
JSON).
"""
