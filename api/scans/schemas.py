"""Bodies of the scan route."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StrictStr, StringConstraints

from ledger.codes import MAX_CODE_LENGTH

from api.activities.schemas import AttendanceOut
from api.alliance.schemas import ScanMerchant
from api.schemas import In, Out


class ScanIn(In):
    code: Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CODE_LENGTH)]
    activity_id: UUID | None = Field(None, description="the activity the scanner expects (refused if the code is for another)")


class ScanActivity(Out):
    id: UUID
    title: str


class ScanOut(Out):
    """What a scan did. ``kind`` says which section is filled: ``activity`` for check-in/out."""

    kind: Literal["activity", "merchant"]
    action: str = Field(description="`check_in` or `check_out` for activities")
    replayed: bool = Field(description="the same scan again within the grace period: nothing new happened")
    activity: ScanActivity | None = None
    attendance: AttendanceOut | None = None
    merchant: ScanMerchant | None = Field(None, description="for `merchant`: the shop and its offers; pay with POST /v1/me/payments")
