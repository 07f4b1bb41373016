"""Filling a bench store in bulk, as the commands record it but many aggregates per save."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.journal import Journal, Movement, Recorded


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


def award(journal: Journal, i: int, volunteer: UUID, issuing: UUID, points: int, at: datetime) -> Recorded:
    """The bench's ``i``-th credit, built by the journal as ``Ledger.credit`` records it."""
    postings = [Posting(issuing_account(issuing), volunteer_account(volunteer), points)]
    movement = Movement(f"bench:{i}", "award", postings, minutes=30, fingerprint="bench", actor="bench", unit_id=issuing)
    return journal.transaction(movement, at=at)


def reversal(journal: Journal, original: UUID, postings: Sequence[Posting], at: datetime) -> Recorded:
    """The reversal of a bench credit, built by the journal as ``Ledger.reverse`` records it."""
    back = [p.reversed() for p in postings]
    movement = Movement(f"reversal:{original}", "reversal", back, minutes=30, fingerprint="bench", actor="bench", reverses=original)
    return journal.transaction(movement, at=at)


def save(journal: Journal, recorded: Sequence[Recorded], *also: Any) -> None:
    """Many built transactions in one store transaction, through the journal (not grouped)."""
    journal.commit(*recorded, *also, grouped=False)
