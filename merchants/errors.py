"""What the alliance refuses on purpose. Each is a ``LedgerError`` so ``api/problems.py``
maps it to a status and a stable ``code`` in its one table."""

from __future__ import annotations

from ledger.errors import LedgerError


class MerchantSuspended(LedgerError):
    code = "merchant_suspended"


class CodeUsed(LedgerError):
    """This pay code was spent already (by this or another till)."""

    code = "code_used"


class OfferUnavailable(LedgerError):
    """Withdrawn, outside its window, or sold out."""

    code = "offer_unavailable"


class LimitReached(LedgerError):
    """The volunteer took this offer as often as it allows in the day or month."""

    code = "limit_reached"


class NotYourOffer(LedgerError):
    """A merchant redeeming another merchant's offer."""

    code = "forbidden"


class CardLimitReached(LedgerError):
    """Card payments (card + PIN at a till) of this volunteer would pass the day's cap set by
    their unit."""

    code = "card_limit_reached"
