"""``Idempotency-Key`` on every request that moves points.

The ledger key is namespaced by the caller's token, so two clients can never collide; the
request's fingerprint is a hash of its body, so the same key with the same body gives the
first result (``Idempotent-Replayed: true``) and with a different body is refused.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import Header, Response

from ledger.errors import IdempotencyConflict

from api.auth import Principal
from api.problems import InvalidIdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID = re.compile(r"[\x20-\x7e]{1,200}")
_DOCUMENTED = r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$"  # _VALID, and not only spaces

REPLAYED_DOC = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored result of an earlier request with the same key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="1 to 200 printable ASCII characters; the same key with the same body "
            "returns the first result, with a different body it is refused (409)",
            # Documented only: a key that breaks it is refused with 400 invalid_idempotency_key
            # (below), not FastAPI's 422.
            json_schema_extra={"minLength": 1, "maxLength": 200, "pattern": _DOCUMENTED},
        ),
    ] = None,
) -> str | None:
    """Raises InvalidIdempotencyKey."""
    if key is None:
        return None
    if not _VALID.fullmatch(key) or not key.strip():
        raise InvalidIdempotencyKey("Idempotency-Key must be 1 to 200 printable ASCII characters")
    return key


def ledger_key(principal: Principal, key: str | None) -> str:
    """Without a client key every request is new (a fresh random key)."""
    return f"api:{principal.id}:{key if key is not None else uuid.uuid4()}"


def conflict(key: str | None) -> IdempotencyConflict:
    return IdempotencyConflict(f"the {HEADER} was already used with a different request", idempotency_key=key)


def mark_replayed(response: Response, replayed: bool) -> None:
    """Say in the reply's headers that it is the stored result of an earlier request."""
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
