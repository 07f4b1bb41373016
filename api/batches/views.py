"""A batch as a reply, and its refused lines as CSV for Excel."""

from __future__ import annotations

import csv
import io
from typing import Any
from zoneinfo import ZoneInfo

from ledger.batches.domain import Batch

from api.batches.schemas import BatchOut, BatchProgress, RefusedLine

REPORT_COLUMNS = ["行号 line", "原因代码 code", "原因 reason"]


def refused_lines(rows: list[list[Any]]) -> list[RefusedLine]:
    return [RefusedLine(line=int(r[0]), code=str(r[1]), message=str(r[2])) for r in rows]


def batch_out(b: Batch, zone: ZoneInfo, *, refused_limit: int = 1000) -> BatchOut:
    total = max(b.lines_total, 1)
    return BatchOut(
        id=b.id, title=b.title, unit_id=b.unit_id, status=b.status,  # type: ignore[arg-type]
        progress=BatchProgress(lines_total=b.lines_total, lines_done=b.lines_done,
                               percent=round(100.0 * b.lines_done / total, 1)),
        accepted=b.accepted, refused_count=len(b.refused), points=b.points, minutes=b.minutes,
        reversed_lines=len(b.reversed_lines), reversed_points=b.reversed_points,
        format=b.source["format"], encoding=b.source["encoding"], cap=b.cap,
        started_at=b.started_at.astimezone(zone),
        finished_at=b.finished_at.astimezone(zone) if b.finished_at else None,
        failure=b.failure, refused=refused_lines(b.refused[:refused_limit]), refused_truncated=len(b.refused) > refused_limit,
        report_csv=f"/v1/batches/{b.id}/refused.csv",
    )


def refused_csv(batch: Batch) -> str:
    """Every refused line of the batch and of its reversals: UTF-8 with a byte-order mark and CRLF lines."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(REPORT_COLUMNS)
    for line, code, message in batch.refused:
        w.writerow([line, code, message])
    for line, code, message in batch.reversal_refused:
        w.writerow([line, f"reversal:{code}", message])
    return "\ufeff" + out.getvalue()
