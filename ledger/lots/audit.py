"""Invariant 6, replayed from the log (``moralbank verify`` and ``verify --file``): every debit
from a volunteer carries a drawing that sums to it and takes only the volunteer's own lots, no lot
ever goes below zero (nor above its amount when given back), a lot is expired by its run at most
once and only after its last day, and at the end each volunteer's lots sum to the balance.

Points of before lots: a store older than lots holds credits that opened no lot and debits that drew
none (and, until ``moralbank lots open-legacy`` ran, debits whose drawing fell short of them). The
replay keeps them per volunteer as points in no lot; a ``LegacyLots.Opened`` event (``legacy``) turns
exactly them into a never-expiring lot. Once a volunteer's lot of before lots is opened, any
movement of theirs outside lots is named; at the end, points still in no lot are named (verify fails
until the command has run)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ledger.accounts import EXPIRED, account_kind, is_volunteer
from ledger.codec import uuid_of
from ledger.lots import rules as lot_rules

LOTS = 6  # the invariant's number in reports
_SHOWN = 20  # violations of one kind named before they are only counted


class LotAudit:
    def __init__(self, add: Callable[[int, str], None], zone: ZoneInfo) -> None:
        self._add, self.zone = add, zone
        # lot -> [account, unit hex, amount, remaining, last day]
        self.lots: dict[str, list[Any]] = {}
        self.drawing_rows = 0
        self._expired: dict[str, int] = defaultdict(int)
        self._shown = 0
        self.unlotted: dict[str, int] = defaultdict(int)  # per volunteer: points in no lot (of before lots)
        self._opened_legacy: set[str] = set()  # volunteers whose points of before lots have a lot

    def add(self, message: str) -> None:
        self._shown += 1
        if self._shown <= _SHOWN:
            self._add(LOTS, message)
        elif self._shown == _SHOWN + 1:
            self._add(LOTS, "more lot violations follow; only the first are named")

    def transaction(self, nid: int, key: str, kind: str, postings: Sequence[Mapping[str, Any]], at: datetime) -> None:
        day = at.astimezone(self.zone).date()
        for p in postings:
            source, destination, amount = p["source"], p["destination"], int(p["amount"])
            opened = p.get("opens")
            if opened is not None:
                last = date.fromisoformat(opened["expires_on"]) if opened["expires_on"] else None
                if opened["lot"] in self.lots:
                    self.add(f"lot {opened['lot']} opened twice (event {nid})")
                self.lots[opened["lot"]] = [destination, opened["unit"], amount, amount, last]
            elif is_volunteer(destination):
                outside = amount - sum(int(r[2]) for r in p.get("restores", ()))  # what no lot takes back
                if outside and destination in self._opened_legacy and "restores" not in p:
                    self.add(f"{key} (event {nid}) credits {destination} without opening a lot")
                self.unlotted[destination] += outside
            for lot, _unit, n in p.get("restores", ()):
                self.drawing_rows += 1
                state = self.lots.get(lot)
                if state is None or state[0] != destination:
                    self.add(f"{key} (event {nid}) gives back to lot {lot}, not one of {destination}")
                    continue
                state[3] += int(n)
                if state[3] > state[2]:
                    self.add(f"lot {lot} holds {state[3]} of {state[2]} after {key} (event {nid})")
            if not is_volunteer(source):
                continue
            draws = p.get("draws")
            drawn = sum(int(d[2]) for d in draws or ())
            if drawn > amount:
                self.add(f"{key} (event {nid}): its drawing sums to {drawn}, not {amount}")
            elif drawn < amount:  # the rest from points of before lots, if the volunteer has them
                self.unlotted[source] -= amount - drawn
                if self.unlotted[source] < 0:
                    self.add(
                        f"{key} (event {nid}): its drawing sums to {drawn}, not {amount}, and {source} "
                        f"has no points of before lots for the rest"
                    )
                    self.unlotted[source] = 0
            if draws is None:
                continue
            lapse = account_kind(destination) == EXPIRED
            for lot, unit, n in draws:
                self.drawing_rows += 1
                state = self.lots.get(lot)
                if state is None or state[0] != source or state[1] != unit:
                    self.add(f"{key} (event {nid}) draws lot {lot}, not one of {source} from {unit}")
                    continue
                state[3] -= int(n)
                if state[3] < 0:
                    self.add(f"lot {lot} is at {state[3]} after {key} (event {nid}): a point was taken twice")
                if lapse:
                    if not lot_rules.is_expired(state[4], at, self.zone):
                        self.add(f"{key} (event {nid}) expires lot {lot} on {day}, not after its last day {state[4]}")
                    if kind == "expiry":
                        self._expired[lot] += 1
                        if self._expired[lot] > 1:
                            self.add(f"lot {lot} expired {self._expired[lot]} times (event {nid})")

    def legacy_event(self, nid: int, state: Mapping[str, Any]) -> None:
        """A ``LegacyLots.Opened`` event's stored state (decoded JSON, ``ledger.codec``)."""
        unit = uuid_of(state["unit_id"])
        self.legacy(nid, state["account"], state["lot"], unit.hex if unit else "", int(state["amount"]))

    def legacy(self, nid: int, account: str, lot: str, unit: str, amount: int) -> None:
        """A never-expiring lot opened for a volunteer's points of before lots: exactly them."""
        if lot in self.lots:
            self.add(f"lot {lot} opened twice (event {nid})")
        if int(amount) != self.unlotted.get(account, 0):
            self.add(
                f"event {nid} opens a lot of {amount} for {account}'s points of before lots; "
                f"{self.unlotted.get(account, 0)} were in no lot"
            )
        self.unlotted[account] = max(0, self.unlotted.get(account, 0) - int(amount))
        self.lots[lot] = [account, unit, int(amount), int(amount), None]
        self._opened_legacy.add(account)

    def finish(self, balances: Mapping[str, int]) -> None:
        held: dict[str, int] = defaultdict(int)
        for account, _unit, _amount, remaining, _last in self.lots.values():
            held[account] += remaining
        for account, balance in balances.items():
            if not is_volunteer(account):
                continue
            outside = self.unlotted.get(account, 0)
            if outside:
                self.add(
                    f"{account}: {outside} point(s) in no lot (credited before lots): "
                    "`moralbank lots open-legacy` opens their lot"
                )
            if held.get(account, 0) + outside != balance:
                self.add(f"{account}: its lots hold {held.get(account, 0)}, its balance is {balance}")
