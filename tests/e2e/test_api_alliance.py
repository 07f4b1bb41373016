"""The merchant alliance over HTTP, on each store: merchants and offers, pay codes in every
format, redemptions and each refusal with its code, reversals, statements (JSON and CSV),
and ``verify`` at the end."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import zxingcpp
from PIL import Image

from e2e_contract import bearer

from ledger import codes
from merchants import rules
from ops.verify import verify


def _setup(town: Any) -> dict[str, Any]:
    c, admin = town.client, town.headers("admin")
    shops = {}
    for name, unit in (("好邻居便利店", "building_a"), ("春晖理发店", "community_b")):
        r = c.post("/v1/merchants", json={"name": name, "unit_id": str(town.units[unit]), "address": "青禾路8号", "contact": "0571-000"}, headers=admin)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["token"]["role"] == "merchant" and body["code"].startswith("MB1.m.")
        shops[name] = {"id": body["merchant"]["id"], "h": bearer(body["token"]["secret"]), "code": body["code"]}
    return shops


def test_redeem_refuse_reverse_and_settle(town: Any) -> None:
    c, admin, vol = town.client, town.headers("admin"), town.headers("vol_own")
    clock = town.services.clock
    shops = _setup(town)
    shop, other = shops["好邻居便利店"], shops["春晖理发店"]

    # offers: admin or the merchant itself; never another merchant
    water = c.post(f"/v1/merchants/{shop['id']}/offers", json={"title": "矿泉水一箱", "points": 20, "stock": 5, "limit": 1, "limit_period": "day"}, headers=shop["h"])
    assert water.status_code == 201, water.text
    water = water.json()
    assert water["available"] and water["stock_left"] == 5
    haircut = c.post(f"/v1/merchants/{other['id']}/offers", json={"title": "理发", "points": 15}, headers=admin).json()
    assert c.post(f"/v1/merchants/{other['id']}/offers", json={"title": "x", "points": 1}, headers=shop["h"]).json()["code"] == "forbidden"

    # public listings, unit filter and pagination
    town.services.catch_up()
    seen, cursor = [], None  # the town's own shop, then ours
    while True:
        page = c.get("/v1/merchants", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [m["id"] for m in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [str(town.merchant), shop["id"], other["id"]]
    in_a = c.get("/v1/merchants", params={"unit_id": str(town.units["compound_a"])}).json()["items"]
    assert [m["id"] for m in in_a] == [str(town.merchant), shop["id"]]
    in_b = c.get("/v1/merchants", params={"unit_id": str(town.units["street_b"])}).json()["items"]
    assert [m["id"] for m in in_b] == [other["id"]]
    assert [o["title"] for o in c.get(f"/v1/merchants/{shop['id']}/offers").json()["items"]] == ["矿泉水一箱"]

    # pay codes: json, png (a phone scanner reads it), svg
    pay = c.get("/v1/me/pay-code", headers=vol).json()
    assert pay["code"].startswith("MB1.p.") and pay["expires_at"]
    png = c.get("/v1/me/pay-code", params={"format": "png"}, headers=vol)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert decoded and decoded[0].text.startswith("MB1.p.") and decoded[0].text != pay["code"]
    assert c.get("/v1/me/pay-code", params={"format": "svg"}, headers=vol).text.lstrip().startswith("<")
    assert c.get("/v1/me/pay-code", headers=shop["h"]).status_code == 403

    # redeem an offer; the same code again is refused, by either till
    r = c.post("/v1/redemptions", json={"pay_code": pay["code"], "offer_id": water["id"]}, headers=shop["h"])
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["points"] == 20 and first["volunteer_name"] == "O**"
    for h in (shop["h"], other["h"]):
        assert c.post("/v1/redemptions", json={"pay_code": pay["code"], "points": 1}, headers=h).json()["code"] == "code_used"

    def code() -> str:
        return c.get("/v1/me/pay-code", headers=vol).json()["code"]

    refusals = {
        "limit_reached": ({"offer_id": water["id"]}, shop),
        "forbidden": ({"offer_id": haircut["id"]}, shop),  # another merchant's offer
        "insufficient_points": ({"points": 81}, shop),
        "code_invalid": ({"points": 1, "pay_code": codes.sign(b"another key", codes.PAY, rules.pay_code_fields(town.vol_own, "n" * 16, 2**40))}, shop),
        "not_found": ({"offer_id": str(uuid.uuid4())}, shop),
    }
    for expected, (body, who) in refusals.items():
        r = c.post("/v1/redemptions", json={"pay_code": code(), **body}, headers=who["h"])
        assert r.json()["code"] == expected, (expected, r.text)
    assert c.post("/v1/redemptions", json={"pay_code": code(), "points": 5}, headers=vol).status_code == 403
    assert c.post("/v1/redemptions", json={"pay_code": code(), "points": 5, "offer_id": water["id"]}, headers=shop["h"]).status_code == 422

    # expiry by the injected clock: valid at 59 s, refused at 60 s
    early, late = code(), code()
    clock.advance(59)
    assert c.post("/v1/redemptions", json={"pay_code": early, "points": 10}, headers=shop["h"]).status_code == 201
    clock.advance(1)
    assert c.post("/v1/redemptions", json={"pay_code": late, "points": 10}, headers=shop["h"]).json()["code"] == "code_expired"

    # an idempotent retry by the same till gives the first result back
    again = code()
    k = {"Idempotency-Key": "till-1-42"}
    one = c.post("/v1/redemptions", json={"pay_code": again, "points": 3}, headers={**other["h"], **k})
    two = c.post("/v1/redemptions", json={"pay_code": again, "points": 3}, headers={**other["h"], **k})
    assert one.status_code == two.status_code == 201 and two.headers["Idempotent-Replayed"] == "true"
    assert one.json()["id"] == two.json()["id"]
    # ... also when the retry comes after the code's minute (the first answer was lost): the
    # payment was made while the code was valid; another till, a changed body or no key: expired
    clock.advance(61)
    late_retry = c.post("/v1/redemptions", json={"pay_code": again, "points": 3}, headers={**other["h"], **k})
    assert late_retry.status_code == 201 and late_retry.headers["Idempotent-Replayed"] == "true"
    assert late_retry.json()["id"] == one.json()["id"]
    for body, headers in (({"pay_code": again, "points": 3}, other["h"]), ({"pay_code": again, "points": 3}, {**shop["h"], **k})):
        assert c.post("/v1/redemptions", json=body, headers=headers).json()["code"] == "code_expired"
    changed = c.post("/v1/redemptions", json={"pay_code": again, "points": 4}, headers={**other["h"], **k})
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_conflict", changed.text

    # reversal: by the merchant that took it, once; never by another merchant; never of a reversal
    assert c.post(f"/v1/redemptions/{first['id']}/reversal", json={"reason": "x"}, headers=other["h"]).json()["code"] == "not_found"
    rev = c.post(f"/v1/redemptions/{first['id']}/reversal", json={"reason": "顾客退货"}, headers=shop["h"])
    assert rev.status_code == 201 and rev.json()["reversed_by"], rev.text
    assert c.post(f"/v1/redemptions/{first['id']}/reversal", json={"reason": "again"}, headers=admin).json()["code"] == "already_reversed"
    reversal_txn = rev.json()["reversed_by"]
    assert c.post(f"/v1/transactions/{reversal_txn}/reversal", json={"memo": "x"}, headers=admin).json()["code"] == "not_reversible"
    # the stock and the day's limit came back
    assert c.post("/v1/redemptions", json={"pay_code": code(), "offer_id": water["id"]}, headers=shop["h"]).status_code == 201

    # suspension refuses the merchant's redemptions
    assert c.post(f"/v1/merchants/{other['id']}/suspension", json={"reason": "整改"}, headers=admin).json()["suspended"]
    assert c.post("/v1/redemptions", json={"pay_code": code(), "points": 1}, headers=other["h"]).json()["code"] == "merchant_suspended"
    assert c.delete(f"/v1/merchants/{other['id']}/suspension", headers=admin).json()["suspended"] is False

    # statements: the merchant's own (or an admin's); totals = redemptions - reversals
    town.services.catch_up()
    today = clock.now().astimezone(town.services.settings.zone).date()
    assert c.get(f"/v1/merchants/{shop['id']}/statement", headers=other["h"]).json()["code"] == "forbidden"
    assert c.get(f"/v1/merchants/{shop['id']}/statement", headers=vol).status_code == 403
    s = c.get(f"/v1/merchants/{shop['id']}/statement", params={"from": str(today), "to": str(today)}, headers=shop["h"]).json()
    assert s["totals"] == {
        "redemptions": 3, "reversals": 1, "redeemed": 50, "reversed": 20, "net": 30,
        "funding": [{"unit_id": str(town.units["community_a"]), "unit_name": "Community A", "points": 30}],  # issue 17
    }
    assert sum(line["points"] for line in s["lines"]) == s["totals"]["net"]
    assert s == c.get(f"/v1/merchants/{shop['id']}/statement", headers=admin).json()
    yesterday = str(today - timedelta(days=1))
    assert c.get(f"/v1/merchants/{shop['id']}/statement", params={"from": yesterday, "to": yesterday}, headers=shop["h"]).json()["lines"] == []
    assert c.get(f"/v1/merchants/{shop['id']}/statement", params={"from": str(today), "to": yesterday}, headers=shop["h"]).status_code == 422
    raw = c.get(f"/v1/merchants/{shop['id']}/statement", params={"format": "csv"}, headers=shop["h"])
    assert raw.headers["content-type"].startswith("text/csv") and raw.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    assert "好邻居便利店" in rows[0][0] and any("顾客退货" in r for r in rows) and ["净积分 net", "30"] in rows

    report = verify(town.services)
    assert report.ok, report.violations


def test_volunteer_scans_a_till_code_and_pays(town: Any) -> None:
    c, vol, admin = town.client, town.headers("vol_own"), town.headers("admin")
    shop = _setup(town)["好邻居便利店"]
    tea = c.post(f"/v1/merchants/{shop['id']}/offers", json={"title": "茶叶蛋", "points": 4}, headers=admin).json()
    town.services.catch_up()
    scanned = c.post("/v1/scans", json={"code": shop["code"]}, headers=vol)
    assert scanned.status_code == 200, scanned.text
    body = scanned.json()
    assert body["kind"] == "merchant" and body["merchant"]["name"] == "好邻居便利店"
    assert [o["title"] for o in body["merchant"]["offers"]] == ["茶叶蛋"]

    k = {"Idempotency-Key": "pay-1"}
    paid = c.post("/v1/me/payments", json={"merchant_code": shop["code"], "offer_id": tea["id"]}, headers={**vol, **k})
    again = c.post("/v1/me/payments", json={"merchant_code": shop["code"], "offer_id": tea["id"]}, headers={**vol, **k})
    assert paid.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert paid.json()["id"] == again.json()["id"] and paid.json()["via"] == "merchant_code"
    other = c.post("/v1/me/payments", json={"merchant_code": shop["code"], "points": 5}, headers={**vol, **k})
    assert other.json()["code"] == "idempotency_conflict"
    assert c.post("/v1/me/payments", json={"merchant_code": shop["code"], "points": 500}, headers=vol).json()["code"] == "insufficient_points"
    forged = codes.sign(b"another key", codes.MERCHANT, {"m": uuid.UUID(shop["id"]).hex})
    assert c.post("/v1/scans", json={"code": forged}, headers=vol).json()["code"] == "code_invalid"
    c.post(f"/v1/merchants/{shop['id']}/suspension", json={"reason": ""}, headers=admin)
    assert c.post("/v1/scans", json={"code": shop["code"]}, headers=vol).json()["code"] == "merchant_suspended"
    town.services.catch_up()
    account = c.get("/v1/me/account", headers=vol).json()
    assert account["balance"] == 96 and account["redeemed"] == 4
