"""Pay codes, balances, stock and per-volunteer limits under concurrency, on each store:
every rule holds however many tills scan at once, and the invariants and ``verify`` pass."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from invariants import assert_invariants

from ledger.accounts import volunteer_account
from ledger.errors import LedgerError
from ops.verify import verify

from merchants.errors import CodeUsed


def race(n: int, fn: Callable[[int], Any]) -> Counter[str]:
    """Run ``fn(i)`` for i in range(n) at once; count the outcomes by error code ("ok")."""
    barrier = threading.Barrier(n)

    def one(i: int) -> str:
        barrier.wait()
        try:
            fn(i)
        except LedgerError as e:
            return e.code
        return "ok"

    with ThreadPoolExecutor(n) as pool:
        return Counter(pool.map(one, range(n)))


def test_pay_codes_balances_stock_and_limits_hold_under_concurrency(services: Any) -> None:
    ledger, alliance = services.ledger, services.alliance
    street = ledger.create_unit("青禾街道", "street", None)
    shops = [alliance.register_merchant(name, street.id)[0] for name in ("好邻居便利店", "春晖理发店")]
    rich = ledger.register_volunteer("李秀英", street.id)
    ledger.credit("seed:rich", street.id, rich.id, 1000)

    # 1. one pay code, 20 requests from 2 merchants at once: exactly one redemption
    code = alliance.issue_pay_code(rich.id).code
    outcomes = race(20, lambda i: alliance.redeem(shops[i % 2].id, code, points=7, actor=f"till-{i}"))
    assert outcomes == Counter({"ok": 1, "code_used": 19}), outcomes
    assert ledger.guarded_balance(volunteer_account(rich.id)) == 993

    # 2. 100 points, 50 distinct codes for 10 points each: exactly 10 succeed, balance 0
    poor = ledger.register_volunteer("周海燕", street.id)
    ledger.credit("seed:poor", street.id, poor.id, 100)
    paycodes = [alliance.issue_pay_code(poor.id).code for _ in range(50)]
    outcomes = race(50, lambda i: alliance.redeem(shops[i % 2].id, paycodes[i], points=10))
    assert outcomes == Counter({"ok": 10, "insufficient_points": 40}), outcomes
    assert ledger.guarded_balance(volunteer_account(poor.id)) == 0

    # 3. stock 5, 24 volunteers at once: exactly 5 get it
    crowd = [ledger.register_volunteer(f"张{i}", street.id) for i in range(24)]
    for v in crowd:
        ledger.credit(f"seed:{v.id}", street.id, v.id, 50)
    offer = alliance.create_offer(shops[0].id, "爱心米一袋", 10, stock=5)
    codes_ = [alliance.issue_pay_code(v.id).code for v in crowd]
    outcomes = race(24, lambda i: alliance.redeem(shops[0].id, codes_[i], offer_id=offer.id))
    assert outcomes == Counter({"ok": 5, "offer_unavailable": 19}), outcomes
    assert alliance.get_offer(offer.id).taken == 5

    # 4. twice a day per volunteer, 12 codes of one volunteer at once: exactly 2
    limited = alliance.create_offer(shops[1].id, "免费修剪", 5, limit=2, limit_period="day")
    mine = [alliance.issue_pay_code(rich.id).code for _ in range(12)]
    outcomes = race(12, lambda i: alliance.redeem(shops[1].id, mine[i], offer_id=limited.id))
    assert outcomes == Counter({"ok": 2, "limit_reached": 10}), outcomes

    # 5. a redemption reversed from two places at once: once
    code = alliance.issue_pay_code(rich.id).code
    made = alliance.redeem(shops[0].id, code, points=4)
    outcomes = race(6, lambda i: alliance.reverse(made.redemption.id, reason="误操作", merchant_id=shops[0].id if i % 2 else None))
    assert outcomes == Counter({"ok": 1, "already_reversed": 5}), outcomes
    try:
        alliance.redeem(shops[0].id, code, points=4)
    except CodeUsed:
        pass
    else:
        raise AssertionError("a reversed code must stay used")

    assert_invariants(services)
    report = verify(services)
    assert report.ok, report.violations


def test_verify_reports_a_pay_code_spent_late_or_twice(services: Any) -> None:
    """Invariant 4, tampered: records written behind the alliance's back are reported."""
    import uuid

    from ledger.domain import LedgerTransaction
    from merchants.domain import Redemption
    from merchants.rules import redemption_key

    now = services.clock.now()
    key = redemption_key("tampered-nonce-1")
    late = Redemption(
        key=key, merchant_id=uuid.uuid4(), volunteer_id=uuid.uuid4(), offer_id=None, title="", points=1,
        transaction_id=LedgerTransaction.create_id(key), via="pay_code", code_expires=int(now.timestamp()),
        stock_taken=False, limit_slot=None, actor="tamper", at=now,
    )
    services.ledger.save(late)
    report = verify(services)
    assert [v.invariant for v in report.violations] == [4], report.violations
    assert "expiry" in report.violations[0].message
