"""Filling a bench store in bulk, as the commands record it but many aggregates per save."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.domain import LedgerTransaction


def register_volunteers(ledger: Any, homes: Sequence[UUID], at: datetime, *, per_save: int = 2000) -> list[UUID]:
    """One volunteer per entry of ``homes`` (named 志愿者000000, 志愿者000001, …), ``per_save``
    registrations to a transaction; returns their ids in order."""
    from ledger.domain import Volunteer

    ids: list[UUID] = []
    for start in range(0, len(homes), per_save):
        chunk = [
            Volunteer(name=f"志愿者{i:06d}", unit_id=homes[i], phone_last4=None, member_no=None, at=at)
            for i in range(start, min(start + per_save, len(homes)))
        ]
        ledger.save(*chunk)
        ids += [v.id for v in chunk]
    return ids


def award(i: int, volunteer: UUID, issuing: UUID, points: int, at: datetime) -> tuple[Any, list[Posting]]:
    """The bench's ``i``-th credit, as ``Ledger.credit`` records it: (transaction, postings)."""
    postings = [Posting(issuing_account(issuing), volunteer_account(volunteer), points)]
    txn = LedgerTransaction(
        key=f"bench:{i}", kind="award", postings=[p.as_dict() for p in postings], minutes=30,
        memo="", fingerprint="bench", actor="bench", unit_id=issuing, reverses=None, at=at,
    )
    return txn, postings


def reversal(original: UUID, postings: Sequence[Posting], at: datetime) -> tuple[Any, list[Posting]]:
    """The reversal of a bench credit, as ``Ledger.reverse`` records it: (transaction, postings)."""
    back = [p.reversed() for p in postings]
    txn = LedgerTransaction(
        key=f"reversal:{original}", kind="reversal", postings=[p.as_dict() for p in back], minutes=30,
        memo="", fingerprint="bench", actor="bench", unit_id=None, reverses=original, at=at,
    )
    return txn, back
