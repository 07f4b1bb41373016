"""Bodies of the activity routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StrictBool, StrictInt, StrictStr, StringConstraints

from ledger.activities.rules import MAX_POINTS_PER_HOUR, NO_CHECKOUT_POLICIES

from api.datetimes import Instant
from api.schemas import TRIM, In, Memo, Name, Out

NoCheckout = Literal["window_end", "none", "approval"]  # = ledger.activities.NO_CHECKOUT_POLICIES
assert set(NoCheckout.__args__) == set(NO_CHECKOUT_POLICIES)  # type: ignore[attr-defined]
Description = Annotated[StrictStr, StringConstraints(max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$"), TRIM]
Status = Literal["in", "credited", "done", "pending", "rejected"]


class ActivityIn(In):
    title: Name
    description: Description = ""
    unit_id: UUID = Field(description="the unit that runs it; points come from its issuing account")
    starts_at: Instant = Field(description="RFC 3339 with offset")
    ends_at: Instant = Field(description="RFC 3339 with offset; at most 7 days after the start")
    points_per_hour: Annotated[StrictInt, Field(ge=0, le=MAX_POINTS_PER_HOUR)]
    capacity: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None
    min_minutes: Annotated[StrictInt, Field(ge=0, le=24 * 60)] = 0
    max_points: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = Field(None, description="cap on points per person")
    needs_approval: StrictBool = False
    no_checkout: NoCheckout = Field(
        "window_end",
        description="someone who never checks out: `window_end` credits up to the end, `none` nothing, "
        "`approval` up to the end once an organizer approves",
    )


class CancelIn(In):
    reason: Memo = ""


class DecisionIn(In):
    decision: Literal["approve", "reject"]
    volunteer_ids: Annotated[list[UUID], Field(min_length=1, max_length=1000)] | None = Field(
        None, description="whose pending points; omit for every pending attendance of the activity"
    )


class ActivityCounts(Out):
    checked_in: int = Field(description="everyone who checked in")
    present: int = Field(description="checked in and not yet out")
    checked_out: int
    pending: int = Field(description="waiting for approval")
    points: int = Field(description="points credited")
    minutes: int = Field(description="minutes credited")


class ActivityOut(Out):
    id: UUID
    title: str
    description: str
    unit_id: UUID
    starts_at: datetime
    ends_at: datetime
    points_per_hour: int
    capacity: int | None
    min_minutes: int
    max_points: int | None
    needs_approval: bool
    no_checkout: NoCheckout
    cancelled_at: datetime | None
    created_at: datetime
    counts: ActivityCounts = Field(description="from the attendance read model (eventually consistent)")


class ActivityList(Out):
    items: list[ActivityOut]


class AttendanceOut(Out):
    activity_id: UUID
    volunteer_id: UUID
    status: Status
    seat: int | None
    checked_in_at: datetime
    checked_out_at: datetime | None
    minutes: int
    points: int
    transaction_id: UUID | None = None


class AttendanceList(Out):
    items: list[AttendanceOut]


class ActivityCodeOut(Out):
    activity_id: UUID
    code: str = Field(description="the signed payload to put in the QR code")
    window: int
    valid_from: datetime
    rotates_at: datetime = Field(description="when the screen shows the next code")
    accepted_until: datetime = Field(description="after this the code is refused (`code_expired`)")
    refresh_in: float = Field(description="seconds until ``rotates_at`` by the server's clock")


# ---------------------------------------------------------------- organizer-side scans (maybe offline)

Nonce = Annotated[StrictStr, StringConstraints(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Device = Annotated[StrictStr, StringConstraints(max_length=64, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$"), TRIM]
ScanOutcome = Literal["checked_in", "checked_out", "noted", "redecided", "duplicate", "refused"]


class CardScanIn(In):
    nonce: Nonce = Field(description="random, made by the device for this scan: the same nonce lands once")
    code: Annotated[StrictStr, StringConstraints(min_length=1, max_length=800)] = Field(
        description="what the scanner read: a member card's code (MB1.c…) or the card's link (…#card=MB1.c…)"
    )
    scanned_at: Instant = Field(description="when the scan was made, by the device's clock (RFC 3339 with offset)")
    offline: StrictBool = Field(True, description="made with no network and queued on the device")


class CardScansIn(In):
    device: Device = Field("", description="the scanning device's name or id, recorded with each scan")
    scans: Annotated[list[CardScanIn], Field(min_length=1, max_length=500)]


class CardScanResult(Out):
    nonce: str
    outcome: ScanOutcome = Field(
        description="`checked_in`, `checked_out`, `redecided` (an earlier scan came late and changed the "
        "outcome), `noted` (kept, changes nothing), `duplicate` (this nonce landed before), `refused`"
    )
    code: str | None = Field(None, description="for `refused`: the problem code (`card_revoked`, `activity_full`, "
                             "`scan_too_late`, `scan_in_future`, `sync_too_late`, …)")
    detail: str | None = None
    volunteer_id: UUID | None = None
    volunteer_name: str | None = None
    attendance: AttendanceOut | None = None


class CardScansOut(Out):
    items: list[CardScanResult] = Field(description="one per scan sent, in the order sent")
