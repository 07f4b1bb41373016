"""The one QR renderer: a signed code as a PNG or SVG image, or its JSON body, never cached."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any, Literal

import qrcode
import qrcode.image.svg
from fastapi import Response
from pydantic import BaseModel

Format = Literal["png", "svg", "json"]
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def image(code: str, fmt: Literal["png", "svg"]) -> bytes:
    """Error correction M, a border of 2 modules, 10 pixels a module."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2, box_size=10)
    qr.add_data(code)
    buf = io.BytesIO()
    if fmt == "svg":
        qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buf)
    else:
        qr.make_image().save(buf)
    return buf.getvalue()


def response(code: str, fmt: Format, body: Callable[[], BaseModel], headers: Mapping[str, str] = {}) -> Response:
    """The code in ``fmt``: ``body()`` as JSON, else the QR image of ``code``."""
    headers = {"Cache-Control": "no-store", **headers}
    if fmt == "json":
        return Response(body().model_dump_json(), media_type="application/json", headers=headers)
    return Response(image(code, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)


def image_content() -> dict[str, Any]:
    """The image media types of a QR route, for its OpenAPI ``content``."""
    return {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/svg+xml": {"schema": {"type": "string"}},
    }
