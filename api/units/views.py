"""Units as replies: the aggregate, its ancestry, its children and roll-ups from the read models."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import Depends, Path

from ledger.application import Ledger
from ledger.domain import Unit
from projections import boards
from projections.leaderboards import queries as lb

from api.datetimes import zoned
from api.deps import DbDep, ServicesDep
from api.units.schemas import UnitOut, UnitPeriodTotals, UnitRef


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
    return [
        UnitPeriodTotals(
            period=p,  # type: ignore[arg-type]
            start=s,
            end=boards.period_end(p, s),
            **figures[(p, boards.start_key(s))],
        )
        for p, s in starts.items()
    ]


UnitTotals = Annotated[list[UnitPeriodTotals], Depends(unit_totals)]
