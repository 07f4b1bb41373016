"""The alliance's application service: merchants, offers, pay codes, redemptions, reversals.

Points only move through the ledger's journal (``ledger.journal``); the alliance's own records
(the redemption, the offer's stock, a per-volunteer limit slot) are saved in the same
transaction through its ``also_save``, so they commit or fail with the points. Library errors
are translated here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger import codes
from ledger.codes import CodeExpired
from ledger import rules as ledger_rules
from ledger.accounts import Posting, merchant_account, volunteer_account
from ledger.application import IssuedToken, Ledger
from ledger.cards.service import Cards
from ledger.domain import LedgerTransaction
from ledger.errors import AlreadyReversed, ConcurrentChange, IdempotencyConflict, InvalidRequest, NotFound
from ledger.journal import Movement, PostingResult, attempts

from merchants import rules
from merchants.domain import CardDay, CardPolicy, LimitSlot, Merchant, Offer, Redemption
from merchants.errors import CodeUsed, LimitReached, MerchantSuspended, NotYourOffer, OfferUnavailable

REDEMPTION = "redemption"
# A redemption reads its merchant from a per-process cache this long: a suspension made in
# another process is refused within a second (one made here, at once).
MERCHANT_CACHE_SECONDS = 1.0
_NAMES_MAX = 100_000
VIA_PAY_CODE, VIA_MERCHANT_CODE, VIA_CARD = "pay_code", "merchant_code", "card"


@dataclass(frozen=True)
class PayCode:
    code: str
    volunteer_id: UUID
    expires_at: datetime


@dataclass(frozen=True)
class RedemptionResult:
    redemption: Redemption
    transaction: LedgerTransaction
    replayed: bool


class Alliance:
    """Commands of the merchant alliance over one ledger. Each docstring lists what it raises."""

    def __init__(
        self,
        ledger: Ledger,
        signing_key: bytes,
        zone: ZoneInfo,
        *,
        pay_code_seconds: int = rules.PAY_CODE_SECONDS,
        group_commit: bool = True,
    ) -> None:
        """``group_commit``: redemptions arriving together share one store transaction (the
        journal's committer); off, each saves on its own (the straightforward build)."""
        self.ledger = ledger
        self.key = signing_key
        self.zone = zone
        self.pay_code_seconds = pay_code_seconds
        self.grouped = group_commit
        self._merchants: dict[UUID, tuple[float, Merchant]] = {}
        self._names: dict[UUID, str] = {}
        # Card payments check the card's PIN (wrong ones count towards the card's lock).
        self.cards = Cards(ledger, signing_key)

    @property
    def clock(self) -> Any:
        return self.ledger.clock

    # ---------------------------------------------------------------- merchants

    def register_merchant(self, name: str, unit_id: UUID, *, address: str = "", contact: str = "") -> tuple[Merchant, IssuedToken]:
        """A merchant and its token (the secret is returned once). Raises NotFound (unit)."""
        self.ledger.get_unit(unit_id)
        merchant = Merchant(name=name, unit_id=unit_id, address=address, contact=contact, at=self.clock.now())
        self.ledger.save(merchant)
        return merchant, self.ledger.issue_token("merchant", name, subject_id=merchant.id)

    def get_merchant(self, merchant_id: UUID) -> Merchant:
        """Raises NotFound."""
        return self.ledger.load(Merchant, merchant_id, "merchant")

    def _recent_merchant(self, merchant_id: UUID) -> Merchant:
        """Raises NotFound."""
        cached = self._merchants.get(merchant_id)
        if cached is not None and time.monotonic() - cached[0] < MERCHANT_CACHE_SECONDS:
            return cached[1]
        merchant = self.get_merchant(merchant_id)
        self._merchants[merchant_id] = (time.monotonic(), merchant)
        return merchant

    def volunteer_name(self, volunteer_id: UUID) -> str:
        """For display (names never change); "" for nobody. Cached per process."""
        name = self._names.get(volunteer_id)
        if name is None:
            try:
                name = self.ledger.get_volunteer(volunteer_id).name
            except NotFound:
                return ""
            if len(self._names) >= _NAMES_MAX:
                self._names.clear()
            self._names[volunteer_id] = name
        return name

    def suspend_merchant(self, merchant_id: UUID, reason: str = "") -> Merchant:
        """Raises NotFound, ConcurrencyExhausted."""
        return self._update_merchant(merchant_id, lambda m: m.suspend(reason=reason, at=self.clock.now()))

    def reinstate_merchant(self, merchant_id: UUID) -> Merchant:
        """Raises NotFound, ConcurrencyExhausted."""
        return self._update_merchant(merchant_id, lambda m: m.reinstate(at=self.clock.now()))

    def _update_merchant(self, merchant_id: UUID, change: Any) -> Merchant:
        self._merchants.pop(merchant_id, None)
        merchant = self.ledger.update(lambda: self.get_merchant(merchant_id), change)
        self._merchants.pop(merchant_id, None)
        return merchant

    def merchant_code(self, merchant_id: UUID) -> str:
        """The static code printed at the till. Raises NotFound."""
        self.get_merchant(merchant_id)
        return codes.sign(self.key, codes.MERCHANT, {"m": merchant_id.hex})

    def read_merchant_code(self, code: object) -> Merchant:
        """Raises CodeInvalid, NotFound, MerchantSuspended."""
        _, fields = codes.read(self.key, code, kind=codes.MERCHANT)
        merchant = self.get_merchant(rules.parse_merchant_code(fields))
        if merchant.suspended:
            raise MerchantSuspended("this merchant is suspended", merchant_id=str(merchant.id))
        return merchant

    # ---------------------------------------------------------------- offers

    def create_offer(
        self,
        merchant_id: UUID,
        title: str,
        points: int,
        *,
        stock: int | None = None,
        limit: int | None = None,
        limit_period: str | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> Offer:
        """Raises NotFound (merchant), InvalidAmount, InvalidRequest."""
        self.get_merchant(merchant_id)
        rules.check_offer(points, stock, limit, limit_period, starts_at, ends_at)
        offer = Offer(
            merchant_id=merchant_id, title=title, points=points, stock=stock, limit=limit,
            limit_period=limit_period, starts_at=starts_at, ends_at=ends_at, at=self.clock.now(),
        )
        self.ledger.save(offer)
        return offer

    def get_offer(self, offer_id: UUID) -> Offer:
        """Raises NotFound."""
        return self.ledger.load(Offer, offer_id, "offer")

    def withdraw_offer(self, offer_id: UUID) -> Offer:
        """Raises NotFound, ConcurrencyExhausted."""
        return self.ledger.update(lambda: self.get_offer(offer_id), lambda offer: offer.withdraw(at=self.clock.now()))

    # ---------------------------------------------------------------- pay codes

    def issue_pay_code(self, volunteer_id: UUID) -> PayCode:
        """A fresh one-time code, valid for 60 s; nothing is stored until it is spent.
        Raises NotFound (volunteer)."""
        self.ledger.get_volunteer(volunteer_id)
        now = self.clock.now()
        expires = int(now.timestamp()) + self.pay_code_seconds
        nonce = secrets.token_urlsafe(12)
        code = codes.sign(self.key, codes.PAY, rules.pay_code_fields(volunteer_id, nonce, expires))
        return PayCode(code, volunteer_id, datetime.fromtimestamp(expires, tz=now.tzinfo))

    # ---------------------------------------------------------------- redemptions

    def redeem(
        self,
        merchant_id: UUID,
        pay_code: object,
        *,
        points: int | None = None,
        offer_id: UUID | None = None,
        actor: str = "",
        replay_allowed: bool = False,
    ) -> RedemptionResult:
        """A merchant takes a volunteer's pay code, once.

        ``replay_allowed``: the caller sent an idempotency key (part of ``actor``), so the same
        request by the same caller gets its first result back instead of ``code_used``.

        Raises CodeInvalid, CodeExpired, CodeUsed, NotFound (merchant, offer), MerchantSuspended,
        NotYourOffer, OfferUnavailable, LimitReached, InvalidAmount, InvalidRequest,
        InsufficientPoints, ConcurrencyExhausted.
        """
        _, fields = codes.read(self.key, pay_code, kind=codes.PAY)
        claims = rules.parse_pay_code(fields)
        try:
            rules.check_not_expired(claims.expires, self.clock.now())
        except CodeExpired:
            # The till sends its request again (same Idempotency-Key) after its answer was lost,
            # maybe past the code's minute: the payment made while the code was valid answers.
            prior = self.ledger.find(Redemption, Redemption.create_id(rules.redemption_key(claims.nonce))) if replay_allowed else None
            if prior is None or prior.actor != actor:
                raise
            return self._replayed(prior, _fingerprint(merchant_id, points, offer_id), actor, replay_allowed)
        return self._spend(
            rules.redemption_key(claims.nonce), merchant_id, claims.volunteer_id, points, offer_id,
            via=VIA_PAY_CODE, code_expires=claims.expires, actor=actor, replay_allowed=replay_allowed,
        )

    def pay(
        self,
        volunteer_id: UUID,
        merchant_id: UUID,
        request_key: str,
        *,
        points: int | None = None,
        offer_id: UUID | None = None,
        actor: str = "",
    ) -> RedemptionResult:
        """A volunteer pays a merchant whose till code they scanned; ``request_key`` names the
        payment (the same key again gives the first result).

        Raises the same as ``redeem`` but the code errors, and IdempotencyConflict.
        """
        return self._spend(
            rules.scan_key(volunteer_id, request_key), merchant_id, volunteer_id, points, offer_id,
            via=VIA_MERCHANT_CODE, code_expires=None, actor=actor, replay_allowed=True,
        )

    def pay_by_card(
        self,
        merchant_id: UUID,
        card_code: object,
        pin: object,
        request_key: str,
        *,
        points: int | None = None,
        offer_id: UUID | None = None,
        actor: str = "",
    ) -> RedemptionResult:
        """A till takes a volunteer's printed member card and the PIN they type: the PIN is
        checked like a sign-in (a wrong one counts towards the card's lock), the day's card
        payments stay within the cap of the volunteer's unit, and the points move like a pay
        code's. ``request_key`` (the till's Idempotency-Key) names the payment: the same key
        again gives the first result. The PIN is never stored nor logged.

        Raises CodeInvalid, CardRevoked, CardLocked, PinWrong, CardLimitReached, IdempotencyConflict,
        and what ``redeem`` raises but the pay code's errors.
        """
        volunteer_id, serial = self.cards.read_code(card_code)
        if self.cards.find(volunteer_id) is None:
            raise codes.CodeInvalid("this code names no member card")
        self.cards.check_pin(volunteer_id, serial, pin)
        cap = self.card_cap(self.ledger.get_volunteer(volunteer_id).unit_id)

        def hold(amount: int, redemption_id: UUID, now: datetime) -> list[Any]:
            day = rules.period_key(now, self.zone, rules.DAY)
            record = self.ledger.find(CardDay, CardDay.create_id(volunteer_id, day))
            if record is None:
                rules.check_card_spend(0, amount, cap)
                return [CardDay(volunteer_id=volunteer_id, day=day, points=amount, redemption_id=redemption_id)]
            record.spend(amount, redemption_id, cap)
            return [record]

        result = self._spend(
            rules.card_key(merchant_id, request_key), merchant_id, volunteer_id, points, offer_id,
            via=VIA_CARD, code_expires=None, actor=actor, replay_allowed=True, hold=hold,
        )
        if result.redemption.volunteer_id != volunteer_id:
            raise IdempotencyConflict("this idempotency key was already used for another card")
        return result

    def card_cap(self, unit_id: UUID) -> int:
        """Points a volunteer of ``unit_id`` may pay by card in a day. Raises NotFound (unit)."""
        policies = [self.ledger.find(CardPolicy, CardPolicy.create_id(u)) for u in self.ledger.unit_ancestry(unit_id)]
        return rules.card_cap_of([p.daily_cap if p is not None else None for p in policies])

    def set_card_cap(self, unit_id: UUID, daily_cap: int, *, by: str = "") -> int:
        """The daily cap on card payments for the unit and the units below it that set none.
        Raises NotFound (unit), InvalidRequest, ConcurrencyExhausted."""
        self.ledger.get_unit(unit_id)
        rules.check_card_cap(daily_cap)
        for _ in attempts("changes"):
            policy = self.ledger.find(CardPolicy, CardPolicy.create_id(unit_id))
            if policy is None:
                policy = CardPolicy(unit_id=unit_id, daily_cap=daily_cap, by=by, at=self.clock.now())
            else:
                policy.change(daily_cap, by, self.clock.now())
            try:
                self.ledger.journal.commit(policy, grouped=False)
            except ConcurrentChange:
                continue
            return daily_cap
        raise AssertionError("unreachable")

    def _spend(
        self,
        key: str,
        merchant_id: UUID,
        volunteer_id: UUID,
        points: int | None,
        offer_id: UUID | None,
        *,
        via: str,
        code_expires: int | None,
        actor: str,
        replay_allowed: bool,
        hold: Callable[[int, UUID, datetime], list[Any]] | None = None,
    ) -> RedemptionResult:
        """``hold``: (points, redemption id, now) → more aggregates saved with the payment (a
        card's daily cap); it raises to refuse."""
        if (points is None) == (offer_id is None):
            raise InvalidRequest("give either points or an offer")
        if points is not None:
            ledger_rules.check_points(points)
        merchant = self._recent_merchant(merchant_id)
        if merchant.suspended:
            raise MerchantSuspended("this merchant is suspended", merchant_id=str(merchant_id))
        redemption_id = Redemption.create_id(key)
        fingerprint = _fingerprint(merchant_id, points, offer_id)
        for attempt in attempts("redemptions"):
            # A points-only first attempt skips the look-up: a used code conflicts in the save.
            looked = attempt or offer_id is not None or hold is not None  # a hold could refuse a replay
            prior = self.ledger.find(Redemption, redemption_id) if looked else None
            if prior is not None:
                return self._replayed(prior, fingerprint, actor, replay_allowed)
            now = self.clock.now()
            title, amount, extra, stock_taken, slot_id = "", points or 0, [], False, None
            if offer_id is not None:
                offer = self.get_offer(offer_id)
                if offer.merchant_id != merchant_id:
                    raise NotYourOffer("this offer belongs to another merchant", offer_id=str(offer_id))
                offer.check_open(now)
                title, amount = offer.title, offer.points
                if offer.stock is not None:
                    offer.take(redemption_id, at=now)
                    extra.append(offer)
                    stock_taken = True
                if offer.limit is not None:
                    slot = self._claim_slot(offer, volunteer_id, redemption_id, now)
                    extra.append(slot)
                    slot_id = slot.id
            if hold is not None:
                extra += hold(amount, redemption_id, now)
            txn_id = LedgerTransaction.create_id(key)
            redemption = Redemption(
                key=key, merchant_id=merchant_id, volunteer_id=volunteer_id, offer_id=offer_id, title=title,
                points=amount, transaction_id=txn_id, via=via, code_expires=code_expires,
                stock_taken=stock_taken, limit_slot=slot_id, actor=actor, at=now,
            )
            movement = Movement(
                key, REDEMPTION, [Posting(volunteer_account(volunteer_id), merchant_account(merchant_id), amount)],
                memo=title or merchant.name, fingerprint=fingerprint, actor=actor, unit_id=merchant.unit_id,
            )
            try:
                result = self.ledger.journal.post(movement, also_save=[redemption, *extra], grouped=self.grouped)
            except ConcurrentChange:
                continue  # lost a race on the offer's stock or a limit slot: decide again
            except IdempotencyConflict:
                if via != VIA_PAY_CODE:
                    raise
                raise CodeUsed("this code was already used", redemption_id=str(redemption_id)) from None
            if result.replayed:
                continue  # the same request won in parallel: answer from its record
            return RedemptionResult(redemption, result.transaction, replayed=False)
        raise AssertionError("unreachable")

    def _replayed(self, prior: Redemption, fingerprint: str, actor: str, replay_allowed: bool) -> RedemptionResult:
        txn = self.ledger.get_transaction(prior.transaction_id)
        if replay_allowed and prior.actor == actor:
            if txn.fingerprint != fingerprint:
                raise IdempotencyConflict("this idempotency key was already used for a different request")
            return RedemptionResult(prior, txn, replayed=True)
        raise CodeUsed("this code was already used", redemption_id=str(prior.id))

    def _claim_slot(self, offer: Offer, volunteer_id: UUID, redemption_id: UUID, now: datetime) -> LimitSlot:
        """The first free one of the volunteer's N slots for this period. Raises LimitReached."""
        assert offer.limit is not None and offer.limit_period is not None
        period = rules.period_key(now, self.zone, offer.limit_period)
        for index in range(offer.limit):
            slot = self.ledger.find(LimitSlot, LimitSlot.create_id(offer.id, volunteer_id, period, index))
            if slot is None:
                return LimitSlot(
                    offer_id=offer.id, volunteer_id=volunteer_id, period=period, index=index, redemption_id=redemption_id
                )
            if slot.holder is None:
                slot.claim(redemption_id)
                return slot  # type: ignore[no-any-return]
        per = "today" if offer.limit_period == rules.DAY else "this month"
        raise LimitReached(f"this offer can be taken {offer.limit} time(s) {per}", limit=offer.limit, period=period)

    def get_redemption(self, redemption_id: UUID) -> Redemption:
        """Raises NotFound."""
        return self.ledger.load(Redemption, redemption_id, "redemption")

    # ---------------------------------------------------------------- reversals

    def reverse(
        self, redemption_id: UUID, *, reason: str, actor: str = "", merchant_id: UUID | None = None, replay_allowed: bool = False
    ) -> RedemptionResult:
        """Points back from the merchant to the volunteer, once; the stock and the limit slot
        are given back. ``merchant_id``: the merchant asking (None for an admin), which must be
        the one that took it.

        Raises NotFound (also another merchant's redemption), AlreadyReversed, ConcurrencyExhausted.
        """
        for _ in attempts("reversals"):
            redemption = self.get_redemption(redemption_id)
            if merchant_id is not None and redemption.merchant_id != merchant_id:
                raise NotFound("redemption not found", id=str(redemption_id))
            original = self.ledger.get_transaction(redemption.transaction_id)
            if redemption.reversed_by is not None or original.reversed_by is not None:
                if replay_allowed and redemption.reversal_actor == actor and redemption.reversed_by is not None:
                    if redemption.reversal_reason != reason:
                        raise IdempotencyConflict("this idempotency key was already used for a different request")
                    return RedemptionResult(redemption, self.ledger.get_transaction(redemption.reversed_by), replayed=True)
                raise AlreadyReversed(
                    "this redemption was already reversed",
                    reversal_id=str(redemption.reversed_by or original.reversed_by),
                )
            now = self.clock.now()
            movement, original = self.ledger.reversal(original, memo=reason, actor=actor)
            redemption.mark_reversed(LedgerTransaction.create_id(movement.key), reason, actor, now)
            extra: list[Any] = []
            if redemption.stock_taken and redemption.offer_id is not None:
                offer = self.get_offer(redemption.offer_id)
                offer.give_back(redemption.id, at=now)
                extra.append(offer)
            if redemption.limit_slot is not None:
                slot = self.ledger.find(LimitSlot, redemption.limit_slot)
                if slot is not None and slot.holder == redemption.id:
                    slot.release()
                    extra.append(slot)
            try:
                result: PostingResult = self.ledger.journal.post(movement, also_save=[original, redemption, *extra])
            except ConcurrentChange:
                continue
            if result.replayed:
                continue
            return RedemptionResult(redemption, result.transaction, replayed=False)
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- reads

    def expiry_of(self, redemption: Redemption) -> datetime | None:
        if redemption.code_expires is None:
            return None
        return datetime.fromtimestamp(redemption.code_expires, tz=self.clock.now().tzinfo)


def _fingerprint(merchant_id: UUID, points: int | None, offer_id: UUID | None) -> str:
    """What one redemption request asked for: the same Idempotency-Key must ask for the same."""
    return ledger_rules.fingerprint(["redeem", str(merchant_id), points, str(offer_id) if offer_id else None])
