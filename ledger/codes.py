"""Signed text codes for QR: ``MB1.<kind>.<payload>.<signature>``.

The payload is compact JSON in base64url; the signature is HMAC-SHA256 over the version,
kind and payload with the server's key, truncated to 16 bytes (plenty against forgery,
short enough for a small, fast-scanning QR code). Pure functions: the caller passes the
key and the time, and decides what the fields mean.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from ledger.errors import LedgerError

VERSION = "MB1"
ACTIVITY, PAY, MERCHANT = "a", "p", "m"
CARD = "c"  # a member card (ledger.cards): volunteer and card serial
KINDS = (ACTIVITY, PAY, MERCHANT, CARD)
MAX_CODE_LENGTH = 600


class CodeInvalid(LedgerError):
    """Malformed, forged, or signed with another key."""

    code = "code_invalid"


class CodeExpired(LedgerError):
    code = "code_expired"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode(), hashlib.sha256).digest()[:16])


def sign(key: bytes, kind: str, fields: dict[str, Any]) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown code kind {kind!r}")
    payload = _b64(json.dumps(fields, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{VERSION}.{kind}.{payload}"
    return f"{signed}.{_mac(key, signed)}"


def read(key: bytes, code: object, *, kind: str | None = None) -> tuple[str, dict[str, Any]]:
    """Check the signature and return (kind, fields). Raises CodeInvalid."""
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH:
        raise CodeInvalid("not a moralbank code")
    parts = code.strip().split(".")
    if len(parts) != 4 or parts[0] != VERSION or parts[1] not in KINDS:
        raise CodeInvalid("not a moralbank code")
    version, found_kind, payload, mac = parts
    if not hmac.compare_digest(mac, _mac(key, f"{version}.{found_kind}.{payload}")):
        raise CodeInvalid("this code was not issued by this server")
    if kind is not None and found_kind != kind:
        raise CodeInvalid("this is a different kind of code")
    try:
        fields = json.loads(_unb64(payload))
    except (ValueError, binascii.Error) as e:  # signed by us, so this would be our bug
        raise CodeInvalid("unreadable code") from e
    if not isinstance(fields, dict):
        raise CodeInvalid("unreadable code")
    return found_kind, fields
