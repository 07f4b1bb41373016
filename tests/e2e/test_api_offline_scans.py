"""POST /v1/activities/{id}/offline-scans over HTTP, on each store: an organizer's device sends
the card scans it queued (offline) with their own times and nonces; each gets its own outcome;
the same queue sent twice lands once; scope; the events say offline, device and sync time."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from ledger.accounts import volunteer_account
from ledger.activities import rules as act
from ledger.activities.domain import AttendanceRecord
from ledger.cards.service import Cards

PIN = "482913"


def carded(town: Any, n: int) -> list[tuple[uuid.UUID, str]]:
    """n volunteers of building A with member cards: (id, what the card's QR says)."""
    cards = Cards(town.ledger, town.services.settings.signing_key())
    out = []
    for i in range(n):
        v = town.ledger.register_volunteer(f"卡片志愿者{i}", town.units["building_a"], also_save=lambda v: [cards.new_card(v.id, PIN)])
        out.append((v.id, f"http://testserver/pages/volunteer#card={cards.code_for(cards.get(v.id))}"))
    return out


def activity(town: Any, **kw: Any) -> Any:
    now = town.services.clock.now()
    return town.services.attendance.create_activity(
        "河滨清扫", town.units["community_a"], now, now + timedelta(hours=2), 10, **kw
    )


def scan(code: str, at: Any, nonce: str | None = None) -> dict[str, Any]:
    return {"nonce": nonce or uuid.uuid4().hex, "code": code, "scanned_at": at.isoformat(), "offline": True}


def send(town: Any, activity_id: Any, scans: list[dict[str, Any]], role: str = "org_in", device: str = "平板-1") -> Any:
    return town.client.post(
        f"/v1/activities/{activity_id}/offline-scans", json={"device": device, "scans": scans}, headers=town.headers(role)
    )


def test_a_queue_of_card_scans_lands_once_with_its_own_outcomes(town: Any) -> None:
    clock = town.services.clock
    a = activity(town, capacity=3)
    people = carded(town, 4)
    t0 = a.starts_at + timedelta(minutes=5)
    clock.advance(minutes=30)  # the device comes back online half an hour in
    queue = [scan(code, t0 + timedelta(seconds=i)) for i, (_, code) in enumerate(people)]
    r = send(town, a.id, queue)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["outcome"] for i in items] == ["checked_in"] * 3 + ["refused"]
    assert items[3]["code"] == "activity_full"
    assert items[0]["volunteer_name"] == "卡片志愿者0" and items[0]["attendance"]["status"] == "in"
    # the same queue again: the landed ones are duplicates, nothing new is written
    again = send(town, a.id, queue).json()["items"]
    assert [i["outcome"] for i in again] == ["duplicate"] * 3 + ["refused"]
    events = list(town.ledger.repository.event_store.get(AttendanceRecord.create_id(a.id, people[0][0])))
    assert len(events) == 1
    e = events[0]
    assert (e.offline, e.device, e.synced_at, e.at, e.nonce) == (True, "平板-1", clock.now(), t0, queue[0]["nonce"])
    assert e.by  # the organizer's actor


def test_check_out_sent_before_check_in_and_refusals(town: Any) -> None:
    clock = town.services.clock
    a = activity(town)
    (v1, c1), (v2, c2) = carded(town, 2)
    t_in, t_out = a.starts_at + timedelta(minutes=10), a.starts_at + timedelta(minutes=70)
    clock.advance(hours=2, minutes=30)
    first = send(town, a.id, [scan(c1, t_out)]).json()["items"][0]
    assert first["outcome"] == "checked_in"
    second = send(town, a.id, [scan(c1, t_in)]).json()["items"][0]
    assert second["outcome"] == "checked_out" and second["attendance"]["points"] == 10
    assert town.ledger.guarded_balance(volunteer_account(v1)) == 10
    clock.set(a.ends_at + timedelta(hours=3))
    late = a.ends_at + act.LATE_SCAN + timedelta(seconds=1)
    future = clock.now() + timedelta(hours=1)
    rows = send(town, a.id, [
        scan(c2, late), scan(c2, future), scan("MB1.c.forged.xx", t_in), scan(c2, t_in), scan(c2, t_out)
    ]).json()["items"]
    assert [(i["outcome"], i["code"]) for i in rows] == [
        ("refused", "scan_too_late"), ("refused", "scan_in_future"), ("refused", "code_invalid"),
        ("checked_in", None), ("checked_out", None),
    ]
    # a re-issued card's old code is refused as card_revoked
    Cards(town.ledger, town.services.settings.signing_key()).issue(v2, "730412")
    b = activity(town)
    assert send(town, b.id, [scan(c2, clock.now())]).json()["items"][0]["code"] == "card_revoked"
    # synced more than a day after the end
    clock.set(a.ends_at + act.SYNC_ALLOWANCE + timedelta(minutes=1))
    assert send(town, a.id, [scan(c1, t_in + timedelta(minutes=1))]).json()["items"][0]["code"] == "sync_too_late"


def test_only_organizers_of_the_activitys_unit(town: Any) -> None:
    a = activity(town)
    [(_, code)] = carded(town, 1)
    body = [scan(code, town.services.clock.now())]
    assert send(town, a.id, body, role="org_out").status_code == 403
    assert send(town, a.id, body, role="vol_own").status_code == 403
    assert send(town, a.id, body, role="merchant").status_code == 403
    bad = town.client.post(f"/v1/activities/{a.id}/offline-scans", json={"scans": [{**body[0], "nonce": "short"}]},
                           headers=town.headers("org_in"))
    assert bad.status_code == 422
    assert send(town, a.id, body, role="admin").json()["items"][0]["outcome"] == "checked_in"
