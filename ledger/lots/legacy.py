"""Lots for points credited before lots existed (a store older than issue 17).

Such credits opened no lot, so their points sit in no lot: invariant 6 (lots sum to the balance)
fails for their volunteers, and a debit that needs them draws short. ``open_legacy`` opens, for
every volunteer whose balance exceeds what their open lots hold, one never-expiring lot of the
difference, funded by the volunteer's home unit (the log does not say which unit's budget paid for
points of before lots). Each opening is an event of its own (``LegacyLots.Opened``): the lot is in
the log, an import rebuilds it and verify replays it.

It is decided like any drawing: the account's lot version is read first, then its balance and open
lots; the save checks that version in the same transaction (a redemption or credit saved meanwhile
moves it on, and the decision is made again from fresh figures). The aggregate's id derives from
the account and the version decided on, so two runs deciding on the same figures write one event
(the second is refused as a duplicate and finds nothing left to open): running it twice, or beside
redemptions, never opens a point twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from ledger.accounts import VOLUNTEER, account_owner
from ledger.domain import NAMESPACE
from ledger.errors import ConcurrentChange
from ledger.lots.model import LotOpen, LotWrites, lot_id

LEGACY = "legacy_lots"
CHUNK = 200  # accounts decided on per store transaction


class LegacyLots(Aggregate):
    """The lot opened for a volunteer's points of before lots, at one lot version of the account."""

    @staticmethod
    def create_id(account: str, version: int) -> UUID:
        return uuid5(NAMESPACE, f"{LEGACY}:{account}@{version}")

    @event("Opened")
    def __init__(self, account: str, lot: str, unit_id: UUID, amount: int, version: int, at: datetime) -> None:
        self.account = account
        self.lot = lot
        self.unit_id = unit_id
        self.amount = amount
        self.version = version
        self.at = at


OPENED = get_topic(LegacyLots.Opened)  # type: ignore[attr-defined]


def writes_of_opened(originator_id: UUID, account: str, lot: str, unit_id: UUID, amount: int) -> LotWrites:
    """What the store keeps for an Opened event: one never-expiring lot (import and the save alike)."""
    out = LotWrites()
    out.opens.append(LotOpen(lot, account, unit_id, int(amount), None, originator_id, 0))
    out.bumps.add(account)
    return out


@dataclass
class LegacyReport:
    volunteers: int = 0  # lots opened
    points: int = 0
    saves: int = 0


@dataclass(frozen=True)
class _Gap:
    account: str
    version: int
    balance: int
    held: int


def _tables(recorder: Any) -> tuple[bool, str, str, str]:
    """(is PostgreSQL, balances table, lots table, parameter mark) of either recorder."""
    balances = getattr(recorder, "balances_table", None)
    if balances is not None:  # PostgreSQL: schema-qualified names
        schema = recorder.datastore.schema
        return True, f'"{schema}"."{balances}"', f'"{schema}"."{recorder.lots_table}"', "%s"
    from ledger.store.common import BALANCES_TABLE, LOTS_TABLE

    return False, BALANCES_TABLE, LOTS_TABLE, "?"


def _rows(c: Any) -> list[Sequence[Any]]:
    return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in c.fetchall()]


def candidates(recorder: Any, after: str = "", limit: int = CHUNK) -> list[str]:
    """Volunteer accounts, by account, after ``after``, whose balance exceeds their open lots."""
    _pg, balances, lots, mark = _tables(recorder)
    sql = (
        f"SELECT b.account FROM {balances} b LEFT JOIN (SELECT account, sum(remaining) AS held FROM {lots} "
        f"WHERE remaining > 0 GROUP BY account) l ON l.account = b.account "
        f"WHERE b.account > {mark} AND b.account LIKE {mark} AND b.balance > coalesce(l.held, 0) "
        f"ORDER BY b.account LIMIT {mark}"
    )
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(sql, (after, f"{VOLUNTEER}:%", limit))
        return [str(r[0]) for r in _rows(c)]


def gaps(recorder: Any, accounts: Sequence[str]) -> list[_Gap]:
    """Each account's lot version, then its balance and what its open lots hold. The version is
    read first: anything that changes the balance or the lots after it moves it on, and the save
    that checks it is refused."""
    _pg, balances, lots, mark = _tables(recorder)
    if not accounts:
        return []
    marks = ", ".join([mark] * len(accounts))
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(f"SELECT account, lot_version FROM {balances} WHERE account IN ({marks})", list(accounts))
        versions = {str(a): int(v) for a, v in _rows(c)}
        c.execute(
            f"SELECT b.account, b.balance, (SELECT coalesce(sum(remaining), 0) FROM {lots} l "
            f"WHERE l.account = b.account AND l.remaining > 0) FROM {balances} b WHERE b.account IN ({marks})",
            list(accounts),
        )
        figures = {str(a): (int(b), int(h)) for a, b, h in _rows(c)}
    return [_Gap(a, versions[a], *figures[a]) for a in accounts if a in versions and a in figures]


def _home_unit(ledger: Any, account: str) -> UUID:
    return ledger.get_volunteer(account_owner(account)).unit_id  # type: ignore[no-any-return]


def _open(ledger: Any, accounts: Sequence[str], report: LegacyReport) -> None:
    """Decide and save the legacy lots of these accounts in one store transaction. Raises
    LotsChanged, ConcurrentChange (decide again)."""
    at = ledger.clock.now()
    events: list[Any] = []
    writes = LotWrites()
    opened: list[int] = []
    for gap in gaps(ledger.recorder, accounts):
        amount = gap.balance - gap.held
        if amount <= 0:
            continue
        aggregate_id = LegacyLots.create_id(gap.account, gap.version)
        lot = lot_id(aggregate_id, 0)
        unit = _home_unit(ledger, gap.account)
        aggregate = LegacyLots(account=gap.account, lot=lot, unit_id=unit, amount=amount, version=gap.version, at=at)
        assert aggregate.id == aggregate_id
        events += aggregate.collect_events()
        writes.add(writes_of_opened(aggregate_id, gap.account, lot, unit, amount))
        writes.checks[gap.account] = gap.version
        opened.append(amount)
    if not events:
        return
    ledger.journal._save(events, [], [], [], writes)  # noqa: SLF001 - no points move: only lots open
    report.saves += 1
    report.volunteers += len(opened)
    report.points += sum(opened)


def open_legacy(ledger: Any, *, chunk: int = CHUNK) -> LegacyReport:
    """Open the never-expiring lots of every volunteer whose balance exceeds their open lots.
    Safe to repeat and to run beside redemptions, credits and other runs. Raises
    ConcurrencyExhausted."""
    from ledger.journal import attempts
    from ledger.store.common import LotsChanged

    report = LegacyReport()
    after = ""
    while page := candidates(ledger.recorder, after, chunk):
        for _ in attempts("changes while opening lots of before lots"):
            try:
                _open(ledger, page, report)
            except (LotsChanged, ConcurrentChange):
                if len(page) > 1:  # someone moved one of these meanwhile: each on its own
                    for account in page:
                        for _ in attempts("changes while opening lots of before lots"):
                            try:
                                _open(ledger, [account], report)
                            except (LotsChanged, ConcurrentChange):
                                continue
                            break
                    break
                continue
            break
        after = page[-1]
    return report
