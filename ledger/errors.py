"""The ledger's errors. ``api/`` maps each to an HTTP status and a stable ``code``."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of everything the ledger refuses on purpose."""

    code = "ledger_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(LedgerError):
    code = "not_found"


class InvalidRequest(LedgerError):
    """The command is well-formed but breaks a rule (amount, kind, tree shape)."""

    code = "invalid_request"


class InvalidAmount(InvalidRequest):
    code = "invalid_amount"


class UnitCycle(InvalidRequest):
    code = "unit_cycle"


class UnitKindNotAllowed(InvalidRequest):
    code = "unit_kind_not_allowed"


class Duplicate(LedgerError):
    """Something that must be unique (a member number) is taken already."""

    code = "duplicate"


class InsufficientPoints(LedgerError):
    code = "insufficient_points"


class IdempotencyConflict(LedgerError):
    """The same idempotency key came back with a different request."""

    code = "idempotency_conflict"


class AlreadyReversed(LedgerError):
    code = "already_reversed"


class NotReversible(LedgerError):
    code = "not_reversible"


class TokenRevoked(LedgerError):
    code = "token_revoked"


class ConcurrencyExhausted(LedgerError):
    """Optimistic retries kept conflicting; the caller may try again."""

    code = "conflict"


class ConcurrentChange(ConcurrencyExhausted):
    """Lost one race: something this command saves (a version, a stock, a seat, a limit slot) was
    recorded meanwhile by another request. Commands decide again from a fresh load; one that
    escapes is a conflict the client may retry."""


class LineKeyPaid(ConcurrencyExhausted):
    """A batch line key was paid by another batch meanwhile; the chunk is decided again."""
