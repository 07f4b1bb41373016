"""Leaderboards and unit roll-ups for the API: bodies, the optional caller of a public
board, cursors, and the read-model rows turned into responses."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import Depends, Path
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import Field

from ledger import rules
from ledger.application import Ledger
from ledger.errors import NotFound
from projections import boards
from projections import leaderboards as lb
from projections.db import Database

from api import auth
from api.auth import ADMIN, ORGANIZER, Principal
from api.deps import DbDep, LedgerDep, ServicesDep, bearer
from api.models import In, Out, UnitPeriodTotals
from api.problems import InvalidCursor

Metric = Literal["points", "minutes"]
Period = Literal["week", "month", "year", "all"]

# ---------------------------------------------------------------- bodies


class MoveVolunteerIn(In):
    unit_id: UUID = Field(description="the volunteer's new home unit")


class BoardUnit(Out):
    id: UUID
    name: str
    kind: str


class BoardRow(Out):
    rank: int = Field(description="competition rank: equal values share a rank and the next rank skips (1, 2, 2, 4)")
    name: str = Field(description="masked (张*明) unless the caller organizes this unit")
    volunteer_id: UUID | None = Field(description="only with full names")
    home_unit: BoardUnit | None = Field(description="the volunteer's current home unit")
    value: int = Field(description="points earned or minutes served in the period, net of reversals")


class LeaderboardOut(Out):
    unit: BoardUnit
    ancestors: list[BoardUnit] = Field(description="parent first, up to the root")
    children: list[BoardUnit] = Field(description="units directly under this one (boards of their own)")
    metric: Metric
    period: Period
    at: datetime = Field(description="the instant whose period is shown")
    period_start: date | None = Field(description="first local day of the period (null: all time)")
    period_end: date | None = Field(description="first local day after the period (null: all time)")
    names: Literal["masked", "full"]
    items: list[BoardRow] = Field(
        description="highest value first; inside a tie, in the order the volunteers were registered (stable); only values above zero"
    )
    next_cursor: str | None = Field(description="pass as ?cursor= (with the same other parameters) for the next page")


# ---------------------------------------------------------------- who is looking


def optional_principal(
    ledger: LedgerDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal | None:
    """Nobody (a public board), or the caller of a token sent along. Raises Unauthorized
    for a token that is sent but unknown or revoked."""
    if credentials is None:
        return None
    return auth.authenticate(ledger, credentials.credentials)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def sees_full_names(principal: Principal | None, ancestry_hex: list[str]) -> bool:
    """Admins, and organizers of the board's unit (or of a unit above it)."""
    if principal is None:
        return False
    if principal.role == ADMIN:
        return True
    return principal.role == ORGANIZER and rules.within_scope(ancestry_hex, [u.hex for u in principal.unit_ids])  # type: ignore[arg-type]


# ---------------------------------------------------------------- cursors

_PREFIX = "lb1:"


def encode_cursor(value: int, volunteer_hex: str, position: int, rank: int) -> str:
    text = f"{_PREFIX}{value}:{volunteer_hex}:{position}:{rank}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str, int, int]:
    """(value, volunteer id hex, rows before, rank of the last). Raises InvalidCursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        value, volunteer, position, rank = text.removeprefix(_PREFIX).split(":")
        parsed = (int(value), UUID(hex=volunteer).hex, int(position), int(rank))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("this cursor was not made by this server") from None
    if not text.startswith(_PREFIX) or not 0 < parsed[3] <= parsed[2] or abs(parsed[0]) > 2**62:
        raise InvalidCursor("this cursor was not made by this server")
    return parsed


# ---------------------------------------------------------------- views


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
    after = decode_cursor(cursor) if cursor is not None else None
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
        next_cursor=encode_cursor(int(last["value"]), last["volunteer_id"], position + len(rows), ranks[-1])
        if more and last is not None
        else None,
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
