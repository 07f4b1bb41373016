"""Staff: import a roster of volunteers (CSV: name, member number, home unit, phone's last four)
with a per-line report. The member number is the key, so the same file can be sent again."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Request

from ledger.batches.errors import UploadTooLarge
from ledger.batches.spool import Spool, Spooled
from ledger.roster import rules
from ledger.roster.service import RosterReport, RosterService
from projections import directory_queries as dq

from api.auth import ADMIN, Principal
from api.deps import DbDep, ServicesDep, StaffPrincipal
from api.problems import BatchUploadTooLarge, UnsupportedBatchType, responses
from api.roster.schemas import RosterLineOut, RosterReportOut

router = APIRouter(prefix="/v1", tags=["organizer"])

MAX_UPLOAD_BYTES = 8 << 20
MEDIA_TYPES = {"text/csv", "application/csv"}

BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A header row, then one volunteer per line. Columns: `name` (姓名), `member_no` (会员号), "
        "`unit` (所属单元: a unit id, or its name path such as `青禾街道/丹桂社区/3号小区`, or the end of a path "
        "only one unit has), optional `phone_last4` (手机后四位). UTF-8 with or without BOM, or GB18030. "
        f"At most {rules.MAX_LINES} lines. A file that cannot be read is refused whole "
        "(`invalid_roster_file`) before anything is registered.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def get_rosters(services: ServicesDep) -> RosterService:
    return services.roster


RostersDep = Annotated[RosterService, Depends(get_rosters)]


async def roster_upload(request: Request, principal: StaffPrincipal, services: ServicesDep) -> Spooled:
    """The body, spooled to disk. Raises UnsupportedBatchType, BatchUploadTooLarge."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise UnsupportedBatchType("send the roster as text/csv")
    upload = Spool(services.batches.spool_dir / "rosters", max_bytes=MAX_UPLOAD_BYTES)
    try:
        async for block in request.stream():
            try:
                ready = upload.take(block)
            except UploadTooLarge:
                raise BatchUploadTooLarge(f"a roster file is at most {MAX_UPLOAD_BYTES} bytes") from None
            if ready is not None:
                await anyio.to_thread.run_sync(upload.write, ready)
        return await anyio.to_thread.run_sync(upload.finish)
    except BaseException:
        upload.abandon()
        raise


def _report(report: RosterReport) -> RosterReportOut:
    return RosterReportOut(
        encoding=report.encoding,  # type: ignore[arg-type]
        header=report.header,
        lines_total=len(report.lines),
        registered=report.count(rules.REGISTERED),
        already_registered=report.count(rules.ALREADY_REGISTERED),
        refused=report.count(rules.REFUSED),
        lines=[
            RosterLineOut(
                line=r.line, cells=r.cells, outcome=r.outcome, reason=r.reason, volunteer_id=r.volunteer_id,
                unit_id=r.unit_id, **{k: r.values.get(k, "") for k in ("name", "member_no", "unit", "phone_last4")},
            )
            for r in report.lines
        ],
    )


@router.post(
    "/rosters",
    response_model=RosterReportOut,
    responses=responses(400, 401, 403, 413, 415, 422),
    openapi_extra=BODY_DOC,
    summary="Import a roster of volunteers into your units (CSV), with a per-line report; safe to send again",
)
def import_roster(
    upload: Annotated[Spooled, Depends(roster_upload)], principal: StaffPrincipal, rosters: RostersDep, db: DbDep
) -> RosterReportOut:
    try:
        with db.read() as tx:
            units = dq.all_units(tx)
        paths = rules.name_paths([(UUID(u["id"]), u["name"], UUID(u["parent_id"]) if u["parent_id"] else None) for u in units])
        report = rosters.import_file(upload.path, unit_paths=paths, scope=_scope(principal))
    finally:
        upload.path.unlink(missing_ok=True)
    return _report(report)


def _scope(principal: Principal) -> list[UUID] | None:
    return None if principal.role == ADMIN else principal.unit_ids

