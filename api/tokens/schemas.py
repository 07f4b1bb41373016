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
