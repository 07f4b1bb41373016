"""Member cards and sign-in links: the commands. Each docstring lists what it raises.

A sign-in remembers the new token on the card *before* the token is issued (its id follows
from its secret, drawn here), so a re-issue can always revoke every token the old card gave;
a token remembered but never issued (the process died between the two saves) is skipped.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ledger import codes
from ledger import rules as ledger_rules
from ledger.application import IssuedToken, Ledger, hash_secret
from ledger.cards import rules
from ledger.cards.domain import MemberCard, SigninLink
from ledger.cards.errors import CardNotIssued, LinkInvalid, LinkUsed
from ledger.domain import AccessToken, Volunteer
from ledger.errors import ConcurrencyExhausted, InvalidRequest, NotFound

LINK_ROLES = ("merchant", "organizer")
_RETRIES = 8


@dataclass(frozen=True)
class CardSignIn:
    volunteer: Volunteer
    card: MemberCard
    issued: IssuedToken


@dataclass(frozen=True)
class NewLink:
    secret: str  # shown once (it goes in the link's URL fragment), never stored
    link: SigninLink


def _retrying() -> Iterator[int]:
    yield from range(_RETRIES)
    raise ConcurrencyExhausted("too many concurrent changes; try again")


class Cards:
    """Commands on member cards and sign-in links."""

    def __init__(self, ledger: Ledger, signing_key: bytes, *, cost: rules.ScryptCost = rules.DEFAULT_COST) -> None:
        self.ledger = ledger
        self.key = signing_key
        self.cost = cost

    def _now(self) -> datetime:
        return self.ledger.clock.now()

    def _hash(self, pin: str) -> str:
        """Raises PinInvalid."""
        return rules.hash_pin(rules.check_pin(pin), secrets.token_bytes(rules.SALT_BYTES), self.cost)

    # ---------------------------------------------------------------- cards

    def new_card(self, volunteer_id: UUID, pin: str) -> MemberCard:
        """A first card, not saved: for ``Ledger.register_volunteer(also_save=…)``. Raises PinInvalid."""
        return MemberCard(volunteer_id=volunteer_id, pin_hash=self._hash(pin), at=self._now())

    def find(self, volunteer_id: UUID) -> MemberCard | None:
        try:
            card = self.ledger.repository.get(MemberCard.create_id(volunteer_id))
        except AggregateNotFoundError:
            return None
        return card if isinstance(card, MemberCard) else None

    def get(self, volunteer_id: UUID) -> MemberCard:
        """Raises CardNotIssued."""
        card = self.find(volunteer_id)
        if card is None:
            raise CardNotIssued("this volunteer has no member card yet", volunteer_id=str(volunteer_id))
        return card

    def issue(self, volunteer_id: UUID, pin: str) -> MemberCard:
        """The volunteer's first card, or a new one in place of a lost one: a new serial and PIN;
        the old card's code and every token it gave stop working at once.
        Raises NotFound (volunteer), PinInvalid, ConcurrencyExhausted."""
        self.ledger.get_volunteer(volunteer_id)
        pin_hash = self._hash(pin)
        for _ in _retrying():
            card = self.find(volunteer_id)
            revoked: list[UUID] = []
            if card is None:
                card = MemberCard(volunteer_id=volunteer_id, pin_hash=pin_hash, at=self._now())
            else:
                revoked = card.reissue(pin_hash, self._now())
            try:
                self.ledger.save(card)
            except IntegrityError:
                continue
            self._revoke(revoked)
            return card
        raise AssertionError("unreachable")

    def _revoke(self, token_ids: Sequence[UUID]) -> None:
        for token_id in token_ids:
            try:
                self.ledger.revoke_token(token_id)
            except NotFound:
                pass  # remembered, never issued

    def unlock(self, volunteer_id: UUID, *, by: str) -> MemberCard:
        """Raises CardNotIssued, ConcurrencyExhausted."""
        for _ in _retrying():
            card = self.get(volunteer_id)
            if not card.unlock(by, self._now()):
                return card
            try:
                self.ledger.save(card)
            except IntegrityError:
                continue
            return card
        raise AssertionError("unreachable")

    def code_for(self, card: MemberCard) -> str:
        return codes.sign(self.key, codes.CARD, rules.card_fields(card.volunteer_id, card.serial))

    def read_code(self, code: object) -> tuple[UUID, int]:
        """The volunteer and serial a card code names. Raises CodeInvalid."""
        _, fields = codes.read(self.key, code, kind=codes.CARD)
        return rules.read_card_fields(fields)

    def holder(self, code: object) -> UUID:
        """The volunteer whose card an organizer scanned, when it is the card's current code. A
        card locked by wrong PINs still names its holder. Raises CodeInvalid, CardRevoked."""
        volunteer_id, serial = self.read_code(code)
        card = self.find(volunteer_id)
        if card is None:
            raise codes.CodeInvalid("this code names no member card")
        rules.check_usable(serial, card.serial, locked=False)
        return volunteer_id

    def card_for_code(self, code: object) -> MemberCard:
        """The card a code names, if it is that card's current code and the card is not locked.
        Raises CodeInvalid, CardRevoked, CardLocked."""
        volunteer_id, serial = self.read_code(code)
        card = self.find(volunteer_id)
        if card is None:
            raise codes.CodeInvalid("this code names no member card")
        card.check_code(serial)
        return card

    def check_pin(self, volunteer_id: UUID, serial: int | None, pin: object) -> MemberCard:
        """The card, when ``pin`` is its PIN (wrong tries reset); a wrong PIN is counted and
        refused. Raises CardNotIssued, CardRevoked, CardLocked, PinWrong, ConcurrencyExhausted."""
        for _ in _retrying():
            card = self.get(volunteer_id)
            card.check_code(card.serial if serial is None else serial)
            if rules.verify_pin(pin, card.pin_hash):
                return card
            card.wrong_pin(self._now())
            try:
                self.ledger.save(card)
            except IntegrityError:
                continue
            raise card.refusal()
        raise AssertionError("unreachable")

    def sign_in(self, code: object, pin: object) -> CardSignIn:
        """Card code + PIN → a new volunteer token, remembered on the card.
        Raises CodeInvalid, CardRevoked, CardLocked, PinWrong, NotFound, ConcurrencyExhausted."""
        volunteer_id, serial = self.read_code(code)
        if self.find(volunteer_id) is None:
            raise codes.CodeInvalid("this code names no member card")
        volunteer = self.ledger.get_volunteer(volunteer_id)
        secret = f"mb_v_{secrets.token_urlsafe(32)}"
        token_id = AccessToken.create_id(hash_secret(secret))
        for _ in _retrying():
            card = self.check_pin(volunteer_id, serial, pin)
            card.signed_in(token_id, self._now())
            try:
                self.ledger.save(card)
            except IntegrityError:
                continue  # the card changed meanwhile (re-issued, locked, …): decide again
            issued = self.ledger.issue_token("volunteer", volunteer.name, subject_id=volunteer.id, secret=secret)
            return CardSignIn(volunteer, card, issued)
        raise AssertionError("unreachable")

    def change_pin(self, volunteer_id: UUID, current: object, new: str) -> MemberCard:
        """The volunteer's own change; a wrong current PIN counts as a wrong try.
        Raises CardNotIssued, CardLocked, PinWrong, PinInvalid, ConcurrencyExhausted."""
        pin_hash = self._hash(new)
        for _ in _retrying():
            card = self.check_pin(volunteer_id, None, current)
            card.change_pin(pin_hash, self._now())
            try:
                self.ledger.save(card)
            except IntegrityError:
                continue
            return card
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- sign-in links

    def create_link(
        self, role: str, name: str, *, unit_ids: Sequence[UUID] = (), subject_id: UUID | None = None, created_by: str = ""
    ) -> NewLink:
        """A one-time link for shop staff (``subject_id``: the merchant, checked by the caller)
        or an organizer (``unit_ids``). Raises InvalidRequest, NotFound (a unit)."""
        if role not in LINK_ROLES:
            raise InvalidRequest(f"a sign-in link is for one of {', '.join(LINK_ROLES)}", role=role)
        if role == "organizer" and not unit_ids:
            raise InvalidRequest("an organizer's link needs at least one unit")
        if role == "merchant" and subject_id is None:
            raise InvalidRequest("a shop's link needs the merchant")
        name = ledger_rules.check_text(name, "name")
        for unit_id in unit_ids:
            self.ledger.get_unit(unit_id)
        secret = f"mb_l_{secrets.token_urlsafe(32)}"
        now = self._now()
        link = SigninLink(
            secret_hash=hash_secret(secret), role=role, name=name, unit_ids=list(unit_ids),
            subject_id=subject_id if role == "merchant" else None, created_by=created_by,
            at=now, expires_at=rules.link_expires_at(now),
        )
        self.ledger.save(link)
        return NewLink(secret, link)

    def exchange_link(self, secret: object) -> tuple[SigninLink, IssuedToken]:
        """The link's token, once. Raises LinkInvalid, LinkUsed, LinkExpired."""
        if not isinstance(secret, str) or not secret:
            raise LinkInvalid("not a sign-in link")
        try:
            link = self.ledger.repository.get(SigninLink.create_id(hash_secret(secret)))
        except AggregateNotFoundError:
            raise LinkInvalid("not a sign-in link of this server") from None
        token_secret = f"mb_{link.role[0]}_{secrets.token_urlsafe(32)}"
        link.use(AccessToken.create_id(hash_secret(token_secret)), self._now())
        try:
            self.ledger.save(link)
        except IntegrityError:
            # The only change a link sees is its use: someone used it at this very moment.
            raise LinkUsed("this sign-in link was already used; ask for a new one") from None
        issued = self.ledger.issue_token(
            link.role, link.name, unit_ids=link.unit_ids, subject_id=link.subject_id, secret=token_secret
        )
        return link, issued
