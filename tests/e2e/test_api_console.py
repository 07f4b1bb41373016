"""What the console needs from the API: the visible unit tree with figures, volunteer search
(paged, scoped), and the roster import (GB18030 and UTF-8 with BOM, safe to send again, an
unreadable file refused whole, scope)."""

from __future__ import annotations

import codecs
import uuid
from typing import Any

CSV = {"Content-Type": "text/csv"}


def roster(town: Any, text: str, encoding: str, role: str = "org_in") -> Any:
    data = text.encode(encoding)
    if encoding == "utf-8-sig":
        assert data.startswith(codecs.BOM_UTF8)
    return town.client.post("/v1/rosters", content=data, headers={**town.headers(role), **CSV})


def lines(n: str) -> str:
    return (
        "姓名,会员号,所属单元,手机后四位\n"
        f"周海燕,QH{n}-001,Street A/Community A/Compound A,1234\n"
        f"吴建国,QH{n}-002,Compound A/Building A,5678\n"
        f"郑晓红,QH{n}-003,Community A,\n"
        f"钱多多,QH{n}-004,Street B/Community B,0000\n"  # outside org_in's units
        f"孙小梅,QH{n}-005,Street A/Community A/火星小区,1111\n"  # no such unit
        f",QH{n}-006,Community A,2222\n"  # no name
        f"周海燕,QH{n}-001,Community A,1234\n"  # the same member number twice in the file
        f"冯志强,QH{n}-007,Community A,12\n"  # not four digits
    )


def test_roster_gb18030_then_again(town: Any) -> None:
    n = uuid.uuid4().hex[:6]
    first = roster(town, lines(n), "gb18030")
    assert first.status_code == 200, first.text
    r = first.json()
    assert r["encoding"] == "gb18030"
    assert (r["lines_total"], r["registered"], r["already_registered"], r["refused"]) == (8, 3, 0, 5)
    reasons = {line["line"]: line["reason"] for line in r["lines"]}
    assert reasons == {2: None, 3: None, 4: None, 5: "unit_out_of_scope", 6: "unknown_unit", 7: "invalid_name",
                       8: "duplicate_line", 9: "invalid_phone_last4"}
    assert r["lines"][0]["name"] == "周海燕" and r["lines"][0]["cells"][2] == "Street A/Community A/Compound A"
    assert r["lines"][1]["unit_id"] == str(town.units["building_a"])
    town.services.catch_up()

    again = roster(town, lines(n), "gb18030").json()
    assert (again["registered"], again["already_registered"], again["refused"]) == (0, 3, 5)
    found = town.client.get("/v1/volunteers", params={"q": f"QH{n}-001"}, headers=town.headers("org_in")).json()
    assert [v["name"] for v in found["items"]] == ["周海燕"]
    assert found["items"][0]["unit_path"] == ["Street A", "Community A", "Compound A"]
    assert found["items"][0]["phone_last4"] == "1234"

    # Another person under a number already taken is refused, not registered over it.
    taken = roster(town, f"name,member_no,unit\n王五,QH{n}-001,Community A\n", "utf-8").json()
    assert taken["lines"][0]["reason"] == "member_no_taken_by_other"


def test_roster_utf8_with_bom(town: Any) -> None:
    n = uuid.uuid4().hex[:6]
    text = f"name,member_no,unit,phone_last4\n陈思远,BOM{n},{town.units['compound_a']},4321\n"
    r = roster(town, text, "utf-8-sig").json()
    assert r["encoding"] == "utf-8-sig" and r["header"][0] == "name"
    assert (r["registered"], r["refused"]) == (1, 0)


def test_unreadable_roster_is_refused_whole(town: Any) -> None:
    before = town.head()
    for body in (b"\xff\xfe\x00\x00\x81\x30\x81", "姓名,备注\n张三,x\n".encode(), b"", "name,member_no,unit\n".encode()):
        response = town.client.post("/v1/rosters", content=body, headers={**town.headers("org_in"), **CSV})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_roster_file"
    not_csv = town.client.post("/v1/rosters", json={"x": 1}, headers=town.headers("org_in"))
    assert not_csv.status_code == 415
    assert town.head() == before, "a refused roster wrote to the ledger"


def test_organizer_cannot_import_into_or_search_another_community(town: Any) -> None:
    n = uuid.uuid4().hex[:6]
    r = roster(town, f"name,member_no,unit\n林静,OUT{n},Street B/Community B\n", "utf-8", role="org_in").json()
    assert r["lines"][0]["reason"] == "unit_out_of_scope" and r["registered"] == 0
    ok = roster(town, f"name,member_no,unit\n林静,OUT{n},Street B/Community B\n", "utf-8", role="org_out").json()
    assert ok["registered"] == 1
    town.services.catch_up()

    org_in = town.headers("org_in")
    names = {v["name"] for v in town.client.get("/v1/volunteers", headers=org_in).json()["items"]}
    assert "Own" in names and "Other" not in names and "林静" not in names
    assert town.client.get("/v1/volunteers", params={"q": f"OUT{n}"}, headers=org_in).json()["items"] == []
    assert town.client.get("/v1/volunteers", params={"unit_id": str(town.units["community_b"])}, headers=org_in).status_code == 403
    assert town.client.get("/v1/volunteers", params={"unit_id": str(uuid.uuid4())}, headers=org_in).status_code == 404
    everyone = {v["name"] for v in town.client.get("/v1/volunteers", headers=town.headers("admin")).json()["items"]}
    assert {"Own", "Other", "林静"} <= everyone
    assert town.client.get("/v1/volunteers", headers=town.headers("vol_own")).status_code == 403

    # The tree: org_in sees community A and what is under it, with figures; the admin sees all.
    mine = town.client.get("/v1/units", headers=org_in).json()["units"]
    assert {u["name"] for u in mine} == {"Community A", "Compound A", "Building A"}
    community = next(u for u in mine if u["name"] == "Community A")
    assert community["path"] == ["Street A", "Community A"]
    all_time = next(f for f in community["figures"] if f["period"] == "all")
    assert all_time["issued"] >= 100 and all_time["earned"] >= 100 and all_time["active"] >= 1
    assert [f["period"] for f in community["figures"]] == ["week", "month", "year", "all"]
    every = town.client.get("/v1/units", headers=town.headers("admin")).json()["units"]
    assert {"Street A", "Street B", "Community B"} <= {u["name"] for u in every}
    assert every[0]["parent_id"] is None
    assert town.client.get("/v1/units", headers=town.headers("merchant")).status_code == 403


def test_search_pages(town: Any) -> None:
    n = uuid.uuid4().hex[:6]
    rows = "".join(f"蒋{i:02d}号,P{n}-{i:02d},Building A,{1000 + i}\n" for i in range(23))
    assert roster(town, "name,member_no,unit,phone_last4\n" + rows, "utf-8").json()["registered"] == 23
    town.services.catch_up()
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        params: dict[str, Any] = {"q": "蒋", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = town.client.get("/v1/volunteers", params=params, headers=town.headers("org_in")).json()
        pages += 1
        seen += [v["member_no"] for v in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen) == len(set(seen)) == 23
    # (the order: as they registered, ties by id; the test clock stands still, so all tie here)
    by_phone = town.client.get("/v1/volunteers", params={"q": "1007"}, headers=town.headers("org_in")).json()
    assert [v["member_no"] for v in by_phone["items"]] == [f"P{n}-07"]
    bad = town.client.get("/v1/volunteers", params={"cursor": "not-ours"}, headers=town.headers("org_in"))
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"
    # LIKE's own characters are searched as text
    assert town.client.get("/v1/volunteers", params={"q": "%"}, headers=town.headers("org_in")).json()["items"] == []


def test_who_am_i_for_every_kind_of_token(town: Any) -> None:
    """The console learns the caller's role from GET /v1/me/principal (never by probing admin routes)."""
    seen = {}
    for role in ("admin", "org_in", "vol_own", "merchant"):
        r = town.client.get("/v1/me/principal", headers=town.headers(role))
        assert r.status_code == 200, r.text
        body = r.json()
        assert "secret" not in body and town.secrets[role] not in r.text  # never the secret
        seen[role] = body
    assert seen["admin"]["role"] == "admin" and seen["admin"]["unit_ids"] == []
    assert seen["org_in"]["role"] == "organizer" and seen["org_in"]["name"] == "org in"
    assert seen["org_in"]["unit_ids"] == [str(town.units["community_a"])] and seen["org_in"]["subject_id"] is None
    assert (seen["vol_own"]["role"], seen["vol_own"]["subject_id"]) == ("volunteer", str(town.vol_own))
    assert (seen["merchant"]["role"], seen["merchant"]["subject_id"]) == ("merchant", str(town.merchant))
    assert town.client.get("/v1/me/principal").status_code == 401
