"""A board from the leaderboards read model: ranks, masked or full names, its cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger import rules
from ledger.application import Ledger
from ledger.errors import NotFound
from projections import boards
from projections.db import Database
from projections.leaderboards import queries as lb

from api import cursors
from api.auth import ADMIN, ORGANIZER, Principal
from api.leaderboards.schemas import BoardRow, BoardUnit, LeaderboardOut

CURSOR = "lb1:"  # value, volunteer id hex, rows before, rank of the last row


def sees_full_names(principal: Principal | None, ancestry_hex: list[str]) -> bool:
    """Admins, and organizers of the board's unit (or of a unit above it)."""
    if principal is None:
        return False
    if principal.role == ADMIN:
        return True
    return principal.role == ORGANIZER and rules.within_scope(ancestry_hex, [u.hex for u in principal.unit_ids])  # type: ignore[arg-type]


def _after(fields: list[str]) -> tuple[int, str, int, int]:
    value, volunteer, position, rank = fields
    parsed = (int(value), UUID(hex=volunteer).hex, int(position), int(rank))
    if not 0 < parsed[3] <= parsed[2] or abs(parsed[0]) > 2**62:
        raise ValueError(fields)
    return parsed


def _board_unit(row: dict[str, Any]) -> BoardUnit:
    return BoardUnit(id=UUID(hex=row["unit_id"]), name=row["name"], kind=row["kind"])


def leaderboard(
    db: Database,
    ledger: Ledger,
    principal: Principal | None,
    *,
    unit_id: UUID | None,
    metric: str,
    period: str,
    at: datetime,
    zone: ZoneInfo,
    limit: int,
    cursor: str | None,
) -> LeaderboardOut:
    """Raises NotFound (unit), InvalidCursor."""
    after = cursors.decode(CURSOR, cursor, _after) if cursor is not None else None
    local = at.astimezone(zone)
    start = boards.period_start(period, local.date())
    with db.read() as tx:
        unit = lb.unit_row(tx, unit_id.hex) if unit_id is not None else lb.default_unit(tx)
        if unit is None:
            if unit_id is None:
                raise NotFound("there is no unit yet, so no board")
            u = ledger.get_unit(unit_id)  # NotFound when it does not exist; else not projected yet
            unit = {"unit_id": u.id.hex, "name": u.name, "kind": u.kind, "ancestry": u.id.hex}
        ancestry = unit["ancestry"].split(",")
        named = lb.units_named(tx, ancestry[1:])
        kids = lb.children(tx, unit["unit_id"])
        rows = lb.board(
            tx, unit["unit_id"], period, boards.start_key(start), metric, limit + 1,
            (after[0], after[1]) if after else None,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    full = sees_full_names(principal, ancestry)
    position = after[2] if after else 0
    ranks = boards.ranks([int(r["value"]) for r in rows], position=position, previous=(after[0], after[3]) if after else None)
    items = [
        BoardRow(
            rank=rank,
            name=r["name"] if full else boards.mask_name(r["name"]),
            volunteer_id=UUID(hex=r["volunteer_id"]) if full else None,
            home_unit=BoardUnit(id=UUID(hex=r["home_unit_id"]), name=r["home_name"], kind=r["home_kind"])
            if r["home_name"] is not None
            else None,
            value=int(r["value"]),
        )
        for r, rank in zip(rows, ranks, strict=True)
    ]
    last = rows[-1] if rows else None
    return LeaderboardOut(
        unit=_board_unit(unit),
        ancestors=[_board_unit(named[a]) for a in ancestry[1:] if a in named],
        children=[_board_unit(k) for k in kids],
        metric=metric,  # type: ignore[arg-type]
        period=period,  # type: ignore[arg-type]
        at=local,
        period_start=start,
        period_end=boards.period_end(period, start),
        names="full" if full else "masked",
        items=items,
        next_cursor=cursors.encode(CURSOR, int(last["value"]), last["volunteer_id"], position + len(rows), ranks[-1])
        if more and last is not None
        else None,
    )
