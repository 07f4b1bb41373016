"""Aggregates of the alliance. Public methods decide (with ``rules``); the ``@event`` methods
only assign, because their bodies run again on every replay.

They live in the ledger's event store (one log), and a redemption's records are saved in the
same transaction as its ledger transaction.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from merchants import rules
from merchants.errors import OfferUnavailable

NAMESPACE = UUID("2d7c51f0-8a3e-4f6b-9c1d-7e5a40b3c9e2")


class Merchant(Aggregate):
    """A partner shop of the moral alliance (道德联盟商家)."""

    @event("Registered")
    def __init__(self, name: str, unit_id: UUID, address: str, contact: str, at: datetime) -> None:
        self.name = name
        self.unit_id = unit_id
        self.address = address
        self.contact = contact
        self.registered_at = at
        self.suspended = False

    def suspend(self, reason: str, at: datetime) -> None:
        if not self.suspended:
            self._suspend(reason=reason, at=at)

    @event("Suspended")
    def _suspend(self, reason: str, at: datetime) -> None:
        self.suspended = True

    def reinstate(self, at: datetime) -> None:
        if self.suspended:
            self._reinstate(at=at)

    @event("Reinstated")
    def _reinstate(self, at: datetime) -> None:
        self.suspended = False


class Offer(Aggregate):
    """Something a merchant gives for points (兑换项目). With a stock, every redemption takes
    one in the same transaction as its points (so concurrent redemptions of the last one
    conflict and only one wins); without a stock the offer is never written to again."""

    @event("Created")
    def __init__(
        self,
        merchant_id: UUID,
        title: str,
        points: int,
        stock: int | None,
        limit: int | None,
        limit_period: str | None,
        starts_at: datetime | None,
        ends_at: datetime | None,
        at: datetime,
    ) -> None:
        self.merchant_id = merchant_id
        self.title = title
        self.points = points
        self.stock = stock
        self.limit = limit
        self.limit_period = limit_period
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.created_at = at
        self.taken = 0
        self.withdrawn = False

    def check_open(self, now: datetime) -> None:
        rules.check_offer_open(
            withdrawn=self.withdrawn, starts_at=self.starts_at, ends_at=self.ends_at,
            stock=self.stock, taken=self.taken, now=now,
        )

    def take(self, redemption_id: UUID, at: datetime) -> None:
        """Raises OfferUnavailable (sold out)."""
        if self.stock is not None and self.taken >= self.stock:
            raise OfferUnavailable("this offer is sold out")
        self._take(redemption_id=redemption_id, at=at)

    @event("StockTaken")
    def _take(self, redemption_id: UUID, at: datetime) -> None:
        self.taken += 1

    def give_back(self, redemption_id: UUID, at: datetime) -> None:
        self._give_back(redemption_id=redemption_id, at=at)

    @event("StockReturned")
    def _give_back(self, redemption_id: UUID, at: datetime) -> None:
        self.taken -= 1

    def withdraw(self, at: datetime) -> None:
        if not self.withdrawn:
            self._withdraw(at=at)

    @event("Withdrawn")
    def _withdraw(self, at: datetime) -> None:
        self.withdrawn = True


class LimitSlot(Aggregate):
    """One of the N times a volunteer may take an offer in a day or month. Slot ids are
    deterministic, so two concurrent claims of the same slot conflict in the store and
    only one commits: the limit holds without any lock."""

    @staticmethod
    def create_id(offer_id: UUID, volunteer_id: UUID, period: str, index: int) -> UUID:
        return uuid5(NAMESPACE, f"limit:{offer_id.hex}:{volunteer_id.hex}:{period}:{index}")

    @event("Claimed")
    def __init__(self, offer_id: UUID, volunteer_id: UUID, period: str, index: int, redemption_id: UUID) -> None:
        self.offer_id = offer_id
        self.volunteer_id = volunteer_id
        self.period = period
        self.index = index
        self.holder: UUID | None = redemption_id

    def claim(self, redemption_id: UUID) -> None:
        self._claim(redemption_id=redemption_id)

    @event("Reclaimed")
    def _claim(self, redemption_id: UUID) -> None:
        self.holder = redemption_id

    def release(self) -> None:
        if self.holder is not None:
            self._release()

    @event("Released")
    def _release(self) -> None:
        self.holder = None


class CardPolicy(Aggregate):
    """A unit's rule for card payments (card + PIN at a till): the points one volunteer may pay
    by card in a day. It applies to the unit and every unit below that sets none of its own."""

    @staticmethod
    def create_id(unit_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"cardpolicy:{unit_id.hex}")

    @event("Set")
    def __init__(self, unit_id: UUID, daily_cap: int, by: str, at: datetime) -> None:
        self.unit_id = unit_id
        self.daily_cap = daily_cap
        self.by = by
        self.set_at = at

    def change(self, daily_cap: int, by: str, at: datetime) -> None:
        if daily_cap != self.daily_cap:
            self._changed(daily_cap=daily_cap, by=by, at=at)

    @event("Changed")
    def _changed(self, daily_cap: int, by: str, at: datetime) -> None:
        self.daily_cap = daily_cap
        self.by = by
        self.set_at = at


class CardDay(Aggregate):
    """What one volunteer paid by card on one local day. Saved with every card payment, so two
    concurrent payments conflict on its version and the cap holds without a lock."""

    @staticmethod
    def create_id(volunteer_id: UUID, day: str) -> UUID:
        return uuid5(NAMESPACE, f"cardday:{volunteer_id.hex}:{day}")

    @event("Opened")
    def __init__(self, volunteer_id: UUID, day: str, points: int, redemption_id: UUID) -> None:
        self.volunteer_id = volunteer_id
        self.day = day
        self.spent = points
        self.redemptions = [redemption_id]

    def spend(self, points: int, redemption_id: UUID, cap: int) -> None:
        """Raises CardLimitReached."""
        rules.check_card_spend(self.spent, points, cap)
        self._spent(points=points, redemption_id=redemption_id)

    @event("Spent")
    def _spent(self, points: int, redemption_id: UUID) -> None:
        self.spent += points
        self.redemptions = [*self.redemptions, redemption_id]


class Redemption(Aggregate):
    """Points from a volunteer to a merchant, and the details a statement needs; named after
    the ledger key, so it exists at most once per pay code."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return uuid5(NAMESPACE, "redemption:" + key)

    @event("Made")
    def __init__(
        self,
        key: str,
        merchant_id: UUID,
        volunteer_id: UUID,
        offer_id: UUID | None,
        title: str,
        points: int,
        transaction_id: UUID,
        via: str,
        code_expires: int | None,
        stock_taken: bool,
        limit_slot: UUID | None,
        actor: str,
        at: datetime,
    ) -> None:
        self.key = key
        self.merchant_id = merchant_id
        self.volunteer_id = volunteer_id
        self.offer_id = offer_id
        self.title = title
        self.points = points
        self.transaction_id = transaction_id
        self.via = via
        self.code_expires = code_expires
        self.stock_taken = stock_taken
        self.limit_slot = limit_slot
        self.actor = actor
        self.at = at
        self.reversed_by: UUID | None = None
        self.reversal_reason = ""
        self.reversal_actor = ""

    def mark_reversed(self, reversal_id: UUID, reason: str, actor: str, at: datetime) -> None:
        self._reversed(reversal_id=reversal_id, reason=reason, actor=actor, at=at)

    @event("Reversed")
    def _reversed(self, reversal_id: UUID, reason: str, actor: str, at: datetime) -> None:
        self.reversed_by = reversal_id
        self.reversal_reason = reason
        self.reversal_actor = actor
