"""The directory's replies from the read models."""

from __future__ import annotations

from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from projections import boards

from api import cursors
from api.datetimes import from_row_time
from api.directory.schemas import UnitFigures, UnitNode, VolunteerRow

VOL = "vol:"  # a volunteer search cursor: the last row's registration time and id


def encode_cursor(row: dict[str, Any]) -> str:
    return cursors.encode(VOL, row["registered_at"].replace(":", "."), row["id"])


def _fields(fields: list[str]) -> tuple[str, str]:
    at, ident = fields
    UUID(ident)
    if not at[:4].isdigit() or len(at) > 40 or not all(ch.isdigit() or ch in "-T.Z+" for ch in at):
        raise ValueError(at)
    return at.replace(".", ":", 2), ident


def decode_cursor(cursor: str) -> tuple[str, str]:
    """Raises InvalidCursor."""
    return cursors.decode(VOL, cursor, _fields)


def paths(units: list[dict[str, Any]]) -> dict[str, list[str]]:
    by_id = {u["id"]: u for u in units}
    out: dict[str, list[str]] = {}
    for uid in by_id:
        names: list[str] = []
        current, seen = uid, set()
        while current in by_id and current not in seen:
            seen.add(current)
            names.append(by_id[current]["name"])
            current = by_id[current]["parent_id"]
        out[uid] = names[::-1]
    return out


def tree(
    units: list[dict[str, Any]], visible: set[str] | None, figures: dict[tuple[str, str, str], dict[str, int]],
    starts: dict[str, Any],
) -> list[UnitNode]:
    named = paths(units)
    shown = [u for u in units if visible is None or u["id"] in visible]
    # parents before children: by depth, then in the order they were made
    shown.sort(key=lambda u: len(named[u["id"]]))
    zero = {"issued": 0, "earned": 0, "redeemed": 0, "minutes": 0, "active": 0}
    return [
        UnitNode(
            id=UUID(u["id"]), name=u["name"], kind=u["kind"],
            parent_id=UUID(u["parent_id"]) if u["parent_id"] else None, path=named[u["id"]],
            figures=[
                UnitFigures(
                    period=p, start=s, end=boards.period_end(p, s),  # type: ignore[arg-type]
                    **figures.get((UUID(u["id"]).hex, p, boards.start_key(s)), zero),
                )
                for p, s in starts.items()
            ],
        )
        for u in shown
    ]


def volunteer_row(row: dict[str, Any], named: dict[str, list[str]], zone: ZoneInfo) -> VolunteerRow:
    return VolunteerRow(
        id=UUID(row["id"]), name=row["name"], unit_id=UUID(row["unit_id"]), unit_path=named.get(row["unit_id"], []),
        member_no=row["member_no"], phone_last4=row["phone_last4"], registered_at=from_row_time(row["registered_at"], zone),
    )


