"""``CardsDep``: the member-card service for routes (here and at registration)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field, StrictStr, StringConstraints

from ledger.cards.service import Cards

from api.deps import ServicesDep

# Six ASCII digits; the ledger also refuses the PINs everyone tries first (``pin_invalid``).
Pin = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{6}$"), Field(description="6 digits", examples=["482913"])]


def get_cards(services: ServicesDep, request: Request) -> Cards:
    """One per app, built on first use from the services ``ops.wiring`` made."""
    cards: Cards | None = getattr(request.app.state, "cards", None)
    if cards is None:
        cards = Cards(services.ledger, services.settings.signing_key())
        request.app.state.cards = cards
    return cards


CardsDep = Annotated[Cards, Depends(get_cards)]
