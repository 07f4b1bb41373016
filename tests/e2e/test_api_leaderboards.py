"""GET /v1/leaderboards, POST /v1/volunteers/{id}/move and the roll-ups of GET /v1/units/{id},
over HTTP on both stores."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from e2e_contract import bearer

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_leaderboard_ranks_pages_names_periods_and_rollups(client: Any, admin: dict[str, str], services: Any, clock: Any) -> None:
    ledger = services.ledger
    clock.set(datetime(2026, 11, 10, 10, tzinfo=SHANGHAI))  # a Tuesday
    street = ledger.create_unit("青禾街道", "street", None).id
    community = ledger.create_unit("杏林社区", "community", street).id
    building = ledger.create_unit("杏林苑3号楼", "building", ledger.create_unit("杏林苑", "compound", community).id).id
    other = ledger.create_unit("枫桥社区", "community", street).id
    names = ["张小明", "李四", "欧阳娜娜", "王秀英", "陈志强"]
    people = [ledger.register_volunteer(n, building).id for n in names]
    for i, points in enumerate([30, 50, 50, 30, 10]):
        ledger.credit(f"w1:{i}", community, people[i], points, minutes=points * 2)
    clock.set(datetime(2026, 11, 17, 9, tzinfo=SHANGHAI))  # the next Monday
    ledger.credit("w2", community, people[4], 100, minutes=45)
    services.catch_up()

    # -- public: masked names, ties share a rank and the next rank skips, across pages
    seen = []
    cursor = None
    while True:
        params: dict[str, Any] = {"unit_id": str(community), "period": "all", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/v1/leaderboards", params=params).json()
        seen += [(r["rank"], r["name"], r["value"]) for r in body["items"]]
        assert body["names"] == "masked" and all(r["volunteer_id"] is None for r in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [(rank, value) for rank, _, value in seen] == [(1, 110), (2, 50), (2, 50), (4, 30), (4, 30)]
    assert seen[0][1] == "陈*强"
    assert {n for _, n, v in seen if v == 50} == {"李*", "欧**娜"}

    # -- `at` picks a past period; minutes rank on their own
    body = client.get(
        "/v1/leaderboards",
        params={"unit_id": str(building), "period": "week", "metric": "minutes", "at": "2026-11-12T08:00:00+08:00"},
    ).json()
    assert (body["period_start"], body["period_end"]) == ("2026-11-09", "2026-11-16")
    assert [(r["rank"], r["value"]) for r in body["items"]] == [(1, 100), (1, 100), (3, 60), (3, 60), (5, 20)]
    assert [a["name"] for a in body["ancestors"]] == ["杏林苑", "杏林社区", "青禾街道"]
    this_week = client.get("/v1/leaderboards", params={"unit_id": str(building), "period": "week"}).json()
    assert [(r["name"], r["value"]) for r in this_week["items"]] == [("陈*强", 100)]

    # -- default unit: the first street, with its children to choose from
    body = client.get("/v1/leaderboards").json()
    assert body["unit"]["name"] == "青禾街道"
    assert [c["name"] for c in body["children"]] == ["杏林社区", "枫桥社区"]

    # -- full names for an admin and for an organizer of the unit (or above); masked for others
    inside = ledger.issue_token("organizer", "杏林组织者", unit_ids=[community]).secret
    outside = ledger.issue_token("organizer", "枫桥组织者", unit_ids=[other]).secret
    for token, names_shown in ((admin, "full"), (bearer(inside), "full"), (bearer(outside), "masked")):
        body = client.get("/v1/leaderboards", params={"unit_id": str(building)}, headers=token).json()
        assert body["names"] == names_shown
    full = client.get("/v1/leaderboards", params={"unit_id": str(building)}, headers=bearer(inside)).json()
    assert full["items"][0]["name"] == "陈志强" and full["items"][0]["volunteer_id"] == str(people[4])
    street_board = client.get("/v1/leaderboards", params={"unit_id": str(street)}, headers=bearer(inside)).json()
    assert street_board["names"] == "masked"  # the street is above the organizer's community

    # -- refusals
    assert client.get("/v1/leaderboards", params={"cursor": "bm9wZQ"}).json()["code"] == "invalid_cursor"
    assert client.get("/v1/leaderboards", params={"metric": "likes"}).status_code == 422
    assert client.get("/v1/leaderboards", params={"unit_id": "00000000-0000-0000-0000-000000000001"}).status_code == 404
    assert client.get("/v1/leaderboards", headers=bearer("mb_nonsense")).status_code == 401

    # -- moving a volunteer: later points count for the new home, earlier ones stay
    moved = client.post(f"/v1/volunteers/{people[0]}/move", json={"unit_id": str(other)}, headers=bearer(inside))
    assert moved.status_code == 403  # the new home is outside this organizer's units
    moved = client.post(f"/v1/volunteers/{people[0]}/move", json={"unit_id": str(other)}, headers=admin)
    assert moved.status_code == 200 and moved.json()["unit_id"] == str(other)
    ledger.credit("after-move", other, people[0], 7)
    services.catch_up()
    on_other = client.get("/v1/leaderboards", params={"unit_id": str(other)}, headers=admin).json()["items"]
    assert [(r["name"], r["value"], r["home_unit"]["name"]) for r in on_other] == [("张小明", 7, "枫桥社区")]
    on_building = client.get("/v1/leaderboards", params={"unit_id": str(building)}, headers=admin).json()["items"]
    assert ("张小明", 30) in [(r["name"], r["value"]) for r in on_building]

    # -- roll-ups on GET /v1/units/{id}: issued where points came from, earned where volunteers live
    totals = {t["period"]: t for t in client.get(f"/v1/units/{street}", headers=admin).json()["totals"]}
    assert totals["all"] | {"start": None} == {
        "period": "all", "start": None, "end": None, "issued": 277, "earned": 277, "redeemed": 0, "minutes": 385, "expired": 0,
    }
    assert (totals["week"]["start"], totals["week"]["earned"]) == ("2026-11-16", 107)
    assert (totals["month"]["start"], totals["year"]["start"]) == ("2026-11-01", "2026-01-01")
    community_totals = {t["period"]: t for t in client.get(f"/v1/units/{community}", headers=admin).json()["totals"]}
    assert (community_totals["all"]["issued"], community_totals["all"]["earned"]) == (270, 270)
