"""Welfare-day batches over HTTP (both stores): a 10 000-line file with every kind of bad line,
the exact per-line report, totals, re-uploads that credit nothing, reversal, and verify."""

from __future__ import annotations

import csv
import io
import random
import time
import uuid
from collections import Counter
from typing import Any

from invariants import assert_invariants

from ledger.accounts import volunteer_account
from ledger.domain import MemberNumber, Volunteer
from ops.verify import verify

REPLAYED = "Idempotent-Replayed"
LINES = 10_000


def seed_volunteers(town: Any, n: int, unit: str) -> list[Volunteer]:
    ledger = town.ledger
    now = ledger.clock.now()
    vols, objs = [], []
    for i in range(n):
        v = Volunteer(name=f"志愿者{unit}{i}", unit_id=town.units[unit], phone_last4=None, member_no=f"{unit}-{i}", at=now)
        vols.append(v)
        objs += [v, MemberNumber(member_no=f"{unit}-{i}", volunteer_id=v.id)]
    ledger.save(*objs)
    return vols


def make_file(town: Any, inside: list[Volunteer], outside: list[Volunteer]) -> tuple[str, dict[int, str], dict[str, int]]:
    """The file, the expected refusal code per line number, and the expected credits per account."""
    rnd = random.Random(5)
    rows: list[list[str]] = []
    expected: dict[int, str] = {}
    credits: Counter[str] = Counter()
    keys_seen: list[str] = []
    for i in range(LINES):
        line = i + 2  # the header is line 1
        v = inside[i % len(inside)]
        points, minutes, key = rnd.randint(1, 20), rnd.choice(["", "30", "90"]), f"WD-{i}"
        ref = str(v.id) if i % 3 else v.member_no
        kind = i % 97
        if kind == 1:
            ref = str(uuid.uuid4())
            expected[line] = "unknown_volunteer"
        elif kind == 2:
            ref = "no-such-member"
            expected[line] = "unknown_volunteer"
        elif kind == 3:
            ref = str(outside[i % len(outside)].id)
            expected[line] = "volunteer_out_of_scope"
        elif kind == 4:
            points = rnd.choice(["0", "-3", "1.5", "ten", ""])  # type: ignore[assignment]
            expected[line] = "invalid_points"
        elif kind == 5:
            points = 501
            expected[line] = "points_above_cap"
        elif kind == 6:
            minutes = "-5"
            expected[line] = "invalid_minutes"
        elif kind == 7 and keys_seen:
            key = keys_seen[-1]  # the same line key again
            expected[line] = "duplicate_line"
        elif kind == 8:
            ref = ""
            expected[line] = "missing_volunteer"
        elif kind == 9:
            key = ""  # no line key: the content is the key
        rows.append([ref, str(points), minutes, key, f"公益日 第{i}行"])
        if line not in expected:
            keys_seen.append(key)
            credits[volunteer_account(v.id)] += int(points)
    # a line with a key an earlier batch paid, and a line of the wrong width
    rows.append([str(inside[0].id), "3", "", "PAID-BEFORE", ""])
    expected[LINES + 2] = "already_paid"
    rows.append([str(inside[0].id), "3", "", "X", "memo", "surplus"])
    expected[LINES + 3] = "malformed_line"
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["志愿者ID", "积分", "时长(分钟)", "序号", "备注"])
    w.writerows(rows)
    return out.getvalue(), expected, dict(credits)


def wait_done(town: Any, batch_id: str, headers: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = town.client.get(f"/v1/batches/{batch_id}", params={"refused_limit": 100_000}, headers=headers).json()
        if body["status"] != "running" or time.monotonic() > deadline:
            return body  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_ten_thousand_lines_with_every_kind_of_bad_line(town: Any) -> None:
    c, org = town.client, town.headers("org_in")
    inside = seed_volunteers(town, 300, "compound_a")
    outside = seed_volunteers(town, 5, "community_b")
    paid_before = (
        "volunteer_id,points,line_key\n" f"{inside[0].id},1,PAID-BEFORE\n"
    ).encode()
    params = {"unit_id": str(town.units["community_a"]), "title": "学雷锋公益日", "cap": 500}
    first = c.post("/v1/batches", params=params, content=paid_before, headers={**org, "Content-Type": "text/csv"})
    assert first.status_code == 201, first.text  # small: credited before the reply
    assert first.json()["accepted"] == 1

    text, expected, credits = make_file(town, inside, outside)
    body = ("\ufeff" + text).encode("utf-8")  # Excel's UTF-8 with BOM
    before = town.ledger.guarded_balances()
    started = c.post("/v1/batches", params=params, content=body,
                     headers={**org, "Content-Type": "text/csv", "Idempotency-Key": "wd-2026-03-05"})
    assert started.status_code == 202, started.text
    assert started.headers["Location"] == f"/v1/batches/{started.json()['id']}"
    report = wait_done(town, started.json()["id"], org)
    assert report["status"] == "finished", report
    got = {r["line"]: r["code"] for r in report["refused"]}
    assert got == expected  # each refused line named, with its reason, and no other
    assert report["progress"] == {"lines_total": LINES + 2, "lines_done": LINES + 2, "percent": 100.0}
    assert report["accepted"] == LINES + 2 - len(expected)
    assert report["points"] == sum(credits.values())
    after = town.ledger.guarded_balances()
    assert {a: after.get(a, 0) - before.get(a, 0) for a in credits} == credits

    # the refused lines as CSV, for Excel
    csv_report = c.get(report["report_csv"], headers=org)
    assert csv_report.status_code == 200 and csv_report.headers["content-type"].startswith("text/csv")
    assert len(csv_report.text.lstrip("\ufeff").strip().splitlines()) == len(expected) + 1

    # Uploading it again credits nothing: the same key, or no key at all (the file is the key).
    head = town.head()
    again = c.post("/v1/batches", params=params, content=body,
                   headers={**org, "Content-Type": "text/csv", "Idempotency-Key": "wd-2026-03-05"})
    assert again.status_code == 200 and again.headers[REPLAYED] == "true"
    assert again.json()["id"] == started.json()["id"]
    no_key = c.post("/v1/batches", params=params, content=body, headers={**org, "Content-Type": "text/csv"})
    assert no_key.status_code == 202
    # another batch (no key: the file is its key), but every line was paid: by its line key,
    # or (no line key) by this very file's content
    repeat = wait_done(town, no_key.json()["id"], org)
    assert repeat["accepted"] == 0
    assert Counter(r["code"] for r in repeat["refused"]) == Counter(expected.values()) + Counter(
        {"already_paid": LINES + 2 - len(expected)}
    )
    plain = c.post("/v1/batches", params=params, content=body, headers={**org, "Content-Type": "text/csv"})
    assert plain.status_code == 200 and plain.json()["id"] == no_key.json()["id"]
    # the same key with another file is refused, nothing written
    other = c.post("/v1/batches", params=params, content=paid_before,
                   headers={**org, "Content-Type": "text/csv", "Idempotency-Key": "wd-2026-03-05"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert town.ledger.guarded_balances() == after
    assert town.head() > head  # the second batch recorded its (empty) chunks and no credit

    report_ok = verify(town.services)
    assert report_ok.ok, report_ok.violations[:5]
    assert_invariants(town.services)


def test_json_lines_gb18030_scope_reversal_and_refusals(town: Any) -> None:
    c, org = town.client, town.headers("org_in")
    vols = seed_volunteers(town, 3, "building_a")
    unit = str(town.units["community_a"])
    ndjson = "\n".join([
        f'{{"volunteer_id": "{vols[0].id}", "points": 10, "minutes": 60, "line_key": "a"}}',
        f'{{"member_no": "{vols[1].member_no}", "points": 20, "line_key": "b", "memo": "扫雪"}}',
        f'{{"volunteer_id": "{vols[2].id}", "points": 30, "line_key": "c"}}',
        "not json",
        '{"points": 5}',
    ]).encode()
    r = c.post("/v1/batches", params={"unit_id": unit, "title": "冬日扫雪"}, content=ndjson,
               headers={**org, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 201, r.text
    b = r.json()
    assert (b["accepted"], b["points"], b["minutes"]) == (3, 60, 60)
    assert [(x["line"], x["code"]) for x in b["refused"]] == [(4, "malformed_line"), (5, "missing_volunteer")]

    # a volunteer spends part of the points: the whole-batch reversal refuses that line only
    town.spend(vols[2].id, 25)
    rev = c.post(f"/v1/batches/{b['id']}/reversal", json={"lines": [1, 4]}, headers=org)
    assert rev.status_code == 200, rev.text
    assert rev.json()["reversed"] == [1]
    assert [(x["line"], x["code"]) for x in rev.json()["refused"]] == [(4, "not_credited")]
    rest = c.post(f"/v1/batches/{b['id']}/reversal", headers=org).json()
    assert rest["reversed"] == [2] and [(x["line"], x["code"]) for x in rest["refused"]] == [(3, "points_spent")]
    assert rest["batch"]["reversed_points"] == 30
    again = c.post(f"/v1/batches/{b['id']}/reversal", json={"lines": [1]}, headers=org).json()
    assert again["reversed"] == [] and again["refused"][0]["code"] == "already_reversed"
    town.services.catch_up()
    account = c.get(f"/v1/volunteers/{vols[0].id}/account", headers=org).json()
    assert (account["balance"], account["earned"], account["minutes"]) == (0, 0, 0)
    entries = c.get(f"/v1/volunteers/{vols[1].id}/entries", headers=org).json()["items"]
    assert [e["memo"] for e in entries][-1] == "扫雪"  # a line's own memo

    # GB18030, as Chinese Excel saves a CSV; an organizer of other units is refused
    gb = f"会员号,积分,序号\n{vols[0].member_no},7,g1\n".encode("gb18030")
    r = c.post("/v1/batches", params={"unit_id": unit, "title": "重阳节"}, content=gb,
               headers={**org, "Content-Type": "text/csv"})
    assert r.status_code == 201 and r.json()["encoding"] == "gb18030" and r.json()["accepted"] == 1
    assert c.post("/v1/batches", params={"unit_id": unit, "title": "x"}, content=gb,
                  headers={**town.headers("org_out"), "Content-Type": "text/csv"}).status_code == 403
    assert c.get(f"/v1/batches/{b['id']}", headers=town.headers("org_out")).status_code == 403
    assert c.get(f"/v1/batches/{b['id']}", headers=town.headers("vol_own")).status_code == 403
    assert c.get(f"/v1/batches/{uuid.uuid4()}", headers=org).status_code == 404

    # whole-file refusals: nothing written
    head = town.head()
    for content, ctype, code in [
        (b"name,age\nx,1\n", "text/csv", "invalid_batch_file"),
        (b"", "text/csv", "invalid_batch_file"),
        (b"\xff\xfe\x00garbage\x81", "text/csv", "invalid_batch_file"),
        (b"points\n1\n", "text/csv", "invalid_batch_file"),
        (b"{}", "application/json", "unsupported_media_type"),
    ]:
        bad = c.post("/v1/batches", params={"unit_id": unit, "title": "坏文件"}, content=content,
                     headers={**org, "Content-Type": ctype})
        assert bad.json()["code"] == code, (content, bad.text)
    assert c.post("/v1/batches", params={"unit_id": unit}, content=gb,
                  headers={**org, "Content-Type": "text/csv"}).status_code == 422  # no title
    assert town.head() == head
    assert verify(town.services).ok


def report_rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: a spreadsheet opens it as such
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_refused_csv_gives_back_each_line_as_written(town: Any) -> None:
    """refused.csv carries each refused line's own columns, in the file's header order, plus its
    line number, the reason's code and the reason in words; fixed, it is uploaded again and every
    line is paid once."""
    c, org = town.client, town.headers("org_in")
    vols = seed_volunteers(town, 3, "building_a")
    outside = seed_volunteers(town, 1, "community_b")
    params = {"unit_id": str(town.units["community_a"]), "title": "三月学雷锋", "cap": 50}
    header = ["备注", "积分", "会员号", "序号", "时长(分钟)"]  # the file's own order, not the batch's
    rows = [
        ["扫楼道", "10", vols[0].member_no, "L1", "60"],
        ["陪老人聊天, 读报", "abc", vols[1].member_no, "L2", "30"],  # points as written: abc
        ["搬年货", "12", "QH-无此人", "L3", ""],
        ["修自行车", "80", vols[2].member_no, "L4", "90"],  # above the cap of 50
        ["送菜", "5", outside[0].member_no, "L5", ""],  # outside the organizer's units
        ["清扫", "7", vols[2].member_no, "L6", "", "多余"],  # a surplus cell
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    r = c.post("/v1/batches", params=params, content=out.getvalue().encode("gb18030"), headers={**org, "Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["accepted"] == 1 and [x["line"] for x in b["refused"]] == [3, 4, 5, 6, 7]

    got = report_rows(c.get(b["report_csv"], headers=org))
    assert got[0] == [*header, "行号 line", "原因代码 code", "原因 reason"]
    body = {int(row[5]): row for row in got[1:]}
    assert sorted(body) == [3, 4, 5, 6, 7]
    assert body[3][:5] == rows[1] and body[3][6] == "invalid_points" and body[3][7].startswith("积分应为正整数")
    assert body[4][:5] == rows[2] and body[4][6] == "unknown_volunteer" and "找不到这位志愿者" in body[4][7]
    assert body[5][:5] == rows[3] and body[5][6] == "points_above_cap"
    assert body[6][:5] == rows[4] and body[6][6] == "volunteer_out_of_scope"
    assert body[7][:5] == rows[5][:5] and body[7][6] == "malformed_line" and "多余" in body[7][7]
    assert c.get(b["report_csv"], headers=town.headers("org_out")).status_code == 403

    # The organizer fixes the rows it can in the report itself and uploads just them again.
    fixed = [got[0]]
    for row in got[1:]:
        row = list(row)
        if row[6] == "invalid_points":
            row[1] = "8"
        elif row[6] == "points_above_cap":
            row[1] = "50"
        elif row[6] == "malformed_line":
            pass  # the surplus cell is gone from the report: the line reads as written now
        else:
            continue
        fixed.append(row)
    again_text = io.StringIO()
    csv.writer(again_text, lineterminator="\r\n").writerows(fixed)
    again = c.post("/v1/batches", params=params, content=("\ufeff" + again_text.getvalue()).encode(),
                   headers={**org, "Content-Type": "text/csv"})
    assert again.status_code == 201, again.text
    assert (again.json()["accepted"], again.json()["points"], again.json()["refused"]) == (3, 8 + 50 + 7, [])
    town.services.catch_up()
    balances = [c.get(f"/v1/volunteers/{v.id}/account", headers=org).json()["balance"] for v in vols]
    assert balances == [10, 8, 57]  # every line paid once

    # A refusal of the fixed file's own: the report drops the earlier report columns, no doubles.
    third = c.post("/v1/batches", params=params, content=("\ufeff" + again_text.getvalue()).encode() + b"\r\n",
                   headers={**org, "Content-Type": "text/csv"}).json()
    assert [x["code"] for x in third["refused"]] == ["already_paid"] * 3
    assert report_rows(c.get(third["report_csv"], headers=org))[0] == got[0]


def test_refused_csv_of_json_lines_and_of_a_reversal(town: Any) -> None:
    c, org = town.client, town.headers("org_in")
    vols = seed_volunteers(town, 2, "building_a")
    ndjson = "\n".join([
        f'{{"member_no": "{vols[0].member_no}", "points": 10, "line_key": "a"}}',
        f'{{"member_no": "{vols[1].member_no}", "points": 10, "line_key": "b", "memo": "扫雪"}}',
        '{"member_no": "QH-nobody", "points": 4, "memo": "送餐"}',
    ]).encode()
    b = c.post("/v1/batches", params={"unit_id": str(town.units["community_a"]), "title": "扫雪"}, content=ndjson,
               headers={**org, "Content-Type": "application/x-ndjson"}).json()
    town.spend(vols[1].id, 6)
    assert c.post(f"/v1/batches/{b['id']}/reversal", headers=org).json()["reversed"] == [1]
    got = report_rows(c.get(b["report_csv"], headers=org))
    # names in the order the refused lines first use them, values as written
    assert got[0] == ["member_no", "points", "line_key", "memo", "行号 line", "原因代码 code", "原因 reason"]
    assert got[1][:6] == ["QH-nobody", "4", "", "送餐", "3", "unknown_volunteer"]
    assert got[2][:6] == [vols[1].member_no, "10", "b", "扫雪", "2", "reversal:points_spent"]
    assert got[2][6].startswith("志愿者已花掉这些积分")
