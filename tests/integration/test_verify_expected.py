"""verify compares a projection with the rows its module computes in SQL (``expected_rows(tx,
end)``, looked up in one place: ``ops.verify.expected_of``) instead of rebuilding it in a scratch
database; a difference is named with the table and the rows. On each store."""

from __future__ import annotations

from typing import Any

import pytest

import projections.accounts as accounts_module
from ops.verify import verify


def fill(services: Any) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    for name, points in (("王芳", 30), ("李明", 12)):
        ledger.credit(f"expected:{name}", street.id, ledger.register_volunteer(name, street.id).id, points, minutes=60)


def test_the_rows_computed_in_sql_are_what_verify_compares(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(services)
    calls: list[int] = []

    def expected_rows(tx: Any, end: int) -> dict[str, str]:
        calls.append(end)
        return {"balances": "SELECT * FROM balances", "entries": "SELECT * FROM entries"}

    monkeypatch.setattr(accounts_module, "expected_rows", expected_rows, raising=False)
    report = verify(services)
    assert report.ok, report.violations
    assert calls == [report.log_end]

    def one_balance_off(tx: Any, end: int) -> dict[str, Any]:
        rows = tx.all("SELECT * FROM balances")
        rows[0] = {**rows[0], "balance": rows[0]["balance"] + 1}
        return {"balances": rows, "entries": "SELECT * FROM entries WHERE 1 = 0"}

    monkeypatch.setattr(accounts_module, "expected_rows", one_balance_off, raising=False)
    messages = [str(v) for v in verify(services).violations]
    assert any("table balances differs from a rebuild computed from the postings (1 row(s) only in the store, 1 only in the rebuild)" in m for m in messages), messages
    assert any("table entries differs" in m and "only in the store, 0 only in the rebuild" in m for m in messages), messages
    assert any("balances should have" in m for m in messages), messages
