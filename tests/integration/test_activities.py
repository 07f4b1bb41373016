"""Activities on each store: codes in time, check-in → check-out points, grace, approvals,
settling, cancelling, and 200 volunteers scanning at once into 150 seats."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from invariants import assert_invariants
from ledger.activities import errors as activity_errors
from ledger.activities import rules as act
from ledger import codes
from ledger.accounts import volunteer_account
from ledger.activities.service import CHECK_IN, CHECK_OUT
from ledger.domain import LedgerTransaction


def make_activity(services: Any, **kw: Any) -> Any:
    ledger, clock = services.ledger, services.clock
    unit = kw.pop("unit", None) or ledger.create_unit("青禾街道", "street", None).id
    now = clock.now()
    args = dict(starts_at=now, ends_at=now + timedelta(hours=3), points_per_hour=10)
    args.update(kw)
    return services.attendance.create_activity("社区环境清洁", unit, **args)


def test_scans_with_the_injected_clock(services: Any, clock: Any) -> None:
    ledger, att = services.ledger, services.attendance
    a = make_activity(services, max_points=25)
    b = make_activity(services, unit=a.unit_id)
    vol = ledger.register_volunteer("王秀英", a.unit_id).id

    # a code photographed and used 61 s later is refused
    photo = att.code_for(a.id).code
    clock.advance(61)
    with pytest.raises(codes.CodeExpired):
        att.scan_code(photo, vol)
    # a code for A used on B is refused; a forged one too
    code_a = att.code_for(a.id).code
    with pytest.raises(activity_errors.CodeWrongActivity):
        att.scan_code(code_a, vol, expected_activity=b.id)
    with pytest.raises(codes.CodeInvalid):
        att.scan_code(code_a[:-3] + "AAA", vol)
    with pytest.raises(codes.CodeInvalid):
        att.scan_code(codes.sign(b"another key", codes.ACTIVITY, {"a": a.id.hex, "w": 1}), vol)

    # check in; the same scan a moment later is the same scan
    first = att.scan_code(code_a, vol)
    assert (first.action, first.replayed) == (CHECK_IN, False)
    clock.advance(20)
    again = att.scan_code(att.code_for(a.id).code, vol)
    assert (again.action, again.replayed) == (CHECK_IN, True)

    # 100 minutes after check-in: 100 min × 10/h = 16.66 → 16 points
    clock.advance(100 * 60 - 20)
    out = att.scan_code(att.code_for(a.id).code, vol)
    assert (out.action, out.replayed, out.attendance.minutes, out.attendance.points) == (CHECK_OUT, False, 100, 16)
    assert out.attendance.status == act.CREDITED
    txn = ledger.get_transaction(out.attendance.transaction_id)
    assert (txn.kind, txn.key, txn.minutes, txn.postings[0].amount) == ("activity", f"attendance:{out.attendance.id}", 100, 16)
    assert ledger.guarded_balance(volunteer_account(vol)) == 16
    clock.advance(5)
    assert att.scan_code(att.code_for(a.id).code, vol).replayed  # double tap on the way out
    clock.advance(120)
    with pytest.raises(activity_errors.AlreadyCheckedOut):
        att.scan_code(att.code_for(a.id).code, vol)

    # B is cancelled: its code is refused; an activity over an hour ago is closed
    att.cancel_activity(b.id, "下雨")
    with pytest.raises(activity_errors.ActivityClosed):
        att.scan_code(att.code_for(b.id).code, vol)
    with pytest.raises(activity_errors.ActivityCancelled):
        att.cancel_activity(b.id)
    clock.advance(hours=3)
    with pytest.raises(activity_errors.ActivityClosed):
        att.scan_code(att.code_for(a.id).code, vol)

    services.catch_up()
    with services.db.read() as tx:
        row = tx.one("SELECT * FROM activities WHERE id = %s", (str(a.id),))
    assert (row["checked_in"], row["checked_out"], row["points"], row["minutes"]) == (1, 1, 16, 100)
    assert_invariants(services)


def test_approvals_and_settling(services: Any, clock: Any) -> None:
    ledger, att = services.ledger, services.attendance
    a = make_activity(services, needs_approval=True, min_minutes=30)
    vols = [ledger.register_volunteer(f"志愿者{i}", a.unit_id).id for i in range(4)]
    for v in vols:
        att.scan_code(att.code_for(a.id).code, v)
    clock.advance(minutes=90)
    for v in vols[:3]:
        r = att.scan_code(att.code_for(a.id).code, v)
        assert (r.attendance.status, r.attendance.points) == (act.PENDING, 15)
    assert ledger.guarded_balance(volunteer_account(vols[0])) == 0  # nothing before approval

    approved = att.decide(a.id, vols[:2], True, by="org")
    assert [r.status for r in approved] == [act.CREDITED, act.CREDITED]
    att.decide(a.id, [vols[2]], False, by="org")
    with pytest.raises(activity_errors.NotPending):
        att.decide(a.id, [vols[0]], True, by="org")  # approving twice pays nothing
    assert ledger.guarded_balance(volunteer_account(vols[0])) == 15
    assert ledger.guarded_balance(volunteer_account(vols[2])) == 0

    # vols[3] never checks out: window_end counts to the end, then approval
    with pytest.raises(activity_errors.ActivityNotOver):
        att.settle(a.id, vols, by="org")
    clock.advance(hours=3)
    settled = att.settle(a.id, vols, by="org")
    assert [(r.volunteer_id, r.status, r.minutes) for r in settled] == [(vols[3], act.PENDING, 180)]
    assert att.settle(a.id, vols, by="org") == []

    # policy none: nothing for a missing check-out
    b = make_activity(services, unit=a.unit_id, no_checkout=act.NONE)
    att.scan_code(att.code_for(b.id).code, vols[0])
    clock.advance(hours=5)
    [r] = att.settle(b.id, [vols[0]], by="org")
    assert (r.status, r.points, r.minutes) == (act.DONE, 0, 0)

    services.catch_up()
    with services.db.read() as tx:
        row = tx.one("SELECT * FROM activities WHERE id = %s", (str(a.id),))
    assert (row["checked_in"], row["checked_out"], row["pending"], row["points"]) == (4, 4, 1, 30)
    assert_invariants(services)


@pytest.mark.slow
def test_200_volunteers_at_once_into_150_seats(services: Any, clock: Any) -> None:
    ledger, att = services.ledger, services.attendance
    a = make_activity(services, capacity=150)
    vols = [v.id for v in _register_many(services, a.unit_id, 200)]
    gate = threading.Barrier(50)

    def scan(v: Any) -> str:
        code = att.code_for(a.id).code
        try:
            gate.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass
        try:
            return att.scan_code(code, v).action
        except activity_errors.ActivityFull:
            return "full"

    with ThreadPoolExecutor(50) as pool:
        outcomes = Counter(pool.map(scan, vols))
    assert outcomes == {CHECK_IN: 150, "full": 50}
    clock.advance(minutes=61)
    gate = threading.Barrier(50)
    with ThreadPoolExecutor(50) as pool:
        outcomes = Counter(pool.map(scan, vols))
    assert outcomes == {CHECK_OUT: 150, "full": 50}

    services.catch_up()
    with services.db.read() as tx:
        row = tx.one("SELECT * FROM activities WHERE id = %s", (str(a.id),))
        seats = sorted(r["seat"] for r in tx.all("SELECT seat FROM attendances WHERE activity_id = %s", (str(a.id),)))
    assert (row["checked_in"], row["checked_out"], row["points"]) == (150, 150, 1500)
    assert seats == list(range(1, 151))
    credited = [n for n in ledger.iter_notifications() if n.topic.endswith("LedgerTransaction.Recorded")]
    assert len(credited) == 150
    balances = assert_invariants(services)
    assert sorted(balances.get(volunteer_account(v), 0) for v in vols) == [0] * 50 + [10] * 150
    assert LedgerTransaction  # the credits are ordinary ledger transactions


def _register_many(services: Any, unit_id: Any, n: int) -> list[Any]:
    from ledger.domain import Volunteer

    now = services.clock.now()
    vols = [Volunteer(name=f"居民{i:03d}", unit_id=unit_id, phone_last4=None, member_no=None, at=now) for i in range(n)]
    services.ledger.save(*vols)
    return vols
