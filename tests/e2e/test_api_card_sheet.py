"""Printable card sheets: A4 PDF with a CJK font embedded and QR codes that decode to each
card's URL; print-ready HTML with every name escaped."""

from __future__ import annotations

import io
from typing import Any

import zxingcpp
from PIL import Image
from pypdf import PdfReader

NAMES = ["欧阳春晓", "林晓燕", "陈建国", "赵丽华", "王秀英", "张志强", "刘海涛", "孙美玲", "周文博"]


def register_all(town: Any, names: list[str]) -> list[str]:
    ids = []
    for i, name in enumerate(names):
        r = town.client.post("/v1/volunteers", json={"name": name, "unit_id": str(town.units["building_a"]),
                                                    "member_no": f"QH-{i + 1:04d}", "pin": "482913"},
                             headers=town.headers("org_in"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["volunteer"]["id"])
    return ids


def sheet(town: Any, ids: list[str], per_page: int, fmt: str) -> Any:
    return town.client.get(f"/v1/cards/sheet?volunteer_ids={','.join(ids)}&per_page={per_page}&format={fmt}",
                           headers=town.headers("org_in"))


def test_pdf_sheet_embeds_a_cjk_font_and_its_qr_codes_decode(town: Any) -> None:
    ids = register_all(town, NAMES)
    r = sheet(town, ids, 8, "pdf")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) == 2  # 9 cards, 8 a page
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)  # A4

    fonts = [f.get_object() for f in reader.pages[0]["/Resources"]["/Font"].values()]
    cjk = [f for f in fonts if "WenQuanYi" in str(f["/BaseFont"]) or "MicroHei" in str(f["/BaseFont"])]
    assert cjk, [str(f["/BaseFont"]) for f in fonts]
    descriptor = cjk[0]["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
    assert "/FontFile2" in descriptor  # embedded (a subset), not just named

    text = reader.pages[0].extract_text() + reader.pages[1].extract_text()
    for name in NAMES:
        assert name in text
    assert "QH-0001" in text and "Building A" in text

    cards = {card_url(town, i) for i in ids}
    images = [img for page in reader.pages for img in page.images]
    assert len(images) == 9
    decoded = {zxingcpp.read_barcodes(Image.open(io.BytesIO(img.data)))[0].text for img in images}
    assert decoded == cards

    ten = PdfReader(io.BytesIO(sheet(town, ids, 10, "pdf").content))
    assert len(ten.pages) == 1 and len(ten.pages[0].images) == 9


def card_url(town: Any, volunteer_id: str) -> str:
    return town.client.get(f"/v1/volunteers/{volunteer_id}/card", headers=town.headers("org_in")).json()["url"]  # type: ignore[no-any-return]


def test_html_sheet_escapes_names_and_lays_out_a4_pages(town: Any) -> None:
    ids = register_all(town, ['<img src=x onerror="alert(1)">', "林晓燕"])
    r = sheet(town, ids, 10, "html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<img src=x" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert page.count('class="mcard"') == 2 and page.count('class="page"') == 1
    assert "@page { size: A4" in page
    assert card_url(town, ids[1]).replace("&", "&amp;") in page
