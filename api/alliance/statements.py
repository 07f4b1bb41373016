"""A merchant's statement (对账单): JSON from the read model, and the same as CSV for Excel."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any
from uuid import UUID

from merchants import rules
from merchants.domain import Merchant
from projections import alliance as queries
from projections import lineage
from projections.accounts import iso
from projections.db import Database

from api.alliance import schemas as am
from api.datetimes import from_row_time

CSV_COLUMNS = ["时间 time", "类型 kind", "积分 points", "兑换项目 offer", "志愿者 volunteer", "备注 memo", "兑换号 redemption", "流水号 transaction"]
UNATTRIBUTED = "未归属 unattributed"


def statement(db: Database, merchant: Merchant, start: date, end: date, zone: Any, ledger: Any) -> am.StatementOut:
    """The merchant's lines in the period, each split by funding unit (the drawings of its postings
    into or out of the merchant, read from the write-time tables), and the totals likewise."""
    lo, hi = rules.statement_window(start, end, zone)
    rows = queries.statement(db, str(merchant.id), iso(lo), iso(hi))
    funding = lineage.statement_funding(db, lineage.tables_of(ledger), merchant.id, iso(lo), iso(hi))
    names = _names(db, ledger, {u for split in funding.values() for u in split})
    lines = [
        am.StatementLine(
            transaction_id=UUID(r["transaction_id"]), kind=r["kind"], points=int(r["points"]),
            redemption_id=UUID(r["redemption_id"]) if r["redemption_id"] else None,
            offer_id=UUID(r["offer_id"]) if r["offer_id"] else None, title=r["offer_title"] or "",
            volunteer=rules.mask_name(r["volunteer_name"]), memo=r["memo"], at=from_row_time(r["at"], zone),
            reverses=UUID(r["reverses"]) if r["reverses"] else None,
            funding=_shares(funding.get(r["transaction_id"], {}), int(r["points"]), names),
        )
        for r in rows
    ]
    net: dict[UUID | None, int] = {}
    for line in lines:
        for share in line.funding:
            net[share.unit_id] = net.get(share.unit_id, 0) + share.points
    totals = am.StatementTotals(
        **rules.statement_totals(rows),
        funding=[am.FundingShare(unit_id=u, unit_name=_name(u, names), points=n) for u, n in _ordered(net, names) if n],
    )
    return am.StatementOut.model_validate(
        {
            "merchant_id": merchant.id, "merchant_name": merchant.name, "from": start, "to": end, "timezone": str(zone),
            "lines": lines, "totals": totals,
        }
    )


def _names(db: Database, ledger: Any, ids: set[UUID]) -> dict[UUID, str]:
    """Unit names from the tree's read model, else from the unit itself."""
    names = lineage.unit_names(db, ids)
    for u in ids - names.keys():
        names[u] = ledger.get_unit(u).name
    return names


def _name(unit_id: UUID | None, names: dict[UUID, str]) -> str:
    return names.get(unit_id, "") if unit_id is not None else UNATTRIBUTED


def _ordered(split: dict[UUID | None, int], names: dict[UUID, str]) -> list[tuple[UUID | None, int]]:
    """By unit name, then id; the unattributed rest last."""
    return sorted(split.items(), key=lambda kv: (kv[0] is None, _name(kv[0], names), str(kv[0])))


def _shares(split: dict[UUID, int], points: int, names: dict[UUID, str]) -> list[am.FundingShare]:
    """A line's split; points no drawing accounts for (none should) are named as such."""
    whole: dict[UUID | None, int] = dict(split)
    rest = points - sum(split.values())
    if rest:
        whole[None] = rest
    return [am.FundingShare(unit_id=u, unit_name=_name(u, names), points=n) for u, n in _ordered(whole, names)]


def _units_of(s: am.StatementOut) -> list[tuple[UUID | None, str]]:
    """Every funding unit of the statement's lines, in the order of its totals, as CSV columns."""
    seen: dict[UUID | None, str] = {}
    for share in s.totals.funding:
        seen.setdefault(share.unit_id, share.unit_name)
    for line in s.lines:
        for share in line.funding:
            seen.setdefault(share.unit_id, share.unit_name)
    return list(seen.items())


def _unit_headers(units: list[tuple[UUID | None, str]]) -> list[str]:
    """One header per funding unit; two units of the same name are told apart by their id's start."""
    names = [name for _, name in units]
    return [
        f"资金来源 funded by: {_cell(name)}" + (f" ({u.hex[:8]})" if u is not None and names.count(name) > 1 else "")
        for u, name in units
    ]


def statement_csv(s: am.StatementOut) -> str:
    """UTF-8 with a byte-order mark and CRLF lines: Excel opens it with the Chinese intact.

    One row per line, and one column per funding unit after the fixed columns (the line's points
    from that unit's lots, empty where none): a column sums to what that unit funded, and the
    row "按资金来源 by funding unit" under the lines holds those sums."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    units = _units_of(s)
    w.writerow([f"{s.merchant_name} 对账单 statement", f"{s.start.isoformat()} ~ {s.end.isoformat()}", s.timezone])
    w.writerow(CSV_COLUMNS + _unit_headers(units))
    for line in s.lines:
        split = {share.unit_id: share.points for share in line.funding}
        w.writerow([
            line.at.strftime("%Y-%m-%d %H:%M:%S"), "兑换 redemption" if line.points > 0 else "撤销 reversal", line.points,
            line.title, line.volunteer, _cell(line.memo), str(line.redemption_id or ""), str(line.transaction_id),
            *(split.get(u, "") for u, _ in units),
        ])
    t = s.totals
    per_unit = {share.unit_id: share.points for share in t.funding}
    w.writerow(["按资金来源 by funding unit", "", t.net, "", "", "", "", "", *(per_unit.get(u, 0) for u, _ in units)])
    w.writerow([])
    w.writerow(["兑换笔数 redemptions", t.redemptions, "兑换积分 redeemed", t.redeemed])
    w.writerow(["撤销笔数 reversals", t.reversals, "撤销积分 reversed", t.reversed])
    w.writerow(["净积分 net", t.net])
    for share in t.funding:
        w.writerow(["资金来源 funded by", _cell(share.unit_name), str(share.unit_id or ""), share.points])
    return "\ufeff" + out.getvalue()


def _cell(text: str) -> str:
    """A memo never starts a formula when the file is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


UNIT_CSV_COLUMNS = ["商户 shop", "商户号 shop id", "兑换笔数 redemptions", "撤销笔数 reversals", "兑换积分 redeemed", "撤销积分 reversed", "应结积分 points"]


def unit_statement(db: Database, ledger: Any, unit: Any, start: date, end: date, zone: Any) -> am.UnitStatementOut:
    """What the unit's budget owes the alliance for the period: per shop, the points of lots the
    unit issued that volunteers spent there (lineage, whatever the volunteers' home units), from
    the drawings and postings tables. Raises InvalidRequest for an empty or overlong period."""
    rules.statement_window(start, end, zone)  # the same period rules as a merchant's statement
    rows = lineage.unit_settlement(db, lineage.tables_of(ledger), unit.id, start, end)
    names = lineage.merchant_names(db, {r["merchant_id"] for r in rows})
    for m in {r["merchant_id"] for r in rows} - names.keys():
        names[m] = str(m)  # a shop not in the alliance's read model yet: its id stands in for its name
    shops = sorted(
        (
            am.ShopSettlement(
                merchant_id=r["merchant_id"], merchant_name=names[r["merchant_id"]], redemptions=r["redemptions"],
                reversals=r["reversals"], redeemed=r["redeemed"], reversed=r["reversed"], points=r["redeemed"] - r["reversed"],
            )
            for r in rows
        ),
        key=lambda s: (s.merchant_name, str(s.merchant_id)),
    )
    totals = am.UnitSettlementTotals(
        redemptions=sum(s.redemptions for s in shops), reversals=sum(s.reversals for s in shops),
        redeemed=sum(s.redeemed for s in shops), reversed=sum(s.reversed for s in shops), points=sum(s.points for s in shops),
    )
    return am.UnitStatementOut.model_validate(
        {"unit_id": unit.id, "unit_name": unit.name, "from": start, "to": end, "timezone": str(zone), "shops": shops, "totals": totals}
    )


def unit_statement_csv(s: am.UnitStatementOut) -> str:
    """One row per shop, then the totals row: the points column sums to what the unit owes."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([f"{_cell(s.unit_name)} 联盟结算单 alliance statement", f"{s.start.isoformat()} ~ {s.end.isoformat()}", s.timezone])
    w.writerow(UNIT_CSV_COLUMNS)
    for shop in s.shops:
        w.writerow([_cell(shop.merchant_name), str(shop.merchant_id), shop.redemptions, shop.reversals, shop.redeemed, shop.reversed, shop.points])
    t = s.totals
    w.writerow(["合计 total", "", t.redemptions, t.reversals, t.redeemed, t.reversed, t.points])
    return "\ufeff" + out.getvalue()
