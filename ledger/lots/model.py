"""Lots and drawings: how a transaction's postings open, draw and give back lots (pure).

What the journal decides at write time is stored in each posting's own fields of the
``LedgerTransaction.Recorded`` event, so the log alone says it and nothing recomputes it:

- ``opens``: ``{"lot", "unit", "expires_on"}`` on a credit to a volunteer (not a give-back): the
  lot's id (``<transaction hex>.<posting seq>``), its issuing unit (hex) and last day (ISO or None);
- ``draws``: ``[[lot, unit, amount], …]`` on a debit from a volunteer (a redemption, a payment,
  a reversal of a credit, a batch line reversal, an expiry): which lots paid it;
- ``restores``: ``[[lot, unit, amount], …]`` on a reversal's posting back to a volunteer: the lots
  the reversed debit drew from get their points back.

``writes_of`` turns those fields into the rows the store keeps beside the events (the open lots,
and one drawing row per lot a posting touches); the journal, an import and verify use it alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple
from uuid import UUID

from ledger.accounts import EXPIRED, ISSUING, VOLUNTEER, account_kind, account_owner


class Lot(NamedTuple):
    lot: str
    account: str
    unit_id: UUID
    amount: int
    remaining: int
    expires_on: date | None
    position: int  # where the credit that opened it is in the log (0: in this very save)
    seq: int


class LotOpen(NamedTuple):
    lot: str
    account: str
    unit_id: UUID
    amount: int
    expires_on: date | None
    transaction_id: UUID
    seq: int


class Drawing(NamedTuple):
    """Points a posting took from a lot (negative: gave back to it)."""

    transaction_id: UUID
    seq: int
    lot: str
    unit_id: UUID
    amount: int


@dataclass
class LotWrites:
    """What one save asks of the lots table: checks (the per-account version each decision was
    made on: the save is refused if another changed it since), the accounts whose lots change
    (their version moves on), lots opened, and drawings (the lots' remaining points go down by
    them)."""

    checks: dict[str, int] = field(default_factory=dict)
    bumps: set[str] = field(default_factory=set)
    opens: list[LotOpen] = field(default_factory=list)
    drawings: list[Drawing] = field(default_factory=list)
    drawn: set[str] = field(default_factory=set)  # accounts whose lots lose or get back points
    # per account drawn by FIFO: the order key of the last lot drawn, None when the drawing fell
    # short (a lot opened in the same save sorting at or after it leaves the drawing as it is)
    tails: dict[str, tuple[bool, date] | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.checks or self.bumps or self.opens or self.drawings)

    def add(self, other: "LotWrites") -> "LotWrites":
        self.checks.update(other.checks)
        self.bumps |= other.bumps
        self.opens += other.opens
        self.drawings += other.drawings
        self.drawn |= other.drawn
        for account, tail in other.tails.items():
            mine = self.tails.get(account, tail)
            self.tails[account] = None if mine is None or tail is None else max(mine, tail)
        return self

    def first_opened(self) -> dict[str, tuple[bool, date]]:
        """Per account, the order key of the soonest-expiring lot this save opens."""
        out: dict[str, tuple[bool, date]] = {}
        for o in self.opens:
            key = expiry_key(o.expires_on)
            out[o.account] = min(out.get(o.account, key), key)
        return out

    def fits_beside(self, other: "LotWrites") -> bool:
        """Whether these writes and ``other``'s can share one save, each decided on its own view:
        no account is drawn by one and decided on (or drawn) by the other, and a lot one opens for
        an account the other drew by FIFO sorts after every lot that drawing took (so the drawing
        is the one FIFO would make in log order, credits first)."""
        if self.checks.keys() & (other.checks.keys() | other.drawn) or other.checks.keys() & self.drawn:
            return False
        for a, b in ((self, other), (other, self)):
            opened = b.first_opened()
            for account in a.checks.keys() & opened.keys():
                tail = a.tails.get(account)
                if tail is None or opened[account] < tail:
                    return False
        return True

    def add_all(self, others: Iterable["LotWrites"]) -> "LotWrites":
        for other in others:
            self.add(other)
        return self


@dataclass
class View:
    """A volunteer's open lots as read, and the version of the account they were read at."""

    version: int
    lots: list[Lot]


def lot_id(transaction_id: UUID, seq: int) -> str:
    return f"{transaction_id.hex}.{seq}"


def expiry_key(expires_on: date | None) -> tuple[bool, date]:
    return (expires_on is None, expires_on or date.max)


def order(lot: Lot) -> tuple[bool, date, int, int]:
    """Soonest expiry first (never-expiring last), then oldest."""
    return (lot.expires_on is None, lot.expires_on or date.max, lot.position or 2**62, lot.seq)


def fifo(view: View, amount: int) -> list[list[Any]]:
    """Draw ``amount`` from the view's lots in order, taking it from them (the view changes).
    A drawing that falls short is returned short: the balance guard refuses such a save (when the
    view is current, the lots sum to the balance)."""
    drawing: list[list[Any]] = []
    view.lots.sort(key=order)
    for i, lot in enumerate(view.lots):
        if amount == 0:
            break
        take = min(amount, lot.remaining)
        if take:
            drawing.append([lot.lot, lot.unit_id.hex, take])
            view.lots[i] = lot._replace(remaining=lot.remaining - take)
            amount -= take
    view.lots = [lot for lot in view.lots if lot.remaining]
    return drawing


def issuing_unit_of(posting: Mapping[str, Any], unit_id: UUID | None) -> UUID:
    """The unit whose budget funds a lot: the issuing account's owner (else the transaction's unit)."""
    source = posting["source"]
    if account_kind(source) == ISSUING or unit_id is None:
        return account_owner(source)
    return unit_id


def writes_of(transaction_id: UUID, postings: Sequence[Mapping[str, Any]]) -> LotWrites:
    """The lots a recorded transaction opens and the drawings of its postings, from its event."""
    out = LotWrites()
    for seq, p in enumerate(postings):
        opened = p.get("opens")
        if opened is not None:
            out.opens.append(
                LotOpen(
                    opened["lot"], p["destination"], UUID(opened["unit"]), int(p["amount"]),
                    date.fromisoformat(opened["expires_on"]) if opened["expires_on"] else None, transaction_id, seq,
                )
            )
            out.bumps.add(p["destination"])
        for lot, unit, amount in p.get("draws", ()):
            out.drawings.append(Drawing(transaction_id, seq, lot, UUID(unit), int(amount)))
            out.bumps.add(p["source"])
            out.drawn.add(p["source"])
        for lot, unit, amount in p.get("restores", ()):
            out.drawings.append(Drawing(transaction_id, seq, lot, UUID(unit), -int(amount)))
            out.bumps.add(p["destination"])
            out.drawn.add(p["destination"])
    return out


def net_by_lot(drawings: Iterable[Drawing]) -> dict[str, int]:
    """Points taken per lot (give-backs subtracted), for the store's one update per lot."""
    out: dict[str, int] = {}
    for d in drawings:
        out[d.lot] = out.get(d.lot, 0) + d.amount
    return {k: v for k, v in out.items() if v}


def touches_lots(posting: Mapping[str, Any]) -> bool:
    return account_kind(posting["source"]) == VOLUNTEER or account_kind(posting["destination"]) == VOLUNTEER


def is_expiry_posting(posting: Mapping[str, Any]) -> bool:
    return account_kind(posting["destination"]) == EXPIRED


def next_expiries(lots: Iterable[Lot], limit: int = 3) -> list[tuple[date, int]]:
    """The next last days of a volunteer's lots with points left, with how many points lapse then."""
    by_day: dict[date, int] = {}
    for lot in lots:
        if lot.remaining and lot.expires_on is not None:
            by_day[lot.expires_on] = by_day.get(lot.expires_on, 0) + lot.remaining
    return sorted(by_day.items())[:limit]
