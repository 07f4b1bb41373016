"""What the card and sign-in link commands refuse, each with its stable code."""

from __future__ import annotations

from ledger.errors import InvalidRequest, LedgerError, NotFound


class PinInvalid(InvalidRequest):
    """Not six digits, or one of the PINs everyone tries first (123456, 000000, …)."""

    code = "pin_invalid"


class PinWrong(LedgerError):
    """The PIN does not match; ``tries_left`` before the card locks."""

    code = "pin_wrong"


class CardLocked(LedgerError):
    """Too many wrong PINs: an organizer of the volunteer's unit must unlock the card."""

    code = "card_locked"


class CardRevoked(LedgerError):
    """A card code of an earlier serial: the card was re-issued."""

    code = "card_revoked"


class CardNotIssued(NotFound):
    """The volunteer has no member card yet (issue one with a PIN)."""

    code = "card_not_issued"


class LinkInvalid(LedgerError):
    """No sign-in link has this secret."""

    code = "link_invalid"


class LinkUsed(LedgerError):
    code = "link_used"


class LinkExpired(LedgerError):
    code = "link_expired"
