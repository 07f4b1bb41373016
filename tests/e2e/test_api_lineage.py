"""Issue 17 over HTTP, on each store: the merchant statement split by funding unit (JSON and CSV)
equal to the drawings, a reversal moving the split back, the statement per issuing unit, expiry
policies (own, inherited, scope) and what lapses in the next days under a unit."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from e2e_contract import bearer

from ledger.lots import rules as lot_rules
from ledger.lots.expiry import expire_due
from ops.verify import verify


def _drawn_by_line(town: Any, merchant: str) -> dict[str, dict[str, int]]:
    """Per transaction, the signed points per funding unit of its postings into or out of the
    merchant, straight from the store's postings and drawings rows."""
    recorder = town.ledger.recorder
    rows = {(r.position, r.seq): r for r in recorder.select_postings(0, 2**62, 10**6)}
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    shop = uuid.UUID(merchant)
    for position, seq, _lot, unit, amount in recorder.select_drawings(0, 2**62, 10**6):
        r = rows[(position, seq)]
        if ("merchant", shop) in ((r.destination_kind, r.destination_id), (r.source_kind, r.source_id)):
            out[str(r.transaction_id)][str(unit)] += amount
    return {t: {u: n for u, n in split.items() if n} for t, split in out.items()}


def _neighbourhood(town: Any) -> dict[str, Any]:
    """A street with two communities; a volunteer of the first funded by both (the second's points
    lapse sooner, so they are drawn first); a second volunteer of the second funded by the first;
    two shops."""
    c, admin, ledger = town.client, town.headers("admin"), town.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    one = ledger.create_unit("春晖社区", "community", street.id)
    two = ledger.create_unit("和园社区", "community", street.id)
    assert c.put(f"/v1/units/{street.id}/expiry-policy", json={"kind": "year_after_next"}, headers=admin).status_code == 200
    assert c.put(f"/v1/units/{two.id}/expiry-policy", json={"kind": "months", "months": 1}, headers=admin).status_code == 200
    v = ledger.register_volunteer("林", one.id)
    w = ledger.register_volunteer("周", two.id)
    ledger.credit(f"c:{uuid.uuid4()}", one.id, v.id, 30)
    ledger.credit(f"c:{uuid.uuid4()}", two.id, v.id, 40)
    ledger.credit(f"c:{uuid.uuid4()}", one.id, w.id, 5)
    shops = {}
    for name in ("好邻居便利店", "春晖理发店"):
        body = c.post("/v1/merchants", json={"name": name, "unit_id": str(street.id)}, headers=admin).json()
        shops[name] = {"id": body["merchant"]["id"], "h": bearer(body["token"]["secret"])}
    vols = {p.id: bearer(ledger.issue_token("volunteer", p.name, subject_id=p.id).secret) for p in (v, w)}

    def redeem(who: Any, shop: str, points: int) -> dict[str, Any]:
        code = c.get("/v1/me/pay-code", headers=vols[who.id]).json()["code"]
        r = c.post("/v1/redemptions", json={"pay_code": code, "points": points}, headers=shops[shop]["h"])
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    return {"street": street, "one": one, "two": two, "v": v, "w": w, "shops": shops, "redeem": redeem}


def test_statements_split_by_funding_unit_equal_the_drawings(town: Any) -> None:
    c, admin = town.client, town.headers("admin")
    n = _neighbourhood(town)
    one, two, shop = str(n["one"].id), str(n["two"].id), n["shops"]["好邻居便利店"]
    big = n["redeem"](n["v"], "好邻居便利店", 50)  # more than either lot: 40 of the second community's, 10 of the first's
    n["redeem"](n["v"], "好邻居便利店", 15)  # the first's
    n["redeem"](n["w"], "春晖理发店", 5)  # the first community's points, spent by a volunteer of the second
    back = c.post(f"/v1/redemptions/{big['id']}/reversal", json={"reason": "退货"}, headers=shop["h"])
    assert back.status_code == 201, back.text
    town.services.catch_up()

    s = c.get(f"/v1/merchants/{shop['id']}/statement", headers=shop["h"]).json()
    assert [line["points"] for line in s["lines"]] == [50, 15, -50]
    split = [{f["unit_id"]: f["points"] for f in line["funding"]} for line in s["lines"]]
    assert split == [{two: 40, one: 10}, {one: 15}, {two: -40, one: -10}]  # the reversal gives the split back
    assert all(sum(f["points"] for f in line["funding"]) == line["points"] for line in s["lines"])
    assert {f["unit_name"] for line in s["lines"] for f in line["funding"]} == {"春晖社区", "和园社区"}
    drawn = _drawn_by_line(town, shop["id"])
    assert {line["transaction_id"]: {f["unit_id"]: f["points"] for f in line["funding"]} for line in s["lines"]} == drawn
    assert s["totals"]["net"] == 15 and s["totals"]["funding"] == [{"unit_id": one, "unit_name": "春晖社区", "points": 15}]
    assert s == c.get(f"/v1/merchants/{shop['id']}/statement", headers=admin).json()

    # CSV: one column per funding unit; each column sums to that unit's total
    raw = c.get(f"/v1/merchants/{shop['id']}/statement", params={"format": "csv"}, headers=shop["h"])
    rows = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    header = rows[1]
    cols = {name: header.index(f"资金来源 funded by: {name}") for name in ("春晖社区", "和园社区")}
    lines = rows[2:5]
    assert [int(r[2]) for r in lines] == [50, 15, -50]
    for r in lines:
        assert sum(int(r[i] or 0) for i in cols.values()) == int(r[2])
    assert [sum(int(r[i] or 0) for r in lines) for i in cols.values()] == [15, 0]
    by_unit = rows[5]
    assert by_unit[0] == "按资金来源 by funding unit" and [by_unit[i] for i in cols.values()] == ["15", "0"]
    assert ["资金来源 funded by", "春晖社区", one, "15"] in rows and ["净积分 net", "15"] in rows

    # the statement per issuing unit: what its points paid for, whoever spent them
    first = c.get(f"/v1/units/{one}/alliance-statement", headers=admin).json()
    assert first["unit_name"] == "春晖社区"
    assert [(x["merchant_name"], x["redemptions"], x["reversals"], x["redeemed"], x["reversed"], x["points"]) for x in first["shops"]] == [
        ("好邻居便利店", 2, 1, 25, 10, 15), ("春晖理发店", 1, 0, 5, 0, 5),
    ]
    assert first["totals"] == {"redemptions": 3, "reversals": 1, "redeemed": 30, "reversed": 10, "points": 20}
    second = c.get(f"/v1/units/{two}/alliance-statement", headers=admin).json()
    assert [(x["merchant_name"], x["points"]) for x in second["shops"]] == [("好邻居便利店", 0)]
    assert second["totals"] == {"redemptions": 1, "reversals": 1, "redeemed": 40, "reversed": 40, "points": 0}
    # each shop's statement, summed over funding units, equals the unit statements, shop by shop
    for name, info in n["shops"].items():
        total = c.get(f"/v1/merchants/{info['id']}/statement", headers=admin).json()["totals"]["net"]
        per_unit = sum(x["points"] for u in (first, second) for x in u["shops"] if x["merchant_name"] == name)
        assert total == per_unit
    raw = c.get(f"/v1/units/{one}/alliance-statement", params={"format": "csv"}, headers=admin)
    assert raw.headers["content-type"].startswith("text/csv") and raw.content.startswith(b"\xef\xbb\xbf")
    unit_rows = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    assert sum(int(r[6]) for r in unit_rows[2:-1]) == 20 and unit_rows[-1][0] == "合计 total" and unit_rows[-1][6] == "20"
    yesterday = str(town.services.clock.now().astimezone(town.services.settings.zone).date() - timedelta(days=1))
    empty = c.get(f"/v1/units/{one}/alliance-statement", params={"from": yesterday, "to": yesterday}, headers=admin).json()
    assert empty["shops"] == [] and empty["totals"]["points"] == 0

    # scope: organizers of the unit (or above it), admins; never another unit's organizer, a volunteer, a shop
    org_one = bearer(town.ledger.issue_token("organizer", "one", unit_ids=[n["one"].id]).secret)
    org_street = bearer(town.ledger.issue_token("organizer", "street", unit_ids=[n["street"].id]).secret)
    assert c.get(f"/v1/units/{one}/alliance-statement", headers=org_one).status_code == 200
    assert c.get(f"/v1/units/{two}/alliance-statement", headers=org_street).status_code == 200
    assert c.get(f"/v1/units/{two}/alliance-statement", headers=org_one).json()["code"] == "forbidden"
    assert c.get(f"/v1/units/{one}/alliance-statement", headers=shop["h"]).json()["code"] == "forbidden"
    assert c.get(f"/v1/units/{one}/alliance-statement", headers=town.headers("vol_own")).json()["code"] == "forbidden"

    report = verify(town.services)
    assert report.ok, report.violations


def test_expiry_policy_put_get_override_and_scope(town: Any) -> None:
    c, admin, ledger = town.client, town.headers("admin"), town.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("春晖社区", "community", street.id)
    compound = ledger.create_unit("和园小区", "compound", community.id)
    got = c.get(f"/v1/units/{compound.id}/expiry-policy", headers=admin).json()
    assert got == {"unit_id": str(compound.id), "own": None, "effective": {"kind": "never", "months": None},
                   "source_unit_id": None, "source_unit_name": None}
    v = ledger.register_volunteer("林", compound.id)
    ledger.credit("before", compound.id, v.id, 10)  # never expires: a later policy does not change it

    put = c.put(f"/v1/units/{street.id}/expiry-policy", json={"kind": "year_after_next"}, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json()["own"] == {"kind": "year_after_next", "months": None}
    got = c.get(f"/v1/units/{compound.id}/expiry-policy", headers=admin).json()
    assert got["own"] is None and got["effective"]["kind"] == "year_after_next"
    assert (got["source_unit_id"], got["source_unit_name"]) == (str(street.id), "青禾街道")
    # the community overrides its street
    put = c.put(f"/v1/units/{community.id}/expiry-policy", json={"kind": "months", "months": 6}, headers=admin).json()
    assert put["effective"] == {"kind": "months", "months": 6} and put["source_unit_id"] == str(community.id)
    got = c.get(f"/v1/units/{compound.id}/expiry-policy", headers=admin).json()
    assert got["effective"] == {"kind": "months", "months": 6} and got["source_unit_id"] == str(community.id)
    assert c.get(f"/v1/units/{street.id}/expiry-policy", headers=admin).json()["effective"]["kind"] == "year_after_next"

    ledger.credit("after", compound.id, v.id, 10)
    zone = town.services.settings.zone
    today = town.services.clock.now().astimezone(zone).date()
    account = c.get(f"/v1/volunteers/{v.id}/account", headers=admin).json()
    assert account["expiries"] == [{"date": str(lot_rules.add_months(today, 6)), "points": 10}]  # the first lot: never

    # scope: organizers read their own units (and below), write none; volunteers and shops nothing
    org = bearer(ledger.issue_token("organizer", "c", unit_ids=[community.id]).secret)
    vol = bearer(ledger.issue_token("volunteer", "v", subject_id=v.id).secret)
    assert c.get(f"/v1/units/{compound.id}/expiry-policy", headers=org).status_code == 200
    assert c.get(f"/v1/units/{street.id}/expiry-policy", headers=org).json()["code"] == "forbidden"
    for who in (org, vol, town.headers("merchant")):
        r = c.put(f"/v1/units/{community.id}/expiry-policy", json={"kind": "never"}, headers=who)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    assert c.get(f"/v1/units/{community.id}/expiry-policy", headers=vol).json()["code"] == "forbidden"
    assert c.get(f"/v1/units/{community.id}/expiry-policy", headers=admin).json()["own"] == {"kind": "months", "months": 6}


BAD_POLICIES = [
    ({"kind": "weekly"}, "validation_error"),
    ({"kind": "months"}, "invalid_request"),  # months missing
    ({"kind": "months", "months": 0}, "invalid_request"),
    ({"kind": "months", "months": 241}, "invalid_request"),
    ({"kind": "months", "months": "3"}, "validation_error"),
    ({"kind": "months", "months": True}, "validation_error"),
    ({"kind": "never", "months": 3}, "invalid_request"),
    ({"kind": "never", "extra": 1}, "validation_error"),
    ({}, "validation_error"),
]


@pytest.mark.parametrize(("body", "code"), BAD_POLICIES)
def test_bad_policies_are_refused_with_a_code(town: Any, body: dict[str, Any], code: str) -> None:
    unit = town.units["community_a"]
    before = town.head()
    r = town.client.put(f"/v1/units/{unit}/expiry-policy", json=body, headers=town.headers("admin"))
    assert (r.status_code, r.json()["code"]) == (422, code), r.text
    assert town.head() == before


def test_bad_input_is_a_problem_never_a_500(town: Any) -> None:
    c, admin, unit = town.client, town.headers("admin"), town.units["community_a"]
    missing = uuid.uuid4()
    cases = [
        ("GET", f"/v1/units/{unit}/expiring?days=0", 422, "validation_error"),
        ("GET", f"/v1/units/{unit}/expiring?days=367", 422, "validation_error"),
        ("GET", f"/v1/units/{unit}/expiring?days=abc", 422, "validation_error"),
        ("GET", f"/v1/units/{missing}/expiring", 404, "not_found"),
        ("GET", "/v1/units/not-a-uuid/expiring", 422, "validation_error"),
        ("GET", f"/v1/units/{missing}/expiry-policy", 404, "not_found"),
        ("PUT", f"/v1/units/{missing}/expiry-policy", 404, "not_found"),
        ("GET", f"/v1/units/{missing}/alliance-statement", 404, "not_found"),
        ("GET", f"/v1/units/{unit}/alliance-statement?from=2026-02-30", 422, "validation_error"),
        ("GET", f"/v1/units/{unit}/alliance-statement?from=2026-03-02&to=2026-03-01", 422, "invalid_request"),
        ("GET", f"/v1/units/{unit}/alliance-statement?from=2020-01-01&to=2026-03-01", 422, "invalid_request"),
        ("GET", f"/v1/units/{unit}/alliance-statement?format=xlsx", 422, "validation_error"),
    ]
    for method, path, status, code in cases:
        r = c.request(method, path, json={"kind": "never"} if method == "PUT" else None, headers=admin)
        assert (r.status_code, r.json()["code"]) == (status, code), (method, path, r.text)
    r = c.put(f"/v1/units/{unit}/expiry-policy", content=b"kind=never", headers={**admin, "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = c.put(f"/v1/units/{unit}/expiry-policy", content=b"{", headers={**admin, "Content-Type": "application/json"})
    assert r.status_code in (400, 422) and r.json()["code"]


def test_what_lapses_in_the_next_days_under_a_unit(town: Any) -> None:
    c, admin, ledger, clock = town.client, town.headers("admin"), town.ledger, town.services.clock
    zone = town.services.settings.zone
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("春晖社区", "community", street.id)
    compound = ledger.create_unit("和园小区", "compound", community.id)
    elsewhere = ledger.create_unit("别处街道", "street", None)
    for u in (street, elsewhere):
        assert c.put(f"/v1/units/{u.id}/expiry-policy", json={"kind": "months", "months": 1}, headers=admin).status_code == 200
    a = ledger.register_volunteer("林", compound.id)
    b = ledger.register_volunteer("周", community.id)
    far = ledger.register_volunteer("吴", elsewhere.id)
    first = clock.now().astimezone(zone).date()
    ledger.credit(f"c:{uuid.uuid4()}", street.id, a.id, 20)
    ledger.credit(f"c:{uuid.uuid4()}", street.id, b.id, 7)
    ledger.credit(f"c:{uuid.uuid4()}", elsewhere.id, far.id, 100)  # not under the community
    clock.advance(days=3)
    second = clock.now().astimezone(zone).date()
    ledger.credit(f"c:{uuid.uuid4()}", street.id, a.id, 9)
    ledger.post(f"p:{uuid.uuid4()}", "redemption", [_pay(a.id, 5)])  # the first lot has 15 left
    town.services.catch_up()

    got = c.get(f"/v1/units/{community.id}/expiring", params={"days": 40}, headers=admin).json()
    today = clock.now().astimezone(zone).date()
    d1, d2 = lot_rules.add_months(first, 1), lot_rules.add_months(second, 1)
    assert (got["from"], got["to"]) == (str(today), str(today + timedelta(days=39)))
    assert got["days"] == [{"date": str(d1), "points": 22, "volunteers": 2}, {"date": str(d2), "points": 9, "volunteers": 1}]
    assert got["total"] == 31 and got["overdue"] == 0
    within_30 = sum(p for d, p in ((d1, 15), (d2, 9)) if d <= today + timedelta(days=29))
    assert c.get(f"/v1/units/{compound.id}/expiring", headers=admin).json()["total"] == within_30  # default 30 days
    short = c.get(f"/v1/units/{community.id}/expiring", params={"days": (d1 - today).days}, headers=admin).json()
    assert short["days"] == [] and short["total"] == 0  # the last day is one day beyond
    org = bearer(ledger.issue_token("organizer", "c", unit_ids=[community.id]).secret)
    assert c.get(f"/v1/units/{compound.id}/expiring", params={"days": 40}, headers=org).json()["total"] == 24
    assert c.get(f"/v1/units/{elsewhere.id}/expiring", headers=org).json()["code"] == "forbidden"

    # past the first last day, before a run: overdue; the run takes them
    clock.set(clock.now() + (d1 - today + timedelta(days=1)))
    got = c.get(f"/v1/units/{community.id}/expiring", headers=admin).json()
    assert got["overdue"] == 22 and got["days"] == [{"date": str(d2), "points": 9, "volunteers": 1}]
    expire_due(ledger)
    got = c.get(f"/v1/units/{community.id}/expiring", headers=admin).json()
    assert got["overdue"] == 0 and got["total"] == 9


def _pay(volunteer_id: uuid.UUID, points: int) -> Any:
    from ledger.accounts import Posting, merchant_account, volunteer_account

    return Posting(volunteer_account(volunteer_id), merchant_account(uuid.uuid4()), points)
