"""A ledger transaction as a reply."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ledger.domain import LedgerTransaction

from api.datetimes import zoned
from api.transactions.schemas import PostingOut, TransactionOut


def transaction(t: LedgerTransaction, zone: ZoneInfo) -> TransactionOut:
    return TransactionOut(
        id=t.id,
        kind=t.kind,
        postings=[PostingOut(source=p.source, destination=p.destination, amount=p.amount) for p in t.postings],
        minutes=t.minutes,
        memo=t.memo,
        actor=t.actor,
        unit_id=t.unit_id,
        reverses=t.reverses,
        reversed_by=t.reversed_by,
        at=zoned(t.at, zone),
    )
