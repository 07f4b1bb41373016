"""Bodies of the token routes (and the issued token that registrations carry once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field

from api.schemas import In, Name, Out


class OrganizerIn(In):
    name: Name
    unit_ids: Annotated[list[UUID], Field(min_length=1, max_length=50)]


class TokenOut(Out):
    id: UUID
    role: str
    name: str
    unit_ids: list[UUID]
    subject_id: UUID | None
    hint: str = Field(description="the last four characters of the secret")
    issued_at: datetime
    revoked_at: datetime | None
    active: bool


class IssuedTokenOut(TokenOut):
    secret: str = Field(description="the bearer token; shown this once, never stored")


class TokenList(Out):
    items: list[TokenOut]


class PrincipalOut(Out):
    """Who the calling token is (never its secret)."""

    id: UUID = Field(description="the token's id")
    role: str = Field(description="`admin`, `organizer`, `volunteer` or `merchant`")
    name: str
    unit_ids: list[UUID] = Field(description="an organizer's units (and everything below them)")
    subject_id: UUID | None = Field(description="the volunteer or the shop a volunteer's or merchant's token is for")
