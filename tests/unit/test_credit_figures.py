"""``rules.credit_figures`` (the welfare-day chunk's fast pass) gives exactly ``account_figures``
for a chunk's shape, and declines (None) every other shape."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import rules

ISS = "issuing:" + "1" * 32
ISS2 = "issuing:" + "2" * 32
V1, V2, V3 = ("volunteer:" + c * 32 for c in "abc")
SHOP = "merchant:" + "d" * 32


def p(src: str, dst: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {"source": src, "destination": dst, "amount": amount, **extra}


CHUNKS = [
    [p(ISS, V1, 5)],
    [p(ISS, V1, 5, minutes=60, line=2, key="k2")],
    [p(ISS, V1, 2, minutes=60), p(ISS, V2, 3, memo="扫街"), p(ISS, V1, 4, minutes=30, memo="别的")],
    [p(ISS, V1, 2), p(ISS, V1, 3, memo="second"), p(ISS, V3, 1, minutes=15)],
]


@pytest.mark.parametrize("postings", CHUNKS)
def test_same_figures_as_account_figures(postings: list[dict[str, Any]]) -> None:
    assert rules.credit_figures(postings, 0) == rules.account_figures(postings, 0)


@pytest.mark.parametrize(
    ("postings", "minutes"),
    [
        ([], 0),
        ([p(ISS, V1, 5)], 30),  # transaction-wide minutes
        ([p(V1, ISS, 5)], 0),  # a reversal
        ([p(ISS, V1, 5), p(ISS2, V2, 1)], 0),  # two issuing accounts
        ([p(ISS, V1, 5), p(ISS, SHOP, 1)], 0),  # not a volunteer
        ([p(V1, SHOP, 5)], 0),  # a redemption
    ],
)
def test_other_shapes_are_declined(postings: list[dict[str, Any]], minutes: int) -> None:
    assert rules.credit_figures(postings, minutes) is None
