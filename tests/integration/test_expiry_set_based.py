"""The set-based expiry of PostgreSQL (``ledger.lots.pg_expiry``) writes what the journal's path
writes: on two copies of a random store (export, import), one expired by the journal and one by the
database function, the events decode alike (all but the library's own timestamp), and the lots,
drawings, posting rows and balances are equal; verify passes on both."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_transfer import target, target_url  # noqa: F401 - fixtures: a fresh store to import into

from ledger.accounts import Posting, merchant_account, volunteer_account
from ledger.errors import LedgerError
from ledger.journal import Movement
from ledger.lots.expiry import expire_due
from ops.transfer import export_log, import_log
from ops.verify import verify


def a_random_store(ledger: Any, clock: Any, seed: int) -> None:
    rnd = random.Random(seed)
    street = ledger.create_unit("青禾街道", "street", None)
    units = [street] + [ledger.create_unit(f"社区{i}", "community", street.id) for i in range(3)]
    ledger.set_expiry_policy(street.id, "months", 1)
    ledger.set_expiry_policy(units[1].id, "months", 2)
    ledger.set_expiry_policy(units[2].id, "never")
    ledger.set_expiry_policy(units[3].id, "year_after_next")
    vs = [ledger.register_volunteer(f"v{i}", rnd.choice(units).id) for i in range(25)]
    shops = [uuid.uuid4() for _ in range(3)]
    spent: list[Any] = []
    for step in range(260):
        clock.advance(hours=rnd.randint(1, 20))
        v = rnd.choice(vs)
        roll = rnd.random()
        if roll < 0.55:
            ledger.credit(f"c{step}", rnd.choice(units).id, v.id, rnd.randint(1, 30))
        elif roll < 0.85:
            balance = ledger.guarded_balance(volunteer_account(v.id))
            if balance:
                movement = Movement(f"p{step}", "redemption", [Posting(volunteer_account(v.id), merchant_account(rnd.choice(shops)), rnd.randint(1, balance))])
                spent.append(ledger.journal.post(movement).transaction)
        elif roll < 0.93 and spent:
            try:
                ledger.reverse(spent.pop(rnd.randrange(len(spent))).id)
            except LedgerError:
                pass
        elif step % 3 == 0:
            expire_due(ledger, set_based=False, chunk=4)


def decoded(ledger: Any, after: int) -> list[tuple[Any, ...]]:
    out = []
    for n in ledger.iter_notifications(after):
        e = ledger.mapper.to_domain_event(n)
        fields = {k: v for k, v in e.__dict__.items() if k != "timestamp"}
        out.append((n.id, n.topic, sorted(fields.items(), key=lambda kv: kv[0])))
    return out


@pytest.mark.parametrize("store", ["postgres"])
@pytest.mark.parametrize("target_url", ["same"], indirect=True)
@pytest.mark.parametrize("seed", [1, 2])
def test_set_based_expiry_writes_what_the_journal_writes(services: Any, target: Any, clock: Any, tmp_path: Path, seed: int) -> None:
    source = services.ledger
    a_random_store(source, clock, seed)
    dump = tmp_path / "export.jsonl"
    with dump.open("w", encoding="utf8") as f:
        export_log(source, f)
    import_log(target, dump, chunk_size=50)
    copy = target.ledger
    start = source.max_notification_id()
    assert copy.max_notification_id() == start

    versions = copy.recorder.select_lot_versions()  # an import numbers them its own way: compared within the copy
    clock.advance(days=800)  # every lot with a last day is past it
    by_journal = expire_due(source, set_based=False)
    in_sql = expire_due(copy, set_based=True, chunk=7)
    assert (by_journal.lots, by_journal.points) == (in_sql.lots, in_sql.points)
    assert in_sql.lots > 20 and in_sql.chunks > 3

    assert decoded(copy, start) == decoded(source, start)
    assert copy.recorder.select_lots(limit=10**6) == source.recorder.select_lots(limit=10**6)
    assert copy.recorder.select_drawings(0, 2**62, 10**6) == source.recorder.select_drawings(0, 2**62, 10**6)
    assert copy.recorder.select_postings(0, 2**62, 10**6) == source.recorder.select_postings(0, 2**62, 10**6)
    assert copy.guarded_balances() == source.guarded_balances()
    expired = {p.source_id for p in copy.recorder.select_postings(start, 2**62, 10**6)}
    after = copy.recorder.select_lot_versions()
    assert all(after[a] > versions[a] for a in after if uuid.UUID(a.split(":")[1]) in expired)  # decisions made before: made again
    assert expire_due(copy, set_based=True).lots == 0  # a second run: nothing left
    for svc in (services, target):
        svc.catch_up()
        report = verify(svc)
        assert report.ok, report.violations


@pytest.mark.parametrize("store", ["postgres"])
def test_the_journal_observers_see_set_based_expiries(services: Any, clock: Any) -> None:
    from ledger.domain import LedgerTransaction

    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    ledger.set_expiry_policy(street.id, "months", 1)
    vs = [ledger.register_volunteer(f"v{i}", street.id) for i in range(5)]
    for i, v in enumerate(vs):
        ledger.credit(f"c{i}", street.id, v.id, 3 + i)
    seen: list[Any] = []
    ledger.journal.on_save.append(lambda events: seen.extend(e for e in events if isinstance(e, LedgerTransaction.Recorded)))  # type: ignore[attr-defined]
    clock.advance(days=40)
    assert expire_due(ledger, set_based=True, chunk=2).lots == 5
    assert sorted(e.key for e in seen) == sorted(e.key for e in (ledger.mapper.to_domain_event(n) for n in ledger.iter_notifications()) if getattr(e, "kind", "") == "expiry")
    assert len(seen) == 5
