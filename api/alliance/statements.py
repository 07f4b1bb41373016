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
from projections.accounts import iso
from projections.db import Database

from api.alliance import schemas as am
from api.datetimes import from_row_time

CSV_COLUMNS = ["时间 time", "类型 kind", "积分 points", "兑换项目 offer", "志愿者 volunteer", "备注 memo", "兑换号 redemption", "流水号 transaction"]


def statement(db: Database, merchant: Merchant, start: date, end: date, zone: Any) -> am.StatementOut:
    lo, hi = rules.statement_window(start, end, zone)
    rows = queries.statement(db, str(merchant.id), iso(lo), iso(hi))
    lines = [
        am.StatementLine(
            transaction_id=UUID(r["transaction_id"]), kind=r["kind"], points=int(r["points"]),
            redemption_id=UUID(r["redemption_id"]) if r["redemption_id"] else None,
            offer_id=UUID(r["offer_id"]) if r["offer_id"] else None, title=r["offer_title"] or "",
            volunteer=rules.mask_name(r["volunteer_name"]), memo=r["memo"], at=from_row_time(r["at"], zone),
            reverses=UUID(r["reverses"]) if r["reverses"] else None,
        )
        for r in rows
    ]
    return am.StatementOut.model_validate(
        {
            "merchant_id": merchant.id, "merchant_name": merchant.name, "from": start, "to": end, "timezone": str(zone),
            "lines": lines, "totals": am.StatementTotals(**rules.statement_totals(rows)),
        }
    )


def statement_csv(s: am.StatementOut) -> str:
    """UTF-8 with a byte-order mark and CRLF lines: Excel opens it with the Chinese intact."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([f"{s.merchant_name} 对账单 statement", f"{s.start.isoformat()} ~ {s.end.isoformat()}", s.timezone])
    w.writerow(CSV_COLUMNS)
    for line in s.lines:
        w.writerow([
            line.at.strftime("%Y-%m-%d %H:%M:%S"), "兑换 redemption" if line.points > 0 else "撤销 reversal", line.points,
            line.title, line.volunteer, _cell(line.memo), str(line.redemption_id or ""), str(line.transaction_id),
        ])
    t = s.totals
    w.writerow([])
    w.writerow(["兑换笔数 redemptions", t.redemptions, "兑换积分 redeemed", t.redeemed])
    w.writerow(["撤销笔数 reversals", t.reversals, "撤销积分 reversed", t.reversed])
    w.writerow(["净积分 net", t.net])
    return "\ufeff" + out.getvalue()


def _cell(text: str) -> str:
    """A memo never starts a formula when the file is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
