"""An organizer's scans of volunteers' cards at their own time (maybe offline, synced later), on
each store: the same rules as a volunteer's scan, refusals by time, one landing per nonce, and
the same points whatever order a volunteer's scans arrive in (corrections by compensating
transactions)."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from invariants import assert_invariants
from ledger.accounts import volunteer_account
from ledger.activities import errors as activity_errors
from ledger.activities import rules as act
from ledger.activities.domain import AttendanceRecord
from ledger.activities.service import CHECKED_IN, CHECKED_OUT, DUPLICATE, NOTED, REDECIDED
from ledger.domain import LedgerTransaction

ORG = "organizer:柳岸社区组织者"


def setup(services: Any, **kw: Any) -> tuple[Any, Any]:
    ledger, clock = services.ledger, services.clock
    unit = ledger.create_unit("青禾街道", "street", None).id
    now = clock.now()
    args: dict[str, Any] = dict(starts_at=now, ends_at=now + timedelta(hours=3), points_per_hour=10)
    args.update(kw)
    return services.attendance.create_activity("河滨清扫", unit, **args), unit


def balance(services: Any, volunteer_id: Any) -> int:
    return int(services.ledger.guarded_balance(volunteer_account(volunteer_id)))


def assert_read_side_matches(services: Any, activity_id: Any) -> None:
    """The attendance projection shows what the aggregates say, after late scans moved times,
    checked out or re-decided (a rebuild alone would repeat a projection that ignores them)."""
    from ledger.codec import from_utc_text

    services.catch_up()
    att = services.attendance
    with services.db.read() as tx:
        rows = tx.all("SELECT * FROM attendances WHERE activity_id = %s", (str(activity_id),))
        totals = tx.one("SELECT pending, points, minutes FROM activities WHERE id = %s", (str(activity_id),))
    credited = pending = points = minutes = 0
    for row in rows:
        r = att.get_attendance(activity_id, UUID(row["volunteer_id"]))
        assert (from_utc_text(row["checked_in_at"]), row["checked_out_at"] and from_utc_text(row["checked_out_at"]),
                int(row["minutes"]), int(row["points"]), row["status"], bool(row["settled"])) == (
            r.checked_in_at, r.checked_out_at, r.minutes, r.points, r.status, r.settled)
        if r.status == act.CREDITED:
            credited, points, minutes = credited + 1, points + r.points, minutes + r.minutes
        pending += r.status == act.PENDING
    assert (int(totals["pending"]), int(totals["points"]), int(totals["minutes"])) == (pending, points, minutes)


def test_an_organizer_scan_checks_in_and_out_at_its_own_time(services: Any, clock: Any) -> None:
    att, ledger = services.attendance, services.ledger
    a, unit = setup(services)
    vol = ledger.register_volunteer("周桂兰", unit).id
    start = a.starts_at
    clock.advance(hours=2)  # the device was offline; it syncs two hours in
    first = att.scan_at(a.id, vol, start + timedelta(minutes=5), by=ORG, offline=True, device="pad-1", nonce="n1")
    assert first.outcome == CHECKED_IN and first.attendance.checked_in_at == start + timedelta(minutes=5)
    # the same nonce again lands once
    assert att.scan_at(a.id, vol, start + timedelta(minutes=5), by=ORG, offline=True, device="pad-1", nonce="n1").outcome == DUPLICATE
    # a scan within the grace of the check-in is that same scan (kept, changes nothing)
    assert att.scan_at(a.id, vol, start + timedelta(minutes=5, seconds=30), by=ORG, offline=True, nonce="n2").outcome == NOTED
    out = att.scan_at(a.id, vol, start + timedelta(minutes=95), by=ORG, offline=True, device="pad-1", nonce="n3")
    assert out.outcome == CHECKED_OUT
    assert (out.attendance.minutes, out.attendance.points, out.attendance.status) == (90, 15, act.CREDITED)
    assert balance(services, vol) == 15
    # the events say it was made offline, on which device, and when it came
    events = [e for e in ledger.repository.event_store.get(AttendanceRecord.create_id(a.id, vol))]
    assert [type(e).__name__ for e in events] == ["CheckedIn", "ScanNoted", "CheckedOut"]
    assert (events[0].offline, events[0].device, events[0].by, events[0].synced_at) == (True, "pad-1", ORG, clock.now())
    assert (events[2].nonce, events[2].scan_at) == ("n3", start + timedelta(minutes=95))
    # a scan after the check-out changes nothing
    assert att.scan_at(a.id, vol, start + timedelta(minutes=100), by=ORG, nonce="n4").outcome == NOTED
    assert balance(services, vol) == 15
    assert_invariants(services)


def test_scans_refused_by_their_time(services: Any, clock: Any) -> None:
    att, ledger = services.attendance, services.ledger
    a, unit = setup(services)
    vol = ledger.register_volunteer("孙玉珍", unit).id
    with pytest.raises(activity_errors.ScanInFuture):
        att.scan_at(a.id, vol, clock.now() + timedelta(minutes=10), by=ORG)
    with pytest.raises(activity_errors.ScanTooEarly):
        att.scan_at(a.id, vol, a.starts_at - act.EARLY_SCAN - timedelta(seconds=1), by=ORG)
    clock.set(a.ends_at + timedelta(hours=5))
    with pytest.raises(activity_errors.ScanTooLate):
        att.scan_at(a.id, vol, a.ends_at + act.LATE_SCAN + timedelta(minutes=1), by=ORG, offline=True)
    # in the window, synced within the allowance: taken
    assert att.scan_at(a.id, vol, a.starts_at, by=ORG, offline=True, nonce="x").outcome == CHECKED_IN
    clock.set(a.ends_at + act.SYNC_ALLOWANCE + timedelta(seconds=1))
    with pytest.raises(activity_errors.SyncTooLate):
        att.scan_at(a.id, vol, a.starts_at + timedelta(hours=1), by=ORG, offline=True, nonce="y")
    b, _ = setup(services, starts_at=clock.now(), ends_at=clock.now() + timedelta(hours=1))
    att.cancel_activity(b.id, "下雨")
    with pytest.raises(activity_errors.ActivityClosed):
        att.scan_at(b.id, vol, clock.now(), by=ORG)
    assert balance(services, vol) == 0


def test_capacity_holds_for_organizer_scans(services: Any, clock: Any) -> None:
    att, ledger = services.attendance, services.ledger
    a, unit = setup(services, capacity=2)
    vols = [ledger.register_volunteer(f"志愿者{i}", unit).id for i in range(3)]
    for v in vols[:2]:
        assert att.scan_at(a.id, v, clock.now(), by=ORG, nonce=uuid.uuid4().hex).outcome == CHECKED_IN
    with pytest.raises(activity_errors.ActivityFull):
        att.scan_at(a.id, vols[2], clock.now(), by=ORG, nonce=uuid.uuid4().hex)


def test_a_check_out_synced_before_its_check_in_gives_the_same_points(services: Any, clock: Any) -> None:
    att, ledger = services.attendance, services.ledger
    a, unit = setup(services)
    in_order, reversed_order = (ledger.register_volunteer(n, unit).id for n in ("吴建国", "郑美华"))
    t_in, t_out = a.starts_at + timedelta(minutes=10), a.starts_at + timedelta(minutes=130)
    clock.advance(hours=3)
    att.scan_at(a.id, in_order, t_in, by=ORG, offline=True, nonce="a1")
    att.scan_at(a.id, in_order, t_out, by=ORG, offline=True, nonce="a2")
    # the check-out arrives first: it checks in; then the check-in arrives and checks out
    assert att.scan_at(a.id, reversed_order, t_out, by=ORG, offline=True, nonce="b2").outcome == CHECKED_IN
    late = att.scan_at(a.id, reversed_order, t_in, by=ORG, offline=True, nonce="b1")
    assert late.outcome == CHECKED_OUT
    one, two = att.get_attendance(a.id, in_order), att.get_attendance(a.id, reversed_order)
    assert (one.checked_in_at, one.checked_out_at, one.minutes, one.points) == (t_in, t_out, 120, 20)
    assert (two.checked_in_at, two.checked_out_at, two.minutes, two.points) == (t_in, t_out, 120, 20)
    assert balance(services, in_order) == balance(services, reversed_order) == 20
    assert_read_side_matches(services, a.id)
    assert_invariants(services)


def test_a_late_offline_scan_corrects_points_from_the_phone(services: Any, clock: Any) -> None:
    """The phone checked in and out (credited); an organizer's offline scan from before the phone's
    check-in arrives later: in time order it is the check-in and the phone's first scan the
    check-out. The credit is reversed and the new points credited, never edited."""
    att, ledger = services.attendance, services.ledger
    a, unit = setup(services)
    vol = ledger.register_volunteer("钱淑芬", unit).id
    clock.advance(minutes=60)
    att.scan_code(att.code_for(a.id).code, vol)  # phone: in at +60
    clock.advance(minutes=90)
    phone_out = att.scan_code(att.code_for(a.id).code, vol)  # phone: out at +150, 90 min = 15 points
    assert (phone_out.attendance.points, balance(services, vol)) == (15, 15)
    first_txn = phone_out.attendance.transaction_id
    r = att.scan_at(a.id, vol, a.starts_at + timedelta(minutes=30), by=ORG, offline=True, device="pad-2", nonce="late")
    assert r.outcome == REDECIDED
    # in time order: in at +30 (organizer), out at +60 (phone): 30 min = 5 points
    assert (r.attendance.checked_in_at, r.attendance.checked_out_at) == (a.starts_at + timedelta(minutes=30), a.starts_at + timedelta(minutes=60))
    assert (r.attendance.minutes, r.attendance.points, r.attendance.status) == (30, 5, act.CREDITED)
    assert balance(services, vol) == 5
    assert ledger.get_transaction(first_txn).reversed_by is not None
    assert r.attendance.transaction_id == LedgerTransaction.create_id(f"attendance:{r.attendance.id}:r1")
    # the same late scan again lands once
    assert att.scan_at(a.id, vol, a.starts_at + timedelta(minutes=30), by=ORG, nonce="late").outcome == DUPLICATE
    assert balance(services, vol) == 5
    assert_read_side_matches(services, a.id)
    assert_invariants(services)


def test_a_late_scan_after_settlement_replaces_the_window_end(services: Any, clock: Any) -> None:
    att, ledger = services.attendance, services.ledger
    a, unit = setup(services)
    vol = ledger.register_volunteer("冯秀兰", unit).id
    att.scan_at(a.id, vol, a.starts_at, by=ORG, nonce="in")
    clock.set(a.ends_at + act.LATE_SCAN + timedelta(minutes=1))
    att.settle(a.id, [vol], by=ORG)
    assert balance(services, vol) == 30  # 3 h to the window's end
    r = att.scan_at(a.id, vol, a.starts_at + timedelta(hours=1), by=ORG, offline=True, nonce="out")
    assert (r.outcome, r.attendance.points, r.attendance.settled) == (REDECIDED, 10, False)
    assert balance(services, vol) == 10
    assert_read_side_matches(services, a.id)
    assert_invariants(services)


OFFSETS = st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=4, unique=True)


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=OFFSETS, data=st.data())
def test_any_arrival_order_gives_the_in_order_result(services: Any, offsets: list[int], data: Any) -> None:
    """Scans at minutes ``offsets`` (one of them maybe by the volunteer's phone, made now),
    synced in any order: the same attendance and points as in time order."""
    att, ledger, clock = services.attendance, services.ledger, services.clock
    clock.set(clock.now() + timedelta(days=1))
    a, unit = setup(services, starts_at=clock.now(), ends_at=clock.now() + timedelta(hours=3))
    clock.advance(hours=3, minutes=30)
    times = [a.starts_at + timedelta(minutes=m) for m in offsets]
    order = data.draw(st.permutations(list(range(len(times)))))
    results = {}
    for name, sequence in (("sorted", sorted(range(len(times)), key=lambda i: times[i])), ("drawn", order)):
        vol = ledger.register_volunteer(name, unit).id
        for i in sequence:
            att.scan_at(a.id, vol, times[i], by=ORG, offline=True, nonce=f"{name}-{i}")
        r = att.get_attendance(a.id, vol)
        results[name] = (r.checked_in_at, r.checked_out_at, r.minutes, r.points, r.status, balance(services, vol))
    assert results["drawn"] == results["sorted"]
    expected = act.times_of(times, att.grace)
    assert results["sorted"][:2] == (expected.checked_in_at, expected.checked_out_at)


def test_every_order_of_three_scans_on_one_store(services: Any, clock: Any) -> None:
    """All six orders of an in, a within-grace repeat and an out, exhaustively."""
    att, ledger = services.attendance, services.ledger
    a, unit = setup(services)
    clock.advance(hours=3)
    times = [a.starts_at + timedelta(minutes=20), a.starts_at + timedelta(minutes=20, seconds=40), a.starts_at + timedelta(minutes=80)]
    seen = set()
    for n, order in enumerate(itertools.permutations(range(3))):
        vol = ledger.register_volunteer(f"顺序{n}", unit).id
        for i in order:
            att.scan_at(a.id, vol, times[i], by=ORG, nonce=f"{n}-{i}")
        r = att.get_attendance(a.id, vol)
        seen.add((r.checked_in_at, r.checked_out_at, r.minutes, r.points, balance(services, vol)))
    assert seen == {(times[0], times[2], 60, 10, 10)}
    assert_invariants(services)
