"""``Annotated`` dependency aliases: routes declare what they need and who may call them;
loading, scope checks and 404s happen here, once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger.application import Ledger
from ledger.domain import LedgerTransaction, Unit, Volunteer
from projections.db import Database

from api import auth, consistency, cursors, idempotency
from api.auth import ADMIN, ORGANIZER, VOLUNTEER, Access, Principal
from api.commands import CommandLog
from api.context import Services
from api.problems import Forbidden


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_ledger(services: ServicesDep) -> Ledger:
    return services.ledger


def get_db(services: ServicesDep) -> Database:
    return services.db


def get_zone(services: ServicesDep) -> ZoneInfo:
    return services.settings.zone


def get_commands(services: ServicesDep) -> CommandLog:
    return services.commands


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
DbDep = Annotated[Database, Depends(get_db)]
ZoneDep = Annotated[ZoneInfo, Depends(get_zone)]
CommandsDep = Annotated[CommandLog, Depends(get_commands)]

# ---------------------------------------------------------------- who is calling

bearer = HTTPBearer(auto_error=False, bearerFormat="opaque", description="an access token issued by moralbank")


ReadAfter = Annotated[
    str | None,
    Header(
        alias=consistency.READ_AFTER,
        description="A read of projections waits (about 2 s at most) until what it shows includes this log "
        "position (a write's `Log-Position`); the token's own last write is waited for without it. "
        "Writes ignore it. A hint: a value that is not a position (digits) is ignored, never refused, "
        "so the document gives it no pattern.",
    ),
]


def _read_your_writes(request: Request, principal: Principal | None, requested: int | None) -> None:
    """Who is calling (their writes are kept under these subjects), and, for a read of
    projections, the wait for their last write or the position asked for."""
    subjects = consistency.subjects_of(principal.id, principal.account) if principal is not None else set()
    consistency.note_principal(subjects)
    route = request.scope.get("route")
    consistency.read_after(request.app.state.consistency, getattr(route, "path", None), request.method, subjects, requested)


def current_principal(
    request: Request,
    ledger: LedgerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    read_after: ReadAfter = None,
) -> Principal:
    principal = auth.authenticate(ledger, credentials.credentials if credentials else None)
    _read_your_writes(request, principal, consistency.position_of(read_after))
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def optional_principal(
    request: Request,
    ledger: LedgerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    read_after: ReadAfter = None,
) -> Principal | None:
    """Nobody (a public read), or the caller of a token sent along. Raises Unauthorized
    for a token that is sent but unknown or revoked."""
    principal = auth.authenticate(ledger, credentials.credentials) if credentials is not None else None
    _read_your_writes(request, principal, consistency.position_of(read_after))
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def _role(*roles: str) -> Callable[[Principal], Principal]:
    def dependency(principal: CurrentPrincipal) -> Principal:
        return auth.require_role(principal, roles)

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    return dependency


AdminPrincipal = Annotated[Principal, Depends(_role(ADMIN))]
StaffPrincipal = Annotated[Principal, Depends(_role(ADMIN, ORGANIZER))]
VolunteerPrincipal = Annotated[Principal, Depends(_role(VOLUNTEER))]
PeoplePrincipal = Annotated[Principal, Depends(_role(ADMIN, ORGANIZER, VOLUNTEER))]


def get_access(ledger: LedgerDep, principal: CurrentPrincipal) -> Access:
    return Access(ledger, principal)


AccessDep = Annotated[Access, Depends(get_access)]

# ---------------------------------------------------------------- things, loaded and scope-checked


def visible_unit(unit_id: UUID, principal: StaffPrincipal, access: AccessDep) -> Unit:
    access.unit(unit_id)
    return access.ledger.get_unit(unit_id)


def visible_volunteer(volunteer_id: UUID, principal: PeoplePrincipal, access: AccessDep) -> Volunteer:
    return access.volunteer(volunteer_id)


def own_volunteer(principal: VolunteerPrincipal, ledger: LedgerDep) -> Volunteer:
    """Raises Forbidden (a volunteer token naming nobody), NotFound."""
    if principal.subject_id is None:
        raise Forbidden("this volunteer token names no volunteer")
    return ledger.get_volunteer(principal.subject_id)


def visible_transaction(transaction_id: UUID, principal: CurrentPrincipal, access: AccessDep) -> LedgerTransaction:
    return access.transaction(transaction_id)


def reversible_transaction(transaction_id: UUID, principal: StaffPrincipal, access: AccessDep) -> LedgerTransaction:
    return access.transaction(transaction_id)


VisibleUnit = Annotated[Unit, Depends(visible_unit)]
VisibleVolunteer = Annotated[Volunteer, Depends(visible_volunteer)]
OwnVolunteer = Annotated[Volunteer, Depends(own_volunteer)]
VisibleTransaction = Annotated[LedgerTransaction, Depends(visible_transaction)]
ReversibleTransaction = Annotated[LedgerTransaction, Depends(reversible_transaction)]

IdempotencyKey = Annotated[str | None, Depends(idempotency.idempotency_key)]

# ---------------------------------------------------------------- pages


@dataclass(frozen=True)
class Page:
    limit: int
    before: int | None  # a sequence number; None for the first page


def page(
    limit: Annotated[int, Query(ge=1, le=200, description="entries per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=100, description="`next_cursor` of the previous page")] = None,
) -> Page:
    return Page(limit=limit, before=cursors.decode_seq(cursor) if cursor is not None else None)


PageDep = Annotated[Page, Depends(page)]
