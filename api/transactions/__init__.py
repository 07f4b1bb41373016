"""Ledger transactions: manual credits, reading one, reversing one."""
