"""``moralbank verify`` checks attendances: paid once, by their own key, with their points;
seats within capacity. A clean history passes; tampered ones are reported."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ledger.activities import rules as act
from ledger.activities.domain import AttendanceRecord, Seat
from ledger.domain import LedgerTransaction
from ops.verify import verify


def test_verify_attendances(services: Any, clock: Any) -> None:
    ledger, att = services.ledger, services.attendance
    unit = ledger.create_unit("青禾街道", "street", None).id
    now = clock.now()
    a = att.create_activity("义务理发", unit, now, now + timedelta(hours=2), 15, capacity=2, needs_approval=True)
    vols = [ledger.register_volunteer(f"居民{i}", unit).id for i in range(2)]
    for v in vols:
        att.scan_code(att.code_for(a.id).code, v)
    clock.advance(minutes=80)
    for v in vols:
        att.scan_code(att.code_for(a.id).code, v)
    att.decide(a.id, vols[:1], True, by="org")
    assert verify(services).ok

    # tampered: an attendance marked paid with no transaction, and a seat beyond capacity
    stranger = ledger.register_volunteer("外人", unit).id
    fake = AttendanceRecord(activity_id=a.id, volunteer_id=stranger, unit_id=unit, seat=None, at=clock.now())
    fake.check_out(clock.now(), 60, 15, act.CREDITED, LedgerTransaction.create_id(f"attendance:{fake.id}"))
    ledger.save(fake, Seat(activity_id=a.id, number=3, volunteer_id=stranger))
    messages = [v.message for v in verify(services).violations]
    assert any("not in the log" in m for m in messages), messages
    assert any("seats" in m for m in messages), messages
