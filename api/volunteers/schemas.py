"""Bodies of the volunteer routes."""

from __future__ import annotations

from datetime import date as date_

from datetime import datetime
from uuid import UUID

from pydantic import Field

from api.cards.deps import Pin
from api.schemas import In, MemberNo, Name, Out, PhoneLast4
from api.tokens.schemas import IssuedTokenOut


class VolunteerIn(In):
    name: Name
    unit_id: UUID
    phone_last4: PhoneLast4 | None = None
    member_no: MemberNo | None = None
    pin: Pin | None = Field(default=None, description="a member card with this PIN is issued with the registration (api.cards)")


class MoveVolunteerIn(In):
    unit_id: UUID = Field(description="the volunteer's new home unit")


class VolunteerOut(Out):
    id: UUID
    name: str
    unit_id: UUID
    phone_last4: str | None
    member_no: str | None
    registered_at: datetime


class RegisteredVolunteerOut(Out):
    volunteer: VolunteerOut
    token: IssuedTokenOut


class ExpiryOut(Out):
    date: date_  # the last day (in the configured zone); the points lapse at its end
    points: int


class AccountOut(Out):
    account: str
    balance: int
    earned: int
    redeemed: int
    minutes: int
    entries: int
    expiries: list[ExpiryOut] = []  # the next last days of the volunteer's lots, soonest first


class EntryOut(Out):
    seq: int
    transaction_id: UUID
    kind: str
    amount: int
    balance_after: int
    counterparty: str
    minutes: int
    memo: str
    at: datetime
    reverses: UUID | None


class EntryPage(Out):
    items: list[EntryOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")
