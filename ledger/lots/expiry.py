"""Expiry runs: every lot past its last day with points left moves them, in one transaction keyed
by the lot (``expiry:<lot id>``), from the volunteer to the issuing unit's expired account.

A run reads due lots in small chunks (``CHUNK``) and hands each chunk to the journal as one store
transaction of its own (not grouped with other work): the lock it holds is short, so redemptions
wait for it only briefly. The journal decides each expiry on the lots as read (all that is left of
that lot) and the store checks the volunteer's lot version, so a redemption that drew on the lot
meanwhile makes the journal decide again (less, or nothing, to expire); a second run finds the lot
empty, or its key recorded (the chunk is read again). A run repeated or racing redemptions never
takes a point twice, nor one that was spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ledger import rules
from ledger.accounts import Posting, expired_account
from ledger.errors import ConcurrentChange
from ledger.journal import Movement, attempts
from ledger.lots import rules as lot_rules
from ledger.lots.legacy import open_legacy
from ledger.lots.model import Lot

EXPIRY = "expiry"
CHUNK = 50  # lots per store transaction: each holds the events table lock briefly (~50 ms on PostgreSQL)


@dataclass
class ExpiryReport:
    day: date  # lots whose last day is before this day were due
    lots: int = 0
    points: int = 0
    chunks: int = 0
    legacy_lots: int = 0  # lots opened for points of before lots (ledger.lots.legacy), first
    legacy_points: int = 0


def movement_of(lot: Lot) -> Movement:
    """The expiry of one lot (the amount is decided again by the journal on the lots it reads)."""
    return Movement(
        f"{EXPIRY}:{lot.lot}",
        EXPIRY,
        [Posting(lot.account, expired_account(lot.unit_id), lot.remaining)],
        memo="积分到期",
        fingerprint=rules.fingerprint([EXPIRY, lot.lot]),
        actor="expiry",
        unit_id=lot.unit_id,
        lot=lot.lot,
    )


def expire_due(
    ledger: Any, *, now: datetime | None = None, chunk: int = CHUNK, max_lots: int | None = None, stop: Any = None
) -> ExpiryReport:
    """Expire every lot due at ``now`` (the clock's by default), up to ``max_lots``, until
    ``stop`` (an Event) is set. Raises ConcurrencyExhausted."""
    day = lot_rules.today(now or ledger.clock.now(), ledger.zone)
    report = ExpiryReport(day)
    if not getattr(ledger, "legacy_lots_opened", False):  # once per process: credits of before lots get their lot
        opened = open_legacy(ledger)
        report.legacy_lots, report.legacy_points = opened.volunteers, opened.points
        ledger.legacy_lots_opened = True
    after: tuple[date | None, str] = (None, "")
    while (max_lots is None or report.lots < max_lots) and not (stop is not None and stop.is_set()):
        size = chunk if max_lots is None else min(chunk, max_lots - report.lots)
        for _ in attempts("expiry runs"):
            due = ledger.recorder.select_due_lots(day, after, size)
            if not due:
                return report
            recorded = [r for r in ledger.journal.transactions([movement_of(lot) for lot in due]) if not r.dropped]
            try:
                if recorded:
                    ledger.journal.commit(*recorded, grouped=False)
            except ConcurrentChange:
                continue  # another run recorded some of these meanwhile: read the chunk again
            break
        after = (due[-1].expires_on, due[-1].lot)
        done = [r for r in recorded if not r.dropped]
        report.chunks += 1
        report.lots += len(done)
        report.points += sum(int(r.transaction.postings_data[0]["amount"]) for r in done)
    return report
