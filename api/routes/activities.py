"""Organizers (and admins): activities of their units, the rotating QR code, approvals."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Body, Depends, Query, Response

from ledger.activities import rules as act
from ledger.activities.domain import Activity, AttendanceRecord
from ledger.activities.service import Attendance
from projections import attendance as reads
from projections.db import Database

from api import activity_models as m
from api.auth import ADMIN
from api.deps import AccessDep, DbDep, ServicesDep, StaffPrincipal, ZoneDep
from api.commands import command
from api.problems import responses
from api.views import from_row_time, zoned

router = APIRouter(prefix="/v1/activities", tags=["activities"])


def get_attendance_service(services: ServicesDep) -> Attendance:
    assert services.attendance is not None, "ops.wiring builds the attendance service"
    return services.attendance


AttendanceDep = Annotated[Attendance, Depends(get_attendance_service)]


def visible_activity(activity_id: UUID, principal: StaffPrincipal, access: AccessDep, att: AttendanceDep) -> Activity:
    """Raises NotFound, Forbidden (outside the organizer's units)."""
    activity = att.get_activity(activity_id)
    access.unit(activity.unit_id)
    return activity


VisibleActivity = Annotated[Activity, Depends(visible_activity)]

# ---------------------------------------------------------------- views


def counts(row: dict[str, Any] | None) -> m.ActivityCounts:
    if row is None:
        return m.ActivityCounts(checked_in=0, present=0, checked_out=0, pending=0, points=0, minutes=0)
    c = {k: int(row[k]) for k in ("checked_in", "checked_out", "pending", "points", "minutes")}
    return m.ActivityCounts(present=c["checked_in"] - c["checked_out"], **c)


def activity_view(a: Activity, row: dict[str, Any] | None, zone: ZoneInfo) -> m.ActivityOut:
    return m.ActivityOut(
        id=a.id, title=a.title, description=a.description, unit_id=a.unit_id,
        starts_at=zoned(a.starts_at, zone), ends_at=zoned(a.ends_at, zone), points_per_hour=a.points_per_hour,
        capacity=a.capacity, min_minutes=a.min_minutes, max_points=a.max_points, needs_approval=a.needs_approval,
        no_checkout=a.no_checkout, cancelled_at=zoned(a.cancelled_at, zone) if a.cancelled_at else None,
        created_at=zoned(a.created_at, zone), counts=counts(row),
    )


def attendance_view(r: AttendanceRecord, zone: ZoneInfo) -> m.AttendanceOut:
    return m.AttendanceOut(
        activity_id=r.activity_id, volunteer_id=r.volunteer_id, status=r.status, seat=r.seat,
        checked_in_at=zoned(r.checked_in_at, zone),
        checked_out_at=zoned(r.checked_out_at, zone) if r.checked_out_at else None,
        minutes=r.minutes, points=r.points, transaction_id=r.transaction_id,
    )


def attendance_row_view(row: dict[str, Any], zone: ZoneInfo) -> m.AttendanceOut:
    return m.AttendanceOut(
        activity_id=row["activity_id"], volunteer_id=row["volunteer_id"], status=row["status"], seat=row["seat"],
        checked_in_at=from_row_time(row["checked_in_at"], zone),
        checked_out_at=from_row_time(row["checked_out_at"], zone) if row["checked_out_at"] else None,
        minutes=int(row["minutes"]), points=int(row["points"]),
    )


def row_of(db: Database, activity_id: UUID) -> dict[str, Any] | None:
    with db.read() as tx:
        return reads.activity_counts(tx, str(activity_id))


# ---------------------------------------------------------------- routes


@router.post(
    "",
    status_code=201,
    response_model=m.ActivityOut,
    responses=responses(400, 401, 403, 404, 415, 422),
    summary="Create an activity in one of your units",
)
def create_activity(
    body: m.ActivityIn, principal: StaffPrincipal, access: AccessDep, att: AttendanceDep, zone: ZoneDep
) -> m.ActivityOut:
    access.unit(body.unit_id)
    a = att.create_activity(
        body.title, body.unit_id, body.starts_at, body.ends_at, body.points_per_hour,
        description=body.description, capacity=body.capacity, min_minutes=body.min_minutes,
        max_points=body.max_points, needs_approval=body.needs_approval, no_checkout=body.no_checkout,
        created_by=principal.actor(),
    )
    return activity_view(a, None, zone)


@router.get(
    "",
    response_model=m.ActivityList,
    responses=responses(401, 403, 422),
    summary="Activities of your units, newest first (from the read model)",
)
def list_activities(
    principal: StaffPrincipal, att: AttendanceDep, db: DbDep, zone: ZoneDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> m.ActivityList:
    with db.read() as tx:
        if principal.role == ADMIN:
            rows = reads.activities_in(tx, None, limit=limit)
        else:
            units = {str(u) for u in principal.unit_ids}
            frontier = list(units)
            while frontier:  # every unit under the organizer's
                marks = ", ".join(["%s"] * len(frontier))
                children = [r["id"] for r in tx.all(f"SELECT id FROM units WHERE parent_id IN ({marks})", frontier)]
                frontier = [c for c in children if c not in units]
                units.update(frontier)
            rows = reads.activities_in(tx, sorted(units), limit=limit)
    return m.ActivityList(items=[activity_view(att.get_activity(UUID(r["id"])), r, zone) for r in rows])


@router.get(
    "/{activity_id}",
    response_model=m.ActivityOut,
    responses=responses(401, 403, 404, 422),
    summary="An activity with its live counts",
)
def get_activity(activity: VisibleActivity, db: DbDep, zone: ZoneDep) -> m.ActivityOut:
    return activity_view(activity, row_of(db, activity.id), zone)


@router.get(
    "/{activity_id}/qr",
    responses={
        200: {
            "description": "the current code: a PNG or SVG QR image, or the payload as JSON",
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/svg+xml": {"schema": {"type": "string"}},
                "application/json": {"schema": m.ActivityCodeOut.model_json_schema()},
            },
        },
        **responses(401, 403, 404, 422),
    },
    response_model=None,
    summary="The activity's rotating code (renews every 30 s)",
)
def activity_qr(
    activity: VisibleActivity, att: AttendanceDep, zone: ZoneDep,
    format: Annotated[Literal["png", "svg", "json"], Query()] = "png",  # noqa: A002
) -> Any:
    c = att.code_for(activity.id)
    headers = {"Cache-Control": "no-store"}
    if format == "json":
        body = m.ActivityCodeOut(
            activity_id=activity.id, code=c.code, window=c.window, valid_from=zoned(c.valid_from, zone),
            rotates_at=zoned(c.rotates_at, zone), accepted_until=zoned(c.accepted_until, zone),
            refresh_in=max(0.0, (c.rotates_at - att.clock.now()).total_seconds()),
        )
        return Response(body.model_dump_json(), media_type="application/json", headers=headers)
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2, box_size=10)
    qr.add_data(c.code)
    buf = io.BytesIO()
    if format == "svg":
        qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buf)
        return Response(buf.getvalue(), media_type="image/svg+xml", headers=headers)
    qr.make_image().save(buf)
    return Response(buf.getvalue(), media_type="image/png", headers=headers)


@router.get(
    "/{activity_id}/attendances",
    response_model=m.AttendanceList,
    responses=responses(401, 403, 404, 422),
    summary="Who checked in, who left, minutes and points (from the read model)",
)
def list_attendances(
    activity: VisibleActivity, db: DbDep, zone: ZoneDep,
    status: Annotated[m.Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> m.AttendanceList:
    with db.read() as tx:
        rows = reads.attendances(tx, str(activity.id), status=status, limit=limit)
    return m.AttendanceList(items=[attendance_row_view(r, zone) for r in rows])


@router.post(
    "/{activity_id}/approvals",
    response_model=m.AttendanceList,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Approve (credit) or reject pending attendances, one or many",
)
def decide(
    body: m.DecisionIn, activity: VisibleActivity, principal: StaffPrincipal, att: AttendanceDep, db: DbDep, zone: ZoneDep
) -> m.AttendanceList:
    ids = body.volunteer_ids
    if ids is None:
        with db.read() as tx:
            ids = [UUID(r["volunteer_id"]) for r in reads.attendances(tx, str(activity.id), status=act.PENDING)]
    with command("approval", activity_id=activity.id, decision=body.decision) as c:
        records = att.decide(activity.id, ids, body.decision == "approve", by=principal.actor()) if ids else []
        c.done("approved" if body.decision == "approve" else "rejected", attendances=len(records))
        c.credited("approval", sum(r.points for r in records if r.status == act.CREDITED))
    return m.AttendanceList(items=[attendance_view(r, zone) for r in records])


@router.post(
    "/{activity_id}/settlement",
    response_model=m.AttendanceList,
    responses=responses(401, 403, 404, 409, 422),
    summary="After the end: check out everyone who never did, by the activity's rule",
)
def settle(
    activity: VisibleActivity, principal: StaffPrincipal, att: AttendanceDep, db: DbDep, zone: ZoneDep
) -> m.AttendanceList:
    with db.read() as tx:
        ids = [UUID(r["volunteer_id"]) for r in reads.attendances(tx, str(activity.id), status=act.IN, limit=100_000)]
    with command("settlement", activity_id=activity.id) as c:
        records = att.settle(activity.id, ids, by=principal.actor())
        c.done("settled", attendances=len(records))
        c.credited("settlement", sum(r.points for r in records if r.status == act.CREDITED))
    return m.AttendanceList(items=[attendance_view(r, zone) for r in records])


@router.post(
    "/{activity_id}/cancellation",
    response_model=m.ActivityOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Cancel an activity (scans stop; nothing credited is touched)",
)
def cancel(
    activity: VisibleActivity, att: AttendanceDep, db: DbDep, zone: ZoneDep,
    body: Annotated[m.CancelIn | None, Body()] = None,
) -> m.ActivityOut:
    a = att.cancel_activity(activity.id, body.reason if body else "")
    return activity_view(a, row_of(db, a.id), zone)
