"""Pure rules of activities: minutes served, points, code windows, scan windows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ledger.activities import rules as act
from ledger.activities.rules import PointRule
from ledger.errors import InvalidRequest
from ledger.codes import CodeExpired, CodeInvalid

SH = ZoneInfo("Asia/Shanghai")  # no DST
UTC = timezone.utc


def at(h: int, m: int = 0, s: int = 0, day: int = 2, tz=SH) -> datetime:  # type: ignore[no-untyped-def]
    return datetime(2026, 11, day, h, m, s, tzinfo=tz)


@pytest.mark.parametrize(
    ("checked_in", "checked_out", "starts", "ends", "minutes"),
    [
        (at(9), at(11), at(9), at(12), 120),  # plain
        (at(8), at(11), at(9), at(12), 120),  # early arrival clipped to the start
        (at(10), at(13), at(9), at(12), 120),  # late leave clipped to the end
        (at(8), at(13), at(9), at(12), 180),  # both clipped
        (at(9), at(9, 59, 59), at(9), at(12), 59),  # rounding down
        (at(9), at(9), at(9), at(12), 0),  # zero minutes
        (at(13), at(14), at(9), at(12), 0),  # entirely after the window
        (at(23, 30), at(0, 45, day=3), at(23), at(2, day=3), 75),  # over midnight
        (at(23, 30), at(17, 30, day=2, tz=UTC), at(23), at(2, day=3), 120),  # 17:30 UTC is 01:30 in Shanghai
        (at(10), at(9), at(9), at(12), 0),  # out before in (never negative)
    ],
)
def test_served_minutes(checked_in, checked_out, starts, ends, minutes) -> None:  # type: ignore[no-untyped-def]
    assert act.served_minutes(checked_in, checked_out, starts, ends) == minutes


@pytest.mark.parametrize(
    ("minutes", "rule", "points"),
    [
        (60, PointRule(10), 10),
        (90, PointRule(10), 15),
        (59, PointRule(10), 9),  # 9.83 rounds down
        (5, PointRule(10), 0),  # 0.83 rounds down to nothing
        (0, PointRule(10), 0),
        (29, PointRule(10, min_minutes=30), 0),  # below the minimum
        (30, PointRule(10, min_minutes=30), 5),  # exactly the minimum
        (600, PointRule(10, max_points=50), 50),  # cap
        (300, PointRule(10, max_points=50), 50),  # exactly the cap
        (120, PointRule(0), 0),  # an activity for the honour of it
        (7 * 24 * 60, PointRule(1000), 168_000),
    ],
)
def test_points_for(minutes: int, rule: PointRule, points: int) -> None:
    assert act.points_for(minutes, rule) == points


def test_code_windows() -> None:
    t = datetime(2026, 11, 2, 1, 0, 0, tzinfo=UTC)
    w = act.window_index(t)
    assert act.window_index(t + timedelta(seconds=29)) == w
    assert act.window_index(t + timedelta(seconds=30)) == w + 1
    assert act.check_code_window(w, t) == w
    assert act.check_code_window(w, t + timedelta(seconds=59)) == w  # the previous window still counts
    with pytest.raises(CodeExpired):
        act.check_code_window(w, t + timedelta(seconds=61))
    with pytest.raises(CodeInvalid):
        act.check_code_window(w + 1, t)  # from the future
    for bad in (None, "1", 1.5, True):
        with pytest.raises(CodeInvalid):
            act.check_code_window(bad, t)


@pytest.mark.parametrize(
    ("now", "cancelled", "open_"),
    [
        (at(8, 29), False, False),
        (at(8, 30), False, True),  # 30 minutes early
        (at(10), False, True),
        (at(13), False, True),  # an hour after the end: still checking out
        (at(13, 0, 1), False, False),
        (at(10), True, False),
    ],
)
def test_scan_open(now: datetime, cancelled: bool, open_: bool) -> None:
    if open_:
        act.scan_open(now, at(9), at(12), cancelled)
    else:
        with pytest.raises(act.ActivityClosed):
            act.scan_open(now, at(9), at(12), cancelled)


@pytest.mark.parametrize(
    ("points", "approval", "status"),
    [(0, False, act.DONE), (0, True, act.DONE), (5, False, act.CREDITED), (5, True, act.PENDING)],
)
def test_status_after_checkout(points: int, approval: bool, status: str) -> None:
    assert act.status_after_checkout(points, approval) == status


def test_grace_and_settling() -> None:
    g = timedelta(seconds=60)
    assert act.within_grace(at(9), at(9, 0, 59), g)
    assert not act.within_grace(at(9), at(9, 1), g)
    assert act.settle_unfinished(act.WINDOW_END, at(12)) == at(12)
    assert act.settle_unfinished(act.APPROVAL, at(12)) == at(12)
    assert act.settle_unfinished(act.NONE, at(12)) is None


@pytest.mark.parametrize(
    "change",
    [
        {"title": " "},
        {"ends_at": at(9)},
        {"ends_at": at(9, day=10)},
        {"starts_at": datetime(2026, 11, 2, 9)},
        {"points_per_hour": -1},
        {"points_per_hour": 1001},
        {"capacity": 0},
        {"min_minutes": -1},
        {"max_points": 0},
        {"no_checkout": "forever"},
    ],
)
def test_check_activity_refuses(change: dict) -> None:  # type: ignore[type-arg]
    args = dict(title="t", starts_at=at(9), ends_at=at(12), points_per_hour=10, capacity=None, min_minutes=0,
                max_points=None, no_checkout=act.WINDOW_END)
    act.check_activity(**args)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        act.check_activity(**{**args, **change})  # type: ignore[arg-type]
