"""The ledger's pure rules, as tables."""

from __future__ import annotations

from uuid import uuid4

import pytest

from ledger import rules
from ledger.accounts import Posting, issuing_account, merchant_account, volunteer_account
from ledger.errors import InvalidAmount, InvalidRequest, NotReversible, UnitCycle, UnitKindNotAllowed

U, V, W, M = uuid4(), uuid4(), uuid4(), uuid4()
ISS, VOL, VOL2, MER = issuing_account(U), volunteer_account(V), volunteer_account(W), merchant_account(M)


@pytest.mark.parametrize(
    ("points", "ok"),
    [
        (1, True),
        (10, True),
        (rules.MAX_POINTS_PER_POSTING, True),
        (rules.MAX_POINTS_PER_POSTING + 1, False),
        (0, False),
        (-5, False),
        (1.0, False),
        (True, False),
        ("10", False),
        (None, False),
        (10**30, False),
    ],
)
def test_check_points(points: object, ok: bool) -> None:
    if ok:
        assert rules.check_points(points) == points
    else:
        with pytest.raises(InvalidAmount):
            rules.check_points(points)


@pytest.mark.parametrize(
    ("minutes", "ok"),
    [(0, True), (90, True), (rules.MAX_MINUTES_PER_POSTING, True), (-1, False), (1.5, False), (False, False),
     (rules.MAX_MINUTES_PER_POSTING + 1, False)],
)
def test_check_minutes(minutes: object, ok: bool) -> None:
    if ok:
        assert rules.check_minutes(minutes) == minutes
    else:
        with pytest.raises(InvalidAmount):
            rules.check_minutes(minutes)


@pytest.mark.parametrize(
    ("postings", "error"),
    [
        ([Posting(ISS, VOL, 5)], None),
        ([Posting(ISS, VOL, 5), Posting(VOL, MER, 3)], None),
        ([], InvalidRequest),
        ([Posting(VOL, VOL, 5)], InvalidRequest),
        ([Posting(ISS, VOL, 0)], InvalidAmount),
        ([Posting(ISS, VOL, -1)], InvalidAmount),
        ([Posting("bank:123", VOL, 1)], InvalidRequest),
    ],
)
def test_check_postings(postings: list[Posting], error: type[Exception] | None) -> None:
    if error is None:
        rules.check_postings(postings)
    else:
        with pytest.raises(error):
            rules.check_postings(postings)


@pytest.mark.parametrize(
    ("postings", "deltas"),
    [
        ([Posting(ISS, VOL, 5)], {ISS: -5, VOL: 5}),
        ([Posting(ISS, VOL, 5), Posting(ISS, VOL, 2)], {ISS: -7, VOL: 7}),
        ([Posting(ISS, VOL, 5), Posting(VOL, MER, 5)], {ISS: -5, VOL: 0, MER: 5}),
        ([Posting(ISS, VOL, 3), Posting(ISS, VOL2, 4)], {ISS: -7, VOL: 3, VOL2: 4}),
    ],
)
def test_net_deltas_sum_to_zero(postings: list[Posting], deltas: dict[str, int]) -> None:
    assert rules.net_deltas(postings) == deltas
    assert sum(deltas.values()) == 0


@pytest.mark.parametrize(
    ("postings", "guarded"),
    [
        ([Posting(ISS, VOL, 5)], [(VOL, 5)]),
        ([Posting(VOL, MER, 5)], [(VOL, -5)]),
        ([Posting(ISS, VOL, 5), Posting(VOL, MER, 5)], []),  # nets to zero: nothing to check
        ([Posting(ISS, VOL2, 1), Posting(ISS, VOL, 2)], sorted([(VOL, 2), (VOL2, 1)])),
        ([Posting(MER, ISS, 1)], []),  # only volunteer accounts carry the invariant
    ],
)
def test_guarded_deltas(postings: list[Posting], guarded: list[tuple[str, int]]) -> None:
    assert rules.guarded_deltas(postings) == guarded


@pytest.mark.parametrize(
    ("balance", "amount", "ok"),
    [(10, 10, True), (10, 11, False), (0, 1, False), (5, 0, False), (5, -1, False), (100, 1, True)],
)
def test_may_debit(balance: int, amount: int, ok: bool) -> None:
    assert rules.may_debit(balance, amount) is ok


@pytest.mark.parametrize(
    ("posting", "expected"),
    [
        (Posting(ISS, VOL, 7), (7, 0)),  # a credit is earned
        (Posting(VOL, ISS, 7), (-7, 0)),  # a reversed credit lowers earned
        (Posting(VOL, MER, 4), (0, 4)),  # a redemption
        (Posting(MER, VOL, 4), (0, -4)),  # a reversed redemption
        (Posting(ISS, VOL2, 9), (0, 0)),  # someone else's
        (Posting(VOL2, VOL, 3), (0, 0)),  # volunteer to volunteer is neither
    ],
)
def test_earned_and_redeemed(posting: Posting, expected: tuple[int, int]) -> None:
    assert rules.earned_and_redeemed(VOL, posting) == expected


@pytest.mark.parametrize(
    ("postings", "minutes", "expected"),
    [
        ([Posting(ISS, VOL, 5)], 60, 60),
        ([Posting(VOL, ISS, 5)], 60, -60),
        ([Posting(VOL, MER, 5)], 60, 0),
        ([Posting(ISS, VOL2, 5)], 60, 0),
    ],
)
def test_minutes_follow_earned(postings: list[Posting], minutes: int, expected: int) -> None:
    assert rules.minutes_for(VOL, postings, minutes) == expected


def test_reversal_swaps_every_posting_and_is_final() -> None:
    original = [Posting(ISS, VOL, 5), Posting(ISS, VOL2, 2)]
    assert rules.reversal_of(original, "award") == [Posting(VOL, ISS, 5), Posting(VOL2, ISS, 2)]
    with pytest.raises(NotReversible):
        rules.reversal_of(original, "reversal")


@pytest.mark.parametrize(
    ("kind", "parent_kind", "ok"),
    [
        ("street", None, True),
        ("community", "street", True),
        ("compound", "community", True),
        ("building", "compound", True),
        ("station", "street", True),
        ("station", "community", True),
        ("station", "compound", True),
        ("street", "street", False),
        ("community", None, False),
        ("building", "community", False),
        ("building", "station", False),
        ("compound", "building", False),
        ("station", "building", False),
        ("planet", None, False),
    ],
)
def test_unit_tree_shape(kind: str, parent_kind: str | None, ok: bool) -> None:
    if ok:
        rules.check_unit_parent(kind, parent_kind)
    else:
        with pytest.raises(UnitKindNotAllowed):
            rules.check_unit_parent(kind, parent_kind)


A, B, C, D = uuid4(), uuid4(), uuid4(), uuid4()


@pytest.mark.parametrize(
    ("unit", "new_parent_ancestry", "cycle"),
    [
        (B, [C, A], False),  # B moves under C, whose root is A
        (A, [B, A], True),  # A under its own child
        (A, [A], True),  # A under itself
        (B, [D, C, B, A], True),  # B under its grandchild D
        (D, [A], False),
    ],
)
def test_no_cycles(unit: object, new_parent_ancestry: list, cycle: bool) -> None:  # type: ignore[type-arg]
    if cycle:
        with pytest.raises(UnitCycle):
            rules.check_no_cycle(unit, new_parent_ancestry)  # type: ignore[arg-type]
    else:
        rules.check_no_cycle(unit, new_parent_ancestry)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ancestry", "scope", "inside"),
    [
        ([D, C, B, A], [A], True),
        ([D, C, B, A], [C], True),
        ([D, C, B, A], [D], True),
        ([C, B, A], [D], False),
        ([C, B, A], [], False),
        ([B, A], [D, B], True),
    ],
)
def test_within_scope(ancestry: list, scope: list, inside: bool) -> None:  # type: ignore[type-arg]
    assert rules.within_scope(ancestry, scope) is inside


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"points": 5, "memo": "x"}, {"memo": "x", "points": 5}, True),
        ({"points": 5}, {"points": 6}, False),
        ({"memo": "植树"}, {"memo": "植树"}, True),
        ({"points": 5}, {"points": "5"}, False),
    ],
)
def test_fingerprint_is_order_free_and_exact(a: dict, b: dict, same: bool) -> None:  # type: ignore[type-arg]
    assert (rules.fingerprint(a) == rules.fingerprint(b)) is same


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("  枫林社区 ", {}, "枫林社区"),
        ("a" * 100, {}, "a" * 100),
        ("a" * 101, {}, None),
        ("", {}, None),
        ("   ", {}, None),
        ("", {"required": False}, ""),
        ("a\u0000b", {}, None),
        ("tab\there", {}, None),
        ("be\u0085ll", {}, None),
        (12, {}, None),
        ("植树节 🌳", {}, "植树节 🌳"),
    ],
)
def test_check_text(value: object, kwargs: dict, expected: str | None) -> None:  # type: ignore[type-arg]
    if expected is None:
        with pytest.raises(InvalidRequest):
            rules.check_text(value, "name", **kwargs)
    else:
        assert rules.check_text(value, "name", **kwargs) == expected


@pytest.mark.parametrize(("value", "ok"), [("0917", True), (None, True), ("917", False), ("09a7", False), ("０９１７", False)])
def test_check_phone_last4(value: str | None, ok: bool) -> None:
    if ok:
        assert rules.check_phone_last4(value) == value
    else:
        with pytest.raises(InvalidRequest):
            rules.check_phone_last4(value)
