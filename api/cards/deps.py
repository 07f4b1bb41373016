"""``CardsDep``: the member-card service for routes (here and at registration)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import Field, StrictStr, StringConstraints

from ledger.cards.service import Cards

from api.deps import ServicesDep

# Six ASCII digits; the ledger also refuses the PINs everyone tries first (``pin_invalid``).
Pin = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{6}$"), Field(description="6 digits", examples=["482913"])]


def get_cards(services: ServicesDep) -> Cards:
    return services.cards


CardsDep = Annotated[Cards, Depends(get_cards)]
