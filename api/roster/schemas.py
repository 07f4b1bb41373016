"""Bodies of the roster route."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from ledger.roster import rules

from api.schemas import Out

Reason = Literal[rules.REASONS]  # type: ignore[valid-type]


class RosterLineOut(Out):
    line: int = Field(description="line number in the file (the header is line 1)")
    cells: list[str] = Field(description="the line as written, column by column")
    name: str = ""
    member_no: str = ""
    unit: str = Field("", description="the home unit as written (an id or a name path)")
    phone_last4: str = ""
    outcome: Literal["registered", "already_registered", "refused"]
    reason: Reason | None = Field(None, description="why the line was refused")  # type: ignore[valid-type]
    volunteer_id: UUID | None = None
    unit_id: UUID | None = None


class RosterReportOut(Out):
    encoding: Literal["utf-8", "utf-8-sig", "gb18030"] = Field(description="how the file was read")
    header: list[str]
    lines_total: int
    registered: int
    already_registered: int = Field(description="lines whose member number was registered to the same person before")
    refused: int
    lines: list[RosterLineOut]
