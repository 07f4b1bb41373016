"""Aggregates of the ledger. Public methods decide (with ``rules``); the ``@event`` methods
only assign, because their bodies run again on every replay."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger import rules
from ledger.accounts import Posting
from ledger.errors import AlreadyReversed

# Deterministic ids: the same key always names the same aggregate, so the store's unique
# (originator_id, version) constraint is what makes a key move points at most once.
NAMESPACE = UUID("6f1c6a4e-52b8-4c38-9a57-5b1d0c2f7a10")


class Unit(Aggregate):
    """A node of the community tree (street → community → compound → building; stations)."""

    @event("Created")
    def __init__(self, name: str, kind: str, parent_id: UUID | None, at: datetime) -> None:
        self.name = name
        self.kind = kind
        self.parent_id = parent_id
        self.created_at = at
        self.expiry_policy: dict[str, object] | None = None  # None: the nearest ancestor's (else never)

    def set_expiry_policy(self, policy: dict[str, object] | None, at: datetime) -> None:
        """The expiry of points this unit issues from now on (None: its parent's again); lots
        opened before keep their date. Setting the same policy again changes nothing."""
        if policy != self.expiry_policy:
            self._expiry_policy_set(policy=policy, at=at)

    @event("ExpiryPolicySet")
    def _expiry_policy_set(self, policy: dict[str, object] | None, at: datetime) -> None:
        self.expiry_policy = policy

    def move(self, parent_id: UUID, parent_kind: str, parent_ancestry: list[UUID], at: datetime) -> None:
        """Under a new parent (``parent_ancestry``: the parent, its parent, … up to the root).
        Raises UnitCycle, UnitKindNotAllowed."""
        rules.check_no_cycle(self.id, parent_ancestry)
        rules.check_unit_parent(self.kind, parent_kind)
        self._moved(parent_id=parent_id, at=at)

    @event("Moved")
    def _moved(self, parent_id: UUID, at: datetime) -> None:
        self.parent_id = parent_id


class Volunteer(Aggregate):
    @event("Registered")
    def __init__(
        self,
        name: str,
        unit_id: UUID,
        phone_last4: str | None,
        member_no: str | None,
        at: datetime,
    ) -> None:
        self.name = name
        self.unit_id = unit_id
        self.phone_last4 = phone_last4
        self.member_no = member_no
        self.registered_at = at

    def move_home(self, unit_id: UUID, at: datetime) -> None:
        """A new home unit: later points count there; earlier ones stay where they were earned.
        Moving to the home unit changes nothing."""
        if unit_id != self.unit_id:
            self._moved(unit_id=unit_id, at=at)

    @event("Moved")
    def _moved(self, unit_id: UUID, at: datetime) -> None:
        self.unit_id = unit_id


class MemberNumber(Aggregate):
    """Index: a member number names exactly one volunteer."""

    @staticmethod
    def create_id(member_no: str) -> UUID:
        return uuid5(NAMESPACE, "member:" + member_no)

    @event("Claimed")
    def __init__(self, member_no: str, volunteer_id: UUID) -> None:
        self.member_no = member_no
        self.volunteer_id = volunteer_id


class LedgerTransaction(Aggregate):
    """Postings that happen together, once per idempotency key."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return uuid5(NAMESPACE, "txn:" + key)

    @event("Recorded")
    def __init__(
        self,
        key: str,
        kind: str,
        postings: list[dict[str, object]],
        minutes: int,
        memo: str,
        fingerprint: str,
        actor: str,
        unit_id: UUID | None,
        reverses: UUID | None,
        at: datetime,
    ) -> None:
        self.key = key
        self.kind = kind
        self.postings_data = postings
        self.minutes = minutes
        self.memo = memo
        self.fingerprint = fingerprint
        self.actor = actor
        self.unit_id = unit_id
        self.reverses = reverses
        self.at = at
        self.reversed_by: UUID | None = None

    @property
    def postings(self) -> list[Posting]:
        return [Posting.from_dict(d) for d in self.postings_data]

    def mark_reversed(self, reversal_id: UUID, at: datetime) -> None:
        """Raises AlreadyReversed: a transaction is reversed at most once."""
        if self.reversed_by is not None:
            raise AlreadyReversed("this transaction was already reversed", reversal_id=str(self.reversed_by))
        self._reversed(reversal_id=reversal_id, at=at)

    @event("Reversed")
    def _reversed(self, reversal_id: UUID, at: datetime) -> None:
        self.reversed_by = reversal_id


class ClientRequest(Aggregate):
    """A client's idempotency key for a command whose own identity is not that key (a
    reversal is named after its original): the key's first request and its result."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return uuid5(NAMESPACE, "request:" + key)

    @event("Made")
    def __init__(self, key: str, fingerprint: str, transaction_id: UUID) -> None:
        self.key = key
        self.fingerprint = fingerprint
        self.transaction_id = transaction_id


class AccessToken(Aggregate):
    """A bearer token, stored as the hash of its secret, with a role and a scope."""

    @staticmethod
    def create_id(secret_hash: str) -> UUID:
        return uuid5(NAMESPACE, "token:" + secret_hash)

    @event("Issued")
    def __init__(
        self,
        secret_hash: str,
        role: str,
        name: str,
        unit_ids: list[UUID],
        subject_id: UUID | None,
        hint: str,
        at: datetime,
    ) -> None:
        self.secret_hash = secret_hash
        self.role = role
        self.name = name
        self.unit_ids = list(unit_ids)
        self.subject_id = subject_id
        self.hint = hint
        self.issued_at = at
        self.revoked_at: datetime | None = None

    def revoke(self, at: datetime) -> None:
        """Revoking twice changes nothing."""
        if self.active:
            self._revoked(at=at)

    @event("Revoked")
    def _revoked(self, at: datetime) -> None:
        self.revoked_at = at

    @property
    def active(self) -> bool:
        return self.revoked_at is None
