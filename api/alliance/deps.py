"""Who may act for a merchant, and the alliance's things loaded and scope-checked."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query

from ledger.errors import NotFound
from merchants.application import Alliance
from merchants.domain import Merchant, Redemption

from api import auth, cursors
from api.auth import ADMIN, MERCHANT, ORGANIZER, VOLUNTEER, Principal
from api.deps import CurrentPrincipal, ServicesDep
from api.problems import Forbidden


def get_alliance(services: ServicesDep) -> Alliance:
    return services.alliance


AllianceDep = Annotated[Alliance, Depends(get_alliance)]


def _merchant_principal(principal: CurrentPrincipal) -> Principal:
    auth.require_role(principal, (MERCHANT,))
    if principal.subject_id is None:
        raise Forbidden("this merchant token names no merchant")
    return principal


def _merchant_or_admin(principal: CurrentPrincipal) -> Principal:
    return auth.require_role(principal, (MERCHANT, ADMIN))


MerchantPrincipal = Annotated[Principal, Depends(_merchant_principal)]
MerchantOrAdmin = Annotated[Principal, Depends(_merchant_or_admin)]


def own_or_admin(merchant_id: UUID, principal: MerchantOrAdmin, alliance: AllianceDep) -> Merchant:
    """The merchant itself or an admin. Raises NotFound, Forbidden (another merchant)."""
    merchant = alliance.get_merchant(merchant_id)
    if principal.role == MERCHANT and principal.subject_id != merchant_id:
        raise Forbidden("a merchant sees only its own", merchant_id=str(merchant_id))
    return merchant


OwnMerchant = Annotated[Merchant, Depends(own_or_admin)]


def visible_redemption(redemption_id: UUID, principal: CurrentPrincipal, alliance: AllianceDep) -> Redemption:
    """Its merchant, its volunteer, admins. Raises NotFound (also for anyone else), Forbidden (staff)."""
    redemption = alliance.get_redemption(redemption_id)
    if principal.role == ADMIN:
        return redemption
    if principal.role == MERCHANT and principal.subject_id == redemption.merchant_id:
        return redemption
    if principal.role == VOLUNTEER and principal.subject_id == redemption.volunteer_id:
        return redemption
    if principal.role == ORGANIZER:
        raise Forbidden("only an admin, the merchant or the volunteer can see a redemption")
    raise NotFound("redemption not found", id=str(redemption_id))


VisibleRedemption = Annotated[Redemption, Depends(visible_redemption)]


def after_cursor(
    limit: Annotated[int, Query(ge=1, le=200, description="items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=100, description="`next_cursor` of the previous page")] = None,
) -> tuple[int, int | None]:
    return limit, cursors.decode_seq(cursor) if cursor is not None else None


AfterCursor = Annotated[tuple[int, int | None], Depends(after_cursor)]
