"""Who is calling, and what they may see: one place for every role and scope decision.

Order of refusals: no or bad token → 401; a role the route does not serve → 403; a thing
that does not exist → 404; a thing outside the caller's scope → 403 for staff (organizers),
404 for residents and merchants (they must not learn that someone else's thing exists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from ledger import rules
from ledger.accounts import merchant_account, volunteer_account
from ledger.application import Ledger
from ledger.domain import AccessToken, LedgerTransaction, Volunteer
from ledger.errors import NotFound, TokenRevoked

from api.problems import Forbidden, Unauthorized

ADMIN, ORGANIZER, VOLUNTEER, MERCHANT = "admin", "organizer", "volunteer", "merchant"
STAFF = (ADMIN, ORGANIZER)


@dataclass(frozen=True)
class Principal:
    """The caller, as its access token says."""

    token: AccessToken

    @property
    def id(self) -> UUID:
        return self.token.id

    @property
    def role(self) -> str:
        return str(self.token.role)

    @property
    def unit_ids(self) -> list[UUID]:
        return list(self.token.unit_ids)

    @property
    def subject_id(self) -> UUID | None:
        return self.token.subject_id

    @property
    def account(self) -> str | None:
        """The points account this caller owns (volunteers and merchants)."""
        if self.subject_id is None:
            return None
        if self.role == VOLUNTEER:
            return volunteer_account(self.subject_id)
        if self.role == MERCHANT:
            return merchant_account(self.subject_id)
        return None

    def actor(self, idempotency_key: str | None = None) -> str:
        """How the ledger records who asked: the token, and the client's key if it gave one."""
        return f"api:{self.id}" if idempotency_key is None else f"api:{self.id}:{idempotency_key}"


def authenticate(ledger: Ledger, secret: str | None) -> Principal:
    """Raises Unauthorized."""
    if not secret:
        raise Unauthorized("send Authorization: Bearer <token>")
    try:
        return Principal(ledger.authenticate(secret))
    except NotFound:
        raise Unauthorized("unknown token", invalid_token=True) from None
    except TokenRevoked:
        raise Unauthorized("this token was revoked", invalid_token=True) from None


def require_role(principal: Principal, roles: Sequence[str]) -> Principal:
    """Raises Forbidden."""
    if principal.role not in roles:
        raise Forbidden(f"a {principal.role} token cannot do this", role=principal.role)
    return principal


class Access:
    """Scope checks against the write side (the authoritative unit tree)."""

    def __init__(self, ledger: Ledger, principal: Principal) -> None:
        self.ledger = ledger
        self.principal = principal

    def unit(self, unit_id: UUID) -> None:
        """Staff only. Raises NotFound (unit), Forbidden (outside the organizer's units)."""
        p = self.principal
        ancestry = self.ledger.unit_ancestry(unit_id)
        if p.role == ADMIN:
            return
        if p.role == ORGANIZER and rules.within_scope(ancestry, p.unit_ids):
            return
        raise Forbidden("this unit is outside your units", unit_id=str(unit_id))

    def volunteer(self, volunteer_id: UUID) -> Volunteer:
        """Raises NotFound (also: a volunteer asking for someone else), Forbidden."""
        p = self.principal
        if p.role == VOLUNTEER:
            if volunteer_id != p.subject_id:
                raise NotFound("volunteer not found", id=str(volunteer_id))
            return self.ledger.get_volunteer(volunteer_id)
        volunteer = self.ledger.get_volunteer(volunteer_id)
        if p.role in STAFF:
            self.unit(volunteer.unit_id)
            return volunteer
        raise Forbidden(f"a {p.role} token cannot see volunteers", role=p.role)

    def transaction(self, transaction_id: UUID) -> LedgerTransaction:
        """Staff see (and may reverse) transactions of their units; a volunteer or merchant
        sees those that touch their own account. Raises NotFound, Forbidden."""
        p = self.principal
        txn = self.ledger.get_transaction(transaction_id)
        if p.role in STAFF:
            if p.role == ADMIN:
                return txn
            if txn.unit_id is None:
                raise Forbidden("only an admin can see this transaction")
            self.unit(txn.unit_id)
            return txn
        if p.account is not None and any(p.account in (q.source, q.destination) for q in txn.postings):
            return txn
        raise NotFound("transaction not found", id=str(transaction_id))
