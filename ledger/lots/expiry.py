"""Expiry runs: every lot past its last day with points left moves them, in one transaction keyed
by the lot (``expiry:<lot id>``), from the volunteer to the issuing unit's expired account.

A run reads due lots in small chunks (``CHUNK``) and hands each chunk to the journal as one store
transaction of its own (not grouped with other work): the lock it holds is short, so redemptions
wait for it only briefly. The journal decides each expiry on the lots as read (all that is left of
that lot) and the store checks the volunteer's lot version, so a redemption that drew on the lot
meanwhile makes the journal decide again (less, or nothing, to expire); a second run finds the lot
empty, or its key recorded (the chunk is read again). A run repeated or racing redemptions never
takes a point twice, nor one that was spent.

On PostgreSQL a chunk (``SQL_CHUNK`` lots) is expired by one database call instead
(``ledger.lots.pg_expiry``): the same events, rows and checks, decided under the events table's
lock on the lots as they are then; should the database refuse it, the journal's path takes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ledger import rules
from ledger.accounts import Posting, expired_account
from ledger.domain import LedgerTransaction
from ledger.errors import ConcurrentChange
from ledger.journal import Movement, attempts
from ledger.lots import pg_expiry
from ledger.lots import rules as lot_rules
from ledger.lots.legacy import open_legacy
from ledger.lots.model import Lot

log = logging.getLogger(__name__)

EXPIRY = "expiry"
MEMO = "积分到期"
SQL_CHUNK = 100  # lots per database call on PostgreSQL (set-based): the lock is held ~10-30 ms (by load)
READ_AHEAD = 10  # set-based: calls' worth of due lots read by one query
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
        memo=MEMO,
        fingerprint=rules.fingerprint([EXPIRY, lot.lot]),
        actor="expiry",
        unit_id=lot.unit_id,
        lot=lot.lot,
    )


def expire_due(
    ledger: Any,
    *,
    now: datetime | None = None,
    chunk: int | None = None,
    max_lots: int | None = None,
    stop: Any = None,
    set_based: bool | None = None,
) -> ExpiryReport:
    """Expire every lot due at ``now`` (the clock's by default), up to ``max_lots``, until
    ``stop`` (an Event) is set. ``set_based``: each chunk by one database call
    (``ledger.lots.pg_expiry``; the default on PostgreSQL) or by the journal (``False``; SQLite
    always). ``chunk``: lots per store transaction (``SQL_CHUNK`` set-based, else ``CHUNK``).
    Raises ConcurrencyExhausted."""
    day = lot_rules.today(now or ledger.clock.now(), ledger.zone)
    report = ExpiryReport(day)
    if not getattr(ledger, "legacy_lots_opened", False):  # once per process: credits of before lots get their lot
        opened = open_legacy(ledger)
        report.legacy_lots, report.legacy_points = opened.volunteers, opened.points
        ledger.legacy_lots_opened = True
    in_sql = pg_expiry.is_postgres(ledger.recorder) if set_based is None else set_based and pg_expiry.is_postgres(ledger.recorder)
    chunk = chunk or (SQL_CHUNK if in_sql else CHUNK)
    after: tuple[date | None, str] = (None, "")
    while (max_lots is None or report.lots < max_lots) and not (stop is not None and stop.is_set()):
        size = chunk if max_lots is None else min(chunk, max_lots - report.lots)
        # set-based: the due lots of several calls read at once (a lot drawn empty meanwhile is
        # left alone by its call, which reads the lots again under the lock)
        read = ledger.recorder.select_due_lots(day, after, size * READ_AHEAD if in_sql else size)
        if not read:
            break
        after = (read[-1].expires_on, read[-1].lot)
        for i in range(0, len(read), size):
            due = read[i : i + size]
            done = _in_sql(ledger, due, day) if in_sql else None
            if done is None:
                done = _by_journal(ledger, due)
            report.chunks += 1
            report.lots += len(done)
            report.points += sum(done)
            if (stop is not None and stop.is_set()) or (max_lots is not None and report.lots >= max_lots):
                return report
    return report


def _in_sql(ledger: Any, due: list[Lot], day: date) -> list[int] | None:
    """The chunk by one database call: the points of each lot expired; None when the database
    refused it (nothing was recorded: the journal's path takes the chunk)."""
    at = ledger.clock.now()
    try:
        done = pg_expiry.expire_lots(
            ledger.recorder, [lot.lot for lot in due], due=day, at=at, day=lot_rules.today(at, ledger.zone), memo=MEMO,
        )
    except Exception:  # noqa: BLE001 - e.g. a lock timeout: the slower path decides and retries
        log.warning("set-based expiry of %d lot(s) failed; expiring them by the journal", len(due), exc_info=True)
        return None

    def events() -> list[Any]:  # read back only when someone observes the journal's saves
        ids = [LedgerTransaction.create_id(f"{EXPIRY}:{lot}") for lot, _ in done]
        return [ledger.mapper.to_domain_event(e) for e in ledger.recorder.select_events_of(ids)]

    ledger.journal.recorded_by_store(events)  # every movement stays visible to the journal's observers
    return [n for _, n in done]


def _by_journal(ledger: Any, due: list[Lot]) -> list[int]:
    """The chunk by the journal (decided on the lots as read, the lot version checked): the points
    of each lot expired."""
    for _ in attempts("expiry runs"):
        recorded = [r for r in ledger.journal.transactions([movement_of(lot) for lot in due]) if not r.dropped]
        try:
            if recorded:
                ledger.journal.commit(*recorded, grouped=False)
        except ConcurrentChange:
            continue  # another run recorded some of these meanwhile: read the chunk again
        return [int(r.transaction.postings_data[0]["amount"]) for r in recorded if not r.dropped]
    raise AssertionError("unreachable")
