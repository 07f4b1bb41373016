"""Admins: organizer tokens, the list of every token, revocation; any token: who am I."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import AdminPrincipal, CurrentPrincipal, LedgerDep, ZoneDep
from api.problems import responses
from api.tokens import views
from api.tokens.schemas import IssuedTokenOut, OrganizerIn, PrincipalOut, TokenList, TokenOut

router = APIRouter(prefix="/v1", tags=["admin"])


@router.post(
    "/organizers",
    status_code=201,
    response_model=IssuedTokenOut,
    responses=responses(400, 401, 403, 404, 415, 422),
    summary="Create an organizer token for some units (the secret is shown once)",
)
def create_organizer(body: OrganizerIn, principal: AdminPrincipal, ledger: LedgerDep, zone: ZoneDep) -> IssuedTokenOut:
    unit_ids = list(dict.fromkeys(body.unit_ids))
    return views.issued(ledger.issue_token("organizer", body.name, unit_ids=unit_ids), zone)


@router.get(
    "/tokens",
    response_model=TokenList,
    responses=responses(401, 403),
    summary="Every token issued (never the secrets)",
)
def list_tokens(principal: AdminPrincipal, ledger: LedgerDep, zone: ZoneDep) -> TokenList:
    return TokenList(items=[views.token(t, zone) for t in ledger.list_tokens()])


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Revoke a token (revoking twice is harmless)",
)
def revoke_token(token_id: UUID, principal: AdminPrincipal, ledger: LedgerDep, zone: ZoneDep) -> TokenOut:
    return views.token(ledger.revoke_token(token_id), zone)


@router.get(
    "/me/principal",
    response_model=PrincipalOut,
    responses=responses(401, 403),
    tags=["auth"],
    summary="Who am I: the calling token's role, name, units and subject (any token; never the secret)",
)
def my_principal(principal: CurrentPrincipal) -> PrincipalOut:
    t = principal.token
    return PrincipalOut(id=principal.id, role=principal.role, name=str(t.name), unit_ids=principal.unit_ids,
                        subject_id=principal.subject_id)
