"""The ledger's application service: short commands (load, decide, save) on eventsourcing.

Library errors are translated here into ``ledger.errors``; nothing above this module sees
an ``eventsourcing`` exception.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Notification
from eventsourcing.utils import get_topic

from ledger import positions, rules
from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.clock import Clock, SystemClock
from ledger.domain import AccessToken, ClientRequest, LedgerTransaction, MemberNumber, Unit, Volunteer
from ledger.errors import (
    AlreadyReversed,
    ConcurrentChange,
    Duplicate,
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
    TokenRevoked,
)
from ledger.lots import rules as lot_rules
from ledger.journal import DEFAULT_ZONE, Journal, Movement, PostingResult, attempts

__all__ = ["ROLES", "REVERSAL", "IssuedToken", "Ledger", "PostingResult"]

A = TypeVar("A")
# A token revoked anywhere is refused by every process within this long; the revocation's answer
# waits this long (and a little more) so that once it is answered, no process accepts the token.
REVOCATION_SECONDS = 0.5
_TOKENS_MAX = 200_000
ROLES = ("admin", "organizer", "volunteer", "merchant")
REVERSAL = "reversal"


@dataclass(frozen=True)
class IssuedToken:
    secret: str  # shown once, never stored
    token: AccessToken


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenCache:
    """Active access tokens as loaded, kept per process: a token changes only when revoked.

    Revocations are read from the log (its ``AccessToken.Revoked`` events after the last position
    read) at most ``REVOCATION_SECONDS`` apart, before the cache answers: a lookup never uses a
    cache whose last read of the log began longer ago than that. One thread reads at a time; the
    others wait for it, so none answers from a cache that a read in progress would correct. A token
    loaded while a read found revocations is used once, not kept (it may be one of them)."""

    def __init__(self, ledger: "Ledger", seconds: float = REVOCATION_SECONDS) -> None:
        self.ledger = ledger
        self.seconds = seconds
        self.tokens: dict[UUID, AccessToken] = {}
        self._read_at = float("-inf")  # monotonic time the last completed read of the log began
        self._after: int | None = None  # the log position revocations were read up to
        self._found = 0  # revocations found so far (a load spanning a read that found some is not kept)
        self._lock = threading.Lock()
        self._topic = get_topic(AccessToken.Revoked)  # type: ignore[attr-defined]

    def _fresh(self) -> None:
        if time.monotonic() - self._read_at < self.seconds:
            return
        with self._lock:
            began = time.monotonic()
            if began - self._read_at < self.seconds:
                return
            head = self.ledger.max_notification_id()
            if self._after is not None and head > self._after:
                revoked = {
                    n.originator_id
                    for n in self.ledger.recorder.select_notifications(
                        self._after, head - self._after, stop=head, topics=[self._topic], inclusive_of_start=False
                    )
                }
                if revoked:
                    self._found += 1
                    for token_id in revoked:
                        self.tokens.pop(token_id, None)  # type: ignore[arg-type]
            self._after = head
            self._read_at = began

    def get(self, token_id: UUID) -> AccessToken:
        """Raises NotFound."""
        self._fresh()
        token = self.tokens.get(token_id)
        if token is not None:
            return token
        found = self._found
        token = self.ledger.load(AccessToken, token_id, "token")
        if token.active:
            with self._lock:
                if found == self._found:
                    if len(self.tokens) >= _TOKENS_MAX:
                        self.tokens.clear()
                    self.tokens[token_id] = token
        return token

    def forget(self, token_id: UUID) -> None:
        self.tokens.pop(token_id, None)


class Ledger(Application[UUID]):
    """Commands of the write side. Each docstring lists what the command raises."""

    name = "moralbank"
    is_snapshotting_enabled = False

    def __init__(
        self, env: Mapping[str, str] | None = None, *, clock: Clock | None = None, zone: ZoneInfo = DEFAULT_ZONE
    ) -> None:
        """``zone``: where days are cut (a posting's local day)."""
        super().__init__(env=env)
        self.clock: Clock = clock or SystemClock()
        self.zone = zone
        self.journal = Journal(self, zone=zone)
        self.tokens = TokenCache(self)

    def close(self) -> None:
        self.journal.close()
        super().close()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Every save, from every command, batch and group committer, records its events with
        the injected clock's time in the hash chain (``ledger.chain``)."""
        kwargs.setdefault("recorded_at", self.clock.now())
        recordings = super().save(*objs, **kwargs)
        positions.note(positions.last_of(recordings))  # read-your-writes: where this request got to
        return recordings

    # ---------------------------------------------------------------- loading

    def load(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        """An aggregate of this class. Raises NotFound (also for another kind of aggregate)."""
        found = self.find(cls, aggregate_id)
        if found is None:
            raise NotFound(f"{what} not found", id=str(aggregate_id))
        return found

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """An aggregate of this class, or None."""
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def update(self, load: Callable[[], A], change: Callable[[A], object]) -> A:
        """Load, decide, save; from a fresh load again when another writer saved the aggregate
        first (the journal's one retry policy). Raises what ``load`` and ``change`` raise,
        ConcurrencyExhausted."""
        for _ in attempts():
            aggregate = load()
            change(aggregate)
            try:
                self.save(aggregate)
            except IntegrityError:
                continue
            return aggregate
        raise AssertionError("unreachable")

    def exists(self, aggregate_id: UUID) -> bool:
        """Whether anything was ever recorded under this id (one indexed read, nothing decoded)."""
        return bool(self.recorder.select_events(aggregate_id, limit=1))

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
        return self.load(Unit, unit_id, "unit")

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
        parent = self.get_unit(parent_id)
        return self.update(
            lambda: self.get_unit(unit_id),
            lambda unit: unit.move(parent_id, parent.kind, self.unit_ancestry(parent_id), self.clock.now()),
        )

    def set_expiry_policy(self, unit_id: UUID, kind: str | None, months: int | None = None) -> Unit:
        """A unit's expiry policy for the points it issues from now on (``kind`` None: inherit its
        parent's again). Every process sees it within ``ledger.journal.POLICY_SECONDS``.
        Raises NotFound, InvalidRequest, ConcurrencyExhausted."""
        policy = lot_rules.check_policy(kind, months).as_dict() if kind is not None else None
        unit = self.update(lambda: self.get_unit(unit_id), lambda u: u.set_expiry_policy(policy, self.clock.now()))
        self.journal.forget_policies()
        return unit

    def effective_expiry_policy(self, unit_id: UUID) -> lot_rules.Policy:
        """The policy of the unit or, where it sets none, of its nearest ancestor that does;
        never when none does (or the unit is unknown)."""
        seen: set[UUID] = set()
        current: UUID | None = unit_id
        while current is not None and current not in seen:
            seen.add(current)
            unit = self.find(Unit, current)
            if unit is None:
                break
            own = getattr(unit, "expiry_policy", None)
            if own is not None:
                return lot_rules.Policy.from_dict(own)
            current = unit.parent_id
        return lot_rules.NEVER_POLICY

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
        return self.load(Volunteer, volunteer_id, "volunteer")

    def move_volunteer(self, volunteer_id: UUID, unit_id: UUID) -> Volunteer:
        """A volunteer's new home unit (moving to the same unit changes nothing).

        Raises NotFound (volunteer, unit), ConcurrencyExhausted.
        """
        self.get_unit(unit_id)
        return self.update(lambda: self.get_volunteer(volunteer_id), lambda v: v.move_home(unit_id=unit_id, at=self.clock.now()))

    def find_volunteer_by_member_no(self, member_no: str) -> Volunteer:
        """Raises NotFound."""
        claim = self.load(MemberNumber, MemberNumber.create_id(member_no), "member number")
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
        """Record postings once per key, through the journal.

        Raises InvalidRequest/InvalidAmount (rules), InsufficientPoints (a volunteer would go
        below zero), IdempotencyConflict (the key was used for a different request),
        ConcurrentChange (an aggregate saved alongside changed meanwhile).
        """
        movement = Movement(
            key, kind, postings, minutes=minutes, memo=memo, fingerprint=fingerprint, actor=actor,
            unit_id=unit_id, reverses=reverses,
        )
        return self.journal.post(movement, also_save=also_save)

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
        return self.load(LedgerTransaction, transaction_id, "transaction")

    def reversal(self, original: LedgerTransaction, *, memo: str = "", actor: str = "") -> tuple[Movement, LedgerTransaction]:
        """The compensating movement of a transaction, and the original marked reversed by it
        (to be saved with it). Raises NotReversible, AlreadyReversed."""
        postings = rules.reversal_of(original.postings, original.kind)
        key = f"reversal:{original.id}"
        original.mark_reversed(reversal_id=LedgerTransaction.create_id(key), at=self.clock.now())
        movement = Movement(
            key, REVERSAL, postings, minutes=original.minutes, memo=memo, actor=actor, unit_id=original.unit_id,
            reverses=original.id,
            # One fingerprint whichever door asked (a transaction's, a redemption's): one reversal.
            fingerprint=rules.fingerprint(["reversal", str(original.id)]),
        )
        return movement, original

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
        reversal_id = LedgerTransaction.create_id(f"reversal:{original.id}")
        try:
            movement, original = self.reversal(original, memo=memo, actor=actor)
        except AlreadyReversed:
            # Perhaps by this very request, committed since we looked.
            if request_key is not None and (prior := self._prior_request(request_key, request_fp)):
                return prior
            raise
        claims = [ClientRequest(key=request_key, fingerprint=request_fp, transaction_id=reversal_id)] if request_key else []
        try:
            result: PostingResult | None = self.journal.post(movement, also_save=[original, *claims])
        except ConcurrentChange:
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
        prior = self.find(ClientRequest, ClientRequest.create_id(request_key))
        if prior is None:
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
            token = self.load(AccessToken, token.id, "token")
        return IssuedToken(secret, token)

    def authenticate(self, secret: str) -> AccessToken:
        """From the per-process cache of active tokens (``TokenCache``: a revocation made anywhere
        is seen within ``REVOCATION_SECONDS``). Raises NotFound (unknown secret), TokenRevoked."""
        token = self.tokens.get(AccessToken.create_id(hash_secret(secret)))
        if not token.active:
            raise TokenRevoked("this token was revoked")
        return token

    def get_token(self, token_id: UUID) -> AccessToken:
        return self.load(AccessToken, token_id, "token")

    def revoke_token(self, token_id: UUID) -> AccessToken:
        """Raises NotFound. Revoking twice is harmless.

        Answers once every process has seen the revocation (``REVOCATION_SECONDS``, a little more):
        a request sent after the answer is refused by whichever process serves it."""
        was_active = self.get_token(token_id).active
        token = self.update(lambda: self.get_token(token_id), lambda token: token.revoke(at=self.clock.now()))
        self.tokens.forget(token_id)
        if was_active:
            time.sleep(self.tokens.seconds + 0.05)  # wall time: the other processes' caches, not the domain's clock
        return token

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
