"""Cards and links as response bodies and QR images."""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

import qrcode
import qrcode.image.svg

from ledger.cards.domain import MemberCard, SigninLink

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


def _qr(data: str) -> qrcode.QRCode:  # type: ignore[type-arg]
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2, box_size=10)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_svg(data: str) -> bytes:
    buf = io.BytesIO()
    _qr(data).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buf)
    return buf.getvalue()


def qr_png(data: str, *, box_size: int = 10) -> bytes:
    qr = _qr(data)
    qr.box_size = box_size
    buf = io.BytesIO()
    qr.make_image().save(buf)
    return buf.getvalue()
