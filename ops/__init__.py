"""Operations: the ``moralbank`` CLI, settings, wiring, verify, export/import, benchmarks."""
