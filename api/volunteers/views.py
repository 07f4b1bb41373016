"""Volunteers, their balance and their entries as replies."""

from __future__ import annotations

from typing import Any

from ledger.lots.model import next_expiries

from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger.accounts import volunteer_account
from ledger.domain import Volunteer
from projections import queries
from projections.db import Database

from api import cursors
from api.datetimes import from_row_time, zoned
from api.deps import Page
from api.volunteers.schemas import AccountOut, EntryOut, EntryPage, ExpiryOut, VolunteerOut


def volunteer(v: Volunteer, zone: ZoneInfo) -> VolunteerOut:
    return VolunteerOut(
        id=v.id,
        name=v.name,
        unit_id=v.unit_id,
        phone_last4=v.phone_last4,
        member_no=v.member_no,
        registered_at=zoned(v.registered_at, zone),
    )


def entry(row: dict[str, Any], zone: ZoneInfo) -> EntryOut:
    return EntryOut(
        seq=int(row["seq"]),
        transaction_id=UUID(row["transaction_id"]),
        kind=row["kind"],
        amount=int(row["amount"]),
        balance_after=int(row["balance_after"]),
        counterparty=row["counterparty"],
        minutes=int(row["minutes"]),
        memo=row["memo"],
        at=from_row_time(row["at"], zone),
        reverses=UUID(row["reverses"]) if row["reverses"] else None,
    )


def account_of(db: Database, volunteer_id: UUID, ledger: Any = None) -> AccountOut:
    """The projected figures, and the next expiries read from the write side's lots table."""
    account = volunteer_account(volunteer_id)
    expiries = []
    if ledger is not None:
        lots = ledger.recorder.select_lots(account=account)
        expiries = [ExpiryOut(date=d, points=n) for d, n in next_expiries(lots)]
    return AccountOut(account=account, **queries.balance(db, account), expiries=expiries)


def entries_of(db: Database, volunteer_id: UUID, page: Page, zone: ZoneInfo) -> EntryPage:
    rows = queries.entries(db, volunteer_account(volunteer_id), before=page.before, limit=page.limit + 1)
    rows, next_cursor = cursors.page_of(rows, page.limit)
    return EntryPage(items=[entry(r, zone) for r in rows], next_cursor=next_cursor)
