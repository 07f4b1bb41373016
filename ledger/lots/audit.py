"""Invariant 6, replayed from the log (``moralbank verify`` and ``verify --file``): every debit
from a volunteer carries a drawing that sums to it and takes only the volunteer's own lots, no lot
ever goes below zero (nor above its amount when given back), a lot is expired by its run at most
once and only after its last day, and at the end each volunteer's lots sum to the balance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ledger.accounts import EXPIRED, account_kind, is_volunteer
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
            elif is_volunteer(destination) and "restores" not in p:
                self.add(f"{key} (event {nid}) credits {destination} without opening a lot")
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
            if draws is None:
                self.add(f"{key} (event {nid}) debits {source} without a drawing")
                continue
            if sum(int(d[2]) for d in draws) != amount:
                self.add(f"{key} (event {nid}): its drawing sums to {sum(int(d[2]) for d in draws)}, not {amount}")
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

    def finish(self, balances: Mapping[str, int]) -> None:
        held: dict[str, int] = defaultdict(int)
        for account, _unit, _amount, remaining, _last in self.lots.values():
            held[account] += remaining
        for account, balance in balances.items():
            if is_volunteer(account) and held.get(account, 0) != balance:
                self.add(f"{account}: its lots hold {held.get(account, 0)}, its balance is {balance}")
