"""A store holding every kind of point movement the product makes, for tests that check them all."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

KINDS = ["activity", "award", "batch", "batch_reversal", "redemption", "reversal"]


def every_kind(services: Any, clock: Any, tmp_path: Path) -> Any:
    """A manual credit, activity points, a pay-code redemption, a till payment, the reversal of a
    redemption and of a credit, a welfare-day chunk and a batch line reversal. Returns the street."""
    ledger, att, alliance, batches = services.ledger, services.attendance, services.alliance, services.batches
    street = ledger.create_unit("青禾街道", "street", None)
    lin = ledger.register_volunteer("林晓梅", street.id, member_no="QH-0001")
    he = ledger.register_volunteer("何建国", street.id, member_no="QH-0002")

    credit = ledger.credit("welcome:lin", street.id, lin.id, 40)  # a manual credit
    activity = att.create_activity("河畔清洁", street.id, clock.now(), clock.now() + timedelta(hours=2), 30)
    att.scan_code(att.code_for(activity.id).code, he.id)  # check-in moves nothing
    clock.advance(3600)
    att.scan_code(att.code_for(activity.id).code, he.id)  # check-out earns 30 points
    shop, _ = alliance.register_merchant("好邻居便利店", street.id)
    redeemed = alliance.redeem(shop.id, alliance.issue_pay_code(lin.id).code, points=5)  # a pay code
    alliance.pay(he.id, shop.id, "till-1", points=3)  # a merchant code
    alliance.reverse(redeemed.redemption.id, reason="扫错了")  # a redemption's reversal
    ledger.reverse(credit.transaction.id, memo="补录重复")  # a transaction's reversal
    csv = tmp_path / "day.csv"
    csv.write_text("member_no,points,minutes\nQH-0001,12,60\nQH-0002,8,30\n", encoding="utf-8")
    sub = batches.submit(batches.spool_file(csv), "csv", key="day", title="公益日", unit_id=street.id, scope=None, actor="t")
    batch = batches.run(sub.batch.id)  # a batch chunk
    batches.reverse(batch.id, [2], memo="多发")  # a batch line reversal

    return street
