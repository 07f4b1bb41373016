"""The ledger's application service: short commands (load, decide, save) on eventsourcing.

Library errors are translated here into ``ledger.errors``; nothing above this module sees
an ``eventsourcing`` exception.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Notification
from eventsourcing.utils import get_topic

from ledger import rules
from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.clock import Clock, SystemClock
from ledger.domain import AccessToken, ClientRequest, LedgerTransaction, MemberNumber, Unit, Volunteer
from ledger.errors import (
    AlreadyReversed,
    ConcurrencyExhausted,
    Duplicate,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRequest,
    NotFound,
    TokenRevoked,
)
from ledger.store.common import BalanceGuardViolation

ROLES = ("admin", "organizer", "volunteer", "merchant")
REVERSAL = "reversal"
_RETRIES = 8


@dataclass(frozen=True)
class PostingResult:
    transaction: LedgerTransaction
    replayed: bool  # True when the key had been used before with the same request


@dataclass(frozen=True)
class IssuedToken:
    secret: str  # shown once, never stored
    token: AccessToken


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Ledger(Application[UUID]):
    """Commands of the write side. Each docstring lists what the command raises."""

    name = "moralbank"
    is_snapshotting_enabled = False

    def __init__(self, env: Mapping[str, str] | None = None, *, clock: Clock | None = None) -> None:
        super().__init__(env=env)
        self.clock: Clock = clock or SystemClock()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Every save, from every command, batch and group committer, records its events with
        the injected clock's time in the hash chain (``ledger.chain``)."""
        kwargs.setdefault("recorded_at", self.clock.now())
        return super().save(*objs, **kwargs)

    # ---------------------------------------------------------------- loading

    def _get(self, cls: type[Any], aggregate_id: UUID, what: str) -> Any:
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"{what} not found", id=str(aggregate_id)) from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{what} not found", id=str(aggregate_id))
        return aggregate

    def _exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def _retrying(self) -> Iterator[int]:
        """Optimistic concurrency: a command that updates an aggregate reloads and decides
        again when another writer got there first."""
        yield from range(_RETRIES)
        raise ConcurrencyExhausted("too many concurrent changes; try again")

    # ---------------------------------------------------------------- units

    def create_unit(self, name: str, kind: str, parent_id: UUID | None) -> Unit:
        """Raises NotFound (parent), UnitKindNotAllowed."""
        name = rules.check_text(name, "name")
        parent_kind = self.get_unit(parent_id).kind if parent_id else None
        rules.check_unit_parent(kind, parent_kind)
        unit = Unit(name=name, kind=kind, parent_id=parent_id, at=self.clock.now())
        self.save(unit)
        return unit

    def get_unit(self, unit_id: UUID) -> Unit:
        """Raises NotFound."""
        return self._get(Unit, unit_id, "unit")

    def unit_ancestry(self, unit_id: UUID) -> list[UUID]:
        """The unit, its parent, … up to the root. Raises NotFound."""
        chain: list[UUID] = []
        current: UUID | None = unit_id
        while current is not None and current not in chain:
            chain.append(current)
            current = self.get_unit(current).parent_id
        return chain

    def move_unit(self, unit_id: UUID, parent_id: UUID) -> Unit:
        """Raises NotFound, UnitCycle, UnitKindNotAllowed, ConcurrencyExhausted."""
        for _ in self._retrying():
            unit = self.get_unit(unit_id)
            rules.check_no_cycle(unit_id, self.unit_ancestry(parent_id))
            rules.check_unit_parent(unit.kind, self.get_unit(parent_id).kind)
            unit.move(parent_id=parent_id, at=self.clock.now())
            try:
                self.save(unit)
            except IntegrityError:
                continue
            return unit
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- volunteers

    def register_volunteer(
        self,
        name: str,
        unit_id: UUID,
        *,
        phone_last4: str | None = None,
        member_no: str | None = None,
        also_save: Callable[[Volunteer], Sequence[Any]] | None = None,
    ) -> Volunteer:
        """``also_save``: given the new volunteer, aggregates recorded in the same save (e.g. the
        volunteer's member card), so the registration and they commit together or not at all.

        Raises NotFound (unit), Duplicate (member number), InvalidRequest."""
        name = rules.check_text(name, "name")
        member_no = rules.check_text(member_no, "member_no", max_length=40) if member_no is not None else None
        phone_last4 = rules.check_phone_last4(phone_last4)
        self.get_unit(unit_id)
        volunteer = Volunteer(
            name=name, unit_id=unit_id, phone_last4=phone_last4, member_no=member_no, at=self.clock.now()
        )
        claims = [MemberNumber(member_no=member_no, volunteer_id=volunteer.id)] if member_no else []
        extra = list(also_save(volunteer)) if also_save is not None else []
        try:
            self.save(volunteer, *claims, *extra)
        except IntegrityError:
            raise Duplicate("member number already registered", member_no=member_no) from None
        return volunteer

    def get_volunteer(self, volunteer_id: UUID) -> Volunteer:
        """Raises NotFound."""
        return self._get(Volunteer, volunteer_id, "volunteer")

    def move_volunteer(self, volunteer_id: UUID, unit_id: UUID) -> Volunteer:
        """A volunteer's new home unit (moving to the same unit changes nothing).

        Raises NotFound (volunteer, unit), ConcurrencyExhausted.
        """
        self.get_unit(unit_id)
        for _ in self._retrying():
            volunteer = self.get_volunteer(volunteer_id)
            if volunteer.unit_id == unit_id:
                return volunteer
            volunteer.move_home(unit_id=unit_id, at=self.clock.now())
            try:
                self.save(volunteer)
            except IntegrityError:
                continue
            return volunteer
        raise AssertionError("unreachable")

    def find_volunteer_by_member_no(self, member_no: str) -> Volunteer:
        """Raises NotFound."""
        claim = self._get(MemberNumber, MemberNumber.create_id(member_no), "member number")
        return self.get_volunteer(claim.volunteer_id)

    # ---------------------------------------------------------------- postings

    def post(
        self,
        key: str,
        kind: str,
        postings: Sequence[Posting],
        *,
        minutes: int = 0,
        memo: str = "",
        fingerprint: str = "",
        actor: str = "",
        unit_id: UUID | None = None,
        reverses: UUID | None = None,
        also_save: Sequence[Any] = (),
    ) -> PostingResult:
        """Record postings once per key.

        Raises InvalidRequest/InvalidAmount (rules), InsufficientPoints (a volunteer would go
        below zero), IdempotencyConflict (the key was used for a different request).
        """
        if not key or len(key) > 300:
            raise InvalidRequest("an idempotency key of 1 to 300 characters is required")
        rules.check_postings(postings)
        rules.check_minutes(minutes)
        memo = rules.check_text(memo, "memo", max_length=500, required=False)
        txn = LedgerTransaction(
            key=key,
            kind=kind,
            postings=[p.as_dict() for p in postings],
            minutes=minutes,
            memo=memo,
            fingerprint=fingerprint or rules.fingerprint([kind, [p.as_dict() for p in postings], minutes, memo]),
            actor=actor,
            unit_id=unit_id,
            reverses=reverses,
            at=self.clock.now(),
        )
        try:
            self.save(txn, *also_save, balance_deltas=rules.guarded_deltas(postings))
        except BalanceGuardViolation as e:
            raise InsufficientPoints("not enough points", accounts=e.accounts) from None
        except IntegrityError:
            return self._replay(txn)
        return PostingResult(txn, replayed=False)

    def _replay(self, attempted: LedgerTransaction) -> PostingResult:
        try:
            first = self.repository.get(attempted.id)
        except AggregateNotFoundError:
            # The conflict was on another aggregate saved alongside (e.g. an original
            # transaction marked reversed by a concurrent reversal with another key).
            raise AlreadyReversed("already changed by another request") from None
        if first.fingerprint != attempted.fingerprint:
            raise IdempotencyConflict(
                "this idempotency key was already used for a different request", key=attempted.key
            )
        return PostingResult(first, replayed=True)

    def credit(
        self,
        key: str,
        unit_id: UUID,
        volunteer_id: UUID,
        points: int,
        *,
        kind: str = "award",
        minutes: int = 0,
        memo: str = "",
        actor: str = "",
        fingerprint: str = "",
    ) -> PostingResult:
        """Points from a unit's issuing account to a volunteer.

        Raises NotFound, InvalidAmount, IdempotencyConflict.
        """
        rules.check_points(points)
        self.get_unit(unit_id)
        self.get_volunteer(volunteer_id)
        return self.post(
            key,
            kind,
            [Posting(issuing_account(unit_id), volunteer_account(volunteer_id), points)],
            minutes=minutes,
            memo=memo,
            actor=actor,
            unit_id=unit_id,
            fingerprint=fingerprint,
        )

    def get_transaction(self, transaction_id: UUID) -> LedgerTransaction:
        """Raises NotFound."""
        return self._get(LedgerTransaction, transaction_id, "transaction")

    def reverse(
        self, transaction_id: UUID, *, memo: str = "", actor: str = "", request_key: str | None = None
    ) -> PostingResult:
        """A compensating transaction, at most once per original.

        ``request_key`` is the client's idempotency key: the same key for the same reversal
        gives the first result again (``replayed``); for anything else, IdempotencyConflict.

        Raises NotFound, NotReversible, AlreadyReversed, InsufficientPoints, IdempotencyConflict.
        """
        request_fp = rules.fingerprint(["reversal", str(transaction_id), memo])
        if request_key is not None and (prior := self._prior_request(request_key, request_fp)):
            return prior
        original = self.get_transaction(transaction_id)
        postings = rules.reversal_of(original.postings, original.kind)
        key = f"reversal:{original.id}"
        reversal_id = LedgerTransaction.create_id(key)
        if original.reversed_by is not None:
            # Perhaps by this very request, committed since we looked.
            if request_key is not None and (prior := self._prior_request(request_key, request_fp)):
                return prior
            raise AlreadyReversed("this transaction was already reversed", reversal_id=str(original.reversed_by))
        original.mark_reversed(reversal_id=reversal_id, at=self.clock.now())
        claims = [ClientRequest(key=request_key, fingerprint=request_fp, transaction_id=reversal_id)] if request_key else []
        try:
            result = self.post(
                key,
                REVERSAL,
                postings,
                minutes=original.minutes,
                memo=memo,
                actor=actor,
                unit_id=original.unit_id,
                reverses=original.id,
                fingerprint=rules.fingerprint(["reversal", str(original.id)]),
                also_save=[original, *claims],
            )
        except AlreadyReversed:
            result = None
        if result is None or result.replayed:
            # Lost a race: to this same request (its first result), or to another one.
            if request_key is not None and (prior := self._prior_request(request_key, request_fp)):
                return prior
            raise AlreadyReversed("this transaction was already reversed", reversal_id=str(reversal_id))
        return result

    def _prior_request(self, request_key: str, fingerprint: str) -> PostingResult | None:
        """The first result of a client request made before with this key, if any.
        Raises IdempotencyConflict when that request was a different one."""
        try:
            prior: ClientRequest = self.repository.get(ClientRequest.create_id(request_key))
        except AggregateNotFoundError:
            return None
        if prior.fingerprint != fingerprint:
            raise IdempotencyConflict("this idempotency key was already used for a different request", key=request_key)
        return PostingResult(self.get_transaction(prior.transaction_id), replayed=True)

    def guarded_balance(self, account: str) -> int:
        """The write side's own figure for a volunteer account (0 when never touched)."""
        return self.guarded_balances().get(account, 0)

    def guarded_balances(self) -> dict[str, int]:
        return self.recorder.select_balances()  # type: ignore[attr-defined,no-any-return]

    # ---------------------------------------------------------------- tokens

    def issue_token(
        self,
        role: str,
        name: str,
        *,
        unit_ids: Sequence[UUID] = (),
        subject_id: UUID | None = None,
        secret: str | None = None,
    ) -> IssuedToken:
        """Raises InvalidRequest (role), NotFound (a unit)."""
        if role not in ROLES:
            raise InvalidRequest(f"unknown role {role!r}")
        name = rules.check_text(name, "name")
        for unit_id in unit_ids:
            self.get_unit(unit_id)
        secret = secret or f"mb_{role[0]}_{secrets.token_urlsafe(32)}"
        token = AccessToken(
            secret_hash=hash_secret(secret),
            role=role,
            name=name,
            unit_ids=list(unit_ids),
            subject_id=subject_id,
            hint=secret[-4:],
            at=self.clock.now(),
        )
        try:
            self.save(token)
        except IntegrityError:
            # Only a fixed secret (the bootstrap token) can repeat: it already exists.
            token = self._get(AccessToken, token.id, "token")
        return IssuedToken(secret, token)

    def authenticate(self, secret: str) -> AccessToken:
        """Raises NotFound (unknown secret), TokenRevoked."""
        token: AccessToken = self._get(AccessToken, AccessToken.create_id(hash_secret(secret)), "token")
        if not token.active:
            raise TokenRevoked("this token was revoked")
        return token

    def get_token(self, token_id: UUID) -> AccessToken:
        return self._get(AccessToken, token_id, "token")

    def revoke_token(self, token_id: UUID) -> AccessToken:
        """Raises NotFound. Revoking twice is harmless."""
        for _ in self._retrying():
            token = self.get_token(token_id)
            if not token.active:
                return token
            token.revoke(at=self.clock.now())
            try:
                self.save(token)
            except IntegrityError:
                continue
            return token
        raise AssertionError("unreachable")

    def list_tokens(self) -> list[AccessToken]:
        issued = get_topic(AccessToken.Issued)  # type: ignore[attr-defined]
        ids = [n.originator_id for n in self.iter_notifications(topics=[issued])]
        return [self.get_token(i) for i in ids]  # type: ignore[arg-type]

    # ---------------------------------------------------------------- the log

    def iter_notifications(self, after: int = 0, *, topics: Sequence[str] = (), page: int = 1000) -> Iterator[Notification]:
        while True:
            batch = self.recorder.select_notifications(after, page, topics=topics, inclusive_of_start=False)
            yield from batch
            if len(batch) < page:
                return
            after = batch[-1].id

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0
