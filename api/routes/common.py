"""Reads shared by the organizer's and the volunteer's views of an account."""

from __future__ import annotations

from uuid import UUID
from zoneinfo import ZoneInfo

from ledger.accounts import volunteer_account
from projections import queries
from projections.db import Database

from api import models, views
from api.deps import Page, encode_cursor


def account_of(db: Database, volunteer_id: UUID) -> models.AccountOut:
    return views.account(volunteer_id, queries.balance(db, volunteer_account(volunteer_id)))


def entries_of(db: Database, volunteer_id: UUID, page: Page, zone: ZoneInfo) -> models.EntryPage:
    rows = queries.entries(db, volunteer_account(volunteer_id), before=page.before, limit=page.limit + 1)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return models.EntryPage(
        items=[views.entry(r, zone) for r in rows],
        next_cursor=encode_cursor(int(rows[-1]["seq"])) if more else None,
    )
