"""Invariant 4 for ``moralbank verify``: a pay code is spent at most once and never after it
expires. Read from the log: every ``Redemption.Made`` names its ledger key, its transaction and,
for a pay code, the code's expiry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.utils import get_topic

from ledger.domain import LedgerTransaction
from merchants.domain import Redemption
from merchants.rules import redemption_key

MADE = get_topic(Redemption.Made)  # type: ignore[attr-defined]
RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]


def check_pay_codes(ledger: Any, end: int, add: Callable[[int, str], None]) -> int:
    """Report violations of invariant 4 through ``add(4, message)``; returns the number of
    redemptions seen."""
    keys: dict[str, Any] = {}
    seen = 0
    for n in ledger.iter_notifications(topics=[MADE]):
        if n.id > end:
            break
        e = ledger.mapper.to_domain_event(n)
        seen += 1
        if e.key in keys:
            add(4, f"redemption key {e.key!r} was spent twice: {keys[e.key]} and {e.originator_id} (event {n.id})")
        keys[e.key] = e.originator_id
        if e.originator_id != Redemption.create_id(e.key) or e.transaction_id != LedgerTransaction.create_id(e.key):
            add(4, f"redemption {e.originator_id} (event {n.id}) does not derive from its key {e.key!r}")
        if e.via == "pay_code":
            if not e.key.startswith(redemption_key("")):
                add(4, f"pay-code redemption {e.originator_id} has key {e.key!r}, not named by its code's nonce")
            if e.code_expires is None or e.at.timestamp() >= e.code_expires:
                add(4, f"redemption {e.originator_id} (event {n.id}) spent a pay code at {e.at.isoformat()}, "
                       f"at or after its expiry {e.code_expires}")
    return seen
