"""Unit roll-ups count expired points (GET /v1/units totals: ``expired`` per period, for the lots the
unit and the units under it funded), while leaderboards still count points earned. Both stores."""

from __future__ import annotations

import uuid
from typing import Any

from ledger.accounts import Posting, merchant_account, volunteer_account
from ledger.journal import Movement
from ledger.lots.expiry import expire_due
from projections.leaderboards import queries as lb


def test_roll_ups_count_expired_points_and_boards_keep_points_earned(services: Any, clock: Any) -> None:
    from api.units.views import unit_totals

    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("春晖社区", "community", street.id)
    other = ledger.create_unit("和园社区", "community", street.id)
    ledger.set_expiry_policy(street.id, "months", 1)
    v = ledger.register_volunteer("林", community.id)
    w = ledger.register_volunteer("王", other.id)
    ledger.credit("c1", community.id, v.id, 30)  # funded by the community
    ledger.credit("c2", street.id, v.id, 5)  # by the street
    ledger.credit("c3", other.id, w.id, 8)  # by the other community
    ledger.journal.post(Movement("pay", "redemption", [Posting(volunteer_account(v.id), merchant_account(uuid.uuid4()), 12)]))
    clock.advance(days=40)
    report = expire_due(ledger)
    assert (report.lots, report.points) == (3, 30 + 5 - 12 + 8)  # the pay drew the community's lot first (oldest)
    services.catch_up()

    def figures(unit_id: uuid.UUID) -> dict[str, dict[str, int]]:
        return {t.period: {"expired": t.expired, "earned": t.earned, "issued": t.issued} for t in unit_totals(services, services.db, unit_id)}

    lapsed = {"street": 18 + 5 + 8, "community": 18, "other": 8}
    for unit_id, name in ((street.id, "street"), (community.id, "community"), (other.id, "other")):
        got = figures(unit_id)
        assert {p: f["expired"] for p, f in got.items()} == {"week": lapsed[name], "month": lapsed[name], "year": lapsed[name], "all": lapsed[name]}, name
    assert figures(street.id)["all"]["earned"] == 43  # earned stays what it was
    with services.db.read() as tx:
        board = lb.board(tx, street.id.hex, "all", "", "points", 10)
    assert [r["value"] for r in board] == [35, 8]  # role models keep their standing

    clock.advance(days=40)  # a later week and month: nothing lapsed in them
    week = {t.period: t.expired for t in unit_totals(services, services.db, street.id)}
    assert week["week"] == 0 and week["all"] == lapsed["street"]
