"""Fund lineage and lots, read in SQL from the ledger's write-time tables (issue 17).

The journal writes, beside each ``LedgerTransaction.Recorded`` event, one row per posting (the
postings table) and one row per lot a posting drew from or gave back to (the drawings table:
position, seq, lot, issuing unit, signed amount; a reversal's give-back is negative), and keeps the
volunteers' lots (the lots table). These queries read those columns, never the events' JSON:

- ``statement_funding``: per merchant statement line (``statement_lines.seq`` is the position of
  its transaction), the points of the postings into or out of that merchant split by the issuing
  unit that funded them (a drawing's signed amount is the merchant's signed share);
- ``unit_settlement``: per shop, what the points issued by one unit paid for in a period (lineage:
  the unit whose lots were drawn, not the volunteer's home unit);
- ``expiring``: points left in lots of the volunteers under a unit, by last day.

Ids differ by store: the write-time tables keep uuids on PostgreSQL and hex text on SQLite; the
read models keep ``str(uuid)`` text. ``Tables`` names the tables and converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from ledger.postings import TABLE as POSTINGS_TABLE
from ledger.store.common import DRAWINGS_TABLE, LOTS_TABLE

_MERCHANT = "merchant"


@dataclass(frozen=True)
class Tables:
    postings: str
    drawings: str
    lots: str
    postgres: bool

    def id(self, value: UUID) -> Any:
        """A uuid as the write-time tables keep it."""
        return str(value) if self.postgres else value.hex

    def day(self, value: date) -> Any:
        return value if self.postgres else value.isoformat()


def tables_of(ledger: Any) -> Tables:
    """The write-time tables of this ledger's recorder (schema-qualified on PostgreSQL)."""
    recorder = ledger.recorder
    lots = getattr(recorder, "lots_table", None)
    if lots is None:  # SQLite: fixed names in the ledger's own file
        return Tables(POSTINGS_TABLE, DRAWINGS_TABLE, LOTS_TABLE, postgres=False)
    schema = recorder.datastore.schema
    return Tables(
        f'"{schema}"."{recorder.postings_table}"', f'"{schema}"."{recorder.drawings_table}"', f'"{schema}"."{lots}"',
        postgres=True,
    )


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def statement_funding(db: Any, t: Tables, merchant_id: UUID, lo: str, hi: str) -> dict[str, dict[UUID, int]]:
    """Per statement line (transaction id text) of the merchant with ``lo <= at < hi``, the
    points per funding unit, from the drawings of the line's postings into or out of the merchant."""
    m = t.id(merchant_id)
    uid = "d.unit_id::text" if t.postgres else "d.unit_id"
    with db.read() as tx:
        rows = tx.all(
            f"SELECT l.transaction_id AS line, {uid} AS unit_id, sum(d.amount) AS points "
            f"FROM statement_lines l JOIN {t.postings} p ON p.position = l.seq "
            f"JOIN {t.drawings} d ON d.position = p.position AND d.seq = p.seq "
            "WHERE l.merchant_id = %s AND l.at >= %s AND l.at < %s "
            f"AND ((p.destination_kind = '{_MERCHANT}' AND p.destination_id = %s) "
            f"OR (p.source_kind = '{_MERCHANT}' AND p.source_id = %s)) "
            f"GROUP BY l.transaction_id, {uid}",
            (str(merchant_id), lo, hi, m, m),
        )
    out: dict[str, dict[UUID, int]] = {}
    for r in rows:
        if int(r["points"]):
            out.setdefault(r["line"], {})[_uuid(r["unit_id"])] = int(r["points"])
    return out


def unit_settlement(db: Any, t: Tables, unit_id: UUID, start: date, end: date) -> list[dict[str, Any]]:
    """Per shop, the points issued by ``unit_id`` that volunteers redeemed there on the local days
    ``start``…``end`` (net of reversals on those days), the points reversed, and how many
    redemptions and reversals they funded in part or whole. Shop ids as ``UUID``."""
    shop = "CASE WHEN p.destination_kind = 'merchant' THEN p.destination_id ELSE p.source_id END"
    shop_text = f"({shop})::text" if t.postgres else shop
    into, out_of = "p.destination_kind = 'merchant'", "p.source_kind = 'merchant'"
    with db.read() as tx:
        rows = tx.all(
            f"SELECT {shop_text} AS merchant, "
            f"sum(CASE WHEN {into} THEN d.amount ELSE 0 END) AS redeemed, "
            f"-sum(CASE WHEN {out_of} THEN d.amount ELSE 0 END) AS reversed, "
            f"count(DISTINCT CASE WHEN {into} THEN p.position END) AS redemptions, "
            f"count(DISTINCT CASE WHEN {out_of} THEN p.position END) AS reversals "
            f"FROM {t.drawings} d JOIN {t.postings} p ON p.position = d.position AND p.seq = d.seq "
            f"WHERE d.unit_id = %s AND p.day >= %s AND p.day <= %s AND ({into} OR {out_of}) "
            f"GROUP BY {shop_text} ORDER BY {shop_text}",
            (t.id(unit_id), t.day(start), t.day(end)),
        )
    return [
        {
            "merchant_id": _uuid(r["merchant"]), "redeemed": int(r["redeemed"]), "reversed": int(r["reversed"]),
            "redemptions": int(r["redemptions"]), "reversals": int(r["reversals"]),
        }
        for r in rows
    ]


_SUBTREE = (
    "WITH RECURSIVE subtree(id) AS (SELECT id FROM units WHERE id = %s "
    "UNION SELECT u.id FROM units u JOIN subtree s ON u.parent_id = s.id) "
)


def expiring(db: Any, t: Tables, unit_id: UUID, first: date, last: date) -> tuple[list[tuple[date, int, int]], int, int]:
    """Points left in lots of volunteers whose home is ``unit_id`` or a unit under it (read model of
    the tree and the volunteers, lots from the write side): per last day from ``first`` to ``last``
    (day, points, volunteers), and the points and lots past their last day before ``first`` that
    the next expiry run takes (overdue)."""
    account = "'volunteer:' || replace(v.id, '-', '')"
    with db.read() as tx:
        rows = tx.all(
            f"{_SUBTREE}SELECT l.expires_on AS day, sum(l.remaining) AS points, count(DISTINCT l.account) AS volunteers "
            f"FROM volunteers v JOIN {t.lots} l ON l.account = {account} "
            "WHERE v.unit_id IN (SELECT id FROM subtree) AND l.remaining > 0 AND l.expires_on >= %s AND l.expires_on <= %s "
            "GROUP BY l.expires_on ORDER BY l.expires_on",
            (str(unit_id), t.day(first), t.day(last)),
        )
        overdue = tx.one(
            f"{_SUBTREE}SELECT coalesce(sum(l.remaining), 0) AS points, count(*) AS lots "
            f"FROM volunteers v JOIN {t.lots} l ON l.account = {account} "
            "WHERE v.unit_id IN (SELECT id FROM subtree) AND l.remaining > 0 AND l.expires_on < %s",
            (str(unit_id), t.day(first)),
        )
    days = [(_date(r["day"]), int(r["points"]), int(r["volunteers"])) for r in rows]
    return days, int(overdue["points"]) if overdue else 0, int(overdue["lots"]) if overdue else 0


def unit_names(db: Any, ids: set[UUID]) -> dict[UUID, str]:
    """Names of units from the tree's read model (a unit not there yet: no entry)."""
    if not ids:
        return {}
    with db.read() as tx:
        rows = tx.all(f"SELECT id, name FROM units WHERE id IN ({', '.join(['%s'] * len(ids))})", [str(i) for i in ids])
    return {UUID(r["id"]): r["name"] for r in rows}


def merchant_names(db: Any, ids: set[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    with db.read() as tx:
        rows = tx.all(
            f"SELECT id, name FROM alliance_merchants WHERE id IN ({', '.join(['%s'] * len(ids))})", [str(i) for i in ids]
        )
    return {UUID(r["id"]): r["name"] for r in rows}
