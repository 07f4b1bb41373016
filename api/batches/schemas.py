"""Bodies of the welfare-day batch routes (公益日批量发放)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StrictInt

from api.schemas import In, Memo, Out


class RefusedLine(Out):
    line: int = Field(description="the line's number in the file (the header is line 1)")
    code: str = Field(description="why: `unknown_volunteer`, `volunteer_out_of_scope`, `invalid_points`, "
                      "`points_above_cap`, `duplicate_line`, `already_paid`, … (or, for a reversal, "
                      "`points_spent`, `not_credited`, `already_reversed`)")
    message: str


class BatchProgress(Out):
    lines_total: int
    lines_done: int
    percent: float


class BatchOut(Out):
    id: UUID
    title: str
    unit_id: UUID
    status: Literal["running", "finished", "failed"]
    progress: BatchProgress
    accepted: int = Field(description="lines credited")
    refused_count: int
    points: int = Field(description="points credited")
    minutes: int
    reversed_lines: int
    reversed_points: int
    format: Literal["csv", "ndjson"]
    encoding: str
    cap: int = Field(description="most points one line may carry")
    started_at: datetime
    finished_at: datetime | None
    failure: str | None
    refused: list[RefusedLine] = Field(description="refused lines, in file order (at most `refused_limit`)")
    refused_truncated: bool
    report_csv: str = Field(description="the refused lines as CSV (every one)")


LineNumber = Annotated[StrictInt, Field(ge=1, le=10_000_000)]


class BatchReversalIn(In):
    lines: Annotated[list[LineNumber], Field(min_length=1, max_length=100_000)] | None = Field(
        default=None, description="line numbers to reverse; omit to reverse the whole batch"
    )
    memo: Memo = ""


class BatchReversalOut(Out):
    batch: BatchOut
    reversed: list[int] = Field(description="line numbers reversed by this request")
    points: int
    refused: list[RefusedLine]
    transaction_ids: list[UUID]
