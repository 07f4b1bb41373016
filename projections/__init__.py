"""The read side: projections that follow the ledger's event log exactly once."""
