"""The member card and the sign-in link. Public methods decide (with ``rules``), private
``@event`` methods only assign (their bodies run again on every replay)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.cards import rules
from ledger.cards.errors import CardLocked, PinWrong
from ledger.domain import NAMESPACE

TOPIC_MODULE = "ledger.cards"


class MemberCard(Aggregate):
    """A volunteer's card: its serial (a re-issue counts up), the PIN's hash, wrong tries in a row,
    and the tokens its sign-ins gave (revoked when the card is re-issued)."""

    __module__ = TOPIC_MODULE

    @staticmethod
    def create_id(volunteer_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"card:{volunteer_id}")

    @event("Issued")
    def __init__(self, volunteer_id: UUID, pin_hash: str, at: datetime) -> None:
        self.volunteer_id = volunteer_id
        self.serial = 1
        self.pin_hash = pin_hash
        self.failed = 0
        self.locked = False
        self.token_ids: list[UUID] = []
        self.issued_at = at

    @property
    def tries_left(self) -> int:
        return rules.tries_left(self.failed)

    def check_code(self, serial: int) -> None:
        """Raises CardRevoked, CardLocked."""
        rules.check_usable(serial, self.serial, self.locked)

    def reissue(self, pin_hash: str, at: datetime) -> list[UUID]:
        """A new serial and PIN; the old code and every token it gave stop working.
        Returns the tokens to revoke."""
        revoked = list(self.token_ids)
        self._reissued(serial=self.serial + 1, pin_hash=pin_hash, revoked=revoked, at=at)
        return revoked

    @event("Reissued")
    def _reissued(self, serial: int, pin_hash: str, revoked: list[UUID], at: datetime) -> None:
        self.serial = serial
        self.pin_hash = pin_hash
        self.failed = 0
        self.locked = False
        self.token_ids = []
        self.issued_at = at

    def wrong_pin(self, at: datetime) -> None:
        """Count a wrong PIN (the caller saves, then raises what ``refusal`` gives)."""
        failed, locked = rules.after_wrong_pin(self.failed)
        self._pin_failed(failed=failed, locked=locked, at=at)

    def refusal(self) -> CardLocked | PinWrong:
        """The error to answer a wrong PIN with, after ``wrong_pin``."""
        if self.locked:
            return CardLocked("wrong PIN: the card is now locked; ask your community to unlock it", tries_left=0)
        return PinWrong("wrong PIN", tries_left=self.tries_left)

    @event("PinFailed")
    def _pin_failed(self, failed: int, locked: bool, at: datetime) -> None:
        self.failed = failed
        self.locked = locked

    def signed_in(self, token_id: UUID, at: datetime) -> None:
        self._signed_in(token_id=token_id, at=at)

    @event("SignedIn")
    def _signed_in(self, token_id: UUID, at: datetime) -> None:
        self.failed = 0
        self.token_ids = [*self.token_ids, token_id]

    def change_pin(self, pin_hash: str, at: datetime) -> None:
        self._pin_changed(pin_hash=pin_hash, at=at)

    @event("PinChanged")
    def _pin_changed(self, pin_hash: str, at: datetime) -> None:
        self.pin_hash = pin_hash
        self.failed = 0

    def unlock(self, by: str, at: datetime) -> bool:
        """False when there was nothing to unlock (nothing is recorded)."""
        if not self.locked and self.failed == 0:
            return False
        self._unlocked(by=by, at=at)
        return True

    @event("Unlocked")
    def _unlocked(self, by: str, at: datetime) -> None:
        self.failed = 0
        self.locked = False


class SigninLink(Aggregate):
    """A one-time link that gives shop staff or an organizer a token, stored as the hash of its
    secret; used once, within ``rules.LINK_LIFETIME``."""

    __module__ = TOPIC_MODULE

    @staticmethod
    def create_id(secret_hash: str) -> UUID:
        return uuid5(NAMESPACE, "signin:" + secret_hash)

    @event("Created")
    def __init__(
        self,
        secret_hash: str,
        role: str,
        name: str,
        unit_ids: list[UUID],
        subject_id: UUID | None,
        created_by: str,
        at: datetime,
        expires_at: datetime,
    ) -> None:
        self.secret_hash = secret_hash
        self.role = role
        self.name = name
        self.unit_ids = list(unit_ids)
        self.subject_id = subject_id
        self.created_by = created_by
        self.created_at = at
        self.expires_at = expires_at
        self.used_at: datetime | None = None
        self.token_id: UUID | None = None

    def use(self, token_id: UUID, at: datetime) -> None:
        """Raises LinkUsed, LinkExpired."""
        rules.check_link(at, self.expires_at, self.used_at is not None)
        self._used(token_id=token_id, at=at)

    @event("Used")
    def _used(self, token_id: UUID, at: datetime) -> None:
        self.used_at = at
        self.token_id = token_id
