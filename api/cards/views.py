"""Cards and links as response bodies and QR images."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ledger.cards.domain import MemberCard, SigninLink

from api import qr
from api.cards import schemas
from api.datetimes import zoned

VOLUNTEER_PAGE = "/pages/volunteer"
SIGNIN_PAGE = "/pages/signin"
CARD_FRAGMENT = "#card="
LINK_FRAGMENT = "#token="


def card_url(base: str, code: str) -> str:
    """What a card's QR encodes: a phone's camera opens the volunteer page, which reads the code
    from the fragment (never sent to the server in the URL)."""
    return base.rstrip("/") + VOLUNTEER_PAGE + CARD_FRAGMENT + code


def code_of(text: str) -> str:
    """A card code, from the code itself or from the card's URL."""
    head, sep, tail = text.strip().partition(CARD_FRAGMENT)
    return tail if sep else head


def link_url(base: str, secret: str) -> str:
    return base.rstrip("/") + SIGNIN_PAGE + LINK_FRAGMENT + secret


def card(c: MemberCard, code: str, base: str, zone: ZoneInfo) -> schemas.CardOut:
    return schemas.CardOut(
        volunteer_id=c.volunteer_id, serial=c.serial, locked=c.locked, tries_left=c.tries_left,
        issued_at=zoned(c.issued_at, zone), code=code, url=card_url(base, code),
    )


def link(lk: SigninLink, url: str, zone: ZoneInfo) -> schemas.SigninLinkOut:
    return schemas.SigninLinkOut(
        id=lk.id, role=lk.role, name=lk.name, unit_ids=list(lk.unit_ids), subject_id=lk.subject_id,
        expires_at=zoned(lk.expires_at, zone), url=url, qr_svg=qr_svg(url).decode(),
    )


def qr_svg(data: str) -> bytes:
    return qr.image(data, "svg")


def qr_png(data: str) -> bytes:
    return qr.image(data, "png")
