"""Pure rules of member cards and sign-in links: PINs and their hashes, tries, card codes, expiry.

Nothing here draws randomness or reads the clock: salts and times are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.cards.errors import CardLocked, CardRevoked, LinkExpired, LinkUsed, PinInvalid
from ledger.codes import CodeInvalid

PIN_LENGTH = 6
MAX_TRIES = 5  # wrong PINs in a row that lock the card
LINK_LIFETIME = timedelta(days=7)
SALT_BYTES = 16


@dataclass(frozen=True)
class ScryptCost:
    """scrypt's parameters, stored with every hash so they can be raised later.

    The default (N=2^15, r=8: 32 MiB, about 0.1-0.2 s a try) is what an API process can afford
    per sign-in; the lock after ``MAX_TRIES`` is what guards a card online, the cost is what
    slows an offline search of a stolen store (10^6 PINs per card).
    """

    n: int = 2**15
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 128 * self.r * (self.n + self.p + 2) + 1024 * 1024


DEFAULT_COST = ScryptCost()
_SCHEME = "scrypt"
# What people choose first; each one would be among an attacker's five tries.
_OBVIOUS = frozenset({"123456", "654321", "123123", "112233", "121212", "111222", "520520", "147258", "123321", "012345"})


def check_pin(pin: object) -> str:
    """Raises PinInvalid."""
    if not isinstance(pin, str) or len(pin) != PIN_LENGTH or not all("0" <= ch <= "9" for ch in pin):
        raise PinInvalid(f"a PIN is exactly {PIN_LENGTH} digits")
    if len(set(pin)) == 1 or pin in _OBVIOUS or pin in "01234567890" or pin in "98765432109":
        raise PinInvalid("this PIN is too easy to guess; choose another", reason="too_simple")
    return pin


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(pin: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=32)


def hash_pin(pin: str, salt: bytes, cost: ScryptCost = DEFAULT_COST) -> str:
    """``scrypt$<n>$<r>$<p>$<salt>$<hash>``. Raises PinInvalid."""
    check_pin(pin)
    if len(salt) < SALT_BYTES:
        raise ValueError("a salt of at least 16 random bytes")
    return "$".join([_SCHEME, str(cost.n), str(cost.r), str(cost.p), _b64(salt), _b64(_scrypt(pin, salt, cost))])


def verify_pin(pin: object, stored: str) -> bool:
    """Constant-time comparison under the stored parameters; False for anything malformed."""
    if not isinstance(pin, str) or len(pin) != PIN_LENGTH or not pin.isascii() or not pin.isdigit():
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        cost = ScryptCost(int(n), int(r), int(p))
        if scheme != _SCHEME or not (2 <= cost.n <= 2**20 and 1 <= cost.r <= 32 and 1 <= cost.p <= 16):
            return False
        expected = _unb64(digest)
        return hmac.compare_digest(_scrypt(pin, _unb64(salt), cost), expected)
    except (ValueError, binascii.Error):
        return False


# ---------------------------------------------------------------- tries and locking


def tries_left(failed: int) -> int:
    return max(0, MAX_TRIES - failed)


def after_wrong_pin(failed: int) -> tuple[int, bool]:
    """(failed tries now, locked now)."""
    failed += 1
    return failed, failed >= MAX_TRIES


def check_usable(serial: int, current_serial: int, locked: bool) -> None:
    """A card code of ``serial`` against the card as it is now. Raises CardRevoked, CardLocked."""
    if serial != current_serial:
        raise CardRevoked("this card was replaced by a new one; use the new card", serial=serial)
    if locked:
        raise CardLocked("this card is locked after too many wrong PINs; ask your community to unlock it")


# ---------------------------------------------------------------- card codes


def card_fields(volunteer_id: UUID, serial: int) -> dict[str, Any]:
    return {"v": volunteer_id.hex, "s": serial}


def read_card_fields(fields: dict[str, Any]) -> tuple[UUID, int]:
    """The volunteer and serial a (signature-checked) card code names. Raises CodeInvalid."""
    serial = fields.get("s")
    try:
        volunteer_id = UUID(hex=str(fields["v"]))
    except (KeyError, ValueError):
        raise CodeInvalid("unreadable card code") from None
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 1:
        raise CodeInvalid("unreadable card code")
    return volunteer_id, serial


# ---------------------------------------------------------------- sign-in links


def link_expires_at(created: datetime) -> datetime:
    return created + LINK_LIFETIME


def check_link(now: datetime, expires_at: datetime, used: bool) -> None:
    """Raises LinkUsed, LinkExpired."""
    if used:
        raise LinkUsed("this sign-in link was already used; ask for a new one")
    if now >= expires_at:
        raise LinkExpired("this sign-in link has expired; ask for a new one", expired_at=expires_at.isoformat())
