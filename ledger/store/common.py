"""What both recorders share: the write-time tables' names and the errors a save can raise."""

from __future__ import annotations

from collections.abc import Sequence

BALANCES_TABLE = "ledger_balances"
LINE_KEYS_TABLE = "ledger_line_keys"


class BalanceGuardViolation(Exception):
    """A posting would take a guarded account below zero; the whole save was rolled back."""

    def __init__(self, accounts: Sequence[str]) -> None:
        super().__init__(f"balance would go below zero: {', '.join(accounts)}")
        self.accounts = list(accounts)


class LineKeyConflict(Exception):
    """A batch line key was paid already (by a concurrent batch); the whole save was rolled back."""
