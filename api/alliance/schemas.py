"""Bodies of the merchant alliance (strict requests, documented replies).

No ``from __future__ import annotations`` here: ``ReversalIn`` keeps the schema name that
/openapi.json has always given it (``api__alliance_models__ReversalIn``, beside the transactions'
``ReversalIn``), which pydantic takes from the class's module; a class that names another module
must have its annotations evaluated where it is defined.
"""

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StrictInt, StrictStr, StringConstraints, model_validator

from merchants.rules import MAX_LIMIT, MAX_STOCK

from api.datetimes import Instant
from api.schemas import TRIM, In, Memo, Name, Out, Points
from api.tokens.schemas import IssuedTokenOut

_NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[StrictStr, StringConstraints(max_length=200, pattern=_NO_CONTROLS), TRIM]
Code = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]


class MerchantIn(In):
    name: Name
    unit_id: UUID
    address: Text = ""
    contact: Text = ""


class SuspensionIn(In):
    reason: Memo = ""


class OfferIn(In):
    title: Name
    points: Points
    stock: Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)] | None = Field(None, description="none: unlimited")
    limit: Annotated[StrictInt, Field(ge=1, le=MAX_LIMIT)] | None = Field(
        None, description="how often one volunteer may take it per `limit_period`"
    )
    limit_period: Literal["day", "month"] | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None

    @model_validator(mode="after")
    def _aware(self) -> "OfferIn":
        for t in (self.starts_at, self.ends_at):
            if t is not None and t.tzinfo is None:
                raise ValueError("times need an offset (RFC 3339)")
        return self


class PaymentIn(In):
    """A volunteer pays the merchant whose till code they scanned."""

    merchant_code: Code
    points: Points | None = None
    offer_id: UUID | None = None

    @model_validator(mode="after")
    def _one(self) -> "PaymentIn":
        if (self.points is None) == (self.offer_id is None):
            raise ValueError("give either points or offer_id")
        return self


class CardPaymentIn(In):
    """A till takes a member card (its QR read by the till) and the PIN the volunteer types."""

    card_code: Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=800)] = Field(
        description="the card's code (MB1.c…) or the card's link (…#card=MB1.c…)"
    )
    pin: Annotated[StrictStr, StringConstraints(min_length=1, max_length=12)] = Field(
        description="the volunteer's 6-digit PIN, typed on the till; never stored nor logged"
    )
    points: Points | None = None
    offer_id: UUID | None = None

    @model_validator(mode="after")
    def _one(self) -> "CardPaymentIn":
        if (self.points is None) == (self.offer_id is None):
            raise ValueError("give either points or offer_id")
        return self


class CardCapIn(In):
    daily_cap: Annotated[StrictInt, Field(ge=0, le=100_000)] = Field(
        description="points one volunteer of this unit (and of units below it with no cap of their own) may pay by card in a day"
    )


class CardCapOut(Out):
    unit_id: UUID
    daily_cap: int = Field(description="the cap in force: this unit's own, else the nearest unit above it, else the default")


class RedemptionIn(In):
    pay_code: Code
    points: Points | None = None
    offer_id: UUID | None = None

    @model_validator(mode="after")
    def _one(self) -> "RedemptionIn":
        if (self.points is None) == (self.offer_id is None):
            raise ValueError("give either points or offer_id")
        return self


class ReversalIn(In):
    __module__ = "api.alliance_models"  # its name in /openapi.json (see above)

    reason: Memo = Field(description="why the redemption is undone")


class MerchantOut(Out):
    id: UUID
    name: str
    unit_id: UUID
    address: str
    contact: str
    suspended: bool
    registered_at: datetime


class RegisteredMerchantOut(Out):
    merchant: MerchantOut
    token: IssuedTokenOut
    code: str = Field(description="the static merchant code to print at the till (MB1.m.…)")


class MerchantPage(Out):
    items: list[MerchantOut]
    next_cursor: str | None


class OfferOut(Out):
    id: UUID
    merchant_id: UUID
    title: str
    points: int
    stock: int | None
    stock_left: int | None
    limit: int | None
    limit_period: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    withdrawn: bool
    available: bool = Field(description="open now: not withdrawn, inside its window, not sold out")


class OfferPage(Out):
    items: list[OfferOut]
    next_cursor: str | None


class CodeOut(Out):
    code: str
    expires_at: datetime | None = Field(None, description="pay codes only: valid strictly before this time")


class RedemptionOut(Out):
    id: UUID
    transaction_id: UUID
    merchant_id: UUID
    volunteer_id: UUID
    volunteer_name: str = Field(description="masked: the surname and stars")
    offer_id: UUID | None
    title: str
    points: int
    via: str
    at: datetime
    reversed_by: UUID | None
    reversal_reason: str


class FundingShare(Out):
    unit_id: UUID | None = Field(description="the issuing unit whose lots paid these points (null: no drawing recorded)")
    unit_name: str
    points: int = Field(description="signed as the line: a reversal gives the points back to the lots it drew from")


class StatementLine(Out):
    transaction_id: UUID
    kind: str
    points: int = Field(description="into the merchant's account (a reversal is negative)")
    redemption_id: UUID | None
    offer_id: UUID | None
    title: str
    volunteer: str
    memo: str
    at: datetime
    reverses: UUID | None
    funding: list[FundingShare] = Field(
        default_factory=list, description="the line's points split by the issuing unit that funded them (they sum to `points`)"
    )


class StatementTotals(Out):
    redemptions: int
    reversals: int
    redeemed: int
    reversed: int
    net: int
    funding: list[FundingShare] = Field(default_factory=list, description="net points per funding unit (they sum to `net`)")


class StatementOut(Out):
    merchant_id: UUID
    merchant_name: str
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    timezone: str
    lines: list[StatementLine]
    totals: StatementTotals


class ShopSettlement(Out):
    merchant_id: UUID
    merchant_name: str
    redemptions: int = Field(description="redemptions at this shop paid (in part or whole) with the unit's points")
    reversals: int
    redeemed: int = Field(description="the unit's points those redemptions took")
    reversed: int = Field(description="the unit's points given back by reversals in the period")
    points: int = Field(description="redeemed - reversed: what the unit's budget owes for this shop")


class UnitSettlementTotals(Out):
    redemptions: int
    reversals: int
    redeemed: int
    reversed: int
    points: int


class UnitStatementOut(Out):
    unit_id: UUID
    unit_name: str
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    timezone: str
    shops: list[ShopSettlement]
    totals: UnitSettlementTotals


class ScanMerchant(Out):
    """What scanning a merchant's till code shows: the shop and what it offers."""

    id: UUID
    name: str
    address: str
    code: str = Field(description="send it back as `merchant_code` to POST /v1/me/payments")
    offers: list[OfferOut]
