"""Tokens as replies (never the secret's hash; the secret only when just issued)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ledger.application import IssuedToken
from ledger.domain import AccessToken

from api.datetimes import zoned
from api.tokens.schemas import IssuedTokenOut, TokenOut


def token(t: AccessToken, zone: ZoneInfo) -> TokenOut:
    return TokenOut(
        id=t.id,
        role=t.role,
        name=t.name,
        unit_ids=list(t.unit_ids),
        subject_id=t.subject_id,
        hint=t.hint,
        issued_at=zoned(t.issued_at, zone),
        revoked_at=zoned(t.revoked_at, zone) if t.revoked_at else None,
        active=t.active,
    )


def issued(i: IssuedToken, zone: ZoneInfo) -> IssuedTokenOut:
    return IssuedTokenOut(**token(i.token, zone).model_dump(), secret=i.secret)
