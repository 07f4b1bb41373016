"""Merchants, offers and redemptions as replies, from the aggregates or the alliance read model."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from merchants import rules
from merchants.domain import Merchant, Offer, Redemption
from merchants.errors import OfferUnavailable

from api.alliance import schemas as am
from api.datetimes import from_row_time, zoned


def merchant(m: Merchant | dict[str, Any], zone: Any) -> am.MerchantOut:
    if isinstance(m, dict):
        return am.MerchantOut(
            id=UUID(m["id"]), name=m["name"], unit_id=UUID(m["unit_id"]), address=m["address"], contact=m["contact"],
            suspended=bool(m["suspended"]), registered_at=from_row_time(m["registered_at"], zone),
        )
    return am.MerchantOut(
        id=m.id, name=m.name, unit_id=m.unit_id, address=m.address, contact=m.contact, suspended=m.suspended,
        registered_at=zoned(m.registered_at, zone),
    )


def offer(row: dict[str, Any], now: datetime, zone: Any) -> am.OfferOut:
    starts = from_row_time(row["starts_at"], zone) if row["starts_at"] else None
    ends = from_row_time(row["ends_at"], zone) if row["ends_at"] else None
    stock = int(row["stock"]) if row["stock"] is not None else None
    taken = int(row["taken"])
    try:
        rules.check_offer_open(withdrawn=bool(row["withdrawn"]), starts_at=starts, ends_at=ends, stock=stock, taken=taken, now=now)
        available = True
    except OfferUnavailable:
        available = False
    return am.OfferOut(
        id=UUID(row["id"]), merchant_id=UUID(row["merchant_id"]), title=row["title"], points=int(row["points"]),
        stock=stock, stock_left=rules.stock_left(stock, taken), limit=row["lim"], limit_period=row["limit_period"],
        starts_at=starts, ends_at=ends, withdrawn=bool(row["withdrawn"]), available=available,
    )


def fresh_offer(o: Offer, now: datetime, zone: Any) -> am.OfferOut:
    row = {
        "id": str(o.id), "merchant_id": str(o.merchant_id), "title": o.title, "points": o.points, "stock": o.stock,
        "taken": o.taken, "lim": o.limit, "limit_period": o.limit_period, "withdrawn": o.withdrawn,
        "starts_at": o.starts_at.isoformat() if o.starts_at else None, "ends_at": o.ends_at.isoformat() if o.ends_at else None,
    }
    return offer(row, now, zone)


def redemption(r: Redemption, volunteer_name: str, zone: Any) -> am.RedemptionOut:
    return am.RedemptionOut(
        id=r.id, transaction_id=r.transaction_id, merchant_id=r.merchant_id, volunteer_id=r.volunteer_id,
        volunteer_name=rules.mask_name(volunteer_name), offer_id=r.offer_id, title=r.title,
        points=r.points, via=r.via, at=zoned(r.at, zone), reversed_by=r.reversed_by, reversal_reason=r.reversal_reason,
    )


def code_headers(expires_at: datetime | None, zone: Any, now: datetime | None = None) -> dict[str, str]:
    """When a pay code expires, by the server's clock (a phone with a wrong clock still renews in time)."""
    if expires_at is None:
        return {}
    headers = {"X-Expires-At": zoned(expires_at, zone).isoformat()}
    if now is not None:
        headers["X-Expires-In"] = str(max(0, int((expires_at - now).total_seconds())))
    return headers


def code(code: str, expires_at: datetime | None, zone: Any) -> am.CodeOut:
    return am.CodeOut(code=code, expires_at=zoned(expires_at, zone) if expires_at else None)
