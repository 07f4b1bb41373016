"""Request and response bodies. Requests are strict (no coercion of numbers, no extra
fields); responses document exactly what the server sends (see /openapi.json)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints

from ledger.rules import MAX_MINUTES_PER_POSTING, MAX_POINTS_PER_POSTING

# ---------------------------------------------------------------- field types

# No control characters: a NUL could not even be stored in a PostgreSQL text column, so it
# would halt a projection at that event. C1 controls (U+0080-U+009F) included, as the ledger's
# own check (ledger.rules.check_text) refuses them: the document says what the server takes.
_NO_CONTROLS = r"^[^\x00-\x1f\x7f-\x9f]*$"
_NO_CONTROLS_BUT_LINES = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"


def _not_blank(text: str) -> str:
    if not text:
        raise ValueError("must not be blank")
    return text


# Text is checked as sent (the document's pattern and lengths), then trimmed: trimming first
# (strip_whitespace) let a control character through at either end, against the pattern.
TRIM = AfterValidator(str.strip)
NOT_BLANK = AfterValidator(_not_blank)

Name = Annotated[StrictStr, StringConstraints(min_length=1, max_length=100, pattern=_NO_CONTROLS), TRIM, NOT_BLANK]
Memo = Annotated[StrictStr, StringConstraints(max_length=500, pattern=_NO_CONTROLS_BUT_LINES), TRIM]
# The memo of a ledger transaction: one line (check_text refuses line breaks too).
LedgerMemo = Annotated[StrictStr, StringConstraints(max_length=500, pattern=_NO_CONTROLS), TRIM]
Points = Annotated[StrictInt, Field(gt=0, le=MAX_POINTS_PER_POSTING, description="whole points, 1 to 1,000,000")]
Minutes = Annotated[StrictInt, Field(ge=0, le=MAX_MINUTES_PER_POSTING, description="minutes served")]
UnitKind = Literal["street", "community", "compound", "building", "station"]  # = ledger.rules.UNIT_KINDS
PhoneLast4 = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{4}$")]
MemberNo = Annotated[StrictStr, StringConstraints(min_length=1, max_length=40, pattern=_NO_CONTROLS), TRIM, NOT_BLANK]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    pass


# ---------------------------------------------------------------- requests


class UnitIn(In):
    name: Name
    kind: UnitKind
    parent_id: UUID | None = None


class MoveUnitIn(In):
    parent_id: UUID


class OrganizerIn(In):
    name: Name
    unit_ids: Annotated[list[UUID], Field(min_length=1, max_length=50)]


class VolunteerIn(In):
    name: Name
    unit_id: UUID
    phone_last4: PhoneLast4 | None = None
    member_no: MemberNo | None = None


class CreditIn(In):
    volunteer_id: UUID
    unit_id: UUID = Field(description="the unit whose issuing account the points come from")
    points: Points
    minutes: Minutes = 0
    memo: LedgerMemo = ""


class ReversalIn(In):
    memo: LedgerMemo = ""


# ---------------------------------------------------------------- responses


class UnitRef(Out):
    id: UUID
    name: str
    kind: str


class UnitPeriodTotals(Out):
    period: Literal["week", "month", "year", "all"]
    start: date | None = Field(description="first local day of the period (null: all time)")
    end: date | None = Field(description="first local day after the period (null: all time)")
    issued: int = Field(description="points issued from the issuing accounts of this unit and the units under it, net of reversals")
    earned: int = Field(description="points earned by volunteers whose home was this unit or under it, net of reversals")
    redeemed: int = Field(description="points those volunteers redeemed at merchants, net of reversals")
    minutes: int = Field(description="minutes those volunteers served")


class UnitOut(Out):
    id: UUID
    name: str
    kind: str
    parent_id: UUID | None
    created_at: datetime
    ancestors: list[UnitRef] = Field(description="parent first, up to the root")
    children: list[UnitRef] = Field(description="from the read model (eventually consistent)")
    totals: list[UnitPeriodTotals] = Field(
        default_factory=list,
        description="roll-ups under this unit for the current week, month, year and all time "
        "(GET /v1/units/{id} only; from the read model)",
    )


class TokenOut(Out):
    id: UUID
    role: str
    name: str
    unit_ids: list[UUID]
    subject_id: UUID | None
    hint: str = Field(description="the last four characters of the secret")
    issued_at: datetime
    revoked_at: datetime | None
    active: bool


class IssuedTokenOut(TokenOut):
    secret: str = Field(description="the bearer token; shown this once, never stored")


class TokenList(Out):
    items: list[TokenOut]


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


class AccountOut(Out):
    account: str
    balance: int
    earned: int
    redeemed: int
    minutes: int
    entries: int


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


class PostingOut(Out):
    source: str
    destination: str
    amount: int


class TransactionOut(Out):
    id: UUID
    kind: str
    postings: list[PostingOut]
    minutes: int
    memo: str
    actor: str
    unit_id: UUID | None
    reverses: UUID | None
    reversed_by: UUID | None
    at: datetime


class EventOut(Out):
    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    data: dict[str, Any]


class EventPage(Out):
    items: list[EventOut]
    next_after: int = Field(description="pass as ?after= for the next page")


class Health(Out):
    status: Literal["ok"]


class ProjectionStatus(Out):
    position: int
    lag: int


class Readiness(Out):
    status: Literal["ready"]
    last_notification_id: int
    projections: dict[str, ProjectionStatus]
