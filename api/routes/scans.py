"""``POST /v1/scans``: a volunteer scans a code. The code's kind picks the handler.

Handlers register by kind with ``@handles(kind)``: activity codes (``a``) here; merchant
codes (``m``) are the alliance's to add. A kind with no handler is refused as
``code_invalid`` (a pay code, for instance, is for merchants to scan, not volunteers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from ledger import codes

from api import activity_models as m
from api import auth, idempotency
from api.auth import VOLUNTEER, Principal
from api.context import Services
from api.deps import bearer
from api.commands import Command, command
from api.problems import Forbidden, responses
from api.routes.activities import attendance_view

router = APIRouter(prefix="/v1", tags=["volunteer"])


@dataclass(frozen=True)
class Scan:
    """Everything a handler gets: who scans, what the code says, and the request."""

    services: Services
    principal: Principal
    volunteer_id: UUID  # the scanning volunteer (their token names them)
    kind: str
    fields: dict[str, Any]
    body: m.ScanIn
    zone: ZoneInfo
    idempotency_key: str | None


ScanHandler = Callable[[Scan], m.ScanOut]
HANDLERS: dict[str, ScanHandler] = {}


def handles(kind: str) -> Callable[[ScanHandler], ScanHandler]:
    def register(fn: ScanHandler) -> ScanHandler:
        HANDLERS[kind] = fn
        return fn

    return register


def signing_key(services: Services) -> bytes:
    assert services.attendance is not None
    return services.attendance.key


@router.post(
    "/scans",
    response_model=m.ScanOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Scan a code: check in or out of an activity (the first scan checks in, the next checks out)",
)
def scan(
    body: m.ScanIn,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    key: Annotated[str | None, Header(alias=idempotency.HEADER, description="optional; a repeated scan is recognised without it")] = None,
) -> m.ScanOut:
    # The busiest route: authentication is done here, in the route's one worker thread,
    # rather than by a chain of sync dependencies (each would be a thread hop).
    services: Services = request.app.state.services
    with command("scan") as c:
        principal = auth.require_role(auth.authenticate(services.ledger, credentials.credentials if credentials else None), [VOLUNTEER])
        if principal.subject_id is None:
            raise Forbidden("this volunteer token names no volunteer")
        key = idempotency.idempotency_key(key)
        kind, fields = codes.read(signing_key(services), body.code)
        c.fields.update(kind=KIND_NAMES.get(kind, "unknown"), volunteer_id=principal.subject_id)
        handler = HANDLERS.get(kind)
        if handler is None:
            raise codes.CodeInvalid("this code cannot be scanned here")
        out = handler(Scan(services, principal, principal.subject_id, kind, fields, body, services.settings.zone, key))
        record_scan(c, out)
    # Serialised here: returning the model would make FastAPI validate it again in a
    # second trip through the thread pool.
    return Response(out.model_dump_json(), media_type="application/json")  # type: ignore[return-value]


KIND_NAMES = {codes.ACTIVITY: "activity", codes.MERCHANT: "merchant", codes.PAY: "pay"}
OUTCOMES = {"check_in": "checked_in", "check_out": "checked_out"}


def record_scan(c: Command, out: m.ScanOut) -> None:
    """The scan's outcome for the command log and ``moralbank_scans``; points a check-out
    credited at once (not those waiting for approval, nor a replay's)."""
    if out.replayed:
        c.done("replayed")
        return
    c.done(OUTCOMES.get(out.action, out.action))
    if out.activity is not None:
        c.fields["activity_id"] = out.activity.id
    if out.attendance is not None and out.action == "check_out" and out.attendance.status == "credited":
        c.credited("scan", out.attendance.points)


@handles(codes.ACTIVITY)
def activity_scan(s: Scan) -> m.ScanOut:
    """A repeat within the grace period is the same scan (``replayed``), so retries are safe
    with or without an ``Idempotency-Key``."""
    assert s.services.attendance is not None
    r = s.services.attendance.scan(s.fields, s.volunteer_id, expected_activity=s.body.activity_id)
    return m.ScanOut(
        kind="activity",
        action=r.action,
        replayed=r.replayed,
        activity=m.ScanActivity(id=r.activity.id, title=r.activity.title),
        attendance=attendance_view(r.attendance, s.zone),
    )
