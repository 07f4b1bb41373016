"""The roster import's pure rules, as tables."""

from __future__ import annotations

import uuid

import pytest

from ledger.roster import rules

# Fixed ids: parametrized ids must be the same in every xdist worker.
STREET, COMMUNITY, COMPOUND, OTHER_COMPOUND, TWIN, NOBODY = (uuid.UUID(int=0x5eed0 + i) for i in range(6))
UNITS = [
    (STREET, "青禾街道", None),
    (COMMUNITY, "丹桂社区", STREET),
    (COMPOUND, "3号小区", COMMUNITY),
    (OTHER_COMPOUND, "5号小区", COMMUNITY),
    (TWIN, "3号小区", STREET),  # a second 「3号小区」 right under the street
]
PATHS = rules.name_paths(UNITS)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "周海燕", "member_no": "QH-0001", "unit": "青禾街道/丹桂社区", "phone_last4": "1234"},
         rules.Line("周海燕", "QH-0001", "青禾街道/丹桂社区", "1234")),
        ({"name": "  周海燕 ", "member_no": " QH-0001 ", "unit": "x"}, rules.Line("周海燕", "QH-0001", "x", None)),
        ({"name": "", "member_no": "QH-1", "unit": "x"}, rules.INVALID_NAME),
        ({"name": "a\x07b", "member_no": "QH-1", "unit": "x"}, rules.INVALID_NAME),
        ({"name": "名" * 101, "member_no": "QH-1", "unit": "x"}, rules.INVALID_NAME),
        ({"name": "周海燕", "member_no": "", "unit": "x"}, rules.MISSING_MEMBER_NO),
        ({"name": "周海燕", "unit": "x"}, rules.MISSING_MEMBER_NO),
        ({"name": "周海燕", "member_no": "9" * 41, "unit": "x"}, rules.INVALID_MEMBER_NO),
        ({"name": "周海燕", "member_no": "QH-1", "unit": "x", "phone_last4": "123"}, rules.INVALID_PHONE),
        ({"name": "周海燕", "member_no": "QH-1", "unit": "x", "phone_last4": "１２３４"}, rules.INVALID_PHONE),
        ({"name": "周海燕", "member_no": "QH-1", "unit": " "}, rules.MISSING_UNIT),
    ],
)
def test_check_line(fields: dict[str, str], expected: object) -> None:
    assert rules.check_line(fields) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("青禾街道/丹桂社区/3号小区", COMPOUND),
        ("青禾街道 / 丹桂社区 / 3号小区", COMPOUND),
        ("青禾街道／丹桂社区／5号小区", OTHER_COMPOUND),
        ("青禾街道>丹桂社区", COMMUNITY),
        ("丹桂社区/5号小区", OTHER_COMPOUND),  # the end of one path only
        ("5号小区", OTHER_COMPOUND),
        ("3号小区", rules.AMBIGUOUS_UNIT),  # two compounds of that name
        ("丹桂社区/3号小区", COMPOUND),
        ("青禾街道/3号小区", TWIN),
        ("青禾街道/丹桂社区/9号小区", rules.UNKNOWN_UNIT),
        (str(COMMUNITY), COMMUNITY),
        (str(NOBODY), rules.UNKNOWN_UNIT),
        ("/", rules.MISSING_UNIT),
    ],
)
def test_resolve_unit(text: str, expected: object) -> None:
    assert rules.resolve_unit(text, PATHS) == expected


@pytest.mark.parametrize(
    ("registered", "expected"),
    [(None, rules.REGISTERED), ("周海燕", rules.ALREADY_REGISTERED), (" 周海燕", rules.ALREADY_REGISTERED),
     ("周海鹰", rules.MEMBER_NO_TAKEN)],
)
def test_decide_existing(registered: str | None, expected: str) -> None:
    assert rules.decide_existing(rules.Line("周海燕", "QH-1", "x", None), registered) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["name", "member_no", "unit", "phone_last4"], ["name", "member_no", "unit", "phone_last4"]),
        (["\ufeff姓名", "会员号", "所属单元", "手机后四位"], ["name", "member_no", "unit", "phone_last4"]),
        (["Name", "Member No", "Home unit", "备注"], ["name", "member_no", "unit", None]),
    ],
)
def test_columns(header: list[str], expected: list[str | None]) -> None:
    assert rules.columns(header) == expected


@pytest.mark.parametrize(("header", "missing"), [(["姓名", "会员号"], "unit"), (["a", "b", "c"], "name, member_no, unit")])
def test_columns_missing(header: list[str], missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        rules.columns(header)


def test_every_unit_has_its_path() -> None:
    assert PATHS[("青禾街道", "丹桂社区", "3号小区")] == COMPOUND
    assert PATHS[("青禾街道",)] == STREET
    assert len(PATHS) == len(UNITS)
