"""Bodies of the transaction routes.

No ``from __future__ import annotations`` here: ``ReversalIn`` keeps the schema name that
/openapi.json has always given it (``api__models__ReversalIn``, beside the alliance's
``ReversalIn``), which pydantic takes from the class's module; a class that names another
module must have its annotations evaluated where it is defined.
"""

from datetime import datetime
from uuid import UUID

from pydantic import Field

from api.schemas import In, LedgerMemo, Minutes, Out, Points


class CreditIn(In):
    volunteer_id: UUID
    unit_id: UUID = Field(description="the unit whose issuing account the points come from")
    points: Points
    minutes: Minutes = 0
    memo: LedgerMemo = ""


class ReversalIn(In):
    __module__ = "api.models"  # its name in /openapi.json (see above)

    memo: LedgerMemo = ""


class PostingOut(Out):
    source: str
    destination: str
    amount: int


class TransactionOut(Out):
    id: UUID
    kind: str
    postings: list[PostingOut]
    minutes: int
    memo: str
    actor: str
    unit_id: UUID | None
    reverses: UUID | None
    reversed_by: UUID | None
    at: datetime
