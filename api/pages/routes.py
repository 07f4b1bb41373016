"""Web pages: static HTML + small scripts that call the same JSON API as any client.

Pages are files under ``api/web/pages``; shared style and helpers under ``api/web/static``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

WEB = Path(__file__).resolve().parent.parent / "web"
PAGES = WEB / "pages"
STATIC = WEB / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/pages/index")


@router.get("/pages/{name}")
def page(name: str) -> FileResponse:
    path = PAGES / f"{name}.html"
    if not name.replace("-", "").isalnum() or not path.is_file():
        raise HTTPException(status_code=404)
    return FileResponse(path, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})
