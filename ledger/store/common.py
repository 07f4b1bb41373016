"""What both recorders share: the write-time tables' names and the errors a save can raise."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.postings import PostingRow

BALANCES_TABLE = "ledger_balances"
LINE_KEYS_TABLE = "ledger_line_keys"
LOTS_TABLE = "ledger_lots"
DRAWINGS_TABLE = "ledger_drawings"


class BalanceGuardViolation(Exception):
    """A posting would take a guarded account below zero; the whole save was rolled back."""

    def __init__(self, accounts: Sequence[str]) -> None:
        super().__init__(f"balance would go below zero: {', '.join(accounts)}")
        self.accounts = list(accounts)


class LineKeyConflict(Exception):
    """A batch line key was paid already (by a concurrent batch); the whole save was rolled back."""


class LotsChanged(Exception):
    """A debit was decided on a volunteer's lots that changed since (their version moved on, or a
    drawing would take a lot below zero); the whole save was rolled back: decide again."""

    def __init__(self, accounts: Sequence[str] = ()) -> None:
        super().__init__(f"lots changed meanwhile: {', '.join(accounts)}")
        self.accounts = list(accounts)


def transaction_positions(stored_events: Sequence[StoredEvent], ids: Sequence[int], wanted: set[UUID]) -> dict[UUID, int]:
    """Where each of these transactions landed in the log (the notification id of its version 1)."""
    return {e.originator_id: i for e, i in zip(stored_events, ids, strict=True) if e.originator_version == 1 and e.originator_id in wanted}


def positions_of(stored_events: Sequence[StoredEvent], ids: Sequence[int], rows: Sequence[PostingRow]) -> dict[UUID, int]:
    """Where each posting row's transaction landed in the log: the notification id of its first
    event (the Recorded event is a transaction's version 1). Raises KeyError for a row whose
    transaction is not among the events (a bug of the caller: nothing is recorded)."""
    wanted = {r.transaction_id for r in rows}
    found = {e.originator_id: i for e, i in zip(stored_events, ids, strict=True) if e.originator_version == 1 and e.originator_id in wanted}
    missing = wanted - found.keys()
    if missing:
        raise KeyError(f"posting rows of transactions not in this save: {sorted(map(str, missing))[:3]}")
    return found
