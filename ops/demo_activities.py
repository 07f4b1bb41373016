"""Demo data for activities (issue 4): a few made-up activities around today, with people
checked in and out by real scans, one waiting for approvals, one running now, one to come."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from uuid import UUID

from api.context import Services
from ledger.activities import rules as act
from ledger.clock import ManualClock
from ledger.domain import Volunteer

# (title, description, points per hour, capacity, needs approval)
DEMO_ACTIVITIES = [
    ("敬老院陪伴", "陪老人聊天、读报、包饺子", 12, None, True),
    ("社区环境清洁", "清理楼道小广告和绿化带垃圾", 10, None, False),
    ("垃圾分类指导", "在投放点值守，帮助居民分类投放", 10, 40, False),
    ("周末义务理发", "为行动不便的老人上门理发", 15, 20, False),
]


def _scan(services: Services, clock: ManualClock, activity_id: UUID, volunteer: Volunteer, at: datetime) -> None:
    att = services.attendance
    assert att is not None
    clock.set(at)
    att.scan_code(att.code_for(activity_id).code, volunteer.id)


def add_activities(
    services: Services, clock: ManualClock, unit_id: UUID, volunteers: list[Volunteer], now: datetime, *, seed: int = 4
) -> list[UUID]:
    """Four activities of ``unit_id`` (the organizer's community): three days ago (half its
    points still to approve), yesterday (all credited), running now, and tomorrow."""
    att = services.attendance
    assert att is not None
    rng = random.Random(seed)
    today9 = now.replace(hour=9, minute=0, second=0, microsecond=0)
    ids: list[UUID] = []
    starts = [today9 - timedelta(days=3), today9 - timedelta(days=1) + timedelta(hours=5), now - timedelta(hours=1),
              today9 + timedelta(days=1)]
    lengths = [timedelta(hours=3), timedelta(hours=2), timedelta(hours=3), timedelta(hours=4)]
    for (title, description, per_hour, capacity, approval), start, length in zip(DEMO_ACTIVITIES, starts, lengths, strict=True):
        clock.set(min(start - timedelta(days=2), now))
        a = att.create_activity(
            title, unit_id, start, start + length, per_hour, description=description, capacity=capacity,
            needs_approval=approval, max_points=60, min_minutes=30, created_by="demo",
        )
        ids.append(a.id)
        if start > now:
            continue
        # the demo volunteer (the first) serves at every activity that has begun
        people = [volunteers[0], *rng.sample(volunteers[1:], min(len(volunteers) - 1, rng.randint(10, 16)))]
        running = start + length > now
        for i, v in enumerate(people):
            _scan(services, clock, a.id, v, start + timedelta(minutes=rng.randint(-10, 15) + i))
        for i, v in enumerate(people):
            if running and (i == 0 or rng.random() < 0.7):
                continue  # still here
            left = start + length - timedelta(minutes=rng.randint(0, 50))
            _scan(services, clock, a.id, v, min(left + timedelta(seconds=i), now))
        if approval:
            clock.set(start + length + timedelta(hours=2))
            pending = [v.id for v in people if att.get_attendance(a.id, v.id).status == act.PENDING]
            att.decide(a.id, pending[: len(pending) // 2 + 1], True, by="demo")
    clock.set(now)
    return ids
