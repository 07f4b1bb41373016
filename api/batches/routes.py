"""Welfare-day batches (公益日批量发放): upload a CSV or JSON-lines file of credits, follow its
progress, download the refused lines, reverse it (whole or by line)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ledger.batches.files import MEDIA_TYPES
from ledger.batches.errors import UploadTooLarge
from ledger.batches.service import BatchService
from ledger.batches.spool import MAX_UPLOAD_BYTES, Spool, Spooled
from ledger.batches.rules import DEFAULT_CAP
from ledger.batches.domain import Batch
from ledger.rules import MAX_POINTS_PER_POSTING

from api import idempotency
from api.auth import Principal
from api.batches.schemas import BatchOut, BatchReversalIn, BatchReversalOut
from api.batches.views import batch_out, refused_csv, refused_lines
from api.deps import AccessDep, CommandsDep, IdempotencyKey, ServicesDep, StaffPrincipal, ZoneDep
from api.problems import BatchUploadTooLarge, UnsupportedBatchType, responses

router = APIRouter(prefix="/v1", tags=["batches"])

BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A header row, then one line per credit. Columns: `volunteer_id` or `member_no` (or "
        "`volunteer`, either), `points`, optional `minutes`, `line_key`, `memo` (Chinese headers too: "
        "志愿者ID, 会员号, 积分, 时长, 序号, 备注). UTF-8 with or without BOM, or GB18030. JSON lines: one object "
        "per line with the same names. At most 1 000 000 lines (256 MB).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


def get_batches(services: ServicesDep) -> BatchService:
    return services.batches


BatchesDep = Annotated[BatchService, Depends(get_batches)]


@dataclass(frozen=True)
class Upload:
    spooled: Spooled
    fmt: str
    key: str
    title: str
    unit_id: UUID
    cap: int


def _scope(principal: Principal) -> list[UUID] | None:
    return None if principal.role == "admin" else principal.unit_ids


def checked_unit(
    principal: StaffPrincipal,
    access: AccessDep,
    unit_id: Annotated[UUID, Query(description="the unit whose issuing account the points come from")],
) -> UUID:
    access.unit(unit_id)
    return unit_id


async def batch_upload(
    request: Request,
    principal: StaffPrincipal,
    unit_id: Annotated[UUID, Depends(checked_unit)],
    batches: BatchesDep,
    key: IdempotencyKey,
    title: Annotated[str, Query(min_length=1, max_length=100, description="e.g. 3月5日学雷锋公益日")],
    cap: Annotated[int, Query(ge=1, le=MAX_POINTS_PER_POSTING, description="most points one line may carry")] = DEFAULT_CAP,
) -> Upload:
    """Streams the body to the spool directory (never whole in memory). Raises
    UnsupportedBatchType, BatchUploadTooLarge."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = MEDIA_TYPES.get(media)
    if fmt is None:
        raise UnsupportedBatchType("send the batch as text/csv or application/x-ndjson")
    upload = Spool(batches.spool_dir, max_bytes=MAX_UPLOAD_BYTES)
    try:
        async for block in request.stream():
            ready = upload.take(block)
            if ready is not None:
                await anyio.to_thread.run_sync(upload.write, ready)
        spooled = await anyio.to_thread.run_sync(upload.finish)
    except UploadTooLarge as e:
        upload.abandon()
        raise BatchUploadTooLarge(e.message) from None
    except BaseException:
        upload.abandon()
        raise
    sha = spooled.sha256
    # Without a client key, the file itself is the key: the same file for the same unit is
    # the same batch, however often it is uploaded.
    batch_key = idempotency.ledger_key(principal, key) if key is not None else f"content:{unit_id}:{sha}"
    return Upload(spooled, fmt, batch_key, title.strip(), unit_id, cap)


def visible_batch(batch_id: UUID, principal: StaffPrincipal, access: AccessDep, batches: BatchesDep) -> Batch:
    """Raises NotFound, Forbidden (a batch of a unit outside the organizer's units)."""
    batch = batches.get(batch_id)
    access.unit(batch.unit_id)
    return batch


VisibleBatch = Annotated[Batch, Depends(visible_batch)]


@router.post(
    "/batches",
    status_code=202,
    response_model=BatchOut,
    responses={
        200: {"model": BatchOut, "description": "The same upload was made before: its batch, as it stands now",
              "headers": idempotency.REPLAYED_DOC},
        201: {"model": BatchOut, "description": "A small batch, credited before the reply"},
        202: {"description": "Accepted: the batch runs in the background; follow `GET /v1/batches/{id}`"},
        **responses(400, 401, 403, 404, 409, 413, 415, 422),
    },
    openapi_extra=BODY_DOC,
    summary="Credit many volunteers from a CSV or JSON-lines file (公益日批量发放)",
)
def create_batch(
    upload: Annotated[Upload, Depends(batch_upload)],
    principal: StaffPrincipal,
    batches: BatchesDep,
    commands: CommandsDep,
    zone: ZoneDep,
    response: Response,
    refused_limit: Annotated[int, Query(ge=0, le=100_000, description="refused lines in the reply")] = 1000,
) -> BatchOut:
    # One command from the upload to the reply: the batch service's submission adds its batch
    # and line count; here, whether it was credited before the reply or started in the background.
    with commands.command("batch", unit_id=upload.unit_id) as c:
        submitted = batches.submit(
            upload.spooled, upload.fmt, key=upload.key, title=upload.title, unit_id=upload.unit_id,
            scope=_scope(principal), actor=principal.actor(), cap=upload.cap,
        )
        batch = submitted.batch
        if not submitted.created:
            response.status_code = 200
            idempotency.mark_replayed(response, True)
            if not batch.done:
                batches.start(batch.id)  # resumes a batch that lost its runner
        elif batch.lines_total <= batches.sync_lines:
            batch = batches.run(batch.id)
            c.done("credited", accepted=batch.accepted)
            response.status_code = 201
        else:
            c.done("started")
            batches.start(batch.id)
    response.headers["Location"] = f"/v1/batches/{batch.id}"
    return batch_out(batch, zone, refused_limit=refused_limit)


@router.get(
    "/batches/{batch_id}",
    response_model=BatchOut,
    responses=responses(401, 403, 404, 422),
    summary="A batch's status, progress, totals and refused lines",
)
def get_batch(
    batch: VisibleBatch,
    zone: ZoneDep,
    refused_limit: Annotated[int, Query(ge=0, le=100_000, description="refused lines in the reply")] = 1000,
) -> BatchOut:
    return batch_out(batch, zone, refused_limit=refused_limit)


@router.get(
    "/batches/{batch_id}/refused.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "every refused line"},
               **responses(401, 403, 404, 422)},
    summary="The refused lines of a batch (and of its reversals) as CSV, for Excel: each line's own columns "
    "as written, then its line number, the reason's code and the reason in words",
)
def get_batch_report(batch: VisibleBatch, batches: BatchesDep) -> Response:
    lines = [int(r[0]) for r in batch.refused] + [int(r[0]) for r in batch.reversal_refused]
    return Response(
        refused_csv(batch, batches.lines_as_written(batch, lines) if lines else None),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch.id}-refused.csv"'},
    )


@router.post(
    "/batches/{batch_id}/reversal",
    response_model=BatchReversalOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Reverse a finished batch, whole or by line (lines whose points were spent are refused)",
)
def reverse_batch(
    batch: VisibleBatch,
    principal: StaffPrincipal,
    batches: BatchesDep,
    zone: ZoneDep,
    key: IdempotencyKey,
    body: Annotated[BatchReversalIn | None, Body()] = None,
) -> BatchReversalOut:
    body = body or BatchReversalIn()
    result = batches.reverse(batch.id, body.lines, memo=body.memo, actor=principal.actor(key))
    return BatchReversalOut(
        batch=batch_out(result.batch, zone, refused_limit=0),
        reversed=result.reversed_lines,
        points=result.points,
        refused=refused_lines([list(r) for r in result.refused]),
        transaction_ids=result.transactions,
    )
