"""Request and response bodies of member cards and sign-in links (strict, as ``api.models``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StrictStr, StringConstraints

from api.cards.deps import Pin
from api.schemas import In, Name, Out
from api.tokens.schemas import IssuedTokenOut
from api.volunteers.schemas import VolunteerOut

# What a person typed or a camera read: checked by the ledger, so any short text is taken here.
TypedPin = Annotated[StrictStr, StringConstraints(max_length=20), Field(description="the 6-digit PIN as typed")]
CardCode = Annotated[StrictStr, StringConstraints(max_length=600), Field(description="a card code (`MB1.c.…`), or the card's URL")]


class CardIssueIn(In):
    pin: Pin


class CardSessionIn(In):
    card_code: CardCode
    pin: TypedPin


class PinChangeIn(In):
    current_pin: TypedPin
    new_pin: Pin


class SigninLinkIn(In):
    role: Literal["merchant", "organizer"]
    name: Name | None = Field(default=None, description="who the token is for (default: the shop's name)")
    merchant_id: UUID | None = Field(default=None, description="the shop, for role `merchant`")
    unit_ids: Annotated[list[UUID], Field(max_length=50)] = Field(default_factory=list, description="for role `organizer`")


class SigninExchangeIn(In):
    token: Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)] = Field(
        description="the secret from the link's URL fragment (`#token=…`)"
    )


class CardOut(Out):
    volunteer_id: UUID
    serial: int = Field(description="counts up with every re-issue; older cards' codes are refused")
    locked: bool
    tries_left: int = Field(description="wrong PINs left before the card locks")
    issued_at: datetime
    code: str = Field(description="the card code printed in the card's QR (`MB1.c.…`), not a credential by itself")
    url: str = Field(description="what the QR encodes: the volunteer page with the card code in its fragment")


class CardSessionOut(Out):
    volunteer: VolunteerOut
    token: IssuedTokenOut


class SigninLinkOut(Out):
    id: UUID
    role: str
    name: str
    unit_ids: list[UUID]
    subject_id: UUID | None
    expires_at: datetime
    url: str = Field(description="the one-time link (its secret is in the fragment); shown once")
    qr_svg: str = Field(description="the link as an SVG QR code, to print or show")


class SigninExchangeOut(Out):
    token: IssuedTokenOut
    next: str = Field(description="the page to open with this token")


SheetFormat = Literal["pdf", "html"]
CardFormat = Literal["png", "svg", "json"]
