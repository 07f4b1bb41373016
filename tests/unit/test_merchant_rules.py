"""The alliance's pure rules, as tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ledger.codes import CodeExpired, CodeInvalid
from ledger.errors import InvalidAmount, InvalidRequest
from merchants import rules
from merchants.errors import OfferUnavailable

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("seconds", "expired"), [(0, False), (59, False), (59.999, False), (60, True), (61, True), (3600, True)]
)
def test_pay_code_valid_strictly_before_its_expiry(seconds: float, expired: bool) -> None:
    expires = int(T0.timestamp()) + rules.PAY_CODE_SECONDS
    now = T0 + timedelta(seconds=seconds)
    if expired:
        with pytest.raises(CodeExpired):
            rules.check_not_expired(expires, now)
    else:
        rules.check_not_expired(expires, now)


V = uuid.uuid4()


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"v": "nope", "n": "abcdefgh", "exp": 1},
        {"v": V.hex, "n": "short", "exp": 1},
        {"v": V.hex, "n": "x" * 65, "exp": 1},
        {"v": V.hex, "n": 12345678, "exp": 1},
        {"v": V.hex, "n": "abcdefgh", "exp": "1"},
        {"v": V.hex, "n": "abcdefgh", "exp": True},
        {"v": V.hex, "n": "abcdefgh"},
    ],
)
def test_malformed_pay_code_fields_are_invalid(fields: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(CodeInvalid):
        rules.parse_pay_code(fields)


def test_pay_code_fields_round_trip() -> None:
    claims = rules.parse_pay_code(rules.pay_code_fields(V, "abcdefgh12", 99))
    assert claims == rules.PayCodeClaims(V, "abcdefgh12", 99)
    assert rules.redemption_key("n1") == "paycode:n1"


@pytest.mark.parametrize(
    ("points", "stock", "limit", "period", "starts", "ends", "error"),
    [
        (10, None, None, None, None, None, None),
        (10, 0, 1, "day", None, None, None),
        (10, 5, 3, "month", T0, T0 + timedelta(days=1), None),
        (0, None, None, None, None, None, InvalidAmount),
        (True, None, None, None, None, None, InvalidAmount),
        (10, -1, None, None, None, None, InvalidRequest),
        (10, None, 0, "day", None, None, InvalidRequest),
        (10, None, 1, None, None, None, InvalidRequest),
        (10, None, 1, "week", None, None, InvalidRequest),
        (10, None, None, "day", None, None, InvalidRequest),
        (10, None, None, None, T0, T0, InvalidRequest),
    ],
)
def test_offer_rules(points, stock, limit, period, starts, ends, error) -> None:  # type: ignore[no-untyped-def]
    if error is None:
        rules.check_offer(points, stock, limit, period, starts, ends)
    else:
        with pytest.raises(error):
            rules.check_offer(points, stock, limit, period, starts, ends)


@pytest.mark.parametrize(
    ("withdrawn", "starts", "ends", "stock", "taken", "open_"),
    [
        (False, None, None, None, 10**6, True),
        (True, None, None, None, 0, False),
        (False, T0 + timedelta(seconds=1), None, None, 0, False),
        (False, T0, None, None, 0, True),
        (False, None, T0, None, 0, False),
        (False, None, T0 + timedelta(seconds=1), None, 0, True),
        (False, None, None, 3, 2, True),
        (False, None, None, 3, 3, False),
        (False, None, None, 0, 0, False),
    ],
)
def test_offer_open(withdrawn, starts, ends, stock, taken, open_) -> None:  # type: ignore[no-untyped-def]
    if open_:
        rules.check_offer_open(withdrawn=withdrawn, starts_at=starts, ends_at=ends, stock=stock, taken=taken, now=T0)
    else:
        with pytest.raises(OfferUnavailable):
            rules.check_offer_open(withdrawn=withdrawn, starts_at=starts, ends_at=ends, stock=stock, taken=taken, now=T0)


@pytest.mark.parametrize(
    ("utc", "period", "key"),
    [
        (datetime(2026, 11, 2, 15, 59, tzinfo=timezone.utc), "day", "2026-11-02"),
        (datetime(2026, 11, 2, 16, 0, tzinfo=timezone.utc), "day", "2026-11-03"),  # midnight in Shanghai
        (datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc), "month", "2026-12"),
        (datetime(2026, 11, 30, 15, 59, tzinfo=timezone.utc), "month", "2026-11"),
    ],
)
def test_limit_periods_are_cut_in_the_zone(utc: datetime, period: str, key: str) -> None:
    assert rules.period_key(utc, SH, period) == key


def test_statement_window_and_totals() -> None:
    lo, hi = rules.statement_window(date(2026, 11, 2), date(2026, 11, 3), SH)
    assert (lo, hi) == (datetime(2026, 11, 1, 16, tzinfo=timezone.utc), datetime(2026, 11, 3, 16, tzinfo=timezone.utc))
    with pytest.raises(InvalidRequest):
        rules.statement_window(date(2026, 11, 3), date(2026, 11, 2), SH)
    with pytest.raises(InvalidRequest):
        rules.statement_window(date(2025, 1, 1), date(2026, 11, 2), SH)
    lines = [{"points": 20}, {"points": 5}, {"points": -20}]
    assert rules.statement_totals(lines) == {"redemptions": 2, "reversals": 1, "redeemed": 25, "reversed": 20, "net": 5}


@pytest.mark.parametrize(("name", "masked"), [("王秀英", "王**"), ("李明", "李*"), ("A", "A*"), ("", ""), (None, "")])
def test_names_on_statements_are_masked(name: str | None, masked: str) -> None:
    assert rules.mask_name(name) == masked
