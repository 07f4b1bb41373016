"""``POST /v1/scans``: a volunteer scans a code. The code's kind picks the handler, from the
table ``create_app`` hands to ``scans_router``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from ledger import codes

from api import auth, idempotency
from api.auth import VOLUNTEER
from api.context import Services
from api.deps import bearer
from api.problems import Forbidden, responses
from api.scans.handlers import Scan, ScanHandler
from api.scans.schemas import ScanIn, ScanOut

KIND_NAMES = {codes.ACTIVITY: "activity", codes.MERCHANT: "merchant", codes.PAY: "pay"}


def scans_router(handlers: Mapping[str, ScanHandler]) -> APIRouter:
    """The scan route, handling the kinds of code in ``handlers``."""
    router = APIRouter(prefix="/v1", tags=["volunteer"])

    @router.post(
        "/scans",
        response_model=ScanOut,
        responses=responses(400, 401, 403, 404, 409, 415, 422),
        summary="Scan a code: check in or out of an activity (the first scan checks in, the next checks out)",
    )
    def scan(
        body: ScanIn,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        key: Annotated[str | None, Header(alias=idempotency.HEADER, description="optional; a repeated scan is recognised without it")] = None,
    ) -> ScanOut:
        # The busiest route: authentication is done here, in the route's one worker thread,
        # rather than by a chain of sync dependencies (each would be a thread hop).
        services: Services = request.app.state.services
        # One command from the token to the handler's service call (which adds its outcome and
        # points to it): a forged code or a kind nobody handles is a refused scan too.
        with services.commands.command("scan") as c:
            principal = auth.require_role(auth.authenticate(services.ledger, credentials.credentials if credentials else None), [VOLUNTEER])
            if principal.subject_id is None:
                raise Forbidden("this volunteer token names no volunteer")
            key = idempotency.idempotency_key(key)
            kind, fields = codes.read(services.attendance.key, body.code)
            c.fields.update(kind=KIND_NAMES.get(kind, "unknown"), volunteer_id=principal.subject_id)
            handler = handlers.get(kind)
            if handler is None:
                raise codes.CodeInvalid("this code cannot be scanned here")
            out = handler(Scan(services, principal, principal.subject_id, kind, fields, body, services.settings.zone, key))
            if c.outcome == "done":  # a handler that called no logged command (a till's code)
                c.done(out.action)
        # Serialised here: returning the model would make FastAPI validate it again in a
        # second trip through the thread pool.
        return Response(out.model_dump_json(), media_type="application/json")  # type: ignore[return-value]

    return router
