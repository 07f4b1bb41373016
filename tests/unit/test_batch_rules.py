"""Welfare-day batch rules and file reading, as tables (no store)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import pytest

from ledger import rules
from ledger.accounts import Posting, issuing_account, merchant_account, volunteer_account
from ledger.batches.errors import BadBatchFile
from ledger.batches.files import detect_encoding, inspect, normalise_header, records
from ledger.batches.rules import Line, Refusal, duplicate_key, paid_key, parse_line

VID = uuid4()


@pytest.mark.parametrize(
    ("fields", "want"),
    [
        ({"volunteer_id": str(VID), "points": "5"}, Line(2, VID, None, 5, 0, None, "")),
        ({"volunteer": str(VID), "points": 5, "minutes": 90, "line_key": "A1", "memo": " 扫街 "},
         Line(2, VID, None, 5, 90, "A1", "扫街")),
        ({"member_no": "QH-1", "points": " 12 "}, Line(2, None, "QH-1", 12, 0, None, "")),
        ({"volunteer_id": "QH-1", "points": "1"}, Line(2, None, "QH-1", 1, 0, None, "")),  # ids and numbers mixed
        ({"member_no": 77, "points": 1}, Line(2, None, "77", 1, 0, None, "")),
        ({"line_key": 17, "volunteer": str(VID), "points": 1}, Line(2, VID, None, 1, 0, "17", "")),
        ({"points": "5"}, "missing_volunteer"),
        ({"volunteer_id": "  ", "points": "5"}, "missing_volunteer"),
        ({"volunteer_id": str(VID), "points": "0"}, "invalid_points"),
        ({"volunteer_id": str(VID), "points": "-1"}, "invalid_points"),
        ({"volunteer_id": str(VID), "points": "1.5"}, "invalid_points"),
        ({"volunteer_id": str(VID), "points": "５"}, "invalid_points"),  # full-width digit
        ({"volunteer_id": str(VID), "points": ""}, "invalid_points"),
        ({"volunteer_id": str(VID), "points": True}, "invalid_points"),
        ({"volunteer_id": str(VID), "points": 5.0}, "invalid_points"),
        ({"volunteer_id": str(VID), "points": "9" * 30}, "invalid_points"),
        ({"volunteer_id": str(VID), "points": "101"}, "points_above_cap"),
        ({"volunteer_id": str(VID), "points": "100"}, Line(2, VID, None, 100, 0, None, "")),
        ({"volunteer_id": str(VID), "points": "1", "minutes": "-1"}, "invalid_minutes"),
        ({"volunteer_id": str(VID), "points": "1", "minutes": "x"}, "invalid_minutes"),
        ({"volunteer_id": str(VID), "points": "1", "minutes": str(rules.MAX_MINUTES_PER_POSTING + 1)}, "invalid_minutes"),
        ({"volunteer_id": str(VID), "points": "1", "line_key": "a\tb"}, "invalid_line_key"),
        ({"volunteer_id": str(VID), "points": "1", "line_key": "k" * 101}, "invalid_line_key"),
        ({"volunteer_id": str(VID), "points": "1", "line_key": [1]}, "invalid_line_key"),
        ({"volunteer_id": str(VID), "points": "1", "memo": "a\x00b"}, "invalid_memo"),
        ({"volunteer_id": str(VID), "points": "1", "memo": "m" * 201}, "invalid_memo"),
        ({"member_no": "x\x1fy", "points": "1"}, "unknown_volunteer"),
    ],
)
def test_parse_line(fields: dict[str, object], want: Line | str) -> None:
    got = parse_line(2, fields, cap=100)
    if isinstance(want, str):
        assert isinstance(got, Refusal) and (got.line, got.code) == (2, want)
    else:
        assert got == want


def test_duplicates_and_paid_keys() -> None:
    unit, sha = uuid4(), "ab" * 32
    a = Line(2, VID, None, 5, 0, "K1", "x")
    same_key = Line(9, uuid4(), None, 7, 0, "K1", "")
    keyless = Line(3, VID, None, 5, 0, None, "x")
    keyless_again = Line(4, VID, None, 5, 0, None, "x")
    assert duplicate_key(a) == duplicate_key(same_key)  # a line key names a line
    assert duplicate_key(keyless) == duplicate_key(keyless_again)  # else its content does
    assert duplicate_key(keyless) != duplicate_key(Line(4, VID, None, 6, 0, None, "x"))
    assert paid_key(unit, sha, a) == paid_key(unit, "cd" * 32, same_key)  # across files of a unit
    assert paid_key(unit, sha, a) != paid_key(uuid4(), sha, a)
    assert paid_key(unit, sha, keyless) == paid_key(unit, sha, keyless_again)
    assert paid_key(unit, sha, keyless) != paid_key(unit, "cd" * 32, keyless)  # another file may pay it


U, V, W, M = uuid4(), uuid4(), uuid4(), uuid4()
ISS, VOL, VOL2, MER = issuing_account(U), volunteer_account(V), volunteer_account(W), merchant_account(M)


@pytest.mark.parametrize(
    ("postings", "minutes"),
    [
        ([Posting(ISS, VOL, 5)], 30),
        ([Posting(ISS, VOL, 5), Posting(ISS, VOL2, 3)], 60),
        ([Posting(VOL, MER, 4)], 0),
        ([Posting(VOL, ISS, 5)], 30),
        ([Posting(ISS, VOL, 5), Posting(VOL, MER, 2), Posting(VOL2, MER, 1)], 15),
        ([Posting(MER, VOL, 2)], 0),
    ],
)
def test_account_figures_match_the_per_posting_rules(postings: list[Posting], minutes: int) -> None:
    got = rules.account_figures([p.as_dict() for p in postings], minutes)
    nets = rules.net_deltas(postings)
    assert set(got) == set(nets)
    for account, (net, earned, redeemed, mins, _, memo) in got.items():
        assert net == nets[account]
        assert earned == sum(rules.earned_and_redeemed(account, p)[0] for p in postings)
        assert redeemed == sum(rules.earned_and_redeemed(account, p)[1] for p in postings)
        want = rules.minutes_for(account, postings, minutes) if account.startswith("volunteer:") else 0
        assert mins == want
        assert memo is None


def test_account_figures_of_batch_lines() -> None:
    lines = [
        {"source": ISS, "destination": VOL, "amount": 5, "minutes": 60, "line": 2, "key": "a", "memo": "扫街"},
        {"source": ISS, "destination": VOL, "amount": 3, "minutes": 30, "line": 3, "key": "b"},
        {"source": ISS, "destination": VOL2, "amount": 2, "minutes": 0, "line": 4, "key": "c"},
    ]
    got = rules.account_figures(lines, 0)
    assert got[VOL] == [8, 8, 0, 90, ISS, "扫街"]
    assert got[VOL2] == [2, 2, 0, 0, ISS, None]
    assert got[ISS] == [-10, 0, 0, 0, "several", None]
    back = rules.account_figures([{"source": VOL, "destination": ISS, "amount": 5, "minutes": 60, "line": 2}], 0)
    assert back[VOL][:4] == [-5, -5, 0, -60]


@pytest.mark.parametrize(
    ("header", "field"),
    [("志愿者ID", "志愿者id"), ("Volunteer ID", "volunteerid"), (" Member_No ", "memberno"), ("\ufeffpoints", "points"), ("时长（分钟）", "时长分钟")],
)
def test_normalise_header(header: str, field: str) -> None:
    assert normalise_header(header) == field


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("会员号,积分\nA1,5\n".encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + "会员号,积分\nA1,5\n".encode("utf-8"), "utf-8-sig"),
        ("会员号,积分\nA1,5\n".encode("gb18030"), "gb18030"),
    ],
)
def test_encodings(tmp_path: Path, data: bytes, encoding: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    assert detect_encoding(path) == encoding
    assert list(records(path, "csv", encoding)) == [(2, {"member_no": "A1", "points": "5"})]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("volunteer_id,points\n\n,\nV,1,\nV,1,extra\n\"unclosed,1\n", [(4, {"volunteer_id": "V", "points": "1"}), (5, None)]),
        ("volunteer,积分,unknown column\nV,2,zzz\n", [(2, {"volunteer": "V", "points": "2"})]),
        ("volunteer,points\nV\n", [(2, {"volunteer": "V"})]),
    ],
)
def test_csv_records(tmp_path: Path, text: str, want: list[tuple[int, object]]) -> None:
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8")
    assert list(records(path, "csv", "utf-8"))[: len(want)] == want


@pytest.mark.parametrize(
    "text",
    ["", "name,age\nx,1\n", "points\n1\n", "volunteer_id\nV\n"],
)
def test_unusable_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadBatchFile):
        inspect(path, "csv")


def test_ndjson_records(tmp_path: Path) -> None:
    path = tmp_path / "f.ndjson"
    path.write_text('{"volunteer_id": "V", "points": 3, "备注": "m"}\n\n[1]\nnot json\n{"会员号": "A", "积分": 1}\n')
    assert list(records(path, "ndjson", "utf-8")) == [
        (1, {"volunteer_id": "V", "points": 3, "memo": "m"}), (3, None), (4, None), (5, {"member_no": "A", "points": 1}),
    ]
    assert inspect(path, "ndjson") == ("utf-8", 4)


def test_uuid_of_stored_forms() -> None:
    from ledger.codec import uuid_of

    u = uuid4()
    assert uuid_of(u) == u == uuid_of(str(u)) == uuid_of({"_type_": "uuid_hex", "_data_": u.hex})
    assert isinstance(uuid_of(u.hex), UUID)
    assert uuid_of(None) is None
