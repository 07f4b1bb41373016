"""Pure rules of the alliance: no I/O, no clock, no library. Table-tested in tests/unit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger.codes import CodeExpired, CodeInvalid
from ledger.errors import InvalidRequest
from ledger.rules import check_points

from merchants.errors import CardLimitReached, OfferUnavailable

PAY_CODE_SECONDS = 60
DAY, MONTH = "day", "month"
LIMIT_PERIODS = (DAY, MONTH)
MAX_LIMIT = 100
MAX_STOCK = 1_000_000
MAX_STATEMENT_DAYS = 366


def redemption_key(nonce: str) -> str:
    """The ledger key of a pay-code redemption: the code's nonce names it, so the same code
    can never move points twice."""
    return "paycode:" + nonce


def scan_key(volunteer_id: UUID, request: str) -> str:
    """The ledger key of a payment a volunteer starts by scanning a merchant's code."""
    return f"scanpay:{volunteer_id.hex}:{request}"


def card_key(merchant_id: UUID, request: str) -> str:
    """The ledger key of a card payment: the till's own request key, within its merchant."""
    return f"cardpay:{merchant_id.hex}:{request}"


# ---------------------------------------------------------------- card payments (card + PIN at a till)

# Points a volunteer may pay by card in a day, unless their unit (or the nearest unit above it)
# sets another cap: a lost card and a watched PIN cost at most this much a day.
DEFAULT_CARD_DAILY_CAP = 200
MAX_CARD_DAILY_CAP = 100_000


def check_card_cap(cap: object) -> int:
    """Raises InvalidRequest."""
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_CARD_DAILY_CAP:
        raise InvalidRequest(f"the daily cap on card payments is 0 to {MAX_CARD_DAILY_CAP} points")
    return cap


def card_cap_of(caps_up_the_tree: Sequence[int | None]) -> int:
    """The cap of the nearest unit that sets one (the volunteer's own unit first), else the default."""
    return next((c for c in caps_up_the_tree if c is not None), DEFAULT_CARD_DAILY_CAP)


def check_card_spend(spent: int, points: int, cap: int) -> None:
    """Raises CardLimitReached."""
    if spent + points > cap:
        raise CardLimitReached(
            f"card payments are limited to {cap} points a day; {max(0, cap - spent)} left today",
            cap=cap, spent=spent, left=max(0, cap - spent),
        )


# ---------------------------------------------------------------- pay codes


def pay_code_fields(volunteer_id: UUID, nonce: str, expires: int) -> dict[str, Any]:
    return {"v": volunteer_id.hex, "n": nonce, "exp": expires}


@dataclass(frozen=True)
class PayCodeClaims:
    volunteer_id: UUID
    nonce: str
    expires: int  # epoch seconds


def parse_pay_code(fields: dict[str, Any]) -> PayCodeClaims:
    """Raises CodeInvalid for fields that are not a pay code's."""
    try:
        volunteer_id = UUID(hex=str(fields["v"]))
        nonce, expires = fields["n"], fields["exp"]
    except (KeyError, ValueError, TypeError):
        raise CodeInvalid("not a pay code") from None
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 64 or isinstance(expires, bool) or not isinstance(expires, int):
        raise CodeInvalid("not a pay code")
    return PayCodeClaims(volunteer_id, nonce, expires)


def check_not_expired(expires: int, now: datetime) -> None:
    """A pay code is valid strictly before its expiry second. Raises CodeExpired."""
    if now.timestamp() >= expires:
        raise CodeExpired("this pay code has expired; ask for a fresh one", expired_at=expires)


def parse_merchant_code(fields: dict[str, Any]) -> UUID:
    try:
        return UUID(hex=str(fields["m"]))
    except (KeyError, ValueError, TypeError):
        raise CodeInvalid("not a merchant code") from None


# ---------------------------------------------------------------- offers


def check_offer(
    points: object,
    stock: object,
    limit: object,
    limit_period: object,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> None:
    """Raises InvalidAmount / InvalidRequest."""
    check_points(points)
    if stock is not None and (isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= MAX_STOCK):
        raise InvalidRequest(f"stock must be a whole number from 0 to {MAX_STOCK}", stock=repr(stock))
    if limit is None:
        if limit_period is not None:
            raise InvalidRequest("a limit period needs a limit")
    else:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}", limit=repr(limit))
        if limit_period not in LIMIT_PERIODS:
            raise InvalidRequest("limit period must be day or month", limit_period=repr(limit_period))
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise InvalidRequest("an offer must end after it starts")


def check_offer_open(
    *, withdrawn: bool, starts_at: datetime | None, ends_at: datetime | None, stock: int | None, taken: int, now: datetime
) -> None:
    """Raises OfferUnavailable."""
    if withdrawn:
        raise OfferUnavailable("this offer was withdrawn")
    if starts_at is not None and now < starts_at:
        raise OfferUnavailable("this offer has not started yet", starts_at=starts_at.isoformat())
    if ends_at is not None and now >= ends_at:
        raise OfferUnavailable("this offer has ended", ends_at=ends_at.isoformat())
    if stock is not None and taken >= stock:
        raise OfferUnavailable("this offer is sold out")


def stock_left(stock: int | None, taken: int) -> int | None:
    return None if stock is None else max(0, stock - taken)


def period_key(now: datetime, zone: ZoneInfo, period: str) -> str:
    """The day or month ``now`` falls in, cut in the configured zone."""
    local = now.astimezone(zone)
    return local.strftime("%Y-%m-%d") if period == DAY else local.strftime("%Y-%m")


# ---------------------------------------------------------------- statements


def statement_window(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From the first local midnight of ``start`` to the local midnight after ``end``, in UTC.
    Raises InvalidRequest for an empty or overlong period."""
    if end < start:
        raise InvalidRequest("the period ends before it starts", start=start.isoformat(), end=end.isoformat())
    if (end - start).days >= MAX_STATEMENT_DAYS:
        raise InvalidRequest(f"a statement covers at most {MAX_STATEMENT_DAYS} days")
    lo = datetime.combine(start, time(0), zone).astimezone(timezone.utc)
    hi = datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(timezone.utc)
    return lo, hi


def statement_totals(lines: list[dict[str, Any]]) -> dict[str, int]:
    """Redeemed is what came in, reversed what went back; net is their difference."""
    redeemed = sum(int(l["points"]) for l in lines if int(l["points"]) > 0)
    reversed_ = -sum(int(l["points"]) for l in lines if int(l["points"]) < 0)
    return {
        "redemptions": sum(1 for l in lines if int(l["points"]) > 0),
        "reversals": sum(1 for l in lines if int(l["points"]) < 0),
        "redeemed": redeemed,
        "reversed": reversed_,
        "net": redeemed - reversed_,
    }


def mask_name(name: str | None) -> str:
    """A volunteer's name on a shop's statement: the surname and a star per other character."""
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)
