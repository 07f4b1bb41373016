"""Activities over HTTP: create, the rotating QR (png/svg/json), scans in and out, refusals
with their stable codes, approvals, settlement, cancellation, scopes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import zxingcpp
from PIL import Image
import io

from ledger import codes


def activity_body(world: Any, **kw: Any) -> dict[str, Any]:
    now = world.services.clock.now()
    body = {
        "title": "敬老院陪伴", "unit_id": str(world.units["community_a"]),
        "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=3)).isoformat(), "points_per_hour": 12,
    }
    body.update(kw)
    return body


def test_activity_scan_flow(town: Any) -> None:
    c, clock = town.client, town.services.clock
    org, vol = town.headers("org_in"), town.headers("vol_own")

    r = c.post("/v1/activities", json=activity_body(town, capacity=5), headers=org)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["counts"]["checked_in"] == 0 and a["starts_at"].endswith("+08:00")
    assert c.post("/v1/activities", json=activity_body(town, unit_id=str(town.units["street_b"])), headers=org).status_code == 403
    assert c.get(f"/v1/activities/{a['id']}", headers=town.headers("org_out")).status_code == 403
    assert c.get(f"/v1/activities/{a['id']}", headers=vol).status_code == 403

    # the code three ways: a PNG any phone reads, an SVG, and the payload
    png = c.get(f"/v1/activities/{a['id']}/qr?format=png", headers=org)
    assert png.headers["content-type"] == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert decoded.text.startswith("MB1.a.")
    svg = c.get(f"/v1/activities/{a['id']}/qr?format=svg", headers=org)
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    j = c.get(f"/v1/activities/{a['id']}/qr?format=json", headers=org).json()
    assert j["code"] == decoded.text and j["rotates_at"] > j["valid_from"]

    # check in, the same scan again, then out 2 hours later
    r = c.post("/v1/scans", json={"code": j["code"]}, headers=vol)
    assert r.status_code == 200, r.text
    assert (r.json()["action"], r.json()["replayed"], r.json()["attendance"]["status"]) == ("check_in", False, "in")
    assert c.post("/v1/scans", json={"code": j["code"], "activity_id": a["id"]}, headers=vol).json()["replayed"] is True
    clock.advance(minutes=121)
    code = c.get(f"/v1/activities/{a['id']}/qr?format=json", headers=org).json()["code"]
    r = c.post("/v1/scans", json={"code": code}, headers=vol).json()
    assert (r["action"], r["attendance"]["minutes"], r["attendance"]["points"]) == ("check_out", 121, 24)
    town.services.catch_up()
    got = c.get(f"/v1/activities/{a['id']}", headers=org).json()["counts"]
    assert got == {"checked_in": 1, "present": 0, "checked_out": 1, "pending": 0, "points": 24, "minutes": 121}
    assert c.get("/v1/me/account", headers=vol).json()["balance"] == 100 + 24
    rows = c.get(f"/v1/activities/{a['id']}/attendances", headers=org).json()["items"]
    assert [(x["volunteer_id"], x["status"], x["points"]) for x in rows] == [(str(town.vol_own), "credited", 24)]
    assert [x["id"] for x in c.get("/v1/activities", headers=org).json()["items"]] == [a["id"]]
    assert c.get("/v1/activities", headers=town.headers("org_out")).json()["items"] == []

    # refusals, each with its own code
    def refused(code: Any, who: str = "vol_other", **extra: Any) -> tuple[int, str]:
        resp = c.post("/v1/scans", json={"code": code, **extra}, headers=town.headers(who))
        return resp.status_code, resp.json()["code"]

    clock.advance(61)
    assert refused(code) == (422, "code_expired")
    fresh = c.get(f"/v1/activities/{a['id']}/qr?format=json", headers=org).json()["code"]
    assert refused(fresh[:-4] + "AAAA") == (422, "code_invalid")
    assert refused("hello") == (422, "code_invalid")
    assert refused(codes.sign(b"not our key", codes.ACTIVITY, {"a": a["id"], "w": 1})) == (422, "code_invalid")
    assert refused(fresh, activity_id=str(town.units["street_a"])) == (422, "code_wrong_activity")
    assert refused(fresh, who="vol_own") == (409, "already_checked_out")
    assert refused(fresh, who="org_in") == (403, "forbidden")
    assert c.post("/v1/scans", json={"code": 5}, headers=vol).status_code == 422
    assert c.post("/v1/scans", json={"code": fresh}).status_code == 401
    assert c.post("/v1/activities", json=activity_body(town, ends_at=activity_body(town)["starts_at"]), headers=org).json()["code"] == "invalid_request"

    # cancelled: scans stop
    r = c.post(f"/v1/activities/{a['id']}/cancellation", json={"reason": "暴雨"}, headers=org)
    assert r.status_code == 200 and r.json()["cancelled_at"]
    assert refused(c.get(f"/v1/activities/{a['id']}/qr?format=json", headers=org).json()["code"]) == (409, "activity_closed")
    assert c.post(f"/v1/activities/{a['id']}/cancellation", headers=org).json()["code"] == "activity_cancelled"


def test_approvals_and_settlement(town: Any) -> None:
    c, clock = town.client, town.services.clock
    org = town.headers("org_in")
    a = c.post("/v1/activities", json=activity_body(town, needs_approval=True, no_checkout="approval"), headers=org).json()
    qr = lambda: c.get(f"/v1/activities/{a['id']}/qr?format=json", headers=org).json()["code"]  # noqa: E731
    for who in ("vol_own", "vol_other"):
        assert c.post("/v1/scans", json={"code": qr()}, headers=town.headers(who)).status_code == 200
    clock.advance(minutes=60)
    assert c.post("/v1/scans", json={"code": qr()}, headers=town.headers("vol_own")).json()["attendance"]["status"] == "pending"
    assert c.post(f"/v1/activities/{a['id']}/settlement", headers=org).json()["code"] == "activity_not_over"
    clock.advance(hours=4)
    town.services.catch_up()
    settled = c.post(f"/v1/activities/{a['id']}/settlement", headers=org).json()["items"]
    assert [(x["volunteer_id"], x["status"], x["minutes"]) for x in settled] == [(str(town.vol_other), "pending", 180)]
    town.services.catch_up()
    r = c.post(f"/v1/activities/{a['id']}/approvals", json={"decision": "reject", "volunteer_ids": [str(town.vol_other)]}, headers=org)
    assert [x["status"] for x in r.json()["items"]] == ["rejected"]
    town.services.catch_up()
    r = c.post(f"/v1/activities/{a['id']}/approvals", json={"decision": "approve"}, headers=org)  # every pending one
    assert [(x["volunteer_id"], x["status"], x["points"]) for x in r.json()["items"]] == [(str(town.vol_own), "credited", 12)]
    assert r.json()["items"][0]["transaction_id"]
    again = c.post(f"/v1/activities/{a['id']}/approvals", json={"decision": "approve", "volunteer_ids": [str(town.vol_own)]}, headers=org)
    assert (again.status_code, again.json()["code"]) == (409, "not_pending")
    assert c.post(f"/v1/activities/{a['id']}/approvals", json={"decision": "maybe"}, headers=org).status_code == 422
    town.services.catch_up()
    assert c.get(f"/v1/activities/{a['id']}", headers=org).json()["counts"]["points"] == 12
