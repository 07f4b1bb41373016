"""Units as replies: the aggregate, its ancestry, its children and roll-ups from the read models."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import Depends, Path

from ledger.application import Ledger
from ledger.domain import Unit
from ledger.lots import rules as lot_rules
from projections import boards, lineage
from projections.db import Database
from projections.leaderboards import queries as lb

from api.datetimes import zoned
from api.deps import DbDep, ServicesDep
from api.units.schemas import ExpiringDay, ExpiringOut, ExpiryPolicy, ExpiryPolicyOut, UnitOut, UnitPeriodTotals, UnitRef


def unit_ref(unit: Unit) -> UnitRef:
    return UnitRef(id=unit.id, name=unit.name, kind=unit.kind)


def unit(ledger: Ledger, u: Unit, children: list[dict[str, Any]], zone: ZoneInfo) -> UnitOut:
    ancestors = [unit_ref(ledger.get_unit(a)) for a in ledger.unit_ancestry(u.id)[1:]]
    return UnitOut(
        id=u.id,
        name=u.name,
        kind=u.kind,
        parent_id=u.parent_id,
        created_at=zoned(u.created_at, zone),
        ancestors=ancestors,
        children=[UnitRef(id=UUID(c["id"]), name=c["name"], kind=c["kind"]) for c in children],
    )


def unit_totals(
    services: ServicesDep, db: DbDep, unit_id: Annotated[UUID, Path(description="a unit id")]
) -> list[UnitPeriodTotals]:
    """The unit's roll-ups for the periods holding the services' clock's now."""
    zone = services.settings.zone
    today = services.clock.now().astimezone(zone).date()
    starts = {p: boards.period_start(p, today) for p in boards.PERIODS}
    with db.read() as tx:
        figures = lb.totals(tx, unit_id.hex, [(p, boards.start_key(s)) for p, s in starts.items()])
        expired = lb.expired_by_day(tx, lineage.tables_of(services.ledger).postings, unit_id.hex)
    out = []
    for p, s in starts.items():
        end = boards.period_end(p, s)
        lapsed = lb.expired_in(expired, s.isoformat() if s else "", end.isoformat() if end else None)
        out.append(UnitPeriodTotals(period=p, start=s, end=end, expired=lapsed, **figures[(p, boards.start_key(s))]))  # type: ignore[arg-type]
    return out


UnitTotals = Annotated[list[UnitPeriodTotals], Depends(unit_totals)]


def expiry_policy(ledger: Ledger, unit_id: UUID) -> ExpiryPolicyOut:
    """The unit's own policy, the effective one and the unit it comes from (nearest first)."""
    own_raw = getattr(ledger.get_unit(unit_id), "expiry_policy", None)
    own = ExpiryPolicy(**lot_rules.Policy.from_dict(own_raw).as_dict()) if own_raw is not None else None
    for a in ledger.unit_ancestry(unit_id):
        u = ledger.get_unit(a)
        if getattr(u, "expiry_policy", None) is not None:
            effective = lot_rules.Policy.from_dict(u.expiry_policy)
            return ExpiryPolicyOut(
                unit_id=unit_id, own=own, effective=ExpiryPolicy(**effective.as_dict()), source_unit_id=u.id, source_unit_name=u.name
            )
    return ExpiryPolicyOut(
        unit_id=unit_id, own=None, effective=ExpiryPolicy(**lot_rules.NEVER_POLICY.as_dict()), source_unit_id=None, source_unit_name=None
    )


def expiring(db: Database, ledger: Ledger, unit_id: UUID, today: date, days: int, zone: ZoneInfo) -> ExpiringOut:
    """What lapses among volunteers under the unit from today through ``days`` days, from the lots table."""
    last = today + timedelta(days=days - 1)
    by_day, overdue, _ = lineage.expiring(db, lineage.tables_of(ledger), unit_id, today, last)
    return ExpiringOut.model_validate(
        {
            "unit_id": unit_id, "from": today, "to": last, "timezone": str(zone), "total": sum(p for _, p, _ in by_day),
            "days": [ExpiringDay(date=d, points=p, volunteers=n) for d, p, n in by_day], "overdue": overdue,
        }
    )
