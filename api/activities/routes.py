"""Organizers (and admins): activities of their units, the rotating QR code, approvals."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query

from ledger.activities import rules as act
from ledger.activities.domain import Activity
from ledger.activities.service import Attendance
from projections import attendance as reads
from projections.db import Database

from ledger.errors import LedgerError

from api import qr
from api.cards.views import code_of
from api.problems import ledger_mapping
from api.activities import schemas as m
from api.activities import views
from api.auth import ADMIN
from api.deps import AccessDep, DbDep, ServicesDep, StaffPrincipal, ZoneDep
from api.problems import responses

router = APIRouter(prefix="/v1/activities", tags=["activities"])


def get_attendance_service(services: ServicesDep) -> Attendance:
    return services.attendance


AttendanceDep = Annotated[Attendance, Depends(get_attendance_service)]


def visible_activity(activity_id: UUID, principal: StaffPrincipal, access: AccessDep, att: AttendanceDep) -> Activity:
    """Raises NotFound, Forbidden (outside the organizer's units)."""
    activity = att.get_activity(activity_id)
    access.unit(activity.unit_id)
    return activity


VisibleActivity = Annotated[Activity, Depends(visible_activity)]

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
    return views.activity(a, None, zone)


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
    return m.ActivityList(items=[views.activity(att.get_activity(UUID(r["id"])), r, zone) for r in rows])


@router.get(
    "/{activity_id}",
    response_model=m.ActivityOut,
    responses=responses(401, 403, 404, 422),
    summary="An activity with its live counts",
)
def get_activity(activity: VisibleActivity, db: DbDep, zone: ZoneDep) -> m.ActivityOut:
    return views.activity(activity, row_of(db, activity.id), zone)


@router.get(
    "/{activity_id}/qr",
    responses={
        200: {
            "description": "the current code: a PNG or SVG QR image, or the payload as JSON",
            "content": {**qr.image_content(), "application/json": {"schema": m.ActivityCodeOut.model_json_schema()}},
        },
        **responses(401, 403, 404, 422),
    },
    response_model=None,
    summary="The activity's rotating code (renews every 30 s)",
)
def activity_qr(
    activity: VisibleActivity, att: AttendanceDep, zone: ZoneDep,
    format: Annotated[qr.Format, Query()] = "png",  # noqa: A002
) -> Any:
    c = att.code_for(activity.id)
    return qr.response(c.code, format, lambda: views.code(activity.id, c, att.clock.now(), zone))


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
    return m.AttendanceList(items=[views.attendance_row(r, zone) for r in rows])


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
    records = att.decide(activity.id, ids, body.decision == "approve", by=principal.actor()) if ids else []
    return m.AttendanceList(items=[views.attendance(r, zone) for r in records])


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
    records = att.settle(activity.id, ids, by=principal.actor())
    return m.AttendanceList(items=[views.attendance(r, zone) for r in records])


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
    return views.activity(a, row_of(db, a.id), zone)


@router.post(
    "/{activity_id}/offline-scans",
    response_model=m.CardScansOut,
    responses=responses(400, 401, 403, 404, 415, 422),
    summary="Scans of volunteers' member cards by an organizer's device, made now or offline and queued: "
    "each applied at its own time, each with its own outcome",
)
def card_scans(
    body: m.CardScansIn, activity: VisibleActivity, principal: StaffPrincipal, att: AttendanceDep,
    services: ServicesDep, zone: ZoneDep,
) -> m.CardScansOut:
    """Scans are applied in the order they were made (a volunteer's scans are read in time order
    anyway, whatever order they arrive in). A refused scan is reported in its row, not as the
    request's status: the others still land."""
    results: dict[int, m.CardScanResult] = {}
    order = sorted(range(len(body.scans)), key=lambda i: body.scans[i].scanned_at)
    for i in order:
        scan = body.scans[i]
        try:
            volunteer_id = services.cards.holder(code_of(scan.code))
            r = att.scan_at(
                activity.id, volunteer_id, scan.scanned_at, by=principal.actor(), offline=scan.offline,
                device=body.device, nonce=scan.nonce,
            )
        except LedgerError as exc:
            _, code, _ = ledger_mapping(exc)
            results[i] = m.CardScanResult(nonce=scan.nonce, outcome="refused", code=code, detail=exc.message)
            continue
        name = services.alliance.volunteer_name(volunteer_id)
        results[i] = m.CardScanResult(
            nonce=scan.nonce, outcome=r.outcome, volunteer_id=volunteer_id, volunteer_name=name or None,
            attendance=views.attendance(r.attendance, zone),
        )
    return m.CardScansOut(items=[results[i] for i in range(len(body.scans))])
